// FSP readings upload: a large CSV is split into chunks of data-chunk-rows rows, each sent with the header line as
// its own request (one GB_READINGS report each), one after another, so no request exceeds the body limit.
// Without this script the form posts the whole file (fine for small files). No inline script (the CSP forbids it).
document.addEventListener("DOMContentLoaded", function () {
  var form = document.getElementById("readings-form");
  if (!form) { return; }
  var status = document.getElementById("readings-progress");
  form.addEventListener("submit", function (event) {
    var input = form.querySelector("input[type=file]");
    if (!input.files || !input.files.length || !window.fetch) { return; }
    event.preventDefault();
    var rows = parseInt(form.dataset.chunkRows, 10) || 720;
    var token = form.querySelector("input[name=csrf_token]").value;
    var target = form.querySelector("[name=target]").value;
    var button = form.querySelector("button[type=submit]");
    button.disabled = true;
    input.files[0].text().then(function (text) {
      var lines = text.replace(/^\ufeff/, "").split(/\r?\n/).filter(function (line) { return line.trim() !== ""; });
      var header = lines.shift() || "";
      var chunks = [];
      for (var i = 0; i < lines.length; i += rows) { chunks.push(lines.slice(i, i + rows)); }
      var sent = 0, reports = [];
      function next(index) {
        if (index >= chunks.length) {
          status.textContent = sent + " readings sent in " + reports.length + " report(s): " + reports.join(", ");
          button.disabled = false;
          return;
        }
        var body = new FormData();
        body.append("csrf_token", token);
        body.append("target", target);
        body.append("file", new Blob([header + "\n" + chunks[index].join("\n") + "\n"], {type: "text/csv"}), "chunk.csv");
        status.textContent = "Sending chunk " + (index + 1) + " of " + chunks.length + "…";
        fetch(form.action, {method: "POST", body: body, credentials: "same-origin",
                            headers: {"Accept": "application/json", "X-CSRF-Token": token}})
          .then(function (response) {
            return response.text().then(function (raw) {
              if (!response.ok) {
                var detail = raw;
                try { detail = JSON.parse(raw).detail || raw; } catch (e) { /* an HTML error page */ }
                throw new Error("chunk " + (index + 1) + " of " + chunks.length + " refused (" + response.status + "): " +
                                String(detail).replace(/<[^>]*>/g, " ").slice(0, 400));
              }
              var result = JSON.parse(raw);
              sent += result.readings;
              reports.push(result.report);
              next(index + 1);
            });
          })
          .catch(function (error) {
            status.textContent = error.message + " — " + sent + " readings were stored; sending the file again is safe.";
            button.disabled = false;
          });
      }
      next(0);
    });
  });
});

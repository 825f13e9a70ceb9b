// Delivery chart (operator console): reads the series from the JSON endpoint named in data-src and
// draws them with the vendored uPlot. No inline script: the CSP allows only files from the console.
(function () {
  "use strict";
  var box = document.getElementById("delivery-chart");
  if (!box || typeof uPlot === "undefined") { return; }
  var colours = ["#6e7781", "#0b5cad", "#1a7f37", "#9a6700", "#8250df"];
  var labels = {
    instructed_kw: "Instructed (kW)", target_kw: "Target (kW)", metered_kw: "Metered (kW)",
    baseline_kw: "Baseline (kW)", delivered_kw: "Delivered (kW)"
  };
  var plot = null;

  function width() { return Math.max(280, Math.min(box.clientWidth || 800, 1150)); }

  function draw(data) {
    var series = [{ label: "Time (London)" }];
    data.series.forEach(function (name, index) {
      series.push({
        label: labels[name] || name, stroke: colours[index % colours.length], width: name === "metered_kw" ? 2 : 1.5,
        dash: name === "baseline_kw" ? [6, 4] : undefined, spanGaps: false, paths: uPlot.paths.stepped({ align: 1 })
      });
    });
    var options = {
      width: width(), height: window.innerWidth < 640 ? 240 : 320, series: series,
      scales: { x: { time: true } }, legend: { live: true },
      tzDate: function (ts) { return uPlot.tzDate(new Date(ts * 1e3), "Europe/London"); },
      axes: [{}, { label: "kW", size: 60 }]
    };
    box.textContent = "";
    plot = new uPlot(options, data.columns, box);
    box.dataset.points = String(data.columns[0].length);
    box.dataset.ready = "true";
  }

  fetch(box.dataset.src, { credentials: "same-origin", headers: { "Accept": "application/json" } })
    .then(function (response) {
      if (!response.ok) { throw new Error("HTTP " + response.status); }
      return response.json();
    })
    .then(draw)
    .catch(function (error) {
      box.textContent = "The chart could not be loaded (" + error.message + "). The table below has the figures.";
      box.dataset.ready = "error";
    });

  window.addEventListener("resize", function () {
    if (plot) { plot.setSize({ width: width(), height: plot.height }); }
  });
})();

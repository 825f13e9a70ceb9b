// Operator pages (no inline script under the CSP).
// Board: after each live refresh, briefly highlight the acknowledgement cells whose text changed,
// and announce nothing else (the region is aria-live="polite").
(function () {
  "use strict";
  var last = {};
  function snapshot(root) {
    var seen = {};
    root.querySelectorAll("[data-testid^='ack-']").forEach(function (cell) {
      seen[cell.dataset.testid] = cell.textContent.replace(/\s+/g, " ").trim();
    });
    return seen;
  }
  var board = document.getElementById("board");
  if (board) { last = snapshot(board); }
  document.addEventListener("htmx:afterSwap", function (event) {
    if (!board || event.detail.target !== board) { return; }
    var now = snapshot(board);
    Object.keys(now).forEach(function (key) {
      if (last[key] !== undefined && last[key] !== now[key]) {
        var cell = board.querySelector("[data-testid='" + key + "']");
        if (cell) { cell.classList.add("changed"); }
      }
    });
    last = now;
  });
})();

// Dispatch form: show which London offset (GMT or BST) a typed wall-clock time has. The server is the
// authority (the preview shows the UTC instant it stores); this is a hint while typing.
(function () {
  "use strict";
  if (typeof Intl === "undefined") { return; }
  var format = new Intl.DateTimeFormat("en-GB", { timeZone: "Europe/London", timeZoneName: "longOffset" });
  function londonOffset(value) {
    // A wall-clock value read as UTC, then the London offset near that instant (exact except within an hour of a change).
    var guess = new Date(value + ":00Z");
    if (isNaN(guess.getTime())) { return ""; }
    var name = format.formatToParts(guess).find(function (part) { return part.type === "timeZoneName"; });
    var text = name ? name.value.replace("GMT", "") : "";
    return text && text !== "+00:00" ? "BST (" + text + ")" : "GMT (+00:00)";
  }
  document.querySelectorAll("input[data-london-offset]").forEach(function (input) {
    var target = document.getElementById(input.dataset.londonOffset);
    if (!target) { return; }
    input.addEventListener("input", function () {
      var shown = londonOffset(input.value);
      if (shown) { target.textContent = shown + " (check the preview for the UTC time)"; }
    });
  });
})();

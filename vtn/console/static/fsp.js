// FSP pages. No inline script (the CSP forbids it).
// The test-dispatch form posts with htmx into #test-result: show 4xx pages (rate limit, bad input) there
// instead of dropping them, and move keyboard focus to the new result panel.
document.addEventListener("htmx:beforeSwap", function (event) {
  var detail = event.detail;
  if (detail && detail.target && detail.target.id === "test-result" && detail.xhr.status >= 400 && detail.xhr.status < 500 && detail.xhr.status !== 401) {
    detail.shouldSwap = true;
    detail.isError = false;
  }
});
document.addEventListener("htmx:afterSwap", function (event) {
  var target = event.detail && event.detail.target;
  if (target && target.id === "test-result") {
    var heading = target.querySelector("h2[tabindex]");
    if (heading) { heading.focus(); }
  }
});

// Console behaviour that must not be inline (the CSP forbids inline script).
// Forms with data-confirm ask before submitting (e.g. emergency stop).
document.addEventListener("submit", function (event) {
  var form = event.target;
  if (form instanceof HTMLFormElement && form.dataset.confirm && !window.confirm(form.dataset.confirm)) {
    event.preventDefault();
  }
}, true);
// htmx: a 401 means the session ended; the server also sends HX-Redirect, this is the fallback.
document.addEventListener("htmx:responseError", function (event) {
  if (event.detail && event.detail.xhr && event.detail.xhr.status === 401) {
    window.location.reload();
  }
});

// The console's own script (no inline script: the Content-Security-Policy forbids it).
// Confirm destructive actions: a form with data-confirm asks before it is sent.
document.addEventListener("submit", (event) => {
  const form = event.target;
  if (form instanceof HTMLFormElement && form.dataset.confirm && !window.confirm(form.dataset.confirm)) {
    event.preventDefault();
  }
});
// After an htmx swap into <main>, move focus there so screen readers announce the new content.
document.addEventListener("htmx:afterSwap", (event) => {
  if (event.detail && event.detail.target && event.detail.target.id === "main") {
    event.detail.target.focus();
  }
});

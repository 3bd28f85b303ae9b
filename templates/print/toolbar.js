// The print view's toolbar.  Served from /assets/ (the page's Content-Security-Policy
// allows no inline script); the page works without it, through the Apply button.
"use strict";
document.querySelector('[data-action="print"]').addEventListener("click", () => window.print());
// A changed option shows at once.
for (const select of document.querySelectorAll(".toolbar select")) {
  select.addEventListener("change", () => select.form.submit());
}
// Opened from a site's «طباعة» button: go straight to the print dialog.
if (document.querySelector(".toolbar[data-autoprint]")) {
  window.addEventListener("load", () => window.print());
}

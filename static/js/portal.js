// Small glue for the user pages (htmx 2 API). Pages work without it:
// every button is also a plain form and every link a real href.
(function () {
  "use strict";

  // Dialogs sent by the server (prompt values, delete confirmation) arrive
  // with data-open; show them as modal dialogs (focus moves into them).
  htmx.onLoad(function (root) {
    var found = [];
    if (root.matches && root.matches("dialog[data-open]")) found.push(root);
    if (root.querySelectorAll) root.querySelectorAll("dialog[data-open]").forEach(function (d) { found.push(d); });
    found.forEach(function (d) { if (!d.open) d.showModal(); });
  });

  document.addEventListener("click", function (event) {
    var button = event.target.closest("[data-close-dialog]");
    if (!button) return;
    event.preventDefault();
    var dialog = button.closest("dialog");
    if (dialog) dialog.close();
  });

  // A closed server dialog is gone for good (Escape or Cancel).
  document.addEventListener("close", function (event) {
    if (event.target.matches && event.target.matches("dialog[data-open]")) event.target.remove();
  }, true);
})();

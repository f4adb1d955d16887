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
    // Where the keyboard focus goes after a swap: static/js/focus.js.
  });

  document.addEventListener("click", function (event) {
    var button = event.target.closest("[data-close-dialog]");
    if (!button) return;
    event.preventDefault();
    var dialog = button.closest("dialog");
    if (dialog) dialog.close();
  });

  // A refusal from the portal (a 4xx with a message) names where it goes
  // (HX-Retarget, usually #messages): show it. Anything else that fails
  // (a 404 for a stale id, a server error, no network) becomes a message,
  // never a page swapped into the middle of another.
  document.addEventListener("htmx:beforeSwap", function (event) {
    var xhr = event.detail.xhr;
    if (xhr.status >= 400 && xhr.status < 500 && xhr.getResponseHeader("HX-Retarget")) {
      event.detail.shouldSwap = true;
      event.detail.isError = false;
    }
  });

  function say(text) {
    var box = document.getElementById("messages");
    if (!box) return;
    var p = document.createElement("p");
    p.className = "message message-error";
    p.textContent = text;
    box.replaceChildren(p);
  }

  document.addEventListener("htmx:responseError", function (event) {
    var status = event.detail.xhr.status;
    if (status === 404) say("That item no longer exists. Reload the page to see the current state.");
    else if (status === 403) say("Your session has expired or this is not allowed. Reload the page and log in again.");
    else say("Something went wrong on the server (" + status + "). Please try again.");
  });

  document.addEventListener("htmx:sendError", function () {
    say("The portal cannot be reached. Check your connection; the page keeps trying.");
  });
})();

// Small glue for the user pages (htmx 2 API). Pages work without it:
// every button is also a plain form and every link a real href.
(function () {
  "use strict";

  // The element htmx loaded and everything in it that matches ``selector``.
  function within(root, selector) {
    var found = root.matches && root.matches(selector) ? [root] : [];
    if (root.querySelectorAll) root.querySelectorAll(selector).forEach(function (el) { found.push(el); });
    return found;
  }

  // A profile's colour arrives as data-colour (the Content-Security-Policy
  // allows no inline style attribute); set through the CSSOM, which it allows.
  function paint(el, colour) {
    if (!/^#[0-9a-fA-F]{6}$/.test(colour)) return;
    el.setAttribute("data-colour", colour);
    el.style.setProperty("--profile", colour);
  }

  // Shared with announce.js and live.js (loaded after this file).
  window.portal = { within: within, paint: paint };

  htmx.onLoad(function (root) {
    within(root, "[data-colour]").forEach(function (el) { paint(el, el.getAttribute("data-colour")); });
    // Dialogs sent by the server (prompt values, delete confirmation) arrive
    // with data-open; show them as modal dialogs (focus moves into them).
    within(root, "dialog[data-open]").forEach(function (d) { if (!d.open) d.showModal(); });
    // Where the keyboard focus goes after a swap: static/js/focus.js.
  });

  // A preview opens below the profiles: on a phone that is below the fold,
  // so bring it into view (scroll-margin keeps it clear of the bottom bar).
  document.addEventListener("htmx:afterSwap", function (event) {
    var target = event.detail.target;
    if (target && target.id === "preview-panel" && target.firstElementChild) {
      target.scrollIntoView({ block: "start", behavior: "auto" });
    }
  });

  // "Close preview" and Cancel in an action form loaded into the editor
  // ([data-close-panel]) empty their panel and give the focus back to the
  // control that opened it: static/js/focus.js (without JS both are links).

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

  // The texts come translated from the page (data-error-* on #messages).
  function text(kind) {
    var box = document.getElementById("messages");
    return (box && box.getAttribute("data-error-" + kind)) || "";
  }

  document.addEventListener("htmx:responseError", function (event) {
    var status = event.detail.xhr.status;
    if (status === 404) say(text("404"));
    else if (status === 403) say(text("403"));
    else say(text("server") + " (" + status + ")");
  });

  document.addEventListener("htmx:sendError", function () {
    say(text("network"));
  });
})();

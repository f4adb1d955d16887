// Keyboard focus across htmx swaps (WCAG 2.4.3 focus order, 2.1.2 no trap).
//
// - A control that is re-rendered keeps the focus: htmx refocuses the element
//   with the same id; when that one cannot take focus (a "Move up" button now
//   disabled, a deleted row), the ids in its data-focus-fallback are tried.
// - Panels ([data-panel]: the dialog slot, the preview, the action editor)
//   remember the control that opened them. When a panel closes (its Cancel or
//   Close, Escape in a dialog, or the swap after its form was sent), focus goes
//   back to that control.
// - New panel content takes the focus: [data-focus-first] or its first field.
// - A modal dialog keeps Tab and Shift+Tab inside itself.
(function () {
  "use strict";

  var FOCUSABLE = "a[href], button:not([disabled]), input:not([type=hidden]):not([disabled]), " +
    "select:not([disabled]), textarea:not([disabled]), [tabindex]:not([tabindex='-1'])";
  var openers = {};     // panel id -> id of the control that opened it

  function lost() {
    var active = document.activeElement;
    return !active || active === document.body || !active.isConnected;
  }

  function focusById(ids) {
    var list = (ids || "").split(/\s+/);
    for (var i = 0; i < list.length; i++) {
      var el = list[i] && document.getElementById(list[i]);
      if (el && !el.disabled) {
        el.focus();
        if (document.activeElement === el) return true;
      }
    }
    return false;
  }

  function panelOf(el) {
    return el && el.closest ? el.closest("[data-panel]") : null;
  }

  function returnFocus(panel) {
    var opener = panel && openers[panel.id];
    if (opener) focusById(opener);
  }

  // Close a panel from its own Cancel / Close control.
  function closePanel(panel) {
    var dialog = panel.querySelector("dialog[open]");
    if (dialog) dialog.close(); // the dialog's close handler returns focus
    panel.replaceChildren();
    returnFocus(panel);
  }

  // What had the focus when a response began to swap, kept per request (its
  // xhr): a poll or a second request answering meanwhile has its own record
  // and cannot overwrite this one. htmx fires afterSettle once per swapped
  // element (the target and each out-of-band part); the first one restores,
  // and only when the swap really lost the focus (body, or a removed or
  // disabled element). The settle delay is 0 (base.html), so the swap, the
  // wiring of the new content and this restore happen in one task.
  var records = new WeakMap();

  function disabledFocus() {
    var active = document.activeElement;
    return active && active.disabled === true;
  }

  document.addEventListener("htmx:beforeSwap", function (event) {
    var active = document.activeElement;
    var xhr = event.detail.xhr;
    if (xhr) {
      records.set(xhr, {
        id: active && active.id,
        fallback: active && active.dataset ? active.dataset.focusFallback : null,
        panel: panelOf(active)
      });
    }
    var panel = panelOf(event.detail.target) || (event.detail.target && event.detail.target.matches &&
      event.detail.target.matches("[data-panel]") ? event.detail.target : null);
    // A control outside a panel that fills it is the panel's opener.
    if (panel && active && active.id && !panel.contains(active)) openers[panel.id] = active.id;
  });

  document.addEventListener("htmx:afterSettle", function (event) {
    var xhr = event.detail && event.detail.xhr;
    var was = xhr && records.get(xhr);
    if (!was) return;
    records.delete(xhr);
    if (!lost() && !disabledFocus()) return;
    if (was.id && focusById(was.id)) return;
    if (was.fallback && focusById(was.fallback)) return;
    if (was.panel) returnFocus(was.panel);
  });

  // New content in a panel takes the focus.
  htmx.onLoad(function (root) {
    var panel = panelOf(root);
    if (!panel || root === panel || root.closest("dialog")) return;
    var target = root.querySelector("[data-focus-first]") ||
      root.querySelector(".has-error input, .has-error select, .has-error textarea") ||
      root.querySelector(FOCUSABLE);
    if (target) target.focus();
  });

  document.addEventListener("click", function (event) {
    var control = event.target.closest("[data-close-panel]");
    if (!control) return;
    var panel = panelOf(control);
    if (!panel) return;
    event.preventDefault();
    closePanel(panel);
  });

  // Escape or Cancel closed a server dialog: it is gone for good, and focus
  // goes back to its opener.
  document.addEventListener("close", function (event) {
    var dialog = event.target;
    if (!dialog.matches || !dialog.matches("dialog[data-open]")) return;
    var panel = panelOf(dialog);
    dialog.remove();
    if (panel && lost()) returnFocus(panel);
  }, true);

  // Tab and Shift+Tab cycle inside an open modal dialog.
  document.addEventListener("keydown", function (event) {
    if (event.key !== "Tab") return;
    var dialog = document.querySelector("dialog[open]");
    if (!dialog) return;
    var items = Array.prototype.filter.call(dialog.querySelectorAll(FOCUSABLE), function (el) {
      return el.offsetParent !== null || el === document.activeElement;
    });
    if (!items.length) return;
    var first = items[0], last = items[items.length - 1];
    if (event.shiftKey && (document.activeElement === first || !dialog.contains(document.activeElement))) {
      event.preventDefault();
      last.focus();
    } else if (!event.shiftKey && (document.activeElement === last || !dialog.contains(document.activeElement))) {
      event.preventDefault();
      first.focus();
    }
  });
})();

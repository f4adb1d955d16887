// Screen-reader announcements of background results (WCAG 4.1.3 status
// messages). Content that htmx replaces cannot carry its own live region (a
// new region is not announced), so an element with data-announce-key (the
// apply status) passes the text of its [data-announce-text] parts to
// #announcer, which is never replaced. Each new version (key) is announced
// once; the state the page was loaded with is not.
(function () {
  "use strict";

  var announced = {};  // element id -> key last announced

  function text(el) {
    return Array.prototype.map.call(el.querySelectorAll("[data-announce-text]"), function (part) {
      return part.textContent.replace(/\s+/g, " ").trim();
    }).join(" ");
  }

  function announce(el) {
    var box = document.getElementById("announcer");
    var key = el.dataset.announceKey;
    if (!box || announced[el.id] === key) return;
    announced[el.id] = key;
    var said = text(el);
    if (said) box.textContent = said;
  }

  document.querySelectorAll("[data-announce-key]").forEach(function (el) {
    announced[el.id] = el.dataset.announceKey;
  });

  htmx.onLoad(function (root) {
    if (root === document.body || !root.querySelectorAll) return;
    window.portal.within(root, "[data-announce-key]").forEach(announce);
  });
})();

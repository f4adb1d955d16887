// Live updates (README "Live updates"): one EventSource per page that has
// #live-status (the board, My presence). Events update only what they
// concern; while the stream is down the pages' 304 polls run as before.
(function () {
  "use strict";
  var status = document.getElementById("live-status");
  if (!status || !window.EventSource) return;
  var url = status.dataset.liveUrl.replace("{host}", location.hostname);
  var lastId = "";
  var source = null;
  var delay = 1000;
  var KINDS = ["presence", "line", "apply", "mismatch", "refresh"];
  window.portalLive = false;

  function show(live) {
    window.portalLive = live;
    status.hidden = false;
    status.textContent = live ? status.dataset.live : status.dataset.reconnecting;
    status.classList.toggle("is-live", live);
  }

  function fire(name, detail) {
    document.dispatchEvent(new CustomEvent(name, { detail: detail || {} }));
  }

  function connect() {
    var target = url;
    if (lastId) target += (url.indexOf("?") < 0 ? "?" : "&") + "last_event_id=" + encodeURIComponent(lastId);
    source = new EventSource(target, { withCredentials: true });
    source.onopen = function () {
      delay = 1000;
      var wasLive = window.portalLive;
      show(true);
      // Whatever changed while the page had no stream: one (ETag) poll.
      if (!wasLive) { fire("live-resync"); fire("live-status"); }
    };
    source.onerror = function () {
      show(false);
      // The browser retries by itself (sending Last-Event-ID) unless the
      // server refused the stream (403, 5xx): then we retry, with backoff.
      if (source.readyState === EventSource.CLOSED) {
        source.close();
        setTimeout(connect, delay);
        delay = Math.min(delay * 2, 30000);
      }
    };
    KINDS.forEach(function (kind) {
      source.addEventListener(kind, function (event) {
        if (event.lastEventId) lastId = event.lastEventId;
        var data = {};
        try { data = JSON.parse(event.data || "{}"); } catch (e) { return; }
        fire("live:" + kind, data);
      });
    });
  }

  // While the stream is open the pages' timed polls (hx-trigger "every …",
  // which carry no triggering event) are not sent; the requests the stream
  // asks for (live-resync, live-status, …) are.
  document.addEventListener("htmx:confirm", function (event) {
    if (window.portalLive && !event.detail.triggeringEvent && event.detail.elt.matches("#board, #apply-status")) {
      event.preventDefault();
    }
  });

  // --- the Colleagues board: change only the row concerned ---------------
  var icons = {};
  function iconMarkup(name, done) {
    if (!name) return done("");
    if (!/^[a-z0-9-]+$/.test(name)) return;
    if (icons[name] !== undefined) return done(icons[name]);
    var same = document.querySelector('.person-badge[data-icon="' + name + '"]');
    if (same) { icons[name] = same.innerHTML; return done(icons[name]); }
    fetch(status.dataset.icons + name + ".svg").then(function (r) { return r.ok ? r.text() : ""; }).then(function (svg) {
      svg = svg.replace(/<!--[\s\S]*?-->/g, "").replace("<svg", '<svg aria-hidden="true" focusable="false"');
      icons[name] = svg ? '<span class="icon">' + svg + "</span>" : "";
      done(icons[name]);
    });
  }

  // A time as the pages show it ("Mon 30 Nov, 09:00"): in the reader's time
  // zone and language, which the page names (<html lang data-time-zone>).
  var formatter = null;  // made once: the page's language and zone do not change
  function shortDateTime(iso) {
    if (!formatter) {
      var root = document.documentElement;
      var options = { weekday: "short", day: "numeric", month: "short", hour: "2-digit", minute: "2-digit", hourCycle: "h23" };
      try {
        formatter = new Intl.DateTimeFormat(root.lang || undefined, Object.assign({ timeZone: root.dataset.timeZone || undefined }, options));
      } catch (error) {  // a zone this browser does not know: its own
        formatter = new Intl.DateTimeFormat(root.lang || undefined, options);
      }
    }
    return formatter.format(new Date(iso));
  }

  document.addEventListener("live:presence", function (event) {
    var d = event.detail;
    var row = document.querySelector('#board li[data-user-id="' + d.user + '"]');
    if (row) {
      window.portal.paint(row, d.colour);
      row.querySelector(".person-status").textContent = d.profile;
      var time = row.querySelector("time");
      if (time) {
        time.setAttribute("datetime", d.since);
        time.textContent = shortDateTime(d.since);
      }
      var badge = row.querySelector(".person-badge");
      iconMarkup(d.icon, function (markup) { badge.innerHTML = markup; badge.dataset.icon = d.icon; });
    }
    // My presence: a switch made elsewhere (a trigger, another tab, a phone client).
    var mine = document.getElementById("presence");
    if (mine && String(d.user) === mine.dataset.me) {
      var shown = mine.querySelector("#current-card time");
      var same = shown && Math.floor(Date.parse(shown.getAttribute("datetime")) / 1000) === Math.floor(Date.parse(d.since) / 1000);
      if (!same) fire("live-presence");
    }
  });

  document.addEventListener("live:line", function (event) {
    var d = event.detail;
    var row = document.querySelector('#board li[data-ext="' + d.extension + '"]');
    var template = document.getElementById("line-" + d.state);
    if (!row || !template) return;
    var fresh = template.content.firstElementChild.cloneNode(true);
    var old = row.querySelector(".person-line");
    if (old) old.replaceWith(fresh);
    else row.querySelector(".person-status").after(fresh);
  });

  // --- My presence: the apply status and mismatches are the user's own ----
  ["live:apply", "live:mismatch"].forEach(function (name) {
    document.addEventListener(name, function () { fire("live-status"); });
  });

  document.addEventListener("live:refresh", function () { fire("live-resync"); fire("live-status"); fire("live-presence"); });

  connect();
})();

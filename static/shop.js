/* The shopper pages' only script: countdowns, the waiting room's polling, live stock figures.
   Everything it needs comes from data- attributes; the pages work without it (the waiting page
   then refreshes itself with a <meta http-equiv="refresh"> inside <noscript>). */
(function () {
  "use strict";

  document.documentElement.classList.add("js");

  function pad(n) {
    return n < 10 ? "0" + n : String(n);
  }

  function clock(seconds) {
    var s = Math.max(0, Math.floor(seconds));
    var h = Math.floor(s / 3600);
    var m = Math.floor((s % 3600) / 60);
    var rest = s % 60;
    return h ? h + ":" + pad(m) + ":" + pad(rest) : m + ":" + pad(rest);
  }

  /* The page's one live region (#announcer): one message at a time, politely. */
  function announce(text) {
    var region = document.getElementById("announcer");
    if (region && text) {
      region.textContent = text;
    }
  }

  /* A countdown warns a minute before it ends, once (only if it started with more than that). */
  var WARN_AT_S = 60;

  /* Countdowns count from the seconds the server computed, so the shopper's clock does not matter. */
  function startCountdowns(root) {
    root.querySelectorAll("[data-countdown]").forEach(function (el) {
      if (el.dataset.running) {
        return;
      }
      el.dataset.running = "1";
      var end = Date.now() + Number(el.dataset.countdown) * 1000;
      var warn = Number(el.dataset.countdown) > WARN_AT_S ? el.dataset.warnText : "";
      var timer = null;
      function tick() {
        var left = Math.round((end - Date.now()) / 1000);
        if (left > 0) {
          el.textContent = clock(left);
          if (warn && left <= WARN_AT_S) {
            announce(warn);
            warn = "";
          }
          return;
        }
        clearInterval(timer);
        el.textContent = el.dataset.expiredText || clock(0);
        el.classList.add("countdown--done");
        var scope = el.closest("[data-expires]");
        if (scope) {
          scope.classList.add("is-expired");
          scope.querySelectorAll("[data-disable-on-expiry] :is(button, select, input)")
            .forEach(function (control) { control.disabled = true; });
        }
      }
      timer = setInterval(tick, 1000);
      tick();
    });
  }

  /* The waiting room: poll the page's status endpoint at the pace the server asks for, and back off
     while nothing changes (a paused line, a long wait): each unchanged answer waits 1.5 times longer,
     up to 15 s; any change goes back to the server's pace. */
  var BACKOFF = 1.5;
  var MAX_POLL_MS = 15000;
  var POLL_GAP_MS = 100;

  function startWaiting(room) {
    var url = room.dataset.statusUrl;
    var start = Number(room.dataset.start) || 0;
    var place = document.getElementById("place");
    var panel = document.getElementById("wait-panel");
    var failures = 0;
    var delay = Number(room.dataset.pollMs) || 1000;
    var asked = 0;
    var sentAt = 0;
    var maxWait = Number(room.dataset.maxWaitS) || 0;
    var last = null;
    var said = { place: place.textContent.trim(), verdict: "", waitlist: "" };
    var verdictEl = panel.querySelector("[data-verdict]");
    var noteEl = panel.querySelector("[data-waitlist-note]");
    said.verdict = verdictEl && !verdictEl.hidden ? verdictEl.textContent.trim() : "";
    said.waitlist = noteEl && !noteEl.hidden ? noteEl.textContent.trim() : "";

    function next(status) {
      var seen = [status.status, status.place, status.place_text, status.units_text, status.held_text,
        status.verdict, status.waitlist_text, status.estimate_text].join("|");
      var pace = status.poll_after_ms || 1000;
      delay = seen === last ? Math.min(MAX_POLL_MS, Math.max(pace, delay * BACKOFF)) : pace;
      last = seen;
      room.dataset.serverPollMs = String(pace);
      room.dataset.nextPollMs = String(Math.round(delay));
      /* Undecided well before the wait asked for: the server could not hold this poll (all its
         long-poll slots were busy), so ask again at the server's pace, not at once. */
      var early = Date.now() - sentAt < asked * 500;
      setTimeout(poll, early ? delay : POLL_GAP_MS);
    }

    /* Say what changed, in one message: the place, then a new verdict or waitlist note. */
    function tell(status) {
      var news = [];
      [["place", status.place_text], ["verdict", status.verdict_text], ["waitlist", status.waitlist_text]]
        .forEach(function (pair) {
          var text = pair[1] || "";
          if (text !== said[pair[0]]) {
            said[pair[0]] = text;
            if (text) {
              news.push(text);
            }
          }
        });
      announce(news.join(" "));
    }

    function show(selector, text) {
      var el = panel.querySelector(selector);
      if (el && text !== undefined && el.textContent !== text) {
        el.textContent = text;
      }
    }

    function finish(status) {
      room.removeAttribute("data-wait");
      var ticket = room.querySelector(".ticket");
      if (ticket) {
        ticket.remove();
      }
      panel.innerHTML = status.html;
      place.classList.add("visually-hidden");
      place.textContent = status.place_text;
      if (status.title) {
        document.title = status.title + document.title.slice(document.title.lastIndexOf(" · "));
      }
      startCountdowns(panel);
      /* The result is said once: by focusing its heading, not through the live region as well. */
      var heading = panel.querySelector(".outcome-title");
      if (heading) {
        heading.focus();
      } else {
        announce(status.place_text);
      }
    }

    function update(status) {
      failures = 0;
      var offline = panel.querySelector("[data-offline]");
      if (offline) {
        offline.hidden = true;
      }
      if (status.forward_to) {
        window.location.assign(status.forward_to);
        return;
      }
      if (status.finished) {
        finish(status);
        return;
      }
      tell(status);
      if (place.textContent.trim() !== status.place_text) {
        place.textContent = status.place_text;
      }
      if (status.title && document.title.indexOf(status.title + " · ") !== 0) {
        document.title = status.title + document.title.slice(document.title.lastIndexOf(" · "));
      }
      var number = room.querySelector("[data-place-number]");
      if (number) {
        number.textContent = status.place && status.status !== "started" ? String(status.place) : "…";
      }
      show("[data-units]", status.units_text);
      show("[data-held]", status.held_text);
      show("[data-waitlist-note]", status.waitlist_text);
      var note = panel.querySelector("[data-waitlist-note]");
      if (note) {
        note.hidden = !status.waitlist_text;
      }
      var prequeue = panel.querySelector("[data-prequeue]");
      if (prequeue && !status.prequeued) {
        prequeue.hidden = true; /* the draw is done: the shopper now has a place in line */
      }
      show("[data-estimate] span", status.estimate_text);
      var held = panel.querySelector("[data-held]");
      if (held) {
        held.hidden = !status.held_text;
      }
      var verdict = panel.querySelector("[data-verdict]");
      if (verdict && verdict.dataset.verdict !== status.verdict) {
        /* The verdict changes as the line moves (tell() has said it). */
        verdict.dataset.verdict = status.verdict;
        verdict.className = status.verdict ? "odds odds--" + status.verdict : "odds";
        verdict.textContent = status.verdict_text;
        verdict.hidden = !status.verdict_text;
      }
      var bar = panel.querySelector("[data-progress]");
      if (bar && status.ahead !== null) {
        start = Math.max(start, status.ahead);
        bar.max = start || 1;
        bar.value = start ? start - status.ahead : 0;
      }
      next(status);
    }

    function failed() {
      failures += 1;
      var offline = panel.querySelector("[data-offline]");
      if (offline) {
        offline.hidden = false;
      }
      setTimeout(poll, Math.min(10000, 1000 * Math.pow(2, failures)));
    }

    /* The server holds each poll open for the pace's length and answers at once when the request
       is decided (a long-poll), so the shopper learns the outcome the moment it is made. */
    function poll() {
      var seconds = Math.max(1, Math.min(maxWait, Math.round(delay / 1000)));
      asked = seconds;
      sentAt = Date.now();
      fetch(url + "?wait=" + seconds,
        { credentials: "same-origin", cache: "no-store", headers: { Accept: "application/json" } })
        .then(function (response) {
          if (response.status === 404) {
            window.location.reload(); /* the server's page explains what happened */
            return null;
          }
          if (!response.ok) {
            throw new Error("status " + response.status);
          }
          return response.json();
        })
        .then(function (status) {
          if (status) {
            update(status);
          }
        })
        .catch(failed);
    }

    room.dataset.nextPollMs = String(delay);
    setTimeout(poll, POLL_GAP_MS);
  }

  /* Live stock: refresh "N left" figures from the public catalog API every few seconds. */
  var STOCK_REFRESH_MS = 10000;

  function showStock(product) {
    document.querySelectorAll('[data-stock-for="' + product.sku + '"]').forEach(function (el) {
      var out = product.available <= 0;
      el.textContent = out ? el.dataset.outText : el.dataset.leftText.replace("{n}", product.available);
      el.classList.toggle("stock--out", out);
      el.classList.toggle("stock--low", !out && product.available <= 10);
    });
    document.querySelectorAll("[data-needs-stock]").forEach(function (button) {
      button.disabled = product.available <= 0;
    });
  }

  function startLiveStock(el) {
    var url = el.dataset.liveUrl;
    function refresh() {
      if (document.hidden) {
        return;
      }
      fetch(url, { credentials: "omit", cache: "no-store", headers: { Accept: "application/json" } })
        .then(function (response) { return response.ok ? response.json() : null; })
        .then(function (body) {
          if (body) {
            (body.items || [body]).forEach(showStock);
          }
        })
        .catch(function () { /* keep the figures shown; the next refresh tries again */ });
    }
    setInterval(refresh, STOCK_REFRESH_MS);
  }

  /* Back from a form that names its control in the address (the sort menu's "#sort"): focus is
     where the shopper left it, not on the page's body. */
  function focusFromAddress() {
    var id = window.location.hash.slice(1);
    var target = id && /^[A-Za-z][\w-]*$/.test(id) ? document.getElementById(id) : null;
    if (target && target.matches("select, input, button, textarea") && document.activeElement === document.body) {
      target.focus();
    }
  }

  /* Forms are sent once: a second click while the first is on its way does nothing. */
  function sendOnce(form) {
    form.addEventListener("submit", function (event) {
      if (form.dataset.sent) {
        event.preventDefault();
        return;
      }
      form.dataset.sent = "1";
      form.classList.add("is-sending");
    });
  }

  /* Coming back with the browser's Back button shows the page as it was left: let its forms go again. */
  window.addEventListener("pageshow", function (event) {
    if (event.persisted) {
      document.querySelectorAll("form[data-sent]").forEach(function (form) {
        delete form.dataset.sent;
        form.classList.remove("is-sending");
      });
    }
  });

  /* scroll-padding-top follows the sticky header's real height (it wraps on narrow screens). */
  function measureHeader() {
    var header = document.querySelector(".site-header");
    if (header) {
      document.documentElement.style.setProperty("--header-height", header.offsetHeight + "px");
    }
  }

  document.addEventListener("DOMContentLoaded", function () {
    measureHeader();
    window.addEventListener("resize", measureHeader);
    startCountdowns(document);
    document.querySelectorAll("[data-wait]").forEach(startWaiting);
    document.querySelectorAll("[data-live-url]").forEach(startLiveStock);
    focusFromAddress();
    document.querySelectorAll("form[method='post']").forEach(sendOnce);
  });
})();

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

  /* Countdowns count from the seconds the server computed, so the shopper's clock does not matter. */
  function startCountdowns(root) {
    root.querySelectorAll("[data-countdown]").forEach(function (el) {
      if (el.dataset.running) {
        return;
      }
      el.dataset.running = "1";
      var end = Date.now() + Number(el.dataset.countdown) * 1000;
      var timer = null;
      function tick() {
        var left = Math.round((end - Date.now()) / 1000);
        if (left > 0) {
          el.textContent = clock(left);
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

  /* The waiting room: poll the page's status endpoint at the pace the server asks for. */
  function startWaiting(room) {
    var url = room.dataset.statusUrl;
    var start = Number(room.dataset.start) || 0;
    var place = document.getElementById("place");
    var panel = document.getElementById("wait-panel");
    var failures = 0;

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
      startCountdowns(panel);
      var heading = panel.querySelector(".outcome-title");
      if (heading) {
        heading.focus();
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
      if (place.textContent.trim() !== status.place_text) {
        place.textContent = status.place_text;
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
        /* The verdict changes as the line moves: say it once, politely, when it does. */
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
      setTimeout(poll, status.poll_after_ms || 1000);
    }

    function failed() {
      failures += 1;
      var offline = panel.querySelector("[data-offline]");
      if (offline) {
        offline.hidden = false;
      }
      setTimeout(poll, Math.min(10000, 1000 * Math.pow(2, failures)));
    }

    function poll() {
      fetch(url, { credentials: "same-origin", cache: "no-store", headers: { Accept: "application/json" } })
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

    setTimeout(poll, Number(room.dataset.pollMs) || 1000);
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

  /* Sort menus apply at once when scripting is on (the Apply button is for scripting off). */
  function autosubmit(form) {
    form.querySelectorAll("select").forEach(function (select) {
      select.addEventListener("change", function () { form.submit(); });
    });
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

  document.addEventListener("DOMContentLoaded", function () {
    startCountdowns(document);
    document.querySelectorAll("[data-wait]").forEach(startWaiting);
    document.querySelectorAll("[data-live-url]").forEach(startLiveStock);
    document.querySelectorAll("form[data-autosubmit]").forEach(autosubmit);
    document.querySelectorAll("form[method='post']").forEach(sendOnce);
  });
})();

// The sale board reloads itself every few seconds while its "Refresh" box is ticked (the operator's
// choice is remembered), but never while the operator is typing a search or choosing an order,
// which a <meta http-equiv="refresh"> would throw away. Without JavaScript the board does not reload.
(function () {
  "use strict";
  var box = document.getElementById("board-refresh");
  if (!box) return;
  var key = "shop.board.refresh";
  var seconds = Number(box.getAttribute("data-seconds")) || 5;
  var control = box.closest(".refresh");
  if (control) control.hidden = false;
  try {
    box.checked = window.localStorage.getItem(key) !== "off";
  } catch (e) {
    box.checked = true;
  }
  box.addEventListener("change", function () {
    try {
      window.localStorage.setItem(key, box.checked ? "on" : "off");
    } catch (e) {
      /* private windows may refuse storage; the box still works for this page */
    }
  });
  window.setInterval(function () {
    var active = document.activeElement;
    var busy = active && active.form && active.form.classList.contains("filters");
    if (box.checked && !busy && !document.hidden) window.location.reload();
  }, seconds * 1000);
})();

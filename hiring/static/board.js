// The pipeline board follows the pipeline: every few seconds it fetches itself and swaps in
// the new board and waiting line, unless the person is typing in a form or has one open.
(function () {
  var board = document.querySelector(".board");
  if (!board) return;
  var parts = [".facts", "[data-live-part=waiting]", ".board"];
  setInterval(function () {
    var active = document.activeElement;
    if (document.hidden || (active && active.closest("form")) || document.querySelector("details[open]")) return;
    fetch(location.href, { credentials: "same-origin" })
      .then(function (r) { return r.ok ? r.text() : null; })
      .then(function (html) {
        if (!html) return;
        var fresh = new DOMParser().parseFromString(html, "text/html");
        parts.forEach(function (sel) {
          var now = document.querySelector(sel), next = fresh.querySelector(sel);
          if (now && next && now.innerHTML !== next.innerHTML) now.innerHTML = next.innerHTML;
        });
      })
      .catch(function () {});
  }, 3000);
})();

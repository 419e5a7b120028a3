// plait server pages: small progressive enhancements. Every page works without this file.
(function () {
  "use strict";
  var tz = document.body.getAttribute("data-tz") || undefined;

  // Times: the server writes UTC; show them in the viewer's time zone, the absolute time on hover.
  function pad(n) { return n < 10 ? "0" + n : "" + n; }
  function fmt(d, withZone, seconds) {
    var opts = { year: "numeric", month: "short", day: "numeric", hour: "2-digit", minute: "2-digit", hour12: false };
    if (seconds) opts.second = "2-digit";
    if (tz) opts.timeZone = tz;
    if (withZone) opts.timeZoneName = "short";
    try { return new Intl.DateTimeFormat(undefined, opts).format(d); }
    catch (e) { return d.getFullYear() + "-" + pad(d.getMonth() + 1) + "-" + pad(d.getDate()) + " " + pad(d.getHours()) + ":" + pad(d.getMinutes()); }
  }
  function span(seconds) {
    var s = Math.abs(seconds), units = [["d", 86400], ["h", 3600], ["min", 60], ["s", 1]], parts = [];
    if (s < 60) return Math.round(s) + " s";
    for (var i = 0; i < units.length && parts.length < 2; i++) {
      if (s >= units[i][1]) { parts.push(Math.floor(s / units[i][1]) + " " + units[i][0]); s %= units[i][1]; }
      else if (parts.length) break;
    }
    return parts.join(" ");
  }
  function localise(root) {
    var now = Date.now();
    (root || document).querySelectorAll("time[datetime]").forEach(function (el) {
      var d = new Date(el.getAttribute("datetime"));
      if (isNaN(d)) return;
      el.title = fmt(d, true);
      var mode = el.getAttribute("data-mode");
      if (mode === "absolute" || mode === "seconds") { el.textContent = fmt(d, false, mode === "seconds"); return; }
      var diff = (d.getTime() - now) / 1000;
      el.textContent = Math.abs(diff) < 5 ? "just now" : diff > 0 ? "in " + span(diff) : span(diff) + " ago";
    });
  }

  // Confirmation for actions that change something, inline (without JS the server asks on a page).
  document.addEventListener("click", function (ev) {
    var btn = ev.target.closest("button[data-confirm]");
    if (!btn || !btn.form || btn.form.querySelector("input[name=confirmed]")) return;
    ev.preventDefault();
    var form = btn.form, box = form.querySelector(".confirm");
    if (box) { box.hidden = false; return; }
    box = document.createElement("div");
    var risky = btn.classList.contains("danger");  // red only for what cannot be taken back
    box.className = risky ? "confirm" : "confirm calm";
    box.setAttribute("role", "alertdialog");
    var p = document.createElement("p"); p.style.margin = "0 0 .5rem"; p.textContent = btn.getAttribute("data-confirm");
    var yes = document.createElement("button"); yes.type = "button"; yes.className = risky ? "danger solid" : "primary"; yes.textContent = "Yes, " + btn.textContent.toLowerCase();
    var no = document.createElement("button"); no.type = "button"; no.textContent = "Keep it"; no.style.marginLeft = ".5rem";
    yes.addEventListener("click", function () {
      var hidden = document.createElement("input"); hidden.type = "hidden"; hidden.name = "confirmed"; hidden.value = "1";
      form.appendChild(hidden);
      form.submit();
    });
    no.addEventListener("click", function () { box.remove(); });
    box.appendChild(p); box.appendChild(yes); box.appendChild(no);
    form.appendChild(box);
    yes.focus();
  });

  // Lists in task forms grow and shrink in place (without JS the buttons post the form back).
  document.addEventListener("click", function (ev) {
    var btn = ev.target.closest("button.add, button.remove");
    if (!btn) return;
    var list = btn.closest("fieldset[data-list]");
    if (!list) return;
    ev.preventDefault();
    if (btn.classList.contains("remove")) { btn.closest("[data-item]").remove(); return; }
    var path = list.getAttribute("data-list"), items = list.querySelector(".items"), next = 0;
    list.querySelectorAll(":scope > .items > [data-item]").forEach(function (item) {
      var el = item.querySelector("[name^='f." + path + ".']");
      if (!el) return;
      var n = parseInt(el.name.slice(path.length + 3), 10);
      if (n >= next) next = n + 1;
    });
    var html = list.querySelector(":scope > template").innerHTML;
    var domPath = path.replace(/[^A-Za-z0-9_-]/g, "-");
    html = html.split(path + ".__i__").join(path + "." + next).split(domPath + "-__i__").join(domPath + "-" + next);
    items.insertAdjacentHTML("beforeend", html);
    var added = items.lastElementChild.querySelector("input, select, textarea");
    if (added) added.focus();
  });

  // "Review changes": the diff proposal -> answer inline, from the same page the server renders.
  var taskForm = document.getElementById("task-form");
  if (taskForm && taskForm.action.indexOf("/review") !== -1) {
    taskForm.addEventListener("submit", function (ev) {
      var submitter = ev.submitter;
      if (submitter && submitter.name !== "_review") return;
      ev.preventDefault();
      var data = new FormData(taskForm);
      data.append("_review", "1");
      fetch(taskForm.action, { method: "POST", body: new URLSearchParams(data), headers: { "X-Requested-With": "plait" }, credentials: "same-origin" })
        .then(function (r) { return r.text(); })
        .then(function (text) {
          var doc = new DOMParser().parseFromString(text, "text/html");
          var panel = doc.getElementById("review-panel");
          if (panel) {
            var target = document.getElementById("review");
            target.innerHTML = ""; target.appendChild(document.importNode(panel, true));
            target.querySelectorAll("[data-standalone]").forEach(function (el) { el.remove(); });
            taskForm.querySelectorAll(".err").forEach(function (el) { el.remove(); });
            taskForm.querySelectorAll(".invalid").forEach(function (el) { el.classList.remove("invalid"); });
            taskForm.querySelectorAll("[aria-invalid]").forEach(function (el) { el.removeAttribute("aria-invalid"); });
            localise(target);
            var submit = document.getElementById("submit-answer"); if (submit) submit.scrollIntoView({ block: "center" });
            return;
          }
          var fresh = doc.getElementById("task-form");
          if (fresh) {  // errors: the form again, each error next to its field
            taskForm.innerHTML = fresh.innerHTML;
            var bad = taskForm.querySelector("[aria-invalid=true], .invalid input, .invalid select, .invalid textarea");
            if (bad) bad.focus();
          } else { document.open(); document.write(text); document.close(); }
        });
    });
    taskForm.addEventListener("input", function () {  // an edit makes the shown review stale
      var r = document.getElementById("review"); if (r) r.innerHTML = "";
    });
  }

  // Live updates of a workflow page: server-sent events, polling when they are unavailable.
  var live = document.getElementById("live");
  if (live) {
    var busy = false, again = false, source = null, timer = null;
    var isOpen = function () { var m = live.querySelector("[data-live-status]"); return m && m.getAttribute("data-open") === "true"; };
    var refresh = function () {
      if (busy) { again = true; return; }
      var active = document.activeElement;
      if (active && live.contains(active) && active.closest("form")) { again = true; setTimeout(refresh, 1500); return; }
      if (live.querySelector("details.signal[open], .confirm")) { setTimeout(refresh, 1500); return; }
      busy = true;
      fetch(live.getAttribute("data-fragment"), { credentials: "same-origin", headers: { "X-Requested-With": "plait" } })
        .then(function (r) {
          if (r.redirected) { stop(); window.location.reload(); throw new Error("signed out"); }
          if (!r.ok) throw new Error(r.status);
          return r.text();
        })
        .then(function (html) {
          live.innerHTML = html; localise(live); placeTokens();
          if (!isOpen()) stop();
          else { var m = live.querySelector("[data-live-status]"); if (m) m.classList.add("on"); }
        })
        .catch(function () {})
        .then(function () { busy = false; if (again) { again = false; refresh(); } });
    };
    // Tokens of a running model call (plait server --worker), appended as they arrive.
    var tokenUrl = live.getAttribute("data-tokens"), tokenSource = null, boxes = {};
    var placeTokens = function () {
      var list = live.querySelector("ol.timeline");
      Object.keys(boxes).forEach(function (seq) {
        var box = boxes[seq];
        var recorded = live.querySelector("li.tl.model[data-seq='" + seq + "']:not(.streaming)");
        if (box.done && recorded) { box.el.remove(); delete boxes[seq]; return; }
        if (recorded) return;
        if (list && box.el.parentNode !== list) list.appendChild(box.el);
        else if (!list && box.el.parentNode !== live) live.appendChild(box.el);
      });
    };
    var tokenBox = function (seq) {
      if (boxes[seq]) return boxes[seq];
      var li = document.createElement("li");
      li.className = "tl model streaming"; li.setAttribute("data-seq", seq); li.setAttribute("data-status", "running");
      li.innerHTML = '<div class="seq"></div><div class="kind">model call</div><div class="what"><div class="notes">answering…</div><pre class="msg-text"></pre></div>';
      li.querySelector(".seq").textContent = seq === "null" ? "" : seq;
      boxes[seq] = { el: li, text: li.querySelector(".msg-text"), done: false };
      placeTokens();
      return boxes[seq];
    };
    var onToken = function (ev) {
      var d = JSON.parse(ev.data), box = tokenBox(String(d.seq));
      box.text.textContent += d.text;
    };
    var onDone = function (ev) {
      var d = JSON.parse(ev.data), box = boxes[String(d.seq)];
      if (box) { box.done = true; box.el.querySelector(".notes").textContent = "answered; recording…"; }
      refresh();
    };
    var stop = function () {
      if (tokenSource) { tokenSource.close(); tokenSource = null; }
      if (source) { source.close(); source = null; }
      if (timer) { clearInterval(timer); timer = null; }
      var m = live.querySelector("[data-live-status]"); if (m) m.classList.remove("on");
    };
    var poll = function () { if (!timer) timer = setInterval(refresh, 3000); };
    if (isOpen()) {
      var mark = live.querySelector("[data-live-status]"); if (mark) mark.classList.add("on");
      if (window.EventSource) {
        source = new EventSource(live.getAttribute("data-stream"));
        source.addEventListener("change", refresh);
        source.addEventListener("open", refresh);  // what changed between the page and the stream
        source.onerror = function () { if (source && source.readyState === 2) { source = null; poll(); } };
        if (tokenUrl) {
          tokenSource = new EventSource(tokenUrl);
          tokenSource.addEventListener("token", onToken);
          tokenSource.addEventListener("done", onDone);
          tokenSource.onerror = function () { if (tokenSource && tokenSource.readyState === 2) tokenSource = null; };
        }
      } else { poll(); }
    }
  }

  localise(document);
  setInterval(function () { localise(document); }, 30000);
})();

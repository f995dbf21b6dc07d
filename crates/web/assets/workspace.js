// The agent workspace's light touch: macros into replies, keyboard shortcuts, live queue counts
// and the collision warning. Every page works without it; text from the server is inserted as
// text (never as HTML).
(function () {
  "use strict";

  // ---- macros: choosing one inserts its text (filled in for this complaint) at the cursor.
  document.querySelectorAll("select.macro-pick").forEach(function (pick) {
    pick.addEventListener("change", function () {
      var option = pick.options[pick.selectedIndex];
      var area = document.getElementById(pick.getAttribute("data-target"));
      if (!option || !option.value || !area) return;
      var text = option.getAttribute("data-text") || "";
      var start = area.selectionStart || 0, end = area.selectionEnd || 0;
      area.value = area.value.slice(0, start) + text + area.value.slice(end);
      area.focus();
      area.selectionStart = area.selectionEnd = start + text.length;
      area.dispatchEvent(new Event("input", { bubbles: true }));
      pick.selectedIndex = 0;
    });
  });

  // ---- live counts on the queue page.
  var views = document.querySelector("nav.queues[data-counts]");
  function refreshCounts() {
    fetch(views.getAttribute("data-counts"), { credentials: "same-origin", headers: { Accept: "application/json" } })
      .then(function (r) { return r.ok ? r.json() : null; })
      .then(function (counts) {
        if (!counts) return;
        views.querySelectorAll("[data-count-for]").forEach(function (badge) {
          var n = counts[badge.getAttribute("data-count-for")];
          badge.textContent = n === undefined ? "" : n;
        });
      })
      .catch(function () {});
  }
  if (views) {
    refreshCounts();
    setInterval(function () { if (!document.hidden) refreshCounts(); }, 15000);
    document.addEventListener("visibilitychange", function () { if (!document.hidden) refreshCounts(); });
  }

  // ---- presence: beat while the page is open, warn of anyone else on it.
  var presence = document.getElementById("presence");
  var lastTyped = 0;
  document.querySelectorAll("textarea").forEach(function (area) {
    area.addEventListener("input", function () { lastTyped = Date.now(); });
  });
  function beat() {
    var writing = Date.now() - lastTyped < 20000;
    var body = new URLSearchParams({ csrf: presence.getAttribute("data-csrf"), state: writing ? "replying" : "viewing" });
    fetch(presence.getAttribute("data-url"), { method: "POST", credentials: "same-origin", body: body, headers: { Accept: "application/json" } })
      .then(function (r) { return r.ok ? r.json() : null; })
      .then(function (answer) {
        if (!answer) return;
        presence.textContent = answer.others.map(function (o) { return o.text; }).join(" · ");
        presence.hidden = answer.others.length === 0;
        presence.classList.toggle("replying", answer.others.some(function (o) { return o.state === "replying"; }));
      })
      .catch(function () {});
  }
  if (presence) {
    beat();
    setInterval(function () { if (!document.hidden) beat(); }, 5000);
    var typedBeat = null;
    document.addEventListener("input", function () {
      // The first keystrokes tell the others at once, not at the next beat.
      if (!typedBeat) typedBeat = setTimeout(function () { typedBeat = null; beat(); }, 500);
    });
  }

  // ---- keyboard shortcuts (none while typing, except Ctrl+Enter and Escape).
  var rows = Array.prototype.slice.call(document.querySelectorAll("#queue tbody tr"));
  var current = -1;
  function choose(i) {
    if (!rows.length) return;
    current = Math.max(0, Math.min(rows.length - 1, i));
    rows.forEach(function (r, k) { r.classList.toggle("selected", k === current); });
    var link = rows[current].querySelector("a");
    if (link) link.focus();
  }
  function focusText(id) {
    var area = document.getElementById(id);
    if (area) { area.scrollIntoView({ block: "center" }); area.focus(); return true; }
    return false;
  }
  document.addEventListener("keydown", function (e) {
    var t = e.target;
    var typing = t && (t.tagName === "INPUT" || t.tagName === "TEXTAREA" || t.tagName === "SELECT" || t.isContentEditable);
    if (typing) {
      if (e.key === "Enter" && (e.ctrlKey || e.metaKey) && t.form) { e.preventDefault(); t.form.requestSubmit(); }
      else if (e.key === "Escape") t.blur();
      return;
    }
    if (e.ctrlKey || e.metaKey || e.altKey) return;
    var help = document.getElementById("shortcuts");
    switch (e.key) {
      case "?": if (help) help.hidden = !help.hidden; break;
      case "j": choose(current + 1); break;
      case "k": choose(current - 1); break;
      case "o": case "Enter":
        if (current >= 0 && rows[current]) { var a = rows[current].querySelector("a"); if (a) { e.preventDefault(); location.href = a.href; } }
        return;
      case "/": { var q = document.getElementById("q"); if (q) { e.preventDefault(); q.focus(); } break; }
      case "r": if (focusText("text-reply")) e.preventDefault(); break;
      case "n": if (focusText("text-note")) e.preventDefault(); break;
      case "t": { var take = document.getElementById("take"); if (take) take.requestSubmit(); break; }
      case "q": if (presence) location.href = "/ui/queue"; break;
      default:
        if (views && /^[1-9]$/.test(e.key)) {
          var links = views.querySelectorAll("[data-view]");
          var target = links[Number(e.key) - 1];
          if (target && target.href) location.href = target.href;
        }
    }
  });
})();

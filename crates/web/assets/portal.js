// The complaint form's FAQ suggestions: while the player types, ask the desk's FAQ search and
// list matching answers. Everything is inserted as text (never as HTML), and the form works
// without this script.
(function () {
  "use strict";
  var form = document.getElementById("complaint-form");
  if (!form) return;
  var lang = form.getAttribute("data-lang") || "ru";
  var box = document.getElementById("suggestions");
  var list = box.querySelector("ul");
  var fields = [document.getElementById("subject"), document.getElementById("description")];
  var timer = null, last = "";
  function show(articles) {
    list.textContent = "";
    articles.slice(0, 5).forEach(function (a) {
      var li = document.createElement("li");
      var link = document.createElement("a");
      link.href = "/help/" + encodeURIComponent(a.id) + "?lang=" + encodeURIComponent(lang);
      link.target = "_blank";
      link.rel = "noopener";
      link.textContent = a.title;
      li.appendChild(link);
      list.appendChild(li);
    });
    box.hidden = articles.length === 0;
  }
  function lookUp() {
    var q = fields.map(function (f) { return f ? f.value : ""; }).join(" ").trim().slice(0, 200);
    if (q === last) return;
    last = q;
    if (q.length < 3) { show([]); return; }
    fetch("/api/v1/faq?lang=" + encodeURIComponent(lang) + "&limit=5&q=" + encodeURIComponent(q), { credentials: "omit" })
      .then(function (r) { return r.ok ? r.json() : []; })
      .then(show)
      .catch(function () { show([]); });
  }
  fields.forEach(function (f) {
    if (!f) return;
    f.addEventListener("input", function () { clearTimeout(timer); timer = setTimeout(lookUp, 250); });
  });
})();

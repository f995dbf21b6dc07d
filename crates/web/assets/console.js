// The live-chat console (/ui/chat) and the phone pop-up on every workspace page.
// On the console page it opens the agent WebSocket (authenticated by the session cookie, which
// the script never sees) and works the chats; on the other pages it opens the same socket with
// ?only=calls and shows the pop-up when a call reaches the agent. Everything from the server or
// a player is inserted as text, never as HTML.
(function () {
  "use strict";

  var root = document.getElementById("console");
  var csrfField = document.querySelector("form.signout input[name=csrf]");
  if (!root && !csrfField) return; // not signed in
  var csrf = root ? root.getAttribute("data-csrf") : csrfField.value;
  var lang = document.documentElement.lang || "ru";
  var T = {}, LANGS = {}, DEPTS = {};

  function t(key) { return Object.prototype.hasOwnProperty.call(T, key) ? T[key] : key; }
  function has(key) { return Object.prototype.hasOwnProperty.call(T, key); }

  // An element with attributes and text (never HTML).
  function el(tag, attrs, text) {
    var e = document.createElement(tag);
    if (attrs) Object.keys(attrs).forEach(function (k) {
      if (attrs[k] === false || attrs[k] === null || attrs[k] === undefined) return;
      if (k === "class") e.className = attrs[k]; else e.setAttribute(k, attrs[k] === true ? "" : attrs[k]);
    });
    if (text !== undefined && text !== null) e.textContent = String(text);
    return e;
  }

  function clock(at) {
    var d = new Date(at);
    if (isNaN(d.getTime())) return "";
    try { return d.toLocaleTimeString(lang, { hour: "2-digit", minute: "2-digit" }); } catch (e) { return d.toTimeString().slice(0, 5); }
  }

  function errorText(prefix, code, detail) {
    if (has(prefix + code)) return t(prefix + code);
    return t(prefix + "other") + (detail ? ": " + detail : "") + " (" + code + ")";
  }

  // ---------------------------------------------------------------- the connection

  var ws = null, attempts = 0, connectedBefore = false, stopped = false;
  var url = (location.protocol === "https:" ? "wss://" : "ws://") + location.host + "/api/v1/chat/ws" + (root ? "" : "?only=calls");

  function setStatus(state) {
    var s = document.getElementById("console-status");
    if (!s) return;
    s.setAttribute("data-state", state);
    s.textContent = t("console-" + state);
  }

  function send(frame) {
    if (ws && ws.readyState === 1) { ws.send(JSON.stringify(frame)); return true; }
    return false;
  }

  function connect() {
    if (stopped) return;
    if (root) setStatus(connectedBefore ? "reconnecting" : "connecting");
    try { ws = new WebSocket(url); } catch (e) { ws = null; retry(); return; }
    ws.onmessage = function (ev) {
      var f;
      try { f = JSON.parse(ev.data); } catch (e) { return; }
      if (f && typeof f.type === "string") handle(f);
    };
    ws.onclose = function () {
      ws = null;
      document.body.setAttribute("data-live", "reconnecting");
      if (root) setStatus("reconnecting");
      retry();
    };
  }

  // Backoff: 1 s, 2 s, 4 s … up to 30 s, with jitter. A signed-out agent stops here.
  function retry() {
    if (stopped) return;
    var delay = Math.min(30000, 1000 * Math.pow(2, attempts)) * (0.75 + Math.random() * 0.5);
    attempts += 1;
    setTimeout(function () {
      fetch("/ui/chat/texts?lang=" + encodeURIComponent(lang), { credentials: "same-origin", headers: { Accept: "application/json" } })
        .then(function (r) {
          if (r.status === 401) { stopped = true; if (root) setStatus("signed-out"); return; }
          connect();
        })
        .catch(function () { retry(); });
    }, delay);
  }

  function handle(f) {
    switch (f.type) {
      case "ready":
        attempts = 0;
        document.body.setAttribute("data-live", "ready");
        if (root) {
          setStatus("online");
          if (connectedBefore) resumeAll();
        }
        connectedBefore = true;
        break;
      case "call": showCall(f); break;
      default: if (root) consoleFrame(f);
    }
  }

  // ---------------------------------------------------------------- the console

  var chats = {}; // chat_id → {card, transcript, seqs, pending, ...}
  var counter = 0;

  function showError(text) {
    var e = document.getElementById("console-error");
    e.textContent = text;
    e.hidden = !text;
  }

  function consoleFrame(f) {
    switch (f.type) {
      case "queue": renderQueue(f.waiting || []); break;
      case "chat":
        if (f.yours === false) handedOver(f.chat_id);
        else holdChat(f);
        break;
      case "msg": addLine(f); break;
      case "ack": acked(f); break;
      case "typing": typing(f); break;
      case "ended": ended(f.chat_id); break;
      case "error": frameError(f); break;
      default: break; // notices and future frames
    }
  }

  function renderQueue(waiting) {
    var table = document.getElementById("waiting");
    var body = table.querySelector("tbody");
    while (body.firstChild) body.removeChild(body.firstChild);
    waiting.forEach(function (w) {
      var tr = el("tr", { "data-chat-id": w.chat_id, "data-testid": "waiting-chat" });
      tr.appendChild(el("td", { "data-testid": "waiting-name" }, w.name || t("console-player")));
      tr.appendChild(el("td", { "data-testid": "waiting-language" }, LANGS[w.language] || w.language || ""));
      tr.appendChild(el("td", { "data-testid": "waiting-department" }, w.department ? DEPTS[w.department] || w.department : ""));
      tr.appendChild(el("td", { "data-testid": "waiting-since" }, clock(w.since)));
      tr.appendChild(el("td", { "class": "preview", "data-testid": "waiting-preview" }, w.preview || ""));
      var td = el("td");
      var accept = el("button", { type: "button", "data-testid": "accept" }, t("console-accept"));
      accept.addEventListener("click", function () {
        showError("");
        if (send({ type: "accept", chat_id: w.chat_id })) accept.disabled = true;
      });
      td.appendChild(accept);
      tr.appendChild(td);
      body.appendChild(tr);
    });
    table.hidden = waiting.length === 0;
    document.getElementById("waiting-empty").hidden = waiting.length > 0;
  }

  function refreshEmpty() {
    document.getElementById("chats-empty").hidden = Object.keys(chats).length > 0;
  }

  function holdChat(f) {
    var c = chats[f.chat_id];
    if (c && !c.closed) { c.player = f.player || c.player; return; }
    if (c) c.card.parentNode.removeChild(c.card);
    // Held here: not waiting any more (the next queue frame says so too, a moment later).
    var row = document.querySelector('#waiting tr[data-chat-id="' + f.chat_id + '"]');
    if (row) row.parentNode.removeChild(row);
    var rows = document.querySelectorAll("#waiting tbody tr").length;
    document.getElementById("waiting").hidden = rows === 0;
    document.getElementById("waiting-empty").hidden = rows > 0;
    c = { id: f.chat_id, player: f.player || t("console-player"), seqs: {}, pending: {}, closed: false, typingOff: null, lastTyping: 0, stopTyping: null };
    var card = el("article", { "class": "card chat", "data-chat-id": f.chat_id, "data-testid": "chat" });
    var head = el("header", { "class": "chat-head" });
    head.appendChild(el("strong", { "data-testid": "chat-player" }, c.player));
    var facts = [LANGS[f.language] || f.language, f.department ? DEPTS[f.department] || f.department : null].filter(Boolean).join(" · ");
    if (facts) head.appendChild(el("span", { "class": "hint" }, facts));
    if (f.reference) {
      head.appendChild(el("a", { href: "/ui/complaints/" + encodeURIComponent(f.reference), "data-testid": "chat-complaint" }, t("console-complaint") + " " + f.reference));
    }
    card.appendChild(head);
    c.transcript = el("ol", { "class": "transcript", "data-testid": "transcript", "aria-live": "polite" });
    card.appendChild(c.transcript);
    c.typingLine = el("p", { "class": "typing hint", "data-testid": "chat-typing", hidden: true });
    card.appendChild(c.typingLine);
    c.notice = el("p", { "class": "chat-notice", "data-testid": "chat-notice", hidden: true });
    card.appendChild(c.notice);
    c.error = el("p", { "class": "error", "data-testid": "chat-error", role: "alert", hidden: true });
    card.appendChild(c.error);

    var id = "say-" + f.chat_id;
    c.form = el("form", { "class": "say" });
    c.form.appendChild(el("label", { "for": id }, t("console-input")));
    c.input = el("textarea", { id: id, rows: "3", "data-testid": "chat-input", maxlength: "8000" });
    c.form.appendChild(c.input);
    c.form.appendChild(el("p", { "class": "hint" }, t("console-hint")));
    c.sendButton = el("button", { type: "submit", "data-testid": "chat-send" }, t("console-send"));
    c.form.appendChild(c.sendButton);
    c.form.addEventListener("submit", function (e) { e.preventDefault(); say(c); });
    c.input.addEventListener("keydown", function (e) {
      if (e.key === "Enter" && !e.shiftKey && !e.isComposing) { e.preventDefault(); say(c); }
    });
    c.input.addEventListener("input", function () { typingOut(c); });
    card.appendChild(c.form);

    var tools = el("div", { "class": "chat-tools" });
    var targets = document.getElementById("transfer-targets");
    c.transfer = targets.cloneNode(true);
    c.transfer.removeAttribute("id");
    c.transfer.hidden = false;
    c.transfer.setAttribute("data-testid", "chat-transfer-to");
    c.transfer.setAttribute("aria-label", t("console-transfer-to"));
    tools.appendChild(c.transfer);
    c.transferButton = el("button", { type: "button", "class": "secondary", "data-testid": "chat-transfer" }, t("console-transfer"));
    c.transferButton.addEventListener("click", function () {
      var v = c.transfer.value, i = v.indexOf(":");
      if (i < 0) return;
      var frame = { type: "transfer", chat_id: c.id };
      frame[v.slice(0, i)] = v.slice(i + 1);
      c.error.hidden = true;
      send(frame);
    });
    tools.appendChild(c.transferButton);
    c.endButton = el("button", { type: "button", "class": "secondary", "data-testid": "chat-end" }, t("console-end"));
    c.endButton.addEventListener("click", function () { c.error.hidden = true; send({ type: "end", chat_id: c.id }); });
    tools.appendChild(c.endButton);
    card.appendChild(tools);

    c.card = card;
    chats[f.chat_id] = c;
    var list = document.getElementById("chats");
    list.insertBefore(card, list.firstChild);
    refreshEmpty();
  }

  function lineFor(c, from, name, text, at) {
    var li = el("li", { "class": "line " + from, "data-from": from, "data-testid": "chat-line" });
    var meta = el("p", { "class": "meta" });
    meta.appendChild(el("span", { "class": "who" }, name || (from === "agent" ? t("console-you") : c.player)));
    meta.appendChild(document.createTextNode(" · "));
    meta.appendChild(el("time", { datetime: at || "" }, at ? clock(at) : ""));
    li.appendChild(meta);
    li.appendChild(el("div", { "class": "text", "data-testid": "chat-line-text" }, text));
    li.appendChild(el("span", { "class": "state hint", "data-testid": "chat-line-state" }));
    return li;
  }

  // Lines in seq order; lines still pending (no seq yet) stay at the end.
  function place(c, li, seq) {
    li.setAttribute("data-seq", String(seq));
    var after = null;
    Array.prototype.some.call(c.transcript.children, function (other) {
      var s = other.getAttribute("data-seq");
      if (s === null || Number(s) > seq) { after = other; return true; }
      return false;
    });
    c.transcript.insertBefore(li, after);
  }

  function setPending(li, state) {
    li.setAttribute("data-pending", state === "pending" ? "true" : "false");
    if (state === "failed") li.setAttribute("data-failed", "true"); else li.removeAttribute("data-failed");
    li.querySelector(".state").textContent = state === "pending" ? t("console-pending") : state === "failed" ? t("console-failed") : "";
  }

  function confirmLine(c, cid, seq, at) {
    var p = c.pending[cid];
    if (!p) return false;
    delete c.pending[cid];
    c.seqs[seq] = true;
    c.transcript.removeChild(p.li);
    setPending(p.li, "done");
    if (at) { var tm = p.li.querySelector("time"); tm.setAttribute("datetime", at); tm.textContent = clock(at); }
    place(c, p.li, seq);
    return true;
  }

  function addLine(f) {
    var c = chats[f.chat_id];
    if (!c || typeof f.seq !== "number") return;
    if (f.from === "player") showTyping(c, false);
    if (c.seqs[f.seq]) return;
    if (f.client_id && confirmLine(c, f.client_id, f.seq, f.at)) return;
    c.seqs[f.seq] = true;
    place(c, lineFor(c, f.from === "agent" ? "agent" : "player", f.name, f.text, f.at), f.seq);
    c.transcript.scrollTop = c.transcript.scrollHeight;
  }

  function acked(f) {
    var c = chats[f.chat_id];
    if (c && f.client_id) confirmLine(c, f.client_id, f.seq);
  }

  function say(c) {
    var text = c.input.value.replace(/^\s+|\s+$/g, "");
    if (!text || c.closed) return;
    counter += 1;
    var cid = "w" + Date.now().toString(36) + "-" + counter;
    var li = lineFor(c, "agent", null, text, null);
    li.setAttribute("data-client-id", cid);
    setPending(li, "pending");
    c.transcript.appendChild(li);
    c.transcript.scrollTop = c.transcript.scrollHeight;
    c.pending[cid] = { li: li, text: text };
    c.input.value = "";
    stopTypingOut(c);
    send({ type: "say", chat_id: c.id, client_id: cid, text: text });
  }

  // Typing: "on" at most every 2 s while typing, "off" after 4 s of quiet or on send.
  function typingOut(c) {
    var now = Date.now();
    if (now - c.lastTyping > 2000 && send({ type: "typing", chat_id: c.id, on: true })) c.lastTyping = now;
    clearTimeout(c.stopTyping);
    c.stopTyping = setTimeout(function () { stopTypingOut(c); }, 4000);
  }

  function stopTypingOut(c) {
    clearTimeout(c.stopTyping);
    if (c.lastTyping) send({ type: "typing", chat_id: c.id, on: false });
    c.lastTyping = 0;
  }

  function showTyping(c, on) {
    clearTimeout(c.typingOff);
    c.typingLine.textContent = on ? c.player + " " + t("console-typing") : "";
    c.typingLine.hidden = !on;
    if (on) c.typingOff = setTimeout(function () { showTyping(c, false); }, 8000);
  }

  function typing(f) {
    var c = chats[f.chat_id];
    if (c) showTyping(c, f.on !== false);
  }

  function close(c, noticeKey) {
    if (c.closed) return;
    c.closed = true;
    showTyping(c, false);
    clearTimeout(c.stopTyping);
    c.card.classList.add("closed");
    c.card.setAttribute("data-state", noticeKey === "console-ended" ? "ended" : "handed-over");
    c.notice.textContent = t(noticeKey);
    c.notice.hidden = false;
    [c.input, c.sendButton, c.transfer, c.transferButton, c.endButton].forEach(function (x) { x.disabled = true; });
    var remove = el("button", { type: "button", "class": "secondary", "data-testid": "chat-remove" }, t("console-remove"));
    remove.addEventListener("click", function () {
      c.card.parentNode.removeChild(c.card);
      delete chats[c.id];
      refreshEmpty();
    });
    c.notice.appendChild(document.createTextNode(" "));
    c.notice.appendChild(remove);
  }

  function ended(id) { var c = chats[id]; if (c) close(c, "console-ended"); }
  function handedOver(id) { var c = chats[id]; if (c) close(c, "console-handed-over"); }

  function frameError(f) {
    var c = f.chat_id ? chats[f.chat_id] : null;
    var text = errorText("console-error-", f.code, f.detail);
    if (c && f.client_id && c.pending[f.client_id]) {
      setPending(c.pending[f.client_id].li, "failed");
      delete c.pending[f.client_id];
    }
    if (c && !c.closed && f.code === "not_found" && !f.client_id) {
      // A resume for a chat that ended or moved on while the console was away.
      close(c, "console-ended");
      return;
    }
    if (c && !c.closed) { c.error.textContent = text; c.error.hidden = false; }
    else {
      showError(text);
      // An accept that failed: the button may be pressed again for another chat.
      document.querySelectorAll("#waiting button[disabled]").forEach(function (b) { b.disabled = false; });
    }
  }

  // After a reconnect: ask for what was missed, then send again what was not acknowledged
  // (the same client_id: the server stores a message once).
  function resumeAll() {
    Object.keys(chats).forEach(function (id) {
      var c = chats[id];
      if (c.closed) return;
      var last = 0;
      Object.keys(c.seqs).forEach(function (s) { last = Math.max(last, Number(s)); });
      send({ type: "resume", chat_id: id, after: last });
      Object.keys(c.pending).forEach(function (cid) {
        setPending(c.pending[cid].li, "pending");
        send({ type: "say", chat_id: id, client_id: cid, text: c.pending[cid].text });
      });
    });
  }

  // ---------------------------------------------------------------- the phone pop-up

  function showCall(f) {
    var old = document.getElementById("call-popup");
    if (old) old.parentNode.removeChild(old);
    var box = el("aside", { id: "call-popup", "class": "call-popup", role: "dialog", "aria-labelledby": "call-popup-title", "data-call-id": f.id, "data-testid": "call-popup" });
    box.appendChild(el("h2", { id: "call-popup-title" }, t("call-title")));
    var who = el("p", { "class": "caller" });
    who.appendChild(el("strong", { "data-testid": "call-caller" }, f.caller || t("call-withheld")));
    var p = f.player;
    var name = p ? [p.name, p.external_id].filter(Boolean).join(" · ") : "";
    who.appendChild(document.createTextNode(" — "));
    who.appendChild(el("span", { "data-testid": "call-player" }, name || t("call-unknown-player")));
    box.appendChild(who);

    var open = Array.isArray(f.open_complaints) ? f.open_complaints : [];
    box.appendChild(el("h3", null, t("call-open")));
    if (open.length) {
      var ul = el("ul", { "class": "call-complaints", "data-testid": "call-complaints" });
      open.forEach(function (c) {
        var li = el("li");
        li.appendChild(el("a", { href: "/ui/complaints/" + encodeURIComponent(c.reference), "data-testid": "call-complaint" }, c.reference));
        li.appendChild(document.createTextNode(" " + (c.subject || "") + " — " + t("status-" + c.status)));
        ul.appendChild(li);
      });
      box.appendChild(ul);
    } else {
      box.appendChild(el("p", { "class": "hint" }, t("call-no-open")));
    }

    var result = el("p", { "class": "call-result", role: "status", "data-testid": "call-result", hidden: true });
    var error = el("p", { "class": "error", role: "alert", "data-testid": "call-error", hidden: true });

    function act(path, fields, form) {
      error.hidden = true;
      var body = new URLSearchParams(fields);
      body.set("csrf", csrf);
      var buttons = form.querySelectorAll("button");
      buttons.forEach(function (b) { b.disabled = true; });
      fetch("/ui/calls/" + encodeURIComponent(f.id) + "/" + path, { method: "POST", credentials: "same-origin", body: body, headers: { Accept: "application/json" } })
        .then(function (r) { return r.json().then(function (j) { return { ok: r.ok, body: j }; }); })
        .then(function (a) {
          buttons.forEach(function (b) { b.disabled = false; });
          if (!a.ok) { error.textContent = errorText("call-error-", a.body.code || "other", a.body.detail); error.hidden = false; return; }
          while (result.firstChild) result.removeChild(result.firstChild);
          result.appendChild(document.createTextNode(t(path === "attach" ? "call-attached" : "call-registered") + " "));
          result.appendChild(el("a", { href: a.body.url, "data-testid": "call-result-link" }, a.body.reference));
          result.hidden = false;
        })
        .catch(function () {
          buttons.forEach(function (b) { b.disabled = false; });
          error.textContent = t("call-error-other");
          error.hidden = false;
        });
    }

    if (open.length) {
      var attach = el("form", { "class": "call-attach", "data-testid": "call-attach-form" });
      attach.appendChild(el("label", { "for": "call-attach-ref" }, t("call-attach")));
      var pick = el("select", { id: "call-attach-ref", name: "reference", "data-testid": "call-attach-ref" });
      open.forEach(function (c) { pick.appendChild(el("option", { value: c.reference }, c.reference + " — " + (c.subject || ""))); });
      attach.appendChild(pick);
      attach.appendChild(el("button", { type: "submit", "data-testid": "call-attach" }, t("call-attach-button")));
      attach.addEventListener("submit", function (e) { e.preventDefault(); act("attach", { reference: pick.value }, attach); });
      box.appendChild(attach);
    }

    var reg = el("form", { "class": "call-register", "data-testid": "call-register-form" });
    reg.appendChild(el("h3", null, t("call-register")));
    reg.appendChild(el("label", { "for": "call-subject" }, t("call-subject")));
    var subject = el("input", { id: "call-subject", name: "subject", maxlength: "200", "data-testid": "call-subject" });
    reg.appendChild(subject);
    reg.appendChild(el("label", { "for": "call-description" }, t("call-description")));
    var description = el("textarea", { id: "call-description", name: "description", rows: "3", "data-testid": "call-description" });
    reg.appendChild(description);
    reg.appendChild(el("button", { type: "submit", "data-testid": "call-register" }, t("call-register-button")));
    reg.addEventListener("submit", function (e) { e.preventDefault(); act("complaint", { subject: subject.value, description: description.value }, reg); });
    box.appendChild(reg);

    box.appendChild(result);
    box.appendChild(error);
    var closeButton = el("button", { type: "button", "class": "secondary", "data-testid": "call-close" }, t("call-close"));
    closeButton.addEventListener("click", function () { box.parentNode.removeChild(box); });
    box.appendChild(closeButton);
    document.body.appendChild(box);
  }

  // ---------------------------------------------------------------- start

  fetch("/ui/chat/texts?lang=" + encodeURIComponent(lang), { credentials: "same-origin", headers: { Accept: "application/json" } })
    .then(function (r) {
      if (r.status === 401) { stopped = true; if (root) setStatus("signed-out"); return null; }
      return r.ok ? r.json() : null;
    })
    .then(function (data) {
      if (stopped) return;
      if (data) { T = data.texts || {}; LANGS = data.languages || {}; DEPTS = data.departments || {}; }
      connect();
    })
    .catch(function () { connect(); });
})();

/*! ombuds live-chat widget. Served by ombuds at /chat/widget.js; loads nothing from elsewhere.
 *
 *   <script src="https://desk.example/chat/widget.js" data-lang="ru" data-department="payments"
 *           data-token="…" async></script>
 *
 * The protocol is docs/chat.md. Everything the widget shows lives in a shadow root so the page's
 * CSS cannot reach it; player and agent text is only ever set with textContent.
 * Test hooks: every interactive or asserted element carries a data-testid.
 */
(function () {
  'use strict';

  // ---- where we come from --------------------------------------------------------------------
  function findScript() {
    var cur = document.currentScript;
    if (cur && cur.src && /\/chat\/widget\.js(?:[?#]|$)/.test(cur.src)) return cur;
    var all = document.getElementsByTagName('script');
    for (var i = all.length - 1; i >= 0; i--) {
      if (all[i].src && /\/chat\/widget\.js(?:[?#]|$)/.test(all[i].src)) return all[i];
    }
    return null;
  }
  var script = findScript();
  if (!script) return;
  var srcUrl = new URL(script.src, location.href);
  var ORIGIN = srcUrl.origin;
  var API = ORIGIN + '/chat/v1';
  var WS_URL = (srcUrl.protocol === 'https:' ? 'wss://' : 'ws://') + srcUrl.host + '/chat/v1/ws';
  var registry = (window.__ombudsChat = window.__ombudsChat || {});
  if (registry[ORIGIN]) return; // loaded twice on one page: one widget is enough
  registry[ORIGIN] = true;

  var DEPARTMENT = (script.getAttribute('data-department') || '').trim() || null;
  var TOKEN = (script.getAttribute('data-token') || '').trim() || null;
  var LANG = pickLanguage(script.getAttribute('data-lang') || document.documentElement.getAttribute('lang') || '');
  var STORE_KEY = 'ombuds-chat:' + ORIGIN + ':' + (DEPARTMENT || '');
  var MAX_TEXT = 4000; // characters in a message
  var MAX_FRAME = 16 * 1024; // bytes: the desk closes a connection that sends a bigger frame
  var MAX_KEPT = 500; // transcript entries kept in sessionStorage

  function pickLanguage(l) {
    l = String(l).toLowerCase().slice(0, 2);
    return l === 'ru' || l === 'kk' || l === 'en' ? l : 'en';
  }

  // ---- texts ---------------------------------------------------------------------------------
  var TEXTS = {
    en: {
      open: 'Chat', title: 'Chat with support', minimize: 'Minimize', name: 'Your name', email: 'E-mail',
      message: 'Message', placeholder: 'Write a message…', start: 'Start chat', send: 'Send', end: 'End chat',
      newChat: 'New chat', loading: 'Connecting…', waiting: 'Waiting for an operator…',
      joined: '{agent} joined the chat', active: 'You are chatting with {agent}', ended: 'The chat has ended',
      typing: '{agent} is typing…', operator: 'Operator', reconnecting: 'Connection lost. Reconnecting…',
      reference: 'Reference', offlineIntro: 'No operators are online right now. Leave a message and we will answer you by e-mail.',
      offlineSend: 'Send message', offlineDone: 'Thank you! We will answer you by e-mail. Your reference is {ref}.',
      pending: 'Sending…', failed: 'Not sent', you: 'You', retry: 'Try again',
      errRequired: 'Please fill in this field.', errEmail: 'Please enter a valid e-mail address.',
      errTooLong: 'This text is too long.', errInvalid: 'Please check this field.',
      errIdentity: 'We could not confirm who you are. Please reload the page or sign in again.',
      errNetwork: 'The chat cannot be reached right now. Please try again later.',
      errGeneric: 'Something went wrong. Please try again.', errResume: 'This chat can no longer be continued.',
      errTooBig: 'The message is too long.', errTooFast: 'You are sending messages too quickly. Please wait a moment.',
      errEnded: 'The chat has ended; the message was not sent.'
    },
    ru: {
      open: 'Чат', title: 'Чат с поддержкой', minimize: 'Свернуть', name: 'Ваше имя', email: 'Электронная почта',
      message: 'Сообщение', placeholder: 'Напишите сообщение…', start: 'Начать чат', send: 'Отправить',
      end: 'Завершить чат', newChat: 'Новый чат', loading: 'Подключение…', waiting: 'Ожидаем оператора…',
      joined: 'К чату подключился оператор {agent}', active: 'Вам отвечает {agent}', ended: 'Чат завершён',
      typing: '{agent} печатает…', operator: 'Оператор', reconnecting: 'Связь потеряна. Переподключаемся…',
      reference: 'Номер обращения',
      offlineIntro: 'Сейчас нет операторов в сети. Оставьте сообщение, и мы ответим вам по электронной почте.',
      offlineSend: 'Отправить сообщение',
      offlineDone: 'Спасибо! Мы ответим вам по электронной почте. Номер вашего обращения: {ref}.',
      pending: 'Отправляется…', failed: 'Не отправлено', you: 'Вы', retry: 'Повторить',
      errRequired: 'Заполните это поле.', errEmail: 'Введите правильный адрес электронной почты.',
      errTooLong: 'Слишком длинный текст.', errInvalid: 'Проверьте это поле.',
      errIdentity: 'Не удалось подтвердить вашу личность. Обновите страницу или войдите снова.',
      errNetwork: 'Чат сейчас недоступен. Попробуйте позже.', errGeneric: 'Что-то пошло не так. Попробуйте ещё раз.',
      errResume: 'Этот чат больше нельзя продолжить.', errTooBig: 'Сообщение слишком длинное.',
      errTooFast: 'Вы отправляете сообщения слишком часто. Подождите немного.',
      errEnded: 'Чат завершён, сообщение не отправлено.'
    },
    kk: {
      open: 'Чат', title: 'Қолдау қызметімен чат', minimize: 'Жасыру', name: 'Есіміңіз', email: 'Электрондық пошта',
      message: 'Хабарлама', placeholder: 'Хабарлама жазыңыз…', start: 'Чатты бастау', send: 'Жіберу',
      end: 'Чатты аяқтау', newChat: 'Жаңа чат', loading: 'Қосылуда…', waiting: 'Оператор күтілуде…',
      joined: 'Чатқа {agent} операторы қосылды', active: 'Сізге {agent} жауап беріп жатыр', ended: 'Чат аяқталды',
      typing: '{agent} жазып жатыр…', operator: 'Оператор', reconnecting: 'Байланыс үзілді. Қайта қосылуда…',
      reference: 'Өтініш нөмірі',
      offlineIntro: 'Қазір операторлар жоқ. Хабарлама қалдырыңыз, біз сізге электрондық пошта арқылы жауап береміз.',
      offlineSend: 'Хабарламаны жіберу',
      offlineDone: 'Рақмет! Біз сізге электрондық пошта арқылы жауап береміз. Өтінішіңіздің нөмірі: {ref}.',
      pending: 'Жіберілуде…', failed: 'Жіберілмеді', you: 'Сіз', retry: 'Қайталау',
      errRequired: 'Бұл өрісті толтырыңыз.', errEmail: 'Электрондық пошта мекенжайын дұрыс енгізіңіз.',
      errTooLong: 'Мәтін тым ұзын.', errInvalid: 'Бұл өрісті тексеріңіз.',
      errIdentity: 'Сіздің жеке басыңызды растау мүмкін болмады. Бетті жаңартыңыз немесе қайта кіріңіз.',
      errNetwork: 'Чат қазір қолжетімсіз. Кейінірек қайталап көріңіз.',
      errGeneric: 'Бірдеңе дұрыс болмады. Қайталап көріңіз.', errResume: 'Бұл чатты жалғастыру мүмкін емес.',
      errTooBig: 'Хабарлама тым ұзын.', errTooFast: 'Хабарламаларды тым жиі жіберіп жатырсыз. Сәл күтіңіз.',
      errEnded: 'Чат аяқталды, хабарлама жіберілмеді.'
    }
  };
  function t(key, vars) {
    var s = (TEXTS[LANG] && TEXTS[LANG][key]) || TEXTS.en[key] || key;
    if (vars) {
      s = s.replace(/\{(\w+)\}/g, function (m, k) { return Object.prototype.hasOwnProperty.call(vars, k) ? String(vars[k]) : m; });
    }
    return s;
  }

  // ---- session state (sessionStorage, or memory when storage is unavailable) ---------------
  var memoryStore = null;
  function loadState() {
    try {
      var raw = window.sessionStorage.getItem(STORE_KEY);
      return raw ? JSON.parse(raw) : null;
    } catch (e) {
      return memoryStore;
    }
  }
  function saveState() {
    memoryStore = state;
    try {
      if (state) window.sessionStorage.setItem(STORE_KEY, JSON.stringify(state));
      else window.sessionStorage.removeItem(STORE_KEY);
    } catch (e) { /* quota or disabled storage: the memory copy still works for this page */ }
  }
  // state: {chat_id, secret, reference, after, log: [{seq, from, name, text, at}], pending: [{client_id, text}],
  //         status, agent, ended, open}
  var state = loadState();
  if (state && (typeof state.chat_id !== 'string' || typeof state.secret !== 'string')) state = null;
  if (state) {
    if (!Array.isArray(state.log)) state.log = [];
    if (!Array.isArray(state.pending)) state.pending = [];
    if (typeof state.after !== 'number') state.after = 0;
  }

  /** The desk refuses control characters in text (Unicode Cc) other than new lines and tabs. */
  function clean(text) {
    return String(text).replace(/\r\n?/g, '\n').replace(/[\u0000-\u0008\u000B-\u001F\u007F-\u009F]/g, '').trim();
  }
  function utf8Length(s) {
    return window.TextEncoder ? new TextEncoder().encode(s).length : unescape(encodeURIComponent(s)).length;
  }

  function newClientId() {
    if (window.crypto && typeof window.crypto.randomUUID === 'function') return window.crypto.randomUUID();
    var b = new Uint8Array(16);
    window.crypto.getRandomValues(b);
    return Array.prototype.map.call(b, function (x) { return (x + 256).toString(16).slice(1); }).join('');
  }

  // ---- DOM helpers (text only, never markup) ------------------------------------------------
  function el(tag, attrs) {
    var e = document.createElement(tag);
    if (attrs) {
      for (var k in attrs) {
        if (!Object.prototype.hasOwnProperty.call(attrs, k) || attrs[k] == null || attrs[k] === false) continue;
        if (k === 'text') e.textContent = attrs[k];
        else if (k === 'testid') e.setAttribute('data-testid', attrs[k]);
        else e.setAttribute(k, attrs[k] === true ? '' : String(attrs[k]));
      }
    }
    for (var i = 2; i < arguments.length; i++) {
      var c = arguments[i];
      if (c == null) continue;
      e.appendChild(typeof c === 'string' ? document.createTextNode(c) : c);
    }
    return e;
  }
  function show(e, on) { if (on) e.removeAttribute('hidden'); else e.setAttribute('hidden', ''); }

  var CSS = [
    ':host{all:initial!important}',
    '*,*::before,*::after{box-sizing:border-box}',
    '[hidden]{display:none!important}',
    '.root{position:fixed;right:20px;bottom:20px;z-index:2147483000;font:14px/1.4 system-ui,-apple-system,"Segoe UI",Roboto,Arial,sans-serif;color:#1d2330}',
    'button{font:inherit;cursor:pointer;border:0;border-radius:8px;padding:8px 14px;background:#1f5fbf;color:#fff}',
    'button:hover{background:#194f9f}button:disabled{opacity:.55;cursor:default}',
    'button.quiet{background:transparent;color:#1f5fbf;padding:4px 8px}button.quiet:hover{background:#eef3fb}',
    '.launcher{border-radius:24px;padding:12px 22px;box-shadow:0 4px 14px rgba(0,0,0,.25);font-weight:600}',
    '.panel{width:360px;max-width:calc(100vw - 24px);height:520px;max-height:calc(100vh - 40px);display:flex;flex-direction:column;background:#fff;border-radius:12px;box-shadow:0 8px 30px rgba(0,0,0,.3);overflow:hidden}',
    '.head{display:flex;align-items:center;gap:8px;padding:10px 12px;background:#1f5fbf;color:#fff}',
    '.head .title{flex:1;font-weight:600}.head button{background:transparent;color:#fff;padding:2px 8px;font-size:18px;line-height:1}',
    '.ref{font-size:12px;padding:4px 12px;background:#eef3fb;color:#33405a}',
    '.status{font-size:12px;padding:4px 12px;color:#5a6478;min-height:1.4em}',
    '.error{margin:6px 12px;padding:8px 10px;border-radius:8px;background:#fdecec;color:#9b1c1c;font-size:13px}',
    '.body{flex:1;overflow:auto;padding:8px 12px}',
    'form{display:flex;flex-direction:column;gap:6px}',
    'label{font-size:12px;color:#33405a}',
    'input,textarea{font:inherit;width:100%;padding:8px;border:1px solid #c5cbd6;border-radius:8px;background:#fff;color:#1d2330}',
    'textarea{resize:vertical;min-height:64px}',
    'input[aria-invalid=true],textarea[aria-invalid=true]{border-color:#c62828}',
    '.ferr{color:#9b1c1c;font-size:12px}',
    '.intro{margin:0 0 6px}',
    'ol{list-style:none;margin:0;padding:0;display:flex;flex-direction:column;gap:6px}',
    'li{max-width:85%;white-space:pre-wrap;overflow-wrap:anywhere}',
    'li .who{display:block;font-size:11px;color:#5a6478}',
    'li .bubble{display:inline-block;padding:7px 10px;border-radius:12px}',
    'li .at{font-size:10px;color:#8a93a5;margin-left:6px}',
    'li[data-from=player]{align-self:flex-end;text-align:right}',
    'li[data-from=player] .bubble{background:#1f5fbf;color:#fff;text-align:left}',
    'li[data-from=agent]{align-self:flex-start}',
    'li[data-from=agent] .bubble{background:#eef1f6}',
    'li[data-from=system]{align-self:center;max-width:100%;font-size:12px;color:#5a6478;text-align:center}',
    'li[data-pending=true] .bubble{opacity:.6}',
    'li[data-failed=true] .bubble{background:#c62828}',
    '.typing{font-size:12px;color:#5a6478;padding:0 12px 4px;font-style:italic}',
    '.composer{display:flex;gap:6px;padding:8px 12px;border-top:1px solid #e3e7ee}',
    '.composer textarea{min-height:40px;height:40px;flex:1;resize:none}',
    '.foot{display:flex;justify-content:space-between;padding:0 12px 8px}',
    '@media (max-width:480px){.root{right:8px;bottom:8px}.panel{width:calc(100vw - 16px);height:calc(100vh - 16px)}}'
  ].join('\n');

  // ---- the shadow DOM ------------------------------------------------------------------------
  var host = el('div', { id: 'ombuds-chat', testid: 'chat-host' });
  var shadow = host.attachShadow({ mode: 'open' });
  var style = document.createElement('style');
  style.textContent = CSS;
  shadow.appendChild(style);

  var launcher = el('button', { type: 'button', 'class': 'launcher', testid: 'chat-open', 'aria-expanded': 'false', text: t('open') });
  var closeBtn = el('button', { type: 'button', testid: 'chat-minimize', title: t('minimize'), 'aria-label': t('minimize'), text: '–' });
  var refEl = el('div', { 'class': 'ref', testid: 'chat-reference', hidden: true });
  var statusEl = el('div', { 'class': 'status', testid: 'chat-status', role: 'status', 'aria-live': 'polite' });
  var errorEl = el('div', { 'class': 'error', testid: 'chat-error', role: 'alert', hidden: true });
  var body = el('div', { 'class': 'body' });
  var typingEl = el('div', { 'class': 'typing', testid: 'chat-typing', hidden: true });
  var panel = el('div', { 'class': 'panel', testid: 'chat-panel', role: 'dialog', 'aria-label': t('title'), hidden: true },
    el('div', { 'class': 'head' }, el('span', { 'class': 'title', text: t('title') }), closeBtn),
    refEl, statusEl, errorEl, body, typingEl);
  var root = el('div', { 'class': 'root', lang: LANG }, panel, launcher);
  shadow.appendChild(root);

  function mount() { (document.body || document.documentElement).appendChild(host); }
  if (document.body) mount();
  else document.addEventListener('DOMContentLoaded', mount);

  var isOpen = false;
  function setOpen(open) {
    isOpen = open;
    show(panel, open);
    show(launcher, !open);
    launcher.setAttribute('aria-expanded', open ? 'true' : 'false');
    if (state) { state.open = open; saveState(); }
    if (open && view === 'idle') begin();
  }
  launcher.addEventListener('click', function () {
    setOpen(true);
    focusFirst();
  });
  closeBtn.addEventListener('click', function () { setOpen(false); launcher.focus(); });
  panel.addEventListener('keydown', function (ev) {
    if (ev.key === 'Escape') { setOpen(false); launcher.focus(); }
  });
  /** Focus goes to the first thing to fill in, when the player opened the panel. */
  function focusFirst() {
    if (!isOpen) return;
    var all = shadow.querySelectorAll('.panel textarea, .panel input');
    for (var i = 0; i < all.length; i++) {
      if (!all[i].disabled && !all[i].closest('[hidden]')) { all[i].focus(); return; }
    }
  }

  function setStatus(text) { statusEl.textContent = text || ''; }
  function setError(text, retry) {
    while (errorEl.firstChild) errorEl.removeChild(errorEl.firstChild);
    if (!text) { show(errorEl, false); return; }
    errorEl.appendChild(document.createTextNode(text));
    if (retry) {
      var b = el('button', { type: 'button', 'class': 'quiet', testid: 'chat-retry', text: t('retry') });
      b.addEventListener('click', retry);
      errorEl.appendChild(document.createTextNode(' '));
      errorEl.appendChild(b);
    }
    show(errorEl, true);
  }
  function setReference(ref) {
    refEl.textContent = ref ? t('reference') + ': ' + ref : '';
    if (ref) refEl.setAttribute('data-reference', ref); else refEl.removeAttribute('data-reference');
    show(refEl, !!ref);
  }
  function clearBody() { while (body.firstChild) body.removeChild(body.firstChild); }

  // ---- HTTP ----------------------------------------------------------------------------------
  /** Resolves to {ok, status, body}; rejects only when the desk cannot be reached. */
  function call(method, path, payload) {
    var init = { method: method, mode: 'cors', credentials: 'omit', headers: { accept: 'application/json' } };
    if (payload !== undefined) {
      init.headers['content-type'] = 'application/json';
      init.body = JSON.stringify(payload);
    }
    return fetch(API + path, init).then(function (res) {
      return res.text().then(function (txt) {
        var json = null;
        try { json = txt ? JSON.parse(txt) : null; } catch (e) { json = null; }
        return { ok: res.ok, status: res.status, body: json };
      });
    });
  }

  // ---- views ---------------------------------------------------------------------------------
  var view = 'idle'; // idle | loading | start | offline | offline-done | chat

  function begin() {
    view = 'loading';
    clearBody();
    setError(null);
    setStatus(t('loading'));
    var q = '?language=' + encodeURIComponent(LANG) + (DEPARTMENT ? '&department=' + encodeURIComponent(DEPARTMENT) : '');
    call('GET', '/status' + q).then(function (r) {
      if (!r.ok || !r.body) { failBegin(r); return; }
      if (r.body.online) showForm('start'); else showForm('offline');
    }, function () { failBegin(null); });
  }
  function failBegin(r) {
    view = 'idle';
    setStatus('');
    setError(r ? problemText(r.body) : t('errNetwork'), function () { setError(null); begin(); });
  }

  function problemText(p) {
    if (p && (p.code === 'invalid_identity' || /invalid_identity$/.test(p.type || ''))) return t('errIdentity');
    return t('errGeneric');
  }
  function fieldText(e) {
    if (e.code === 'required') return t('errRequired');
    if (e.code === 'invalid_email') return t('errEmail');
    if (e.code === 'too_long') return t('errTooLong');
    return e.message || t('errInvalid');
  }

  /** The start form (kind 'start') or the offline form (kind 'offline'). */
  function showForm(kind) {
    view = kind;
    clearBody();
    setError(null);
    setStatus('');
    var prefix = 'chat-' + kind;
    var form = el('form', { testid: prefix + '-form', novalidate: true });
    if (kind === 'offline') form.appendChild(el('p', { 'class': 'intro', testid: 'chat-offline-intro', text: t('offlineIntro') }));
    var fields = {};
    function field(name, label, control) {
      var id = prefix + '-' + name;
      control.id = id;
      control.setAttribute('data-testid', id);
      control.setAttribute('name', name);
      var err = el('div', { 'class': 'ferr', testid: prefix + '-error-' + name, id: id + '-error', hidden: true });
      control.setAttribute('aria-describedby', id + '-error');
      var wrap = el('div', { 'class': 'field' }, el('label', { 'for': id, text: label }), control, err);
      fields[name] = { wrap: wrap, control: control, err: err };
      form.appendChild(wrap);
      return wrap;
    }
    field('name', t('name'), el('input', { type: 'text', autocomplete: 'name', maxlength: 200 }));
    field('email', t('email'), el('input', { type: 'email', autocomplete: 'email', maxlength: 254 }));
    field('text', t('message'), el('textarea', { rows: 4, maxlength: MAX_TEXT, placeholder: t('placeholder') }));
    if (TOKEN) { show(fields.name.wrap, false); show(fields.email.wrap, false); }
    var submit = el('button', { type: 'submit', testid: prefix + '-submit', text: kind === 'offline' ? t('offlineSend') : t('start') });
    form.appendChild(submit);
    body.appendChild(form);
    focusFirst();

    function clearFieldErrors() {
      for (var k in fields) {
        fields[k].err.textContent = '';
        show(fields[k].err, false);
        fields[k].control.removeAttribute('aria-invalid');
      }
    }
    form.addEventListener('submit', function (ev) {
      ev.preventDefault();
      clearFieldErrors();
      setError(null);
      var payload = {
        name: TOKEN ? null : clean(fields.name.control.value) || null,
        email: TOKEN ? null : clean(fields.email.control.value) || null,
        language: LANG,
        text: clean(fields.text.control.value),
        token: TOKEN
      };
      if (TOKEN && !fields.email.wrap.hasAttribute('hidden')) payload.email = clean(fields.email.control.value) || null;
      if (TOKEN && !fields.name.wrap.hasAttribute('hidden')) payload.name = clean(fields.name.control.value) || null;
      if (DEPARTMENT) payload.department = DEPARTMENT;
      var missing = false;
      ['name', 'email', 'text'].forEach(function (k) {
        var f = fields[k];
        if (!f.wrap.hasAttribute('hidden') && !clean(f.control.value)) {
          f.err.textContent = t('errRequired');
          show(f.err, true);
          f.control.setAttribute('aria-invalid', 'true');
          missing = true;
        }
      });
      if (missing) return;
      submit.disabled = true;
      call('POST', kind === 'offline' ? '/offline' : '/chats', payload).then(function (r) {
        submit.disabled = false;
        if (r.ok && r.body) {
          if (kind === 'offline') offlineDone(r.body.reference);
          else startChat(r.body, payload.text);
          return;
        }
        var p = r.body || {};
        var placed = false;
        (Array.isArray(p.errors) ? p.errors : []).forEach(function (e) {
          var key = String(e.field || '').split('.').pop();
          if (key === 'message' || key === 'description') key = 'text';
          var f = fields[key];
          if (!f) return;
          show(f.wrap, true); // a hidden field the desk needs after all (an identity without e-mail)
          f.err.textContent = fieldText(e);
          show(f.err, true);
          f.control.setAttribute('aria-invalid', 'true');
          placed = true;
        });
        if (!placed) setError(problemText(p));
        if (p.code === 'invalid_identity' || /invalid_identity$/.test(p.type || '')) submit.disabled = true;
      }, function () {
        submit.disabled = false;
        setError(t('errNetwork'));
      });
    });
  }

  function offlineDone(reference) {
    view = 'offline-done';
    clearBody();
    setError(null);
    setReference(reference);
    body.appendChild(el('p', { testid: 'chat-offline-done', text: t('offlineDone', { ref: reference }) }));
  }

  // ---- the chat view -------------------------------------------------------------------------
  var list = null, input = null, sendBtn = null, endBtn = null, newBtn = null;
  var shown = {}; // seq -> true: every seq on screen, never rendered twice
  var pendingEls = {}; // client_id -> li

  function startChat(r, firstText) {
    state = {
      chat_id: r.chat_id, secret: r.secret, reference: r.reference, after: 0, log: [], pending: [],
      status: 'waiting', agent: null, ended: false, open: true
    };
    // The first message is stored already: show it now under its seq.
    if (typeof r.seq === 'number') {
      state.log.push({ seq: r.seq, from: 'player', name: null, text: firstText, at: new Date().toISOString() });
    }
    state.log.push({ sys: 'waiting', agent: null });
    saveState();
    openChatView();
    connect();
  }

  function openChatView() {
    view = 'chat';
    clearBody();
    setError(null);
    shown = {};
    pendingEls = {};
    setReference(state.reference);
    list = el('ol', { testid: 'chat-messages', 'aria-live': 'polite' });
    body.appendChild(list);
    state.log.forEach(function (m) { if (m.sys) renderSystem(m); else renderMsg(m); });
    state.pending.forEach(function (p) { renderPending(p); });
    input = el('textarea', { testid: 'chat-input', rows: 1, maxlength: MAX_TEXT, placeholder: t('placeholder'), 'aria-label': t('message') });
    sendBtn = el('button', { type: 'submit', testid: 'chat-send', text: t('send') });
    var composer = el('form', { 'class': 'composer', testid: 'chat-composer', novalidate: true }, input, sendBtn);
    endBtn = el('button', { type: 'button', 'class': 'quiet', testid: 'chat-end', text: t('end') });
    newBtn = el('button', { type: 'button', 'class': 'quiet', testid: 'chat-new', text: t('newChat'), hidden: true });
    var foot = el('div', { 'class': 'foot' }, endBtn, newBtn);
    panel.appendChild(composer);
    panel.appendChild(foot);
    composer.addEventListener('submit', function (ev) { ev.preventDefault(); say(); });
    input.addEventListener('keydown', function (ev) {
      if (ev.key === 'Enter' && !ev.shiftKey && !ev.isComposing) { ev.preventDefault(); say(); }
    });
    input.addEventListener('input', typingInput);
    endBtn.addEventListener('click', endChat);
    newBtn.addEventListener('click', function () {
      disconnect();
      state = null;
      saveState();
      panel.removeChild(composer);
      panel.removeChild(foot);
      list = input = sendBtn = endBtn = newBtn = null;
      setReference(null);
      begin();
    });
    applyStatus(state.status, state.agent, false);
    if (state.ended) markEnded(false);
  }

  function fmtTime(at) {
    var d = at ? new Date(at) : null;
    if (!d || isNaN(d.getTime())) return '';
    try { return d.toLocaleTimeString(LANG, { hour: '2-digit', minute: '2-digit' }); } catch (e) { return d.toTimeString().slice(0, 5); }
  }

  function msgItem(from, name, text, at) {
    var li = el('li', { testid: 'chat-message', 'data-from': from === 'agent' ? 'agent' : 'player' });
    if (from === 'agent') li.appendChild(el('span', { 'class': 'who', testid: 'chat-message-name', text: name || t('operator') }));
    var bubble = el('span', { 'class': 'bubble', testid: 'chat-message-text', text: text });
    li.appendChild(bubble);
    li.appendChild(el('span', { 'class': 'at', text: fmtTime(at) }));
    return li;
  }
  /** Stored messages go in seq order, before the messages still waiting for their ack. */
  function placeStored(li, seq) {
    var kids = list.children;
    for (var i = 0; i < kids.length; i++) {
      var k = kids[i];
      if (k.getAttribute('data-pending') === 'true') { list.insertBefore(li, k); return; }
      var s = Number(k.getAttribute('data-seq'));
      if (k.hasAttribute('data-seq') && s > seq) { list.insertBefore(li, k); return; }
    }
    list.appendChild(li);
  }
  function renderMsg(m) {
    if (shown[m.seq]) return false;
    shown[m.seq] = true;
    var li = msgItem(m.from, m.name, m.text, m.at);
    li.setAttribute('data-seq', String(m.seq));
    placeStored(li, m.seq);
    scrollDown();
    return true;
  }
  function renderPending(p) {
    var li = msgItem('player', null, p.text, null);
    li.setAttribute('data-pending', 'true');
    li.setAttribute('data-client-id', p.client_id);
    li.querySelector('.at').textContent = t('pending');
    list.appendChild(li);
    pendingEls[p.client_id] = li;
    scrollDown();
  }
  /** A status line in the transcript ({sys: 'waiting' | 'active' | 'ended', agent}); kept with it. */
  function system(kind, agent) {
    var e = { sys: kind, agent: agent || null };
    remember(e);
    renderSystem(e);
  }
  function renderSystem(e) {
    if (!list) return;
    var text = e.sys === 'active' ? t('joined', { agent: e.agent || t('operator') }) : e.sys === 'ended' ? t('ended') : t('waiting');
    list.appendChild(el('li', { testid: 'chat-system', 'data-from': 'system', 'data-kind': e.sys, text: text }));
    scrollDown();
  }
  function scrollDown() { body.scrollTop = body.scrollHeight; }

  function remember(m) {
    state.log.push(m);
    if (state.log.length > MAX_KEPT) state.log.splice(0, state.log.length - MAX_KEPT);
  }

  /** A message of ours is stored under `seq` (an ack, or the echo of our own message). */
  function confirmOwn(clientId, seq, at) {
    var idx = -1;
    for (var i = 0; i < state.pending.length; i++) if (state.pending[i].client_id === clientId) idx = i;
    var li = pendingEls[clientId];
    if (idx < 0 && !li) return false;
    var text = idx >= 0 ? state.pending[idx].text : li.querySelector('.bubble').textContent;
    if (idx >= 0) state.pending.splice(idx, 1);
    delete pendingEls[clientId];
    if (li && li.parentNode) li.parentNode.removeChild(li);
    if (!shown[seq]) {
      remember({ seq: seq, from: 'player', name: null, text: text, at: at || new Date().toISOString() });
      renderMsg({ seq: seq, from: 'player', name: null, text: text, at: at || new Date().toISOString() });
    }
    saveState();
    return true;
  }

  function applyStatus(status, agent, announce) {
    // A frame without an agent (welcome) keeps the one we know; only a new name is a change.
    var changed = status !== state.status || (!!agent && agent !== state.agent);
    state.status = status;
    if (agent) state.agent = agent;
    if (announce && changed) {
      if (status === 'active') system('active', state.agent);
      else if (status === 'waiting') system('waiting', null);
    }
    if (status === 'ended') { markEnded(announce && changed); return; }
    statusEl.setAttribute('data-status', status);
    if (connected || !ws) setStatus(status === 'active' ? t('active', { agent: state.agent || t('operator') }) : t('waiting'));
    saveState();
  }

  function markEnded(announce) {
    state.ended = true;
    state.status = 'ended';
    state.pending.forEach(function (p) {
      var li = pendingEls[p.client_id];
      if (li) { li.setAttribute('data-failed', 'true'); li.removeAttribute('data-pending'); li.querySelector('.at').textContent = t('failed'); }
    });
    state.pending = [];
    pendingEls = {};
    if (announce) system('ended', null);
    saveState();
    statusEl.setAttribute('data-status', 'ended');
    setStatus(t('ended'));
    hideTyping();
    if (input) { input.disabled = true; sendBtn.disabled = true; endBtn.disabled = true; show(newBtn, true); }
    // The desk still sends the lines we missed (a chat that ended while we were away): read them
    // for a moment before hanging up.
    if (ws) { var sock = ws; setTimeout(function () { if (ws === sock) disconnect(); }, 3000); }
    else disconnect();
  }

  // ---- typing --------------------------------------------------------------------------------
  var typingSentAt = 0, typingStopTimer = null, typingHideTimer = null;
  function typingInput() {
    if (!connected) return;
    var now = Date.now();
    if (now - typingSentAt > 3000) { typingSentAt = now; send({ type: 'typing', on: true }); }
    clearTimeout(typingStopTimer);
    typingStopTimer = setTimeout(stopTyping, 4000);
  }
  function stopTyping() {
    clearTimeout(typingStopTimer);
    if (typingSentAt && connected) send({ type: 'typing', on: false });
    typingSentAt = 0;
  }
  function showTyping(on) {
    clearTimeout(typingHideTimer);
    if (!on) { hideTyping(); return; }
    typingEl.textContent = t('typing', { agent: state.agent || t('operator') });
    show(typingEl, true);
    typingHideTimer = setTimeout(hideTyping, 8000);
  }
  function hideTyping() { clearTimeout(typingHideTimer); typingEl.textContent = ''; show(typingEl, false); }

  // ---- sending -------------------------------------------------------------------------------
  function say() {
    if (!state || state.ended || !input) return;
    var text = clean(input.value);
    if (!text) return;
    var p = { client_id: newClientId(), text: text };
    if (text.length > MAX_TEXT || utf8Length(JSON.stringify({ type: 'say', client_id: p.client_id, text: text })) > MAX_FRAME) {
      setError(t('errTooBig'));
      return;
    }
    setError(null);
    input.value = '';
    stopTyping();
    state.pending.push(p);
    saveState();
    renderPending(p);
    if (connected) sendSay(p);
  }
  function sendSay(p) {
    lastSent = p.client_id;
    send({ type: 'say', client_id: p.client_id, text: p.text });
  }
  function endChat() {
    if (!state || state.ended) return;
    endRequested = true;
    if (connected) send({ type: 'end' });
  }

  // ---- the WebSocket -------------------------------------------------------------------------
  var ws = null, connected = false, attempt = 0, retryTimer = null, endRequested = false, lastSent = null;
  var welcomeTimer = null;

  function send(frame) {
    if (ws && ws.readyState === 1) ws.send(JSON.stringify(frame));
  }

  function connect() {
    clearTimeout(retryTimer);
    retryTimer = null;
    if (!state || state.ended || ws) return;
    var sock;
    try { sock = new WebSocket(WS_URL); } catch (e) { scheduleReconnect(); return; }
    ws = sock;
    var welcomed = false;
    sock.onopen = function () {
      sock.send(JSON.stringify({ type: 'hello', chat_id: state.chat_id, secret: state.secret, after: state.after || 0 }));
      // A connection that opens but never says welcome is as good as a dropped one.
      clearTimeout(welcomeTimer);
      welcomeTimer = setTimeout(function () { if (ws === sock && !welcomed) sock.close(4000, 'no welcome'); }, 15000);
    };
    sock.onmessage = function (ev) {
      if (ws !== sock) return;
      var f;
      try { f = JSON.parse(ev.data); } catch (e) { return; }
      if (!f || typeof f.type !== 'string') return;
      if (f.type === 'welcome') {
        welcomed = true;
        connected = true;
        attempt = 0;
        clearTimeout(welcomeTimer);
        setError(null);
        if (f.reference && f.reference !== state.reference) { state.reference = f.reference; setReference(f.reference); }
        applyStatus(f.status || state.status, f.agent || null, true);
        if (!state || state.ended) return;
        // Everything typed while we were away, in the order it was typed.
        state.pending.forEach(sendSay);
        if (endRequested) send({ type: 'end' });
        return;
      }
      if (!welcomed) return;
      handle(f);
    };
    sock.onclose = function (ev) {
      if (ws !== sock) return;
      ws = null;
      connected = false;
      clearTimeout(welcomeTimer);
      hideTyping();
      if (!state || state.ended) return;
      if (!welcomed && ev.code === 1008) {
        // The desk refused this chat (unknown chat, wrong secret): it cannot be resumed.
        resumeFailed();
        return;
      }
      if (ev.code === 1009 && lastSent) {
        // The message was refused as too big: do not resend it forever.
        failPending(lastSent, t('errTooBig'));
      } else if (ev.code === 1008 && /too many/i.test(ev.reason || '')) {
        setError(t('errTooFast'));
        attempt = Math.max(attempt, 3); // wait a few seconds before trying again
      }
      scheduleReconnect();
    };
    sock.onerror = function () { /* onclose follows */ };
  }

  function handle(f) {
    switch (f.type) {
      case 'msg': {
        if (typeof f.seq !== 'number') return;
        if (f.seq > (state.after || 0)) state.after = f.seq;
        if (shown[f.seq]) { saveState(); return; }
        if (f.from === 'player' && f.client_id && confirmOwn(f.client_id, f.seq, f.at)) return;
        var m = { seq: f.seq, from: f.from === 'agent' ? 'agent' : 'player', name: f.name || null, text: String(f.text == null ? '' : f.text), at: f.at || null };
        if (m.from === 'agent') hideTyping();
        remember(m);
        renderMsg(m);
        saveState();
        return;
      }
      case 'ack':
        if (typeof f.seq === 'number' && f.client_id) confirmOwn(f.client_id, f.seq, null);
        return;
      case 'status':
        applyStatus(f.status, f.agent || null, true);
        return;
      case 'typing':
        showTyping(!!f.on);
        return;
      case 'ended':
        applyStatus('ended', null, true);
        return;
      case 'error':
        if (f.code === 'chat_ended') { applyStatus('ended', null, true); setError(t('errEnded')); }
        else if (f.code !== 'bad_frame') setError(t('errGeneric'));
        return;
      default:
        return; // frames we do not know are ignored, as the protocol may grow
    }
  }

  function failPending(clientId, why) {
    for (var i = 0; i < state.pending.length; i++) {
      if (state.pending[i].client_id === clientId) { state.pending.splice(i, 1); break; }
    }
    var li = pendingEls[clientId];
    delete pendingEls[clientId];
    if (li) { li.setAttribute('data-failed', 'true'); li.removeAttribute('data-pending'); li.querySelector('.at').textContent = t('failed'); }
    saveState();
    setError(why);
  }

  function scheduleReconnect() {
    if (retryTimer || !state || state.ended) return;
    setStatus(t('reconnecting'));
    statusEl.setAttribute('data-status', 'reconnecting');
    var delay = Math.min(10000, 500 * Math.pow(2, attempt));
    attempt = Math.min(attempt + 1, 10);
    delay = Math.round(delay * (0.85 + Math.random() * 0.3));
    retryTimer = setTimeout(connect, Math.min(delay, 10000));
  }

  function disconnect() {
    clearTimeout(retryTimer);
    retryTimer = null;
    clearTimeout(welcomeTimer);
    connected = false;
    var sock = ws;
    ws = null;
    if (sock) { try { sock.close(1000, 'bye'); } catch (e) { /* already closed */ } }
  }

  function resumeFailed() {
    state.ended = true;
    saveState();
    setStatus('');
    statusEl.setAttribute('data-status', 'failed');
    setError(t('errResume'));
    if (input) { input.disabled = true; sendBtn.disabled = true; endBtn.disabled = true; show(newBtn, true); }
  }

  // A network that comes back need not wait for the backoff.
  window.addEventListener('online', function () { if (retryTimer) connect(); });

  // ---- start ---------------------------------------------------------------------------------
  if (state && !state.ended) {
    openChatView();
    setOpen(state.open !== false);
    connect();
  } else if (state && state.ended) {
    openChatView();
    setOpen(state.open !== false);
  } else {
    setOpen(false);
  }
})();

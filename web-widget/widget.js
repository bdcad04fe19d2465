/* Frontdesk chat widget. One <script src=".../widget.js" async> adds a launcher and a chat
 * panel inside a shadow root, so the host page's CSS and the widget's do not meet. Answers
 * stream over the WebSocket; every text is inserted as text, never as HTML. */
(function () {
  "use strict";
  if (window.Frontdesk && window.Frontdesk.__loaded) return; // safe to load twice

  var script = document.currentScript;
  var base = script && script.src ? new URL(script.src) : new URL(location.href);
  var data = (script && script.dataset) || {};
  var STORE_KEY = "frontdesk:token:" + base.host;
  var lang = (data.locale || document.documentElement.lang || navigator.language || "en").toLowerCase();
  var T = lang.indexOf("zh") === 0 ? {
    title: "在线客服", greeting: "您好！有什么可以帮您？", placeholder: "输入您的问题…", send: "发送",
    person: "转人工", waiting: "正在为您转接人工客服…", agent: "客服已接入", closed: "对话已结束",
    sources: "来源", open: "打开聊天", close: "关闭", offline: "正在重新连接…"
  } : {
    title: "Support", greeting: "Hi! How can we help you today?", placeholder: "Type your question…", send: "Send",
    person: "Talk to a person", waiting: "Waiting for a person to join…", agent: "A support agent has joined", closed: "This conversation has ended",
    sources: "Sources", open: "Open chat", close: "Close", offline: "Reconnecting…"
  };
  var config = { title: data.title || T.title, greeting: data.greeting || T.greeting, color: data.color || "#2456d6", position: data.position === "left" ? "left" : "right" };

  var host = document.createElement("div");
  host.setAttribute("data-frontdesk", "");
  var root = host.attachShadow({ mode: "open" });
  var style = document.createElement("style");
  style.textContent =
    ":host{all:initial}*{box-sizing:border-box;font:14px/1.45 system-ui,sans-serif;margin:0}" +
    ".launch{position:fixed;bottom:20px;" + config.position + ":20px;width:56px;height:56px;border-radius:50%;border:0;background:var(--c);color:#fff;font-size:24px;cursor:pointer;box-shadow:0 4px 14px #0004;z-index:2147483000}" +
    ".panel{position:fixed;bottom:88px;" + config.position + ":20px;width:370px;max-width:calc(100vw - 24px);height:560px;max-height:calc(100vh - 110px);display:none;flex-direction:column;background:#fff;color:#1b1b1f;border-radius:14px;box-shadow:0 8px 30px #0005;overflow:hidden;z-index:2147483000}" +
    ".panel.open{display:flex}header{background:var(--c);color:#fff;padding:12px 14px;display:flex;align-items:center;gap:8px}header b{flex:1;font-weight:600}" +
    "header button{background:none;border:0;color:#fff;font-size:18px;cursor:pointer}" +
    ".log{flex:1;overflow-y:auto;padding:12px;display:flex;flex-direction:column;gap:8px;background:#f6f7f9}" +
    ".m{max-width:85%;padding:8px 11px;border-radius:12px;white-space:pre-wrap;word-wrap:break-word}" +
    ".visitor{align-self:flex-end;background:var(--c);color:#fff}.assistant,.agent{align-self:flex-start;background:#fff;border:1px solid #e1e3e8}" +
    ".agent{border-color:#f0b429}.system{align-self:center;color:#666;font-size:12px}" +
    ".src{margin-top:6px;font-size:12px;color:#555}.src a{color:var(--c)}.fb{margin-top:4px}.fb button{background:none;border:0;cursor:pointer;font-size:15px;color:#666;opacity:.6}.fb button[aria-pressed=true]{opacity:1}" +
    ".typing{align-self:flex-start;color:#888;font-size:12px}" +
    "form{display:flex;gap:6px;padding:10px;border-top:1px solid #e1e3e8;background:#fff}" +
    "textarea{flex:1;resize:none;border:1px solid #c9ccd3;border-radius:8px;padding:7px;height:38px;color:#1b1b1f;background:#fff}" +
    "form button,.person{border:0;border-radius:8px;background:var(--c);color:#fff;padding:0 12px;cursor:pointer}" +
    ".person{background:#fff;color:var(--c);border:1px solid var(--c);margin:0 10px 8px;padding:5px}" +
    ".status{font-size:12px;color:#555;padding:4px 12px;background:#fffbe6}" +
    "@media (max-width:480px){.panel{inset:0;width:100%;height:100%;max-height:none;max-width:none;border-radius:0}}";
  root.appendChild(style);

  function el(tag, cls, text) {
    var e = document.createElement(tag);
    if (cls) e.className = cls;
    if (text != null) e.textContent = text;
    return e;
  }
  // Icons are drawn as SVG, so they do not depend on the visitor's emoji fonts.
  function icon(d, flip) {
    var ns = "http://www.w3.org/2000/svg";
    var svg = document.createElementNS(ns, "svg");
    svg.setAttribute("viewBox", "0 0 24 24");
    svg.setAttribute("width", "1em");
    svg.setAttribute("height", "1em");
    svg.setAttribute("aria-hidden", "true");
    if (flip) svg.style.transform = "rotate(180deg)";
    var path = document.createElementNS(ns, "path");
    path.setAttribute("d", d);
    path.setAttribute("fill", "currentColor");
    svg.appendChild(path);
    return svg;
  }
  var CHAT = "M4 3h16a2 2 0 0 1 2 2v11a2 2 0 0 1-2 2H9l-5 4v-4a2 2 0 0 1-2-2V5a2 2 0 0 1 2-2z";
  var THUMB = "M2 10h4v11H2zM8 21V10l4.5-8c1.4 0 2.5 1.1 2.5 2.5L14.2 9H20a2 2 0 0 1 2 2.3l-1.5 7.9A2.3 2.3 0 0 1 18.2 21z";
  var wrap = el("div");
  wrap.style.setProperty("--c", config.color);
  var launch = el("button", "launch");
  var chatIcon = icon(CHAT);
  chatIcon.setAttribute("width", "26");
  chatIcon.setAttribute("height", "26");
  launch.appendChild(chatIcon);
  launch.setAttribute("aria-label", T.open);
  var panel = el("div", "panel");
  panel.setAttribute("role", "dialog");
  panel.setAttribute("aria-label", config.title);
  var header = el("header");
  var title = el("b", null, config.title);
  var closeBtn = el("button", null, "\u00d7");
  closeBtn.setAttribute("aria-label", T.close);
  header.append(title, closeBtn);
  var status = el("div", "status");
  status.hidden = true;
  var log = el("div", "log");
  log.setAttribute("aria-live", "polite");
  log.setAttribute("role", "log");
  var person = el("button", "person", T.person);
  person.type = "button";
  var form = el("form");
  var input = el("textarea");
  input.placeholder = T.placeholder;
  input.setAttribute("aria-label", T.placeholder);
  var send = el("button", null, T.send);
  send.type = "submit";
  form.append(input, send);
  panel.append(header, status, log, person, form);
  wrap.append(launch, panel);
  root.appendChild(wrap);

  var heartbeat = null, ws = null, backoff = 500, pending = [], bubbles = {}, typing = null, state = "bot", opened = false;

  function scroll() { log.scrollTop = log.scrollHeight; }
  function setStatus(s, agent) {
    state = s;
    var text = s === "waiting" ? T.waiting : s === "agent" ? T.agent + (agent ? ": " + agent : "") : s === "closed" ? T.closed : "";
    status.textContent = text;
    status.hidden = !text;
    person.hidden = s !== "bot";
  }
  function showTyping(on) {
    if (on && !typing) { typing = el("div", "typing", "…"); log.appendChild(typing); scroll(); }
    if (!on && typing) { typing.remove(); typing = null; }
  }
  function sourcesOf(bubble, sources) {
    var old = bubble.querySelector(".src");
    if (old) old.remove();
    if (!sources || !sources.length) return;
    var box = el("div", "src", T.sources + ": ");
    sources.forEach(function (s, i) {
      if (i) box.appendChild(document.createTextNode(" · "));
      var safe = s.url && /^https?:\/\//i.test(s.url);
      var link = el(safe ? "a" : "span", null, s.title);
      if (safe) { link.href = s.url; link.target = "_blank"; link.rel = "noopener noreferrer"; }
      box.appendChild(link);
    });
    bubble.appendChild(box);
  }
  function feedbackOf(bubble, id) {
    var box = el("div", "fb");
    [["up", false], ["down", true]].forEach(function (pair) {
      var b = el("button");
      b.appendChild(icon(THUMB, pair[1]));
      b.type = "button";
      b.setAttribute("aria-label", pair[0] === "up" ? "Helpful" : "Not helpful");
      b.setAttribute("aria-pressed", "false");
      b.onclick = function () {
        box.querySelectorAll("button").forEach(function (x) { x.setAttribute("aria-pressed", "false"); });
        b.setAttribute("aria-pressed", "true");
        out({ type: "feedback", message_id: id, value: pair[0] });
      };
      box.appendChild(b);
    });
    bubble.appendChild(box);
  }
  function bubble(role, text, id) {
    var b = el("div", "m " + role);
    var body = el("div", "body", text);
    b.appendChild(body);
    if (id) bubbles[id] = b;
    log.appendChild(b);
    scroll();
    return b;
  }
  function render(m) {
    var b = bubble(m.role, m.text, m.id);
    if (m.role === "assistant") { sourcesOf(b, m.sources); feedbackOf(b, m.id); }
  }
  function out(frame) {
    if (ws && ws.readyState === 1) ws.send(JSON.stringify(frame));
    else pending.push(frame);
  }
  // A random id per browser, so this visitor's conversations can be exported or deleted together.
  function visitorId() {
    var key = "frontdesk:visitor:" + base.host, id = null;
    try { id = localStorage.getItem(key); } catch (e) { /* storage off */ }
    if (!id) {
      id = (crypto.randomUUID && crypto.randomUUID()) || (Date.now().toString(36) + Math.random().toString(36).slice(2));
      try { localStorage.setItem(key, id); } catch (e) { /* storage off */ }
    }
    return id;
  }
  function connect() {
    var url = (base.protocol === "https:" ? "wss://" : "ws://") + base.host + "/v1/ws";
    ws = new WebSocket(url);
    ws.onopen = function () {
      backoff = 500;
      // Heartbeat: the server closes sockets silent for two minutes.
      clearInterval(heartbeat);
      heartbeat = setInterval(function () { if (ws && ws.readyState === 1) ws.send('{"type":"ping"}'); }, 30000);
      var hello = { type: "hello", locale: lang, page: location.origin + location.pathname, visitor: { id: visitorId(), attributes: Frontdesk.__attributes } };
      var token = localStorage.getItem(STORE_KEY);
      if (token) hello.token = token;
      ws.send(JSON.stringify(hello));
    };
    ws.onmessage = function (event) {
      var f;
      try { f = JSON.parse(event.data); } catch (e) { return; }
      if (f.type === "welcome") {
        localStorage.setItem(STORE_KEY, f.token);
        log.textContent = "";
        bubbles = {};
        bubble("assistant", config.greeting);
        f.messages.forEach(render);
        setStatus(f.status);
        // An answer cut off by a lost connection was not stored: ask again with the same id
        // (the server keeps the question once and writes the answer now).
        var last = f.messages[f.messages.length - 1];
        if (last && last.role === "visitor" && f.status === "bot" && last.client_message_id) {
          out({ type: "message", id: last.client_message_id, text: last.text });
        }
        var queued = pending; pending = [];
        queued.forEach(function (q) { if (q.type === "message") bubble("visitor", q.text); out(q); });
      } else if (f.type === "ack") {
        // Only the assistant answers every message; a person may take a while, or not reply.
        if (state === "bot" || state === "closed") showTyping(true);
      } else if (f.type === "token") {
        showTyping(false);
        var b = bubbles[f.message_id] || bubble("assistant", "", f.message_id);
        b.querySelector(".body").textContent += f.text;
        scroll();
      } else if (f.type === "done") {
        showTyping(false);
        var d = bubbles[f.message_id] || bubble("assistant", "", f.message_id);
        d.querySelector(".body").textContent = f.text;
        sourcesOf(d, f.sources);
        feedbackOf(d, f.message_id);
        scroll();
      } else if (f.type === "status") {
        setStatus(f.status, f.agent);
      } else if (f.type === "agent_message") {
        showTyping(false);
        bubble("agent", f.text, f.message_id);
      } else if (f.type === "error") {
        showTyping(false);
        if (f.code === "unauthorized") localStorage.removeItem(STORE_KEY);
        bubble("system", f.message);
      }
    };
    ws.onclose = function () {
      ws = null;
      status.textContent = T.offline; status.hidden = false;
      setTimeout(connect, backoff);
      backoff = Math.min(backoff * 2, 15000);
    };
  }
  function sendText() {
    var text = input.value.trim();
    if (!text) return;
    input.value = "";
    bubble("visitor", text);
    var id = (crypto.randomUUID && crypto.randomUUID()) || String(Date.now()) + Math.random();
    out({ type: "message", id: id, text: text });
  }
  var OPEN_KEY = "frontdesk:open:" + base.host;
  function remember(isOpen) { try { sessionStorage.setItem(OPEN_KEY, isOpen ? "1" : ""); } catch (e) { /* storage off */ } }
  function open() {
    remember(true);
    panel.classList.add("open");
    launch.setAttribute("aria-expanded", "true");
    if (!opened) { opened = true; connect(); }
    input.focus();
  }
  function close() { remember(false); panel.classList.remove("open"); launch.setAttribute("aria-expanded", "false"); launch.focus(); }

  launch.onclick = function () { panel.classList.contains("open") ? close() : open(); };
  closeBtn.onclick = close;
  panel.addEventListener("keydown", function (e) { if (e.key === "Escape") close(); });
  form.onsubmit = function (e) { e.preventDefault(); sendText(); };
  input.addEventListener("keydown", function (e) { if (e.key === "Enter" && !e.shiftKey) { e.preventDefault(); sendText(); } });
  person.onclick = function () { out({ type: "handoff" }); };

  window.Frontdesk = {
    __loaded: true,
    __attributes: {},
    open: open,
    close: close,
    identify: function (attributes) {
      if (!attributes || typeof attributes !== "object") throw new TypeError("Frontdesk.identify expects an object");
      Object.keys(attributes).forEach(function (k) { Frontdesk.__attributes[k] = String(attributes[k]); });
    }
  };
  (document.body || document.documentElement).appendChild(host);
  // A reload keeps the conversation, and the panel open if it was.
  var wasOpen = false;
  try { wasOpen = sessionStorage.getItem(OPEN_KEY) === "1"; } catch (e) { /* storage off */ }
  if (wasOpen) open();
  else if (localStorage.getItem(STORE_KEY)) { opened = true; connect(); }
})();

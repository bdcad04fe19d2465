/* Frontdesk chat widget. One <script src=".../widget.js" async> adds a launcher and a chat
 * panel inside a shadow root, so the host page's CSS and the widget's do not meet. Answers
 * stream over the WebSocket. Text is only ever inserted as text: the small Markdown subset
 * answers use (paragraphs, lists, bold, links, code) is turned into elements one by one.
 *
 * Configure with data attributes on the script tag (data-color, data-position="left|right",
 * data-title, data-greeting, data-locale), with window.FrontdeskSettings = {...} set before the
 * script loads, or later with Frontdesk.init({...}). Frontdesk.identify({plan: "pro"}) passes
 * what the page knows about the visitor (before the chat opens); Frontdesk.open() opens it. */
(function () {
  "use strict";
  if (window.Frontdesk && window.Frontdesk.__loaded) return; // safe to load twice

  var script = document.currentScript;
  var base = script && script.src ? new URL(script.src) : new URL(location.href);
  var STORE_KEY = "frontdesk:token:" + base.host;
  var STRINGS = {
    en: {
      title: "Support", greeting: "Hi! How can we help you today?", placeholder: "Type your question…", send: "Send",
      person: "Talk to a person", waiting: "Waiting for a person to join…", agent: "A support agent has joined", closed: "This conversation has ended",
      sources: "Sources", open: "Open chat", close: "Close", offline: "Reconnecting…", typing: "The assistant is typing",
      up: "Helpful", down: "Not helpful", you: "You", assistant: "Assistant", earlier: "Earlier messages",
      picks: "Recommended for you", view: "View",
      contact: "E-mail or phone", leave: "Send", privacy: "Privacy notice", saved: "Thank you: our team will contact you.", withdraw: "Withdraw my consent", withdrawn: "Your contact details are deleted."
    },
    zh: {
      title: "在线客服", greeting: "您好！有什么可以帮您？", placeholder: "输入您的问题…", send: "发送",
      person: "转人工", waiting: "正在为您转接人工客服…", agent: "客服已接入", closed: "对话已结束",
      sources: "来源", open: "打开聊天", close: "关闭", offline: "正在重新连接…", typing: "正在输入",
      up: "有帮助", down: "没有帮助", you: "您", assistant: "助手", earlier: "更早的消息",
      picks: "为您推荐", view: "查看",
      contact: "邮箱或电话", leave: "提交", privacy: "隐私声明", saved: "谢谢，我们的团队会与您联系。", withdraw: "撤回同意", withdrawn: "您的联系方式已删除。"
    }
  };
  var config = { color: "#2456d6", position: "right", locale: (document.documentElement.lang || navigator.language || "en").toLowerCase() };
  var T = STRINGS.en;
  // Takes the known settings from `options`, ignoring the rest and values that do not fit.
  function configure(options) {
    if (!options || typeof options !== "object") return;
    if (options.color && window.CSS && CSS.supports("color", options.color)) config.color = String(options.color);
    if (options.position === "left" || options.position === "right") config.position = options.position;
    ["title", "greeting"].forEach(function (k) { if (options[k]) config[k] = String(options[k]).slice(0, 200); });
    if (options.locale) config.locale = String(options.locale).toLowerCase();
    T = config.locale.indexOf("zh") === 0 ? STRINGS.zh : STRINGS.en;
  }
  configure((script && script.dataset) || {});
  configure(window.FrontdeskSettings);

  // A custom element, so page rules for div or button do not select it; :host with
  // !important beats the page's rules for it, and everything else lives in the shadow root.
  var host = document.createElement("frontdesk-widget");
  var root = host.attachShadow({ mode: "open" });
  var style = document.createElement("style");
  style.textContent =
    ":host{all:initial!important;display:block!important}*{box-sizing:border-box;font:14px/1.45 system-ui,sans-serif;margin:0;padding:0;letter-spacing:normal;text-transform:none}" +
    ".launch{position:fixed;bottom:20px;right:20px;width:56px;height:56px;border-radius:50%;border:0;background:var(--c);color:#fff;cursor:pointer;box-shadow:0 4px 14px #0004;z-index:2147483000;display:grid;place-items:center}" +
    ".panel{position:fixed;bottom:88px;right:20px;width:370px;max-width:calc(100vw - 24px);height:560px;max-height:calc(100vh - 110px);display:none;flex-direction:column;background:#fff;color:#1b1b1f;border-radius:14px;box-shadow:0 8px 30px #0005;overflow:hidden;z-index:2147483000}" +
    ".left .launch,.left .panel{right:auto;left:20px}" +
    ".panel.open{display:flex}header{background:var(--c);color:#fff;padding:12px 14px;display:flex;align-items:center;gap:8px}header b{flex:1;font-weight:600;color:#fff}" +
    "header button{background:none;border:0;color:#fff;font-size:20px;cursor:pointer;padding:0 4px}" +
    ".log{flex:1;overflow-y:auto;padding:12px;display:flex;flex-direction:column;gap:8px;background:#f6f7f9}" +
    ".m{max-width:85%;padding:8px 11px;border-radius:12px;word-wrap:break-word;color:#1b1b1f}.m p+p,.m p+ul,.m p+ol,.m ul+p,.m ol+p,.m pre{margin-top:6px}" +
    ".m ul,.m ol{padding-left:20px}.m code{font-family:ui-monospace,monospace;font-size:13px;background:#0000000d;border-radius:4px;padding:0 3px}.m pre{white-space:pre-wrap;background:#0000000d;border-radius:6px;padding:6px}.m pre code{background:none;padding:0}.m strong{font-weight:700}.m a{color:var(--c);text-decoration:underline}" +
    ".visitor{align-self:flex-end;background:var(--c);color:#fff;white-space:pre-wrap}.assistant,.agent{align-self:flex-start;background:#fff;border:1px solid #e1e3e8}" +
    ".agent{border-color:#f0b429}.who{font-size:11px;color:#8a5a00;margin-bottom:2px}.system{align-self:center;color:#666;font-size:12px}" +
    ".src{margin-top:6px;font-size:12px;color:#555}.src a{color:var(--c)}.fb{margin-top:4px}.fb button{background:none;border:0;cursor:pointer;font-size:15px;color:#666;opacity:.6;padding:2px}.fb button[aria-pressed=true]{opacity:1;color:var(--c)}" +
    ".cards{list-style:none;display:flex;flex-direction:column;gap:6px;margin-top:8px}.card{display:flex;gap:8px;align-items:center;border:1px solid #e1e3e8;border-radius:10px;padding:6px}" +
    ".card img{width:48px;height:48px;object-fit:cover;border-radius:6px;flex:none;background:#eee}.card div{flex:1;min-width:0}.card b{display:block;font-weight:600}.card .pr{font-size:12px;color:#444}" +
    ".card .why{font-size:12px;color:#555;overflow:hidden;display:-webkit-box;-webkit-line-clamp:2;-webkit-box-orient:vertical}.card a{flex:none;background:var(--c);color:#fff;border-radius:8px;padding:4px 10px;text-decoration:none;font-size:13px}" +
    ".lead{margin-top:8px;display:flex;flex-direction:column;gap:6px;border-top:1px solid #e1e3e8;padding-top:8px}.lead input[type=text]{border:1px solid #c9ccd3;border-radius:8px;padding:6px}.lead label{font-size:12px;display:flex;gap:6px;align-items:flex-start}.lead a{color:var(--c);font-size:12px}.lead button{align-self:flex-start;border:0;border-radius:8px;background:var(--c);color:#fff;padding:4px 12px;cursor:pointer}.lead .err{color:#b3261e;font-size:12px}" +
    ".earlier{display:block;margin:4px auto;background:none;border:1px solid #ccc;border-radius:12px;padding:2px 10px;cursor:pointer;font-size:12px;color:#555}" +
    ".typing{align-self:flex-start;display:flex;gap:4px;padding:10px 12px;background:#fff;border:1px solid #e1e3e8;border-radius:12px}.typing i{width:6px;height:6px;border-radius:50%;background:#999;animation:fd 1s infinite}.typing i+i{animation-delay:.2s}.typing i+i+i{animation-delay:.4s}@keyframes fd{50%{opacity:.2}}" +
    "form{display:flex;gap:6px;padding:10px;border-top:1px solid #e1e3e8;background:#fff}" +
    "textarea{flex:1;resize:none;border:1px solid #c9ccd3;border-radius:8px;padding:7px;height:38px;color:#1b1b1f;background:#fff}" +
    "form button,.person{border:0;border-radius:8px;background:var(--c);color:#fff;padding:0 12px;cursor:pointer}" +
    ".person{background:#fff;color:var(--c);border:1px solid var(--c);margin:0 10px 8px;padding:5px}" +
    ".status{font-size:12px;color:#555;padding:4px 12px;background:#fffbe6}.sr{position:absolute;width:1px;height:1px;overflow:hidden;clip:rect(0 0 0 0)}" +
    ":focus-visible{outline:2px solid var(--c);outline-offset:2px}header button:focus-visible,.launch:focus-visible{outline-color:#fff}" +
    "@media (max-width:480px){.panel,.left .panel{inset:0;width:100%;height:100%;max-height:none;max-width:none;border-radius:0}textarea{font-size:16px}}";
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
  var launch = el("button", "launch");
  var chatIcon = icon(CHAT);
  chatIcon.setAttribute("width", "26");
  chatIcon.setAttribute("height", "26");
  launch.appendChild(chatIcon);
  launch.setAttribute("aria-expanded", "false");
  var panel = el("div", "panel");
  panel.setAttribute("role", "dialog");
  var header = el("header");
  var title = el("b");
  var closeBtn = el("button", null, "\u00d7");
  header.append(title, closeBtn);
  var status = el("div", "status");
  status.hidden = true;
  // The log is not a live region itself (a streamed answer would be read out word by word);
  // complete messages are announced once through `live`.
  var log = el("div", "log");
  log.setAttribute("role", "log");
  log.setAttribute("aria-live", "off");
  log.tabIndex = 0;
  var live = el("div", "sr");
  live.setAttribute("aria-live", "polite");
  var person = el("button", "person");
  person.type = "button";
  var form = el("form");
  var input = el("textarea");
  var send = el("button");
  send.type = "submit";
  form.append(input, send);
  panel.append(header, status, log, live, person, form);
  wrap.append(launch, panel);
  root.appendChild(wrap);

  var heartbeat = null, ws = null, backoff = 500, pending = [], bubbles = {}, typing = null, state = "bot", agentName = null, opened = false, greeting = null;

  // Shows the current configuration: colour, side, texts in the chosen language.
  function applyConfig() {
    wrap.style.setProperty("--c", config.color);
    wrap.className = config.position === "left" ? "left" : "";
    var name = config.title || T.title;
    title.textContent = name;
    panel.setAttribute("aria-label", name);
    launch.setAttribute("aria-label", T.open);
    closeBtn.setAttribute("aria-label", T.close);
    person.textContent = T.person;
    input.placeholder = T.placeholder;
    input.setAttribute("aria-label", T.placeholder);
    send.textContent = T.send;
    if (greeting) greeting.querySelector(".body").textContent = config.greeting || T.greeting;
    setStatus(state, agentName);
  }
  function scroll() { log.scrollTop = log.scrollHeight; }
  function announce(text) { live.textContent = text; }
  function setStatus(s, agent) {
    state = s;
    agentName = agent || null;
    var text = s === "waiting" ? T.waiting : s === "agent" ? T.agent + (agent ? ": " + agent : "") : s === "closed" ? T.closed : "";
    status.textContent = text;
    status.hidden = !text;
    person.hidden = s !== "bot";
  }
  function showTyping(on) {
    if (on && !typing) {
      typing = el("div", "typing");
      typing.setAttribute("role", "status");
      typing.setAttribute("aria-label", T.typing);
      typing.append(el("i"), el("i"), el("i"));
      log.appendChild(typing);
      scroll();
    }
    if (!on && typing) { typing.remove(); typing = null; }
  }

  // The Markdown subset, built as elements: text always goes in as text.
  function safeUrl(url) { return /^(https?:\/\/|mailto:)/i.test(url) ? url : null; }
  // Bold is **text** only: __ appears inside identifiers too often (window.__x, __init__).
  var INLINE = /`([^`\n]+)`|\*\*([^*\n]+)\*\*|\[([^\]\n]+)\]\(([^)\s]+)\)|(https?:\/\/[^\s<>()]+[^\s<>().,;:!?'"])/g;
  function inline(parent, text) {
    var at = 0, m;
    INLINE.lastIndex = 0;
    while ((m = INLINE.exec(text))) {
      if (m.index > at) parent.appendChild(document.createTextNode(text.slice(at, m.index)));
      if (m[1] != null) parent.appendChild(el("code", null, m[1]));
      else if (m[2] != null) parent.appendChild(el("strong", null, m[2]));
      else {
        var href = safeUrl(m[4] != null ? m[4] : m[5]);
        var a = el(href ? "a" : "span", null, m[3] != null ? m[3] : m[5]);
        if (href) { a.href = href; a.target = "_blank"; a.rel = "noopener noreferrer"; }
        parent.appendChild(a);
      }
      at = INLINE.lastIndex;
    }
    if (at < text.length) parent.appendChild(document.createTextNode(text.slice(at)));
  }
  function markdown(parent, text) {
    parent.textContent = "";
    var lines = text.replace(/\r/g, "").split("\n"), i = 0;
    while (i < lines.length) {
      var line = lines[i];
      if (/^\s*```/.test(line)) {
        var code = [];
        for (i++; i < lines.length && !/^\s*```/.test(lines[i]); i++) code.push(lines[i]);
        i++;
        var pre = el("pre");
        pre.appendChild(el("code", null, code.join("\n")));
        parent.appendChild(pre);
      } else if (/^\s*([-*\u2022]|\d+[.)])\s+/.test(line)) {
        var ordered = /^\s*\d/.test(line), list = el(ordered ? "ol" : "ul");
        for (; i < lines.length && /^\s*([-*\u2022]|\d+[.)])\s+/.test(lines[i]) && /^\s*\d/.test(lines[i]) === ordered; i++) {
          var li = el("li");
          inline(li, lines[i].replace(/^\s*([-*\u2022]|\d+[.)])\s+/, ""));
          list.appendChild(li);
        }
        parent.appendChild(list);
      } else if (!line.trim()) {
        i++;
      } else {
        var p = el("p"), first = true;
        for (; i < lines.length && lines[i].trim() && !/^\s*(```|[-*\u2022]\s|\d+[.)]\s)/.test(lines[i]); i++) {
          if (!first) p.appendChild(el("br"));
          inline(p, lines[i].replace(/^#{1,6}\s+/, ""));
          first = false;
        }
        parent.appendChild(p);
      }
    }
  }
  function setText(b, text) {
    b.raw = text;
    var body = b.querySelector(".body");
    if (b.classList.contains("visitor") || b.classList.contains("system")) body.textContent = text;
    else markdown(body, text);
  }
  function sourcesOf(bubble, sources) {
    var old = bubble.querySelector(".src");
    if (old) old.remove();
    if (!sources || !sources.length) return;
    var box = el("div", "src", T.sources + ": ");
    sources.forEach(function (s, i) {
      if (i) box.appendChild(document.createTextNode(" · "));
      var href = s.url && /^https?:\/\//i.test(s.url) ? s.url : null;
      var link = el(href ? "a" : "span", null, s.title);
      if (href) { link.href = href; link.target = "_blank"; link.rel = "noopener noreferrer"; }
      box.appendChild(link);
    });
    bubble.appendChild(box);
  }
  // Recommended items as cards: picture, name, price, the reason, and a link through the
  // server's counted redirect. Every field goes in as text.
  function cardsOf(bubble, cards) {
    if (!cards || !cards.length || bubble.querySelector(".cards")) return;
    var list = el("ul", "cards");
    list.setAttribute("aria-label", T.picks);
    cards.forEach(function (c) {
      var item = el("li", "card");
      if (c.image_url && /^https:\/\//i.test(c.image_url)) {
        var img = el("img");
        img.src = c.image_url;
        img.alt = "";
        img.loading = "lazy";
        img.onerror = function () { img.remove(); };
        item.appendChild(img);
      }
      var text = el("div");
      text.append(el("b", null, c.name), el("span", "pr", c.price), el("span", "why", c.reason));
      var link = el("a", null, T.view);
      link.href = new URL(c.href, base).href;
      link.target = "_blank";
      link.rel = "noopener";
      link.setAttribute("aria-label", T.view + ": " + c.name);
      item.append(text, link);
      list.appendChild(item);
    });
    bubble.appendChild(list);
  }
  // The contact form under an answer that offers it: e-mail or phone, the consent as the
  // server words it, a link to the privacy notice. Checked here and again by the server.
  var leadForm = null;
  function offerOf(bubble, offer) {
    if (!offer || bubble.querySelector(".lead")) return;
    var box = el("form", "lead");
    var field = el("input");
    field.type = "text";
    field.autocomplete = "email";
    field.setAttribute("aria-label", T.contact);
    field.placeholder = T.contact;
    var agree = el("label");
    var tick = el("input");
    tick.type = "checkbox";
    agree.append(tick, el("span", null, offer.consent));
    var err = el("div", "err");
    err.setAttribute("role", "alert");
    box.append(field, agree);
    if (offer.privacy_url && /^(https?:\/\/|\/)/i.test(offer.privacy_url)) {
      var link = el("a", null, T.privacy);
      link.href = new URL(offer.privacy_url, base).href;
      link.target = "_blank";
      link.rel = "noopener";
      box.appendChild(link);
    }
    var go = el("button", null, T.leave);
    go.type = "submit";
    box.append(go, err);
    box.onsubmit = function (e) {
      e.preventDefault();
      var v = field.value.trim();
      var ok = /^[^@\s]+@[^@\s]+\.[^@\s]{2,}$/.test(v) || /^\+?[\d\s().-]{7,20}$/.test(v);
      if (!ok) { err.textContent = T.contact + "?"; field.focus(); return; }
      if (!tick.checked) { err.textContent = offer.consent; tick.focus(); return; }
      err.textContent = "";
      leadForm = box;
      out({ type: "lead", contact: v, consent: true });
    };
    bubble.appendChild(box);
  }
  function leadSaved() {
    if (!leadForm) return;
    var done = el("div", "lead", T.saved);
    var undo = el("button", null, T.withdraw);
    undo.type = "button";
    undo.onclick = function () { out({ type: "withdraw" }); };
    done.appendChild(undo);
    leadForm.replaceWith(done);
    leadForm = done;
    announce(T.saved);
  }
  function feedbackOf(bubble, id, given) {
    if (bubble.querySelector(".fb")) return;
    var box = el("div", "fb");
    [["up", false], ["down", true]].forEach(function (pair) {
      var b = el("button");
      b.appendChild(icon(THUMB, pair[1]));
      b.type = "button";
      b.setAttribute("aria-label", T[pair[0]]);
      b.setAttribute("aria-pressed", String(given === pair[0]));
      b.onclick = function () {
        box.querySelectorAll("button").forEach(function (x) { x.setAttribute("aria-pressed", "false"); });
        b.setAttribute("aria-pressed", "true");
        out({ type: "feedback", message_id: id, value: pair[0] });
      };
      box.appendChild(b);
    });
    bubble.appendChild(box);
  }
  function bubble(role, text, id, agent) {
    var b = el("div", "m " + role);
    if (role === "agent" && agent) b.appendChild(el("div", "who", agent));
    b.appendChild(el("div", "body"));
    setText(b, text);
    if (id) bubbles[id] = b;
    log.appendChild(b);
    scroll();
    return b;
  }
  function render(m) {
    var b = bubble(m.role, m.text, m.id, m.agent);
    if (m.role === "assistant") { sourcesOf(b, m.sources); cardsOf(b, m.cards); feedbackOf(b, m.id, m.feedback && m.feedback.value); }
    return b;
  }
  // A long conversation resumes with its newest messages; this button fetches older pages.
  var earlier = null, oldestSeq = null;
  function offerEarlier(more, messages) {
    if (messages.length) oldestSeq = messages[0].seq;
    if (!more) { if (earlier) { earlier.remove(); earlier = null; } return; }
    if (!earlier) {
      earlier = el("button", "earlier", T.earlier);
      earlier.type = "button";
      earlier.onclick = function () { out({ type: "history", before: oldestSeq }); };
    }
    log.insertBefore(earlier, greeting.nextSibling);
  }
  function out(frame) {
    if (ws && ws.readyState === 1) ws.send(JSON.stringify(frame));
    else pending.push(frame);
  }
  // Web storage, which a browser may block (then even reading `localStorage` throws): every
  // read and write goes through here, and without storage the chat simply starts afresh.
  function stored(area, key) {
    try { return window[area].getItem(key); } catch (e) { return null; }
  }
  function store(area, key, value) {
    try {
      if (value === null) window[area].removeItem(key);
      else window[area].setItem(key, value);
    } catch (e) { /* storage off */ }
  }
  // The visitor token the server issued this browser, so this visitor's conversations stay
  // together (and can be exported or deleted together); the first hello goes without one.
  var VISITOR_KEY = "frontdesk:visitor:" + base.host;
  function visitorId() { return stored("localStorage", VISITOR_KEY) || undefined; }
  // Catalogue items the visitor looked at (Frontdesk.track), the latest few per browser: sent
  // with hello, and as they happen while the chat is connected.
  var VIEWED_KEY = "frontdesk:viewed:" + base.host;
  function viewedItems() {
    try { var v = JSON.parse(stored("localStorage", VIEWED_KEY) || "[]"); return Array.isArray(v) ? v.slice(-20).map(String) : []; } catch (e) { return []; }
  }
  function connect() {
    var url = (base.protocol === "https:" ? "wss://" : "ws://") + base.host + "/v1/ws";
    ws = new WebSocket(url);
    ws.onopen = function () {
      backoff = 500;
      // Heartbeat: the server closes sockets silent for two minutes.
      clearInterval(heartbeat);
      heartbeat = setInterval(function () { if (ws && ws.readyState === 1) ws.send('{"type":"ping"}'); }, 30000);
      var hello = { type: "hello", locale: config.locale, page: location.origin + location.pathname, visitor: { id: visitorId(), attributes: Frontdesk.__attributes, viewed: viewedItems() } };
      var token = stored("localStorage", STORE_KEY);
      if (token) hello.token = token;
      ws.send(JSON.stringify(hello));
    };
    ws.onmessage = function (event) {
      var f;
      try { f = JSON.parse(event.data); } catch (e) { return; }
      if (f.type === "welcome") {
        store("localStorage", STORE_KEY, f.token);
        if (f.visitor_token) store("localStorage", VISITOR_KEY, f.visitor_token);
        log.textContent = "";
        bubbles = {};
        greeting = bubble("assistant", config.greeting || T.greeting);
        earlier = null;
        f.messages.forEach(render);
        offerEarlier(f.more, f.messages);
        setStatus(f.status);
        // An answer cut off by a lost connection was not stored: ask again with the same id
        // (the server keeps the question once and writes the answer now).
        var last = f.messages[f.messages.length - 1];
        if (last && last.role === "visitor" && f.status === "bot" && last.client_message_id) {
          out({ type: "message", id: last.client_message_id, text: last.text });
        }
        var queued = pending; pending = [];
        queued.forEach(function (q) { if (q.type === "message") bubble("visitor", q.text); out(q); });
      } else if (f.type === "history") {
        // Older messages go above the ones shown, in order.
        var after = greeting.nextSibling === earlier ? earlier.nextSibling : greeting.nextSibling;
        f.messages.forEach(function (m) { log.insertBefore(render(m), after); });
        offerEarlier(f.more, f.messages);
      } else if (f.type === "ack") {
        // Only the assistant answers every message; a person may take a while, or not reply.
        if (state === "bot" || state === "closed") showTyping(true);
      } else if (f.type === "token") {
        showTyping(false);
        var b = bubbles[f.message_id] || bubble("assistant", "", f.message_id);
        setText(b, (b.raw || "") + f.text);
        scroll();
      } else if (f.type === "done") {
        showTyping(false);
        var d = bubbles[f.message_id] || bubble("assistant", "", f.message_id);
        setText(d, f.text);
        sourcesOf(d, f.sources);
        cardsOf(d, f.cards);
        offerOf(d, f.offer);
        feedbackOf(d, f.message_id);
        announce(T.assistant + ": " + f.text);
        scroll();
      } else if (f.type === "status") {
        setStatus(f.status, f.agent);
        announce(status.textContent);
      } else if (f.type === "agent_message") {
        showTyping(false);
        bubble("agent", f.text, f.message_id, f.agent);
        announce((f.agent || T.agent) + ": " + f.text);
      } else if (f.type === "lead_saved") {
        leadSaved();
      } else if (f.type === "lead_withdrawn") {
        if (leadForm) leadForm.textContent = T.withdrawn;
        announce(T.withdrawn);
      } else if (f.type === "error" && leadForm && leadForm.querySelector(".err")) {
        leadForm.querySelector(".err").textContent = f.message;
      } else if (f.type === "error") {
        showTyping(false);
        if (f.code === "unauthorized") store("localStorage", STORE_KEY, null);
        bubble("system", f.message);
        announce(f.message);
      }
    };
    ws.onclose = function () {
      ws = null;
      showTyping(false);
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
  function remember(isOpen) { store("sessionStorage", OPEN_KEY, isOpen ? "1" : ""); }
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
    // Colour, position, title, greeting, locale; may be called at any time.
    init: function (options) { configure(options); applyConfig(); },
    // What the page knows about the visitor (a plan, the product viewed); sent when the chat
    // connects, so call it before the chat opens.
    identify: function (attributes) {
      if (!attributes || typeof attributes !== "object") throw new TypeError("Frontdesk.identify expects an object");
      Object.keys(attributes).forEach(function (k) { Frontdesk.__attributes[k] = String(attributes[k]); });
    },
    // What the visitor does on the site: track("viewed", {id: "nova-15"}) for a catalogue item
    // page, so recommendations favour what they looked at and agents see it.
    track: function (event, data) {
      if (event !== "viewed" || !data || !data.id) throw new TypeError('Frontdesk.track expects ("viewed", {id})');
      var id = String(data.id).slice(0, 64), list = viewedItems().filter(function (x) { return x !== id; });
      list.push(id);
      store("localStorage", VIEWED_KEY, JSON.stringify(list.slice(-20)));
      if (ws && ws.readyState === 1) ws.send(JSON.stringify({ type: "track", event: "viewed", id: id }));
    }
  };
  applyConfig();
  (document.body || document.documentElement).appendChild(host);
  // A reload keeps the conversation, and the panel open if it was.
  var wasOpen = false;
  wasOpen = stored("sessionStorage", OPEN_KEY) === "1";
  if (wasOpen) open();
  else if (stored("localStorage", STORE_KEY)) { opened = true; connect(); }
})();

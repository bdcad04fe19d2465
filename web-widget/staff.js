// Shared by the agent console (/console) and the admin console (/admin): signing in with an
// API key (kept in sessionStorage for the tab only), calling /api/v1 with it, and signing out
// when the server refuses it. Each page keeps only its own views.
window.Staff = (function () {
  "use strict";
  function byId(id) { return document.getElementById(id); }
  function el(tag, cls, text) {
    var node = document.createElement(tag);
    if (cls) node.className = cls;
    if (text != null) node.textContent = text;
    return node;
  }
  function read(name) { try { return sessionStorage.getItem(name); } catch (e) { return null; } }
  function write(name, value) {
    try { if (value == null) sessionStorage.removeItem(name); else sessionStorage.setItem(name, value); } catch (e) { /* storage off */ }
  }
  // A response's JSON body, or its error's message as a thrown Error.
  function json(r) {
    if (r.status === 204) return Promise.resolve(null);
    return r.json().then(function (body) {
      if (!r.ok) throw new Error((body.error && body.error.message) || r.statusText);
      return body;
    });
  }

  // options: storageKey, refusedOn (statuses that mean the key is wrong), refused (what to
  // say then), start (runs once signed in), stop (runs on signing out).
  function session(options) {
    var key = read(options.storageKey);
    var self = {
      key: function () { return key; },
      // The raw response of an API call; a refused key signs out.
      request: function (method, path, body) {
        var init = { method: method, headers: { Authorization: "Bearer " + key } };
        if (body instanceof ArrayBuffer || body instanceof Blob || typeof body === "string") {
          init.body = body;
        } else if (body != null) {
          init.headers["Content-Type"] = "application/json";
          init.body = JSON.stringify(body);
        }
        return fetch("/api/v1" + path, init).then(function (r) {
          if (options.refusedOn.indexOf(r.status) >= 0) { self.signOut(options.refused); throw new Error("unauthorized"); }
          return r;
        });
      },
      // An API call's JSON answer (null for 204).
      api: function (method, path, body) { return self.request(method, path, body).then(json); },
      signOut: function (message) {
        write(options.storageKey, null);
        key = null;
        if (options.stop) options.stop();
        byId("app").hidden = true;
        byId("signin").hidden = false;
        byId("signin-error").textContent = message || "";
      },
      // Starts the page: signed in already, or showing the sign-in form.
      begin: function () { if (key) options.start(); else byId("signin").hidden = false; },
    };
    byId("signin").onsubmit = function (e) {
      e.preventDefault();
      key = byId("key").value.trim();
      write(options.storageKey, key);
      options.start();
    };
    byId("signout").onclick = function () { self.signOut(""); };
    return self;
  }
  return { byId: byId, el: el, json: json, session: session };
})();

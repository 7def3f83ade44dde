// live.js makes buildmaster's server-rendered pages live. Every page works
// without it; with it:
//  - it opens /ws and speaks Buildbot's protocol: startConsuming on the
//    paths the page's live regions name (data-topics), ping to keep alive;
//  - a build event recolours the builder's tile at once (data-builder);
//  - a region whose topics match an event (and data-match, FIELD=VALUE of
//    the event's message) is re-fetched as ?fragment=NAME: one request per
//    burst, at most one every data-every ms, none while the tab is hidden;
//  - the shown log (#log with data-follow) fetches its new lines on
//    logs/ID/append and keeps the view at its end while "follow" is ticked;
//  - elapsed times (data-since) and ETAs (data-eta) tick every second;
//  - action forms (data-rpc) post Buildbot's JSON-RPC 2.0 instead of the
//    plain form, and say what happened in #flash.
(function () {
  'use strict';
  var RESULTS = ['success', 'warnings', 'failure', 'skipped', 'exception', 'retry', 'cancelled'];
  var MAX_LOG_LINES = 20000;
  var body = document.body;
  var params = new URLSearchParams(location.search);
  var skew = Number(body.dataset.now || 0) * 1000 - Date.now();
  var ws = null, nextId = 1, backoff = 500, connectedOnce = false;
  var subscribed = new Set();
  var regions = new Map(); // fragment name -> {timer, inflight, last, again}
  var dirty = new Set();

  function $(sel) { return document.querySelector(sel); }
  function $$(sel) { return Array.prototype.slice.call(document.querySelectorAll(sel)); }

  // ---- durations, as the server renders them
  function dur(s) {
    s = Math.max(0, Math.floor(s));
    var pad = function (n) { return (n < 10 ? '0' : '') + n; };
    if (s < 60) return s + 's';
    if (s < 3600) return Math.floor(s / 60) + 'm ' + pad(s % 60) + 's';
    if (s < 86400) return Math.floor(s / 3600) + 'h ' + pad(Math.floor(s % 3600 / 60)) + 'm';
    return Math.floor(s / 86400) + 'd ' + Math.floor(s % 86400 / 3600) + 'h';
  }
  function tick() {
    var now = (Date.now() + skew) / 1000;
    $$('[data-since]').forEach(function (el) { el.textContent = dur(now - Number(el.dataset.since)); });
    $$('[data-eta]').forEach(function (el) {
      var eta = Number(el.dataset.eta);
      if (!eta) return;
      var d = eta - now;
      el.textContent = d >= 0 ? '~' + dur(d) + ' left' : 'overdue ' + dur(-d);
    });
  }

  // ---- subscriptions
  function matches(pattern, key) {
    var p = pattern.split('/'), k = key.split('/');
    if (p.length !== k.length) return false;
    for (var i = 0; i < p.length; i++) if (p[i] !== '*' && p[i] !== k[i]) return false;
    return true;
  }
  function topics(el) { return (el.dataset.topics || '').split(/\s+/).filter(Boolean); }
  function wanted() {
    var paths = new Set();
    $$('[data-fragment]').forEach(function (el) { topics(el).forEach(function (t) { paths.add(t); }); });
    var log = $('#log');
    if (log && 'follow' in log.dataset) paths.add('logs/' + log.dataset.logid + '/*');
    return paths;
  }
  function send(msg) {
    if (ws && ws.readyState === 1) { msg._id = nextId++; ws.send(JSON.stringify(msg)); }
  }
  function sync() {
    var want = wanted();
    want.forEach(function (p) { if (!subscribed.has(p)) { send({ cmd: 'startConsuming', path: p }); subscribed.add(p); } });
    subscribed.forEach(function (p) { if (!want.has(p)) { send({ cmd: 'stopConsuming', path: p }); subscribed.delete(p); } });
  }

  // ---- events
  function onEvent(key, msg) {
    patchTiles(key, msg);
    $$('[data-fragment]').forEach(function (el) {
      if (!topics(el).some(function (t) { return matches(t, key); })) return;
      var m = el.dataset.match;
      if (m && msg) {
        var i = m.indexOf('='), f = m.slice(0, i);
        if (f in msg && String(msg[f]) !== m.slice(i + 1)) return;
      }
      schedule(el.dataset.fragment);
    });
    var log = $('#log');
    if (log && 'follow' in log.dataset && matches('logs/' + log.dataset.logid + '/*', key)) fetchLog();
  }
  function setResult(el, name) {
    Array.prototype.slice.call(el.classList).forEach(function (c) { if (c.indexOf('r-') === 0) el.classList.remove(c); });
    el.classList.add('r-' + name);
  }
  // A build's events recolour its builder's tile without waiting for the
  // (throttled) re-fetch of the tiles.
  function patchTiles(key, msg) {
    var k = key.split('/');
    if (k[0] !== 'builds' || k.length !== 3 || !msg || msg.builderid == null) return;
    $$('.tile[data-builder="' + msg.builderid + '"]').forEach(function (t) {
      if (k[2] === 'new') t.classList.add('busy');
      if (k[2] === 'finished' || msg.complete) {
        setResult(t, RESULTS[msg.results] || 'none');
        var small = t.querySelector('small');
        if (small) small.textContent = '#' + msg.number + ' ' + (RESULTS[msg.results] || '') + ' just now';
      }
    });
  }

  // ---- fragments
  function region(name) {
    var s = regions.get(name);
    if (!s) { s = { timer: 0, inflight: false, last: 0, again: false }; regions.set(name, s); }
    return s;
  }
  function schedule(name) {
    if (document.hidden) { dirty.add(name); return; }
    var s = region(name);
    if (s.inflight) { s.again = true; return; }
    if (s.timer) return;
    var el = $('[data-fragment="' + name + '"]');
    var every = el && el.dataset.every ? Number(el.dataset.every) : 1000;
    s.timer = setTimeout(function () { s.timer = 0; refresh(name, s); }, Math.max(150, s.last + every - Date.now()));
  }
  function refresh(name, s) {
    s.inflight = true;
    s.last = Date.now();
    var u = new URL(location.href);
    u.hash = '';
    u.searchParams.set('fragment', name);
    fetch(u, { credentials: 'same-origin' }).then(function (r) {
      return r.ok ? r.text() : null;
    }).then(function (html) {
      if (html !== null) replace(name, html);
    }).catch(function () {}).then(function () {
      s.inflight = false;
      if (s.again) { s.again = false; schedule(name); }
    });
  }
  function replace(name, html) {
    var old = $('[data-fragment="' + name + '"]');
    if (!old) return;
    var t = document.createElement('template');
    t.innerHTML = html.trim();
    var el = t.content.firstElementChild;
    if (!el) return;
    var oldLog = old.querySelector('#log');
    var scroll = oldLog ? oldLog.scrollTop : 0;
    old.replaceWith(el);
    tick();
    if (name === 'log') startLog(); else {
      var log = el.querySelector('#log');
      if (log) log.scrollTop = scroll;
    }
    // Without ?log=, the build page shows the running step's log: follow
    // the build to its next step.
    var def = el.dataset.defaultLog;
    var log2 = $('#log');
    if (def && !params.has('log') && def !== (log2 ? log2.dataset.logid : '')) schedule('log');
    sync();
  }
  function refreshAll() { $$('[data-fragment]').forEach(function (el) { schedule(el.dataset.fragment); }); }

  // ---- the followed log
  var logBusy = false, logAgain = false;
  function followBox() { var b = $('#follow'); return !b || b.checked; }
  function startLog() {
    var log = $('#log');
    if (log && 'follow' in log.dataset && followBox()) log.scrollTop = log.scrollHeight;
    fetchLog();
  }
  function fetchLog() {
    var el = $('#log');
    if (!el || !('follow' in el.dataset)) return;
    if (logBusy) { logAgain = true; return; }
    logBusy = true;
    var from = Number(el.dataset.next);
    var u = new URL(el.dataset.lines, location.href);
    u.searchParams.set('from', String(from));
    fetch(u, { credentials: 'same-origin' }).then(function (r) {
      if (!r.ok) return;
      var next = Number(r.headers.get('X-Next-Line'));
      var done = r.headers.get('X-Log-Complete') === 'true';
      return r.text().then(function (html) {
        if ($('#log') !== el) return;
        if (next > from && Number(el.dataset.next) === from) {
          el.insertAdjacentHTML('beforeend', html);
          el.dataset.next = String(next);
          while (el.children.length > MAX_LOG_LINES) el.removeChild(el.firstElementChild);
          if (followBox()) el.scrollTop = el.scrollHeight;
          if (next - from >= 5000) logAgain = true; // a page's worth: there may be more
        }
        if (done) { delete el.dataset.follow; sync(); }
      });
    }).catch(function () {}).then(function () {
      logBusy = false;
      if (logAgain) { logAgain = false; fetchLog(); }
    });
  }

  // ---- actions
  function flash(text, isError) {
    var f = $('#flash');
    if (!f) return;
    f.textContent = text;
    f.className = isError ? 'error' : '';
  }
  document.addEventListener('submit', function (ev) {
    var f = ev.target;
    if (!f.dataset || !f.dataset.rpc) return;
    ev.preventDefault();
    if (f.dataset.confirm && !window.confirm(f.dataset.confirm)) return;
    var p = {};
    Array.prototype.forEach.call(f.elements, function (el) {
      if (!el.name || el.name === '_token' || el.name === 'return' || el.name === 'scheduler') return;
      if (el.name === 'props') {
        el.value.split('\n').forEach(function (line) {
          var i = line.indexOf('=');
          if (i > 0) p[line.slice(0, i).trim()] = line.slice(i + 1);
        });
        return;
      }
      var name = el.name.indexOf('prop:') === 0 ? el.name.slice(5) : el.name;
      p[name] = 'json' in el.dataset ? JSON.parse(el.value) : el.value;
    });
    if (f.dataset.builder) p.builderNames = [f.dataset.builder];
    var btn = f.querySelector('button');
    if (btn) btn.disabled = true;
    fetch(f.dataset.rpc, {
      method: 'POST',
      credentials: 'same-origin',
      headers: { 'Content-Type': 'application/json', 'X-UI-Token': body.dataset.token },
      body: JSON.stringify({ jsonrpc: '2.0', method: f.dataset.method, params: p, id: nextId++ })
    }).then(function (r) {
      return r.json().catch(function () { return null; }).then(function (res) {
        if (!r.ok || !res || res.error) {
          flash((res && res.error && res.error.message) || 'the master answered ' + r.status, true);
        } else {
          flash((btn ? btn.textContent : f.dataset.method) + ': done');
          refreshAll();
        }
      });
    }).catch(function (e) { flash(String(e), true); }).then(function () { if (btn) btn.disabled = false; });
  });

  // ---- the connection
  function connect() {
    if (!window.WebSocket) return;
    var live = $('#live');
    ws = new WebSocket((location.protocol === 'https:' ? 'wss:' : 'ws:') + '//' + location.host + '/ws');
    ws.onopen = function () {
      backoff = 500;
      if (live) { live.textContent = 'live'; live.classList.add('on'); }
      subscribed.clear();
      sync();
      if (connectedOnce) refreshAll(); // events may have been missed meanwhile
      connectedOnce = true;
      fetchLog();
    };
    ws.onmessage = function (e) {
      var m;
      try { m = JSON.parse(e.data); } catch (err) { return; }
      if (m && typeof m.k === 'string') onEvent(m.k, m.m);
    };
    ws.onclose = function () {
      ws = null;
      if (live) { live.textContent = 'offline'; live.classList.remove('on'); }
      setTimeout(connect, backoff);
      backoff = Math.min(backoff * 2, 30000);
    };
  }

  document.addEventListener('visibilitychange', function () {
    if (document.hidden) return;
    var names = Array.from(dirty);
    dirty.clear();
    names.forEach(schedule);
    tick();
  });
  $$('[data-poll]').forEach(function (el) {
    var name = el.dataset.fragment;
    setInterval(function () { schedule(name); }, Number(el.dataset.poll));
  });
  setInterval(function () { if (!document.hidden) tick(); }, 1000);
  setInterval(function () { send({ cmd: 'ping' }); }, 30000);
  startLog();
  connect();
})();

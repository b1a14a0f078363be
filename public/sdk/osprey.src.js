/*! Osprey browser SDK: errors, page views, events, metrics and web vitals -> POST /api/v1/ingest */
// Readable source; osprey.js is built from it with `node public/sdk/minify.mjs`.
//
//   <script src="https://osprey.example.com/sdk/osprey.js" data-key="INGEST_KEY" data-service="shop"></script>
// or, on Osprey's own pages, with no key: the signed-in session sends, same-origin only
//   <script src="/sdk/osprey.js" data-session data-service="osprey-dashboard"></script>
// or
//   Osprey.init({ key, service, environment, release, endpoint, user,
//                 sampleRate: 1, errorSampleRate: 1, flushInterval: 5000, maxBatch: 50 });
//   Osprey.event(name, props); Osprey.metric(name, value, labels, kind); Osprey.error(err, tags);
//   Osprey.setUser(id); Osprey.flush(); Osprey.stats()
//
// Without a key (or `session: true`) nothing is collected or sent. sampleRate picks whole sessions for events, metrics,
// page views and vitals; errorSampleRate picks each error. The endpoint defaults to the origin
// this script came from. A page on another origin needs the server to answer with
// Access-Control-Allow-Origin for the SDK to read the status (and Retry-After, when exposed).
(function (w, d) {
  'use strict';
  if (w.Osprey) return; // loaded twice: keep the first
  var script = d.currentScript; // only set while this file first runs
  var MAX_QUEUE = 500;
  var cfg = null; // null until init succeeds: every call is a no-op (the kill switch)
  var queue = [];
  var stats = { sent: 0, dropped: 0 };
  var ctx = {};
  var sampled = false;
  var timer = 0, timerAt = 0, inflight = false, again = false, retry = null, retries = 0, blockedUntil = 0;
  var seen = {}, seenCount = 0; // error dedupe: key -> time first sent
  var vit = {}, reported = {}, landing = '';
  var noop = function () {};

  // Every entry point runs guarded: the SDK must never throw into the host page.
  function guard(fn) {
    return function () {
      try { return fn.apply(this, arguments); } catch (e) { /* swallowed on purpose */ }
    };
  }
  function now() { return Date.now(); }
  // Server limits are in bytes (names 256, labels 256, messages 4096); a UTF-16 unit is <= 3 bytes.
  function str(v, n) { v = v == null ? '' : String(v); return v.length > n ? v.slice(0, n) : v; }
  // names and label keys: the server refuses control characters
  function name(v, n) { return str(v, n).replace(/[\x00-\x1f\x7f-\x9f]/g, ' '); }
  function path() { return str(location.pathname, 80); }
  function labels(o) {
    var out = {}, k, n = 0;
    for (k in o || {}) if (o[k] != null && k && n++ < 16) out[name(k, 40)] = str(o[k], 80);
    return out;
  }
  function props(o) {
    var out = {}, n = 0, k;
    for (k in o || {}) if (n++ < 32) out[k] = o[k];
    try { return JSON.stringify(out).length > 5000 ? { truncated: true } : out; } catch (e) { return {}; }
  }

  function push(kind, item) {
    if (!cfg) return;
    queue.push([kind, item]);
    if (queue.length > MAX_QUEUE) { queue.shift(); stats.dropped++; }
    if (queue.length >= cfg.maxBatch) flush(); else schedule(cfg.flushInterval);
  }
  // One timer, at the earliest time anything asked for.
  function schedule(ms) {
    var at = now() + ms;
    if (timer && timerAt <= at) return;
    clearTimeout(timer);
    timerAt = at;
    timer = setTimeout(function () { timer = 0; flush(); }, ms);
  }
  function body(items) {
    var b = { context: ctx }, i;
    for (i = 0; i < items.length; i++) (b[items[i][0]] = b[items[i][0]] || []).push(items[i][1]);
    return JSON.stringify(b);
  }
  // Every batch has an id that its retries repeat: Osprey stores a batch once, so one that was
  // stored although its answer got lost (the page unloading mid-request) is not stored twice.
  function url(id) {
    var key = cfg.key == null ? '' : 'key=' + encodeURIComponent(cfg.key) + '&';
    return cfg.endpoint + '/api/v1/ingest?' + key + 'batch=' + id;
  }
  function newBatch(items) { return { id: hex(16), items: items }; }
  function post(b, keepalive) {
    var data = body(b.items);
    // text/plain keeps the request "simple": no CORS preflight.
    return fetch(url(b.id), { method: 'POST', body: data, keepalive: keepalive && data.length < 60000,
      headers: { 'Content-Type': 'text/plain' } });
  }

  // One request at a time; a failed batch is retried as it was, id and all, before anything newer.
  var flush = guard(function () {
    if (inflight) { again = true; return; } // asked while a batch is out: go once it returns
    if (!cfg || !(retry || queue.length)) return;
    var wait = blockedUntil - now();
    if (wait > 0) return schedule(wait);
    var b = retry || newBatch(queue.splice(0, cfg.maxBatch)), items = b.items;
    retry = null;
    inflight = true;
    function done(ok, retryAfter) {
      inflight = false;
      if (ok) { retries = 0; stats.sent += items.length; }
      else if (retryAfter != null && retries < 6) {
        // exponential backoff with jitter; Retry-After (seconds) wins when readable
        var ms = retryAfter > 0 ? Math.min(retryAfter, 300) * 1000 : Math.min(30000, 1000 * Math.pow(2, retries)) * (0.5 + Math.random());
        retries++;
        blockedUntil = now() + ms;
        retry = b;
      } else { retries = 0; stats.dropped += items.length; } // refused (4xx) or gave up
      // After a failure the batch goes again when its backoff ends, not a whole interval later.
      var backoff = blockedUntil - now();
      var asked = again;
      again = false;
      if (retry || queue.length) schedule(backoff > 0 ? backoff : asked || retry || queue.length >= cfg.maxBatch ? 0 : cfg.flushInterval);
    }
    post(b, true).then(function (r) {
      if (r.ok) return done(true);
      var again = r.status == 429 || r.status >= 500;
      done(false, again ? parseFloat(r.headers.get('Retry-After')) || 0 : null);
    }, function () { done(false, 0); }); // network error (or a response CORS hid from us)
  });

  // The page may be going away: hand everything to the browser, which sends it after unload.
  function flushNow() {
    reportVitals();
    var b;
    while ((b = retry || (queue.length && newBatch(queue.splice(0, cfg.maxBatch))))) {
      retry = null;
      var beacon = false;
      try { beacon = navigator.sendBeacon(url(b.id), body(b.items)); } catch (e) { /* fall through */ }
      if (!beacon) post(b, true).catch(noop);
    }
  }

  // ---- errors ------------------------------------------------------------------------------
  // V8: "    at fn (url:1:2)" or "    at url:1:2"; Firefox/Safari: "fn@url:1:2" or "@url:1:2".
  var V8 = /^\s*at (?:(.+?) \()?(.+?):(\d+):(\d+)\)?\s*$/, GECKO = /^\s*(.*?)@(.+?):(\d+):(\d+)\s*$/;
  function frames(stack) {
    var out = [], lines = String(stack || '').split('\n'), i, m;
    for (i = 0; i < lines.length && out.length < 50; i++) {
      if ((m = V8.exec(lines[i]) || GECKO.exec(lines[i]))) {
        out.push({ function: m[1] ? str(m[1], 200) : undefined, file: str(m[2], 500), line: +m[3], column: +m[4] });
      }
    }
    return out;
  }
  function report(err, tags, fallback) {
    if (!cfg || Math.random() >= cfg.errorSampleRate) return;
    var isObj = err && typeof err == 'object';
    var type = name((isObj && err.name) || (fallback && fallback.type) || 'Error', 80);
    var message = str(isObj && 'message' in err ? err.message : fallback && fallback.message || err, 1000);
    var stack = frames(isObj && err.stack);
    if (!stack.length && fallback && fallback.file) stack = [{ file: str(fallback.file, 500), line: fallback.line, column: fallback.column }];
    // the same error in a loop is sent once a second at most
    var top = stack[0] || {}, key = type + message + top.file + top.line + top.column, t = now();
    if (seen[key] > t - 1000) return;
    if (++seenCount > 100) { seen = {}; seenCount = 0; }
    seen[key] = t;
    push('errors', { timestamp: t, type: type, message: message, stacktrace: stack,
      tags: labels(Object.assign({ page: path() }, tags)) });
  }
  function onError(e) {
    if (e.error || e.message) report(e.error, { mechanism: 'onerror' }, { message: e.message, file: e.filename, line: e.lineno, column: e.colno });
  }
  function onRejection(e) {
    var r = e.reason;
    report(r, { mechanism: 'unhandledrejection' }, { type: 'UnhandledRejection', message: r && typeof r == 'object' ? safeJson(r) : r });
  }
  function safeJson(v) { try { return JSON.stringify(v); } catch (e) { return String(v); } }

  // ---- page views --------------------------------------------------------------------------
  var lastPath, lastHref;
  function pageView() {
    var p = location.pathname + location.search;
    if (p == lastPath) return;
    var ref = lastHref == null ? d.referrer : lastHref;
    lastPath = p; lastHref = location.href;
    if (sampled) push('events', { timestamp: now(), name: 'page_view',
      properties: { path: str(location.pathname, 500), title: str(d.title, 500), referrer: str(ref, 500) } });
  }
  function patch(name) {
    var orig = history[name];
    history[name] = function () {
      var r = orig.apply(this, arguments);
      setTimeout(guard(pageView), 0); // routers usually set the title right after navigating
      return r;
    };
  }

  // ---- web vitals --------------------------------------------------------------------------
  // Only pages that were visible from the start get LCP/FCP, as web-vitals does.
  var firstHidden = Infinity;
  function observe(type, cb, opts) {
    try {
      var po = new PerformanceObserver(guard(function (l) { l.getEntries().forEach(cb); }));
      po.observe(Object.assign({ type: type, buffered: true }, opts));
      return po;
    } catch (e) { return null; }
  }
  function vitals() {
    var nav = performance.getEntriesByType && performance.getEntriesByType('navigation')[0];
    if (nav && nav.responseStart > 0) vit.ttfb = nav.responseStart;
    observe('paint', function (e) {
      if (e.name == 'first-contentful-paint' && e.startTime < firstHidden) vit.fcp = e.startTime;
    });
    // LCP is final at the first input or when the page hides.
    var lcp = observe('largest-contentful-paint', function (e) { if (e.startTime < firstHidden) vit.lcp = e.startTime; });
    var stopLcp = guard(function () {
      if (lcp) { lcp.takeRecords().forEach(function (e) { if (e.startTime < firstHidden) vit.lcp = e.startTime; }); lcp.disconnect(); lcp = null; }
    });
    ['keydown', 'pointerdown'].forEach(function (t) { addEventListener(t, stopLcp, { once: true, capture: true }); });
    // CLS: the largest session window (shifts < 1 s apart, window < 5 s) of shifts not caused by input.
    var win = 0, first = 0, last = 0;
    if (observe('layout-shift', function (e) {
      if (e.hadRecentInput) return;
      if (win && e.startTime - last < 1000 && e.startTime - first < 5000) win += e.value;
      else { win = e.value; first = e.startTime; }
      last = e.startTime;
      vit.cls = Math.max(vit.cls || 0, win);
    })) vit.cls = vit.cls || 0;
    // INP: the longest interaction, or about the 98th percentile once there are 50+ (one worst
    // interaction is skipped per 50), from the ten longest kept. Interactions under 40 ms are not
    // observed, so the count is low and INP is absent if every interaction was quick.
    var worst = [], ids = {}, count = 0;
    function inter(e) {
      if (!e.interactionId) return;
      if (!ids[e.interactionId]) { ids[e.interactionId] = 1; count++; }
      var i, found;
      for (i = 0; i < worst.length; i++) if (worst[i].id == e.interactionId) found = worst[i];
      if (found) found.d = Math.max(found.d, e.duration);
      else worst.push({ id: e.interactionId, d: e.duration });
      worst.sort(function (a, b) { return b.d - a.d; });
      worst.length = Math.min(worst.length, 10);
      vit.inp = worst[Math.min(worst.length - 1, Math.floor(count / 50))].d;
    }
    observe('event', inter, { durationThreshold: 40 });
    observe('first-input', inter);
    return stopLcp;
  }
  var stopLcp = noop;
  function reportVitals() {
    stopLcp();
    for (var k in vit) {
      var v = Math.round(vit[k] * (k == 'cls' ? 1e4 : 10)) / (k == 'cls' ? 1e4 : 10);
      if (v != null && v === v && reported[k] !== v && sampled) {
        reported[k] = v;
        push('metrics', { timestamp: now(), name: 'web_vitals.' + k, value: v, kind: 'gauge', labels: { page: landing } });
      }
    }
  }

  // ---- session -----------------------------------------------------------------------------
  function hex(bytes) {
    var b = crypto.getRandomValues(new Uint8Array(bytes)), s = '', i;
    for (i = 0; i < b.length; i++) s += (b[i] + 256).toString(16).slice(1);
    return s;
  }
  function sessionId() {
    var id;
    try { id = sessionStorage.getItem('osprey.sid'); } catch (e) { /* storage blocked */ }
    if (!id) {
      id = hex(16);
      try { sessionStorage.setItem('osprey.sid', id); } catch (e) { /* in memory only */ }
    }
    return id;
  }

  // ---- public API --------------------------------------------------------------------------
  var Osprey = {
    init: guard(function (o) {
      o = o || {};
      if (cfg || !(o.key || o.session)) return; // no key and no session: stay switched off
      var origin = o.endpoint || (script && script.src ? new URL(script.src, location.href).origin : location.origin);
      cfg = {
        endpoint: String(origin).replace(/\/+$/, ''), key: o.key ? String(o.key) : null,
        sampleRate: o.sampleRate == null ? 1 : +o.sampleRate,
        errorSampleRate: o.errorSampleRate == null ? 1 : +o.errorSampleRate,
        flushInterval: +o.flushInterval || 5000, maxBatch: Math.max(1, Math.min(+o.maxBatch || 50, MAX_QUEUE))
      };
      var sid = sessionId();
      // one decision per session: the same session id always gives the same answer
      sampled = parseInt(sid.slice(0, 8), 16) / 4294967296 < cfg.sampleRate;
      ctx = { user_id: ctx.user_id, service: o.service && str(o.service, 80), environment: o.environment && str(o.environment, 80),
        release: o.release && str(o.release, 80), session_id: sid };
      if (o.user != null) Osprey.setUser(o.user); // else keep a setUser made before init
      landing = path();
      addEventListener('error', guard(onError));
      addEventListener('unhandledrejection', guard(onRejection));
      var hide = guard(function (e) { if (e.type == 'pagehide' || d.visibilityState == 'hidden') { firstHidden = Math.min(firstHidden, performance.now()); flushNow(); } });
      addEventListener('pagehide', hide);
      d.addEventListener('visibilitychange', hide, true);
      if (d.visibilityState == 'hidden') firstHidden = 0;
      patch('pushState'); patch('replaceState');
      addEventListener('popstate', guard(pageView));
      pageView();
      stopLcp = vitals();
    }),
    event: guard(function (ev, properties) {
      if (sampled && ev) push('events', { timestamp: now(), name: name(ev, 80), properties: props(properties) });
    }),
    metric: guard(function (m, value, lbls, kind) {
      value = +value;
      if (sampled && m && isFinite(value)) push('metrics', { timestamp: now(), name: name(m, 80), value: value,
        kind: kind == 'counter' ? kind : 'gauge', labels: labels(lbls) });
    }),
    error: guard(function (err, tags) { report(err, tags); }),
    setUser: guard(function (id) { ctx.user_id = id == null || id === '' ? undefined : str(id, 80); }),
    flush: guard(function () { flush(); }),
    stats: function () { return { queued: queue.length + (retry ? retry.items.length : 0), sent: stats.sent, dropped: stats.dropped }; }
  };
  w.Osprey = Osprey;

  // <script src=".../sdk/osprey.js" data-key="…" data-service="…" data-endpoint="…">
  var ds = script && script.dataset;
  if (ds && (ds.key || ds.session != null)) {
    Osprey.init({ key: ds.key, session: ds.session != null, service: ds.service, endpoint: ds.endpoint, environment: ds.environment,
      release: ds.release, sampleRate: ds.sampleRate, errorSampleRate: ds.errorSampleRate,
      flushInterval: ds.flushInterval, maxBatch: ds.maxBatch, user: ds.user });
  }
})(window, document);

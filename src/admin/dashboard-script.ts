/**
 * The dashboard's browser script, served as `/dashboard.js`. It is plain ES2017 kept in a string
 * so `tsc` alone ships it and tests evaluate exactly the bytes browsers receive.
 *
 * Safety rules the tests check: data only ever becomes DOM text (`createTextNode`) or a value of an
 * allow-listed attribute (`setAttribute`); no HTML parsing sinks; every request is a GET of a
 * same-origin path listed in ENDPOINTS.
 *
 * Layout: `CrossmeshDashboard` exposes pure pieces (`h`, `render`, `loadAll` with an injected
 * fetch, `mount` with an injected document) so tests can drive them without a browser; `start`
 * runs only where a real `document` with `#app` exists.
 */
export const DASHBOARD_SCRIPT = String.raw`'use strict';
var CrossmeshDashboard = (function () {
  var REFRESH_MS = 3000;
  var TIMEOUT_MS = 2500;
  // Every URL this page requests: same-origin admin paths, nothing else.
  var ENDPOINTS = {
    ready: '/readyz',
    proxies: '/debug/proxies',
    discovery: '/debug/discovery',
    config: '/debug/config',
    translation: '/debug/translation',
    policies: '/debug/policies',
    certs: '/debug/certs'
  };
  var XDS_TYPES = ['sds', 'cds', 'eds', 'lds', 'rds'];
  // Rows beyond this are left to the JSON endpoint, so a large fleet does not stall the tab.
  var MAX_ROWS = 300;
  var MAX_LISTED = 5;
  var MAX_ATTENTION = 15;
  var ALLOWED_ATTRS = { 'class': true, href: true, title: true, colspan: true, id: true };

  // ---- a tiny virtual DOM: plain data, turned into nodes only by mount() ----

  function h(tag, attrs) {
    var children = [];
    for (var i = 2; i < arguments.length; i++) pushChild(children, arguments[i]);
    return { tag: tag, attrs: attrs || {}, children: children };
  }

  function pushChild(out, c) {
    if (c === null || c === undefined || c === false) return;
    if (Array.isArray(c)) { for (var i = 0; i < c.length; i++) pushChild(out, c[i]); return; }
    out.push(typeof c === 'object' ? c : String(c));
  }

  // Strings become text nodes, so markup in node ids or errors shows as text, never as HTML.
  function mount(doc, v) {
    if (typeof v === 'string') return doc.createTextNode(v);
    var el = doc.createElement(v.tag);
    for (var k in v.attrs) {
      if (!Object.prototype.hasOwnProperty.call(v.attrs, k) || !ALLOWED_ATTRS[k]) continue;
      var value = v.attrs[k];
      if (value === null || value === undefined) continue;
      value = String(value);
      // Links stay on this origin: a path, never a scheme or a protocol-relative URL.
      if (k === 'href' && !/^\/(?![\/\\])/.test(value)) continue;
      el.setAttribute(k, value);
    }
    for (var i = 0; i < v.children.length; i++) el.appendChild(mount(doc, v.children[i]));
    return el;
  }

  // ---- small helpers ----

  function arr(x) { return Array.isArray(x) ? x : []; }
  function str(x) { return x === null || x === undefined ? '' : String(x); }
  function short(v) { return v ? String(v).slice(0, 8) : ''; }
  function plural(n, word) { return n + ' ' + word + (n === 1 ? '' : 's'); }

  function age(iso, now) {
    var t = Date.parse(iso);
    if (isNaN(t)) return str(iso);
    var s = Math.round((now - t) / 1000);
    var future = s < 0;
    s = Math.abs(s);
    var text = s < 90 ? s + 's' : s < 5400 ? Math.round(s / 60) + 'm' : s < 172800 ? Math.round(s / 3600) + 'h' : Math.round(s / 86400) + 'd';
    return future ? 'in ' + text : text + ' ago';
  }

  function when(iso, now) {
    return iso ? h('span', { title: iso }, age(iso, now)) : h('span', { 'class': 'muted' }, '-');
  }

  function badge(kind, text, title) { return h('span', { 'class': 'badge ' + kind, title: title }, text); }

  function table(headers, rows, empty) {
    if (rows.length === 0) return h('p', { 'class': 'muted' }, empty);
    return h('div', { 'class': 'scroll' }, h('table', null,
      h('thead', null, h('tr', null, headers.map(function (x) { return h('th', null, x); }))),
      h('tbody', null, rows)));
  }

  function lines(items, cls) {
    return h('ul', { 'class': 'lines ' + (cls || '') }, items.map(function (x) { return h('li', null, x); }));
  }

  function fewLines(items, cls) {
    var shown = items.slice(0, MAX_LISTED);
    if (items.length > shown.length) shown.push('and ' + (items.length - shown.length) + ' more');
    return lines(shown, cls);
  }

  // One card per endpoint; a missing endpoint (404) or an unreadable one never breaks the page.
  function section(id, title, path, result, body) {
    var content;
    if (!result) content = h('p', { 'class': 'muted' }, 'loading...');
    else if (result.status === 'missing') content = h('p', { 'class': 'muted' }, 'Not served by this control plane (' + path + ' answered 404).');
    else if (result.status === 'error') content = h('p', { 'class': 'bad' }, 'Cannot read ' + path + ': ' + result.message);
    else {
      try { content = body(result.data); } catch (e) { content = h('p', { 'class': 'bad' }, 'Cannot show ' + path + ': ' + str(e && e.message)); }
    }
    return h('section', { id: id }, h('h2', null, title, ' ', h('a', { href: path, 'class': 'raw', title: 'raw JSON' }, path)), content);
  }

  // ---- what needs attention, from every endpoint ----

  function currentNack(st) {
    return st && st.lastNack && st.lastNack.version === st.lastSentVersion && st.ackedVersion !== st.lastSentVersion ? st.lastNack : null;
  }

  function discoveryRows(d) {
    var rows = arr(d.staticClusters).map(function (c) { return { cluster: c, source: 'config file', state: 'static' }; });
    arr(d.kubernetes).forEach(function (k) {
      var state = k.connected === undefined ? 'error' : k.stale ? 'stale' : k.connected ? 'connected' : 'disconnected';
      rows.push({ cluster: k.cluster, source: 'kubernetes', state: state, k: k });
    });
    return rows;
  }

  function problems(s, now) {
    var out = [];
    function add(where, text) { out.push(h('li', null, h('span', { 'class': 'where' }, where), ' ', text)); }
    var ready = s.ready;
    if (ready && ready.status === 'ok' && !ready.data.ok) add('readiness', ready.data.text || 'not ready');
    if (ok(s.proxies)) {
      arr(s.proxies.data.proxies).forEach(function (p) {
        if (p.resolverError) add('proxy ' + str(p.nodeId), 'gets no configuration: ' + str(p.resolverError));
        if (p.blocked) add('proxy ' + str(p.nodeId), 'is not reading; pushes are held back');
        XDS_TYPES.forEach(function (t) {
          var n = currentNack(p.types && p.types[t]);
          if (n) add('proxy ' + str(p.nodeId), 'rejects ' + t.toUpperCase() + ' ' + short(n.version) + ': ' + str(n.error));
        });
      });
      var refused = arr(s.proxies.data.refused);
      if (refused.length) add('xDS', plural(refused.length, 'refused stream') + ' recorded, latest ' + age(refused[0].at, now) + ': ' + str(refused[0].nodeId) + ' ' + str(refused[0].reason));
    }
    if (ok(s.config)) {
      var a = s.config.data.lastAttempt;
      if (a && !a.ok) add('configuration', 'last reload ' + age(a.at, now) + ' was rejected (' + plural(arr(a.errors).length, 'error') + '); the last good configuration keeps serving');
    }
    if (ok(s.discovery)) {
      discoveryRows(s.discovery.data).forEach(function (r) {
        if (r.state === 'stale') add('cluster ' + str(r.cluster), 'API server unreachable; serving last-known endpoints' + (r.k.lastError ? ': ' + str(r.k.lastError) : ''));
        else if (r.state === 'error' || r.state === 'disconnected') add('cluster ' + str(r.cluster), 'discovery ' + r.state + (r.k.lastError || r.k.error ? ': ' + str(r.k.lastError || r.k.error) : ''));
      });
    }
    if (ok(s.translation)) {
      arr(s.translation.data.groups).forEach(function (g) {
        arr(g.rejected).forEach(function (r) { add('guard', str(r.kind) + ' ' + str(r.name) + ' not pushed: ' + arr(r.errors).join('; ')); });
      });
    }
    if (ok(s.policies)) {
      arr(s.policies.data.policies).forEach(function (p) {
        arr(p.problems).forEach(function (x) { add(str(p.kind) + ' ' + str(p.policy), x); });
      });
      var c = arr(s.policies.data.conflicts).length;
      if (c) add('policies', plural(c, 'conflict') + ' between TrafficPolicies');
    }
    if (ok(s.certs)) {
      arr(s.certs.data.issued).forEach(function (c) {
        if (Date.parse(c.notAfter) < now) add('certificate ' + str(c.identity), 'expired ' + age(c.notAfter, now));
        else if (Date.parse(c.rotateAt) < now) add('certificate ' + str(c.identity), 'past its rotation time (' + age(c.rotateAt, now) + ')');
      });
    }
    return out;
  }

  function ok(r) { return r && r.status === 'ok'; }

  // ---- sections ----

  function summary(s, now) {
    var ready = s.ready;
    var readyBadge = !ready ? badge('muted', 'loading') : ready.status !== 'ok' ? badge('bad', 'readiness unknown', ready.message)
      : ready.data.ok ? badge('ok', 'ready') : badge('bad', 'not ready', ready.data.text);
    var parts = [readyBadge];
    if (ok(s.proxies)) parts.push(h('span', null, plural(arr(s.proxies.data.proxies).length, 'stream') + ' connected'));
    if (ok(s.translation)) parts.push(h('span', null, 'snapshot ', h('code', null, short(s.translation.data.snapshotVersion))));
    if (ok(s.config) && s.config.data.lastGood) parts.push(h('span', null, 'config ', h('code', null, short(s.config.data.lastGood.version))));
    if (s.unreachable) parts.push(badge('bad', 'admin server unreachable', s.unreachable.message));
    parts.push(h('span', { 'class': 'muted' }, s.at ? 'updated ' + new Date(s.at).toLocaleTimeString() + (s.unreachable ? ' (showing the last data read)' : '') : ''));
    var issues = problems(s, now);
    return h('section', { id: 'summary' },
      h('div', { 'class': 'bar' }, parts),
      issues.length ? h('div', { 'class': 'attention' }, h('h2', null, 'Needs attention (' + issues.length + ')'),
        h('ul', { 'class': 'lines' }, issues.slice(0, MAX_ATTENTION), issues.length > MAX_ATTENTION ? h('li', null, 'and ' + (issues.length - MAX_ATTENTION) + ' more below') : null))
        : h('p', { 'class': 'ok-text' }, 'Nothing needs attention.'));
  }

  function typeCell(st) {
    if (!st) return h('td', { 'class': 'muted' }, '-');
    if (!st.lastSentVersion) return h('td', { 'class': 'muted', title: 'requested; nothing sent yet' }, 'waiting');
    var res = plural(st.resources || 0, 'resource');
    if (st.ackedVersion === st.lastSentVersion) return h('td', { 'class': 'v ok', title: 'ACKed ' + st.ackedVersion + ', ' + res }, short(st.ackedVersion));
    var nack = currentNack(st);
    return h('td', { 'class': 'v ' + (nack ? 'bad' : 'warn'), title: 'ACKed ' + (st.ackedVersion || 'nothing') + '; sent ' + st.lastSentVersion + ', ' + res },
      st.ackedVersion ? short(st.ackedVersion) : 'none', h('br'), h('small', null, (nack ? 'NACK ' : 'sent ') + short(st.lastSentVersion)));
  }

  function lastNack(p) {
    var best = null;
    XDS_TYPES.forEach(function (t) {
      var n = p.types && p.types[t] && p.types[t].lastNack;
      if (n && (!best || n.at > best.n.at)) best = { t: t, n: n };
    });
    return best;
  }

  function troubled(p) {
    return !!(p.resolverError || p.blocked || XDS_TYPES.some(function (t) { return currentNack(p.types && p.types[t]); }));
  }

  function proxies(d, now, filter) {
    var all = arr(d.proxies);
    var needle = str(filter).trim().toLowerCase();
    var matching = all.filter(function (p) { return !needle || str(p.nodeId).toLowerCase().indexOf(needle) >= 0; });
    // Proxies in trouble first; otherwise the server's order (by node id).
    var sorted = matching.filter(troubled).concat(matching.filter(function (p) { return !troubled(p); }));
    var shown = sorted.slice(0, MAX_ROWS);
    var rows = shown.map(function (p) {
      var ln = lastNack(p);
      var note = p.resolverError ? h('div', { 'class': 'bad' }, 'resolver: ' + str(p.resolverError))
        : ln ? h('div', { 'class': currentNack(p.types[ln.t]) ? 'bad' : 'muted' }, ln.t.toUpperCase() + ' ' + age(ln.n.at, now) + ': ' + str(ln.n.error)) : h('span', { 'class': 'muted' }, '-');
      return h('tr', { 'class': p.resolverError ? 'row-bad' : '' },
        h('td', null, h('a', { 'class': 'node', href: '/debug/config_dump?node=' + encodeURIComponent(str(p.nodeId)), title: 'config dump' }, str(p.nodeId)),
          p.identity && p.identity !== 'none' ? h('div', { 'class': 'muted small' }, str(p.identity)) : null),
        h('td', null, str(p.role), p.blocked ? [' ', badge('warn', 'blocked')] : null),
        h('td', { title: 'peer ' + str(p.peer) + ', ' + str(p.userAgent) }, str(p.mode) + '/' + str(p.service)),
        h('td', null, when(p.connectedAt, now)),
        XDS_TYPES.map(function (t) { return typeCell(p.types && p.types[t]); }),
        h('td', { 'class': 'err' }, note));
    });
    var summaryNote = needle || shown.length < all.length
      ? h('p', { 'class': 'warn small' }, 'Showing ' + shown.length + ' of ' + plural(all.length, 'stream') + (needle ? ' matching "' + str(filter).trim() + '"' : '') + (shown.length < matching.length ? '; proxies with problems first, the rest at ' + ENDPOINTS.proxies : '') + '.')
      : null;
    return h('div', null,
      summaryNote,
      table(['Node', 'Role', 'Stream', 'Connected'].concat(XDS_TYPES.map(function (t) { return t.toUpperCase(); })).concat(['Last NACK / error']), rows, needle && all.length ? 'No connected proxy matches the filter.' : 'No proxies connected.'),
      h('p', { 'class': 'muted small' }, 'Per type: the ACKed version; below it the version sent and not yet ACKed ("sent") or rejected ("NACK"). Hover for full versions.'),
      h('h3', null, 'Refused streams'),
      table(['When', 'Node', 'Role', 'Peer', 'Code', 'Reason'], arr(d.refused).map(function (r) {
        return h('tr', null, h('td', null, when(r.at, now)), h('td', { 'class': 'node' }, str(r.nodeId)), h('td', null, str(r.role)),
          h('td', null, str(r.peer)), h('td', null, str(r.code)), h('td', { 'class': 'err' }, str(r.reason)));
      }), 'No stream has been refused.'));
  }

  function discovery(d, now) {
    var kinds = { connected: 'ok', 'static': 'ok', stale: 'bad', disconnected: 'warn', error: 'bad' };
    return table(['Cluster', 'Source', 'State', 'Last sync', 'Objects', 'Last error'], discoveryRows(d).map(function (r) {
      var k = r.k || {};
      var counts = k.counts ? k.counts.services + ' services, ' + k.counts.pods + ' pods, ' + k.counts.endpointSlices + ' slices' : '';
      return h('tr', null, h('td', null, str(r.cluster)), h('td', { title: k.server ? str(k.server) + ' (' + str(k.context) + ')' : null }, r.source),
        h('td', null, badge(kinds[r.state] || 'warn', r.state)), h('td', null, k.lastSyncAt ? when(k.lastSyncAt, now) : '-'),
        h('td', null, counts), h('td', { 'class': 'err' }, str(k.lastError || k.error)));
    }), 'No clusters configured.');
  }

  function config(d, now) {
    var g = d.lastGood, a = d.lastAttempt, r = d.reloads || {};
    return h('div', null,
      h('dl', null,
        h('dt', null, 'In force'),
        h('dd', null, g ? ['version ', h('code', null, short(g.version)), ', loaded ', when(g.loadedAt, now), ', ', plural(arr(g.files).length, 'file'), ' from ', arr(d.paths).join(', ')] : h('span', { 'class': 'bad' }, 'no valid configuration has been loaded')),
        h('dt', null, 'Last reload'),
        h('dd', null, a ? [a.ok ? badge('ok', 'applied') : badge('bad', 'rejected'), ' ', when(a.at, now)] : '-'),
        h('dt', null, 'Reloads'),
        h('dd', null, str(r.applied || 0) + ' applied, ' + str(r.unchanged || 0) + ' unchanged, ' + str(r.invalid || 0) + ' rejected')),
      a && arr(a.errors).length ? [h('h3', null, 'Errors of the last reload'), lines(arr(a.errors).map(str), 'bad mono')] : null,
      a && arr(a.warnings).length ? [h('h3', null, 'Warnings'), lines(arr(a.warnings).map(str), 'warn mono')] : null,
      g ? [h('h3', null, 'Files in force'), lines(arr(g.files).map(str), 'mono small')] : null);
  }

  function translation(d) {
    var groups = arr(d.groups);
    var rejected = [];
    groups.forEach(function (g) { arr(g.rejected).forEach(function (r) { rejected.push({ g: g, r: r }); }); });
    return h('div', null,
      h('p', null, plural(groups.length, 'resource group') + ' serving ' + plural(new Set([].concat.apply([], groups.map(function (g) { return arr(g.nodes); }))).size, 'node') + ', snapshot ', h('code', null, short(d.snapshotVersion))),
      h('h3', null, 'Resources refused by the guard (not pushed)'),
      table(['Kind', 'Resource', 'Errors', 'Group'], rejected.map(function (x) {
        return h('tr', null, h('td', null, str(x.r.kind)), h('td', { 'class': 'mono' }, str(x.r.name)), h('td', { 'class': 'err' }, lines(arr(x.r.errors).map(str))), h('td', { 'class': 'mono small' }, str(x.g.key)));
      }), 'None: every computed resource passed validation.'),
      h('h3', null, 'Nodes the resolver refused'),
      table(['Node', 'Error'], arr(d.unresolved).map(function (u) {
        return h('tr', null, h('td', { 'class': 'node' }, str(u.node)), h('td', { 'class': 'err' }, str(u.error)));
      }), 'None.'));
  }

  function policies(d) {
    var rows = arr(d.policies).map(function (p) {
      var probs = arr(p.problems);
      return h('tr', null, h('td', null, str(p.kind)), h('td', { 'class': 'mono' }, str(p.policy)),
        h('td', { title: arr(p.selects).join('\n') }, plural(arr(p.selects).length, 'service')),
        h('td', { title: arr(p.resources).join('\n') }, plural(arr(p.resources).length, 'resource')),
        h('td', { title: arr(p.groups).join('\n') }, arr(p.proxies).length ? fewLines(arr(p.proxies).map(str), 'mono small') : h('span', { 'class': 'muted' }, 'none connected')),
        h('td', { 'class': probs.length ? 'err' : 'muted' }, probs.length ? lines(probs.map(str)) : '-'));
    });
    var conflicts = arr(d.conflicts).map(function (c) {
      return h('tr', null, h('td', { 'class': 'mono' }, str(c.destination)), h('td', null, str(c.field)), h('td', { 'class': 'mono' }, str(c.winner)),
        h('td', { 'class': 'mono' }, arr(c.losers).join(', ')), h('td', null, arr(c.clusters).join(', ')), h('td', { 'class': 'small' }, str(c.matchers)));
    });
    return h('div', null,
      table(['Kind', 'Policy', 'Selects', 'Shapes', 'Proxies affected', 'Problems'], rows, 'No TrafficPolicy or AccessPolicy configured.'),
      h('h3', null, 'Conflicts'),
      table(['Destination', 'Field', 'Winner', 'Overridden', 'Clusters', 'Matchers'], conflicts, 'None.'),
      d.conflictRule ? h('p', { 'class': 'muted small' }, 'Rule: ' + str(d.conflictRule) + '.') : null);
  }

  function certs(d, now) {
    function expiry(iso, warnAt) {
      var t = Date.parse(iso);
      return h('span', { 'class': t < now ? 'bad' : warnAt && Date.parse(warnAt) < now ? 'warn' : '', title: iso }, age(iso, now));
    }
    var server = d.xdsServer;
    return h('div', null,
      table(['Identity', 'Cluster', 'Serial', 'Expires', 'Rotates', 'Key'], arr(d.issued).map(function (c) {
        return h('tr', null, h('td', { 'class': 'mono' }, str(c.identity)), h('td', null, str(c.cluster)), h('td', { 'class': 'mono small', title: str(c.serial) }, short(c.serial)),
          h('td', null, expiry(c.notAfter, c.rotateAt)), h('td', null, when(c.rotateAt, now)), h('td', null, str(c.keyAlgorithm)));
      }), 'No workload certificate issued yet.'),
      h('h3', null, 'Trust'),
      table(['What', 'Name', 'Id', 'Status', 'Expires'],
        arr(d.trustBundle).map(function (r) { return h('tr', null, h('td', null, 'root'), h('td', null, str(r.subject)), h('td', { 'class': 'mono small' }, str(r.id)), h('td', null, str(r.status)), h('td', null, expiry(r.notAfter))); })
          .concat(arr(d.intermediates).map(function (i) { return h('tr', null, h('td', null, 'intermediate'), h('td', null, str(i.cluster) + ' (' + str(i.trustDomain) + ')'), h('td', { 'class': 'mono small' }, str(i.id)), h('td', null, ''), h('td', null, expiry(i.notAfter))); }))
          .concat(server ? [h('tr', null, h('td', null, 'xDS server'), h('td', null, arr(server.dnsNames).concat(arr(server.ipAddresses)).join(', ')), h('td', { 'class': 'mono small' }, short(server.serial)), h('td', null, ''), h('td', null, expiry(server.notAfter)))] : [])
          .concat(arr(d.tokenKeys).map(function (k) { return h('tr', null, h('td', null, 'token key'), h('td', null, ''), h('td', { 'class': 'mono small' }, str(k.kid)), h('td', null, str(k.status)), h('td', null, k.retireAt ? when(k.retireAt, now) : '-')); })),
        'No roots loaded.'),
      h('p', { 'class': 'muted small' }, 'Private keys are never shown.'));
  }

  /** The whole page for one set of endpoint results. */
  function render(s, now, view) {
    var filter = view && view.filter;
    return h('div', null,
      summary(s, now),
      section('proxies', 'Connected proxies', ENDPOINTS.proxies, s.proxies, function (d) { return proxies(d, now, filter); }),
      section('discovery', 'Clusters', ENDPOINTS.discovery, s.discovery, function (d) { return discovery(d, now); }),
      section('config', 'Configuration', ENDPOINTS.config, s.config, function (d) { return config(d, now); }),
      section('translation', 'Translation', ENDPOINTS.translation, s.translation, translation),
      section('policies', 'Policies', ENDPOINTS.policies, s.policies, policies),
      section('certs', 'Certificates', ENDPOINTS.certs, s.certs, function (d) { return certs(d, now); }));
  }

  // ---- loading ----

  function errorText(text) {
    try { var j = JSON.parse(text); if (j && typeof j.error === 'string') return j.error; } catch (e) { /* not JSON */ }
    return text.slice(0, 200);
  }

  function load(fetchFn, key) {
    var path = ENDPOINTS[key];
    var ctrl = typeof AbortController === 'function' ? new AbortController() : null;
    var timer = setTimeout(function () { if (ctrl) ctrl.abort(); }, TIMEOUT_MS);
    var init = { method: 'GET', credentials: 'same-origin', cache: 'no-store', redirect: 'error' };
    if (ctrl) init.signal = ctrl.signal;
    return fetchFn(path, init).then(function (res) {
      if (res.status === 404) return { status: 'missing' };
      return res.text().then(function (text) {
        if (key === 'ready') return { status: 'ok', data: { ok: res.status === 200, code: res.status, text: text.trim() } };
        if (res.status !== 200) return { status: 'error', message: 'HTTP ' + res.status + ': ' + errorText(text) };
        try { return { status: 'ok', data: JSON.parse(text) }; } catch (e) { return { status: 'error', message: 'the answer is not JSON' }; }
      });
    }).catch(function (e) {
      return { status: 'error', network: true, message: e && e.name === 'AbortError' ? 'no answer within ' + TIMEOUT_MS + ' ms' : str(e && e.message || e) };
    }).then(function (r) { clearTimeout(timer); return r; });
  }

  /** Reads every endpoint through fetchFn (called as fetch is); resolves to { key: result } and never rejects. */
  function loadAll(fetchFn) {
    var keys = Object.keys(ENDPOINTS);
    return Promise.all(keys.map(function (k) { return load(fetchFn, k); })).then(function (results) {
      var s = {};
      keys.forEach(function (k, i) { s[k] = results[i]; });
      return s;
    });
  }

  /** Keeps the last data when the server cannot be reached at all, and says so. */
  function merge(prev, next, now) {
    var keys = Object.keys(ENDPOINTS);
    var down = keys.every(function (k) { return next[k].status === 'error' && next[k].network; });
    if (down && prev && prev.at) {
      var kept = {};
      keys.forEach(function (k) { kept[k] = prev[k]; });
      kept.at = prev.at;
      kept.unreachable = { message: next.ready.message, since: (prev.unreachable && prev.unreachable.since) || now };
      return kept;
    }
    next.at = now;
    return next;
  }

  // ---- the browser loop ----

  function start(doc, win) {
    var root = doc.getElementById('app');
    var pause = doc.getElementById('pause');
    var filter = doc.getElementById('filter');
    var state = null, paused = false, timer = null;
    function selecting() {
      var sel = win.getSelection && win.getSelection();
      return !!(sel && !sel.isCollapsed && root.contains(sel.anchorNode));
    }
    function draw() {
      // Redrawing would drop a text selection someone is about to copy.
      if (state && !selecting()) root.replaceChildren(mount(doc, render(state, Date.now(), { filter: filter.value })));
    }
    function tick() {
      clearTimeout(timer);
      if (paused || doc.hidden) { timer = setTimeout(tick, REFRESH_MS); return; }
      loadAll(win.fetch.bind(win)).then(function (next) {
        state = merge(state, next, Date.now());
        draw();
      }).catch(function (e) {
        // A rendering bug must not stop the refresh loop; say what broke.
        root.replaceChildren(mount(doc, h('p', { 'class': 'bad' }, 'The dashboard failed to render: ' + str(e && e.message || e))));
      }).then(function () { timer = setTimeout(tick, REFRESH_MS); });
    }
    pause.addEventListener('click', function () {
      paused = !paused;
      pause.textContent = paused ? 'Resume' : 'Pause';
      pause.setAttribute('aria-pressed', paused ? 'true' : 'false');
      if (!paused) tick();
    });
    filter.addEventListener('input', draw);
    tick();
  }

  return { ENDPOINTS: ENDPOINTS, REFRESH_MS: REFRESH_MS, MAX_ROWS: MAX_ROWS, h: h, mount: mount, render: render, problems: problems, loadAll: loadAll, merge: merge, start: start };
})();
if (typeof document !== 'undefined' && typeof window !== 'undefined' && document.getElementById('app')) CrossmeshDashboard.start(document, window);
`;

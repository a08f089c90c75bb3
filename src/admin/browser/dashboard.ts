/**
 * The dashboard's browser script, served as `/dashboard.js` (an ES module; `/topology.js` and
 * `/dom.js` beside it). Compiled by `tsc -p tsconfig.browser.json` with the DOM library, so the
 * page is type-checked like the server.
 *
 * Safety rules the tests check: data only ever becomes DOM text or an allow-listed attribute (see
 * dom.ts); no HTML parsing sinks; every request is a GET of a same-origin path listed in ENDPOINTS.
 *
 * Layout: pure pieces (`render`, `loadAll` with an injected fetch, `mount` with an injected
 * document) so tests can drive them without a browser; `start` runs only where a real `document`
 * with `#app` exists.
 */
import { h, mount, type ChildArg, type DocumentLike, type VNode } from './dom.js';
import { currentNack, DEFAULT_HIDDEN, topologySection, XDS_TYPES, type ProxyState } from './topology.js';
import type {
  CertsView, ConfigView, DiscoveryView, KubernetesSourceView, PoliciesView, ProxiesView, ProxyView, ReadyView, RejectedView, Topology, TranslationView, TypeView,
} from './types.js';

export { h, mount } from './dom.js';

export const REFRESH_MS = 3000;
const TIMEOUT_MS = 2500;
/** Every URL this page requests: same-origin admin paths, nothing else. */
export const ENDPOINTS = {
  ready: '/readyz',
  proxies: '/debug/proxies',
  topology: '/debug/topology',
  discovery: '/debug/discovery',
  config: '/debug/config',
  translation: '/debug/translation',
  policies: '/debug/policies',
  certs: '/debug/certs',
} as const;
export type EndpointKey = keyof typeof ENDPOINTS;
// Rows beyond this are left to the JSON endpoint, so a large fleet does not stall the tab.
export const MAX_ROWS = 300;
const MAX_LISTED = 5;
const MAX_ATTENTION = 15;

/** What one endpoint answered. */
export type Result<T> = { status: 'ok'; data: T } | { status: 'missing' } | { status: 'error'; message: string; network?: boolean };

/** Every endpoint's last answer, when it was read, and whether the server went away. */
export interface State {
  ready?: Result<ReadyView>;
  proxies?: Result<ProxiesView>;
  topology?: Result<Topology>;
  discovery?: Result<DiscoveryView>;
  config?: Result<ConfigView>;
  translation?: Result<TranslationView>;
  policies?: Result<PoliciesView>;
  certs?: Result<CertsView>;
  at?: number;
  unreachable?: { message: string; since: number };
}

/** What the reader chose: the proxy filter, the selected topology node, edge kinds hidden. */
export interface ViewOptions {
  filter?: string;
  selected?: string | null;
  hidden?: ReadonlySet<string>;
}

/** The `fetch` the loader calls (the window's, or a test's). */
export type FetchFn = (path: string, init: RequestInit) => Promise<Response>;

// ---- small helpers ----

function arr<T>(x: readonly T[] | null | undefined): readonly T[] {
  return Array.isArray(x) ? x : [];
}
function str(x: unknown): string {
  return x === null || x === undefined ? '' : String(x);
}
function short(v: unknown): string {
  return v ? String(v).slice(0, 8) : '';
}
function plural(n: number, word: string): string {
  return `${n} ${word}${n === 1 ? '' : 's'}`;
}
function ok<T>(r: Result<T> | undefined): r is { status: 'ok'; data: T } {
  return !!r && r.status === 'ok';
}
function errorMessage(e: unknown): string {
  return str(e instanceof Error ? e.message : e);
}

function age(iso: string | undefined, now: number): string {
  const t = Date.parse(str(iso));
  if (isNaN(t)) return str(iso);
  let s = Math.round((now - t) / 1000);
  const future = s < 0;
  s = Math.abs(s);
  const text = s < 90 ? `${s}s` : s < 5400 ? `${Math.round(s / 60)}m` : s < 172800 ? `${Math.round(s / 3600)}h` : `${Math.round(s / 86400)}d`;
  return future ? `in ${text}` : `${text} ago`;
}

function when(iso: string | undefined, now: number): VNode {
  return iso ? h('span', { title: iso }, age(iso, now)) : h('span', { class: 'muted' }, '-');
}

function badge(kind: string, text: string, title?: string): VNode {
  return h('span', { class: `badge ${kind}`, title }, text);
}

function table(headers: readonly string[], rows: readonly VNode[], empty: string): VNode {
  if (rows.length === 0) return h('p', { class: 'muted' }, empty);
  return h('div', { class: 'scroll' }, h('table', null, h('thead', null, h('tr', null, headers.map((x) => h('th', null, x)))), h('tbody', null, rows)));
}

function lines(items: readonly ChildArg[], cls?: string): VNode {
  return h('ul', { class: `lines ${cls ?? ''}` }, items.map((x) => h('li', null, x)));
}

function fewLines(items: readonly string[], cls?: string): VNode {
  const shown: string[] = items.slice(0, MAX_LISTED);
  if (items.length > shown.length) shown.push(`and ${items.length - shown.length} more`);
  return lines(shown, cls);
}

/** One card per endpoint; a missing endpoint (404) or an unreadable one never breaks the page. */
function section<T>(id: string, title: string, path: string, result: Result<T> | undefined, body: (d: T) => ChildArg): VNode {
  let content: ChildArg;
  if (!result) content = h('p', { class: 'muted' }, 'loading...');
  else if (result.status === 'missing') content = h('p', { class: 'muted' }, `Not served by this control plane (${path} answered 404).`);
  else if (result.status === 'error') content = h('p', { class: 'bad' }, `Cannot read ${path}: ${result.message}`);
  else {
    try {
      content = body(result.data);
    } catch (e) {
      content = h('p', { class: 'bad' }, `Cannot show ${path}: ${errorMessage(e)}`);
    }
  }
  return h('section', { id }, h('h2', null, title, ' ', h('a', { href: path, class: 'raw', title: 'raw JSON' }, path)), content);
}

// ---- what needs attention, from every endpoint ----

interface DiscoveryRow {
  cluster: string;
  source: string;
  state: string;
  k?: KubernetesSourceView;
}

function discoveryRows(d: DiscoveryView): DiscoveryRow[] {
  const rows: DiscoveryRow[] = arr(d.staticClusters).map((c) => ({ cluster: c, source: 'config file', state: 'static' }));
  for (const k of arr(d.kubernetes)) {
    const state = k.connected === undefined ? 'error' : k.stale ? 'stale' : k.connected ? 'connected' : 'disconnected';
    rows.push({ cluster: str(k.cluster), source: 'kubernetes', state, k });
  }
  return rows;
}

/** Everything that needs a reader's attention, one line each. */
export function problems(s: State, now: number): VNode[] {
  const out: VNode[] = [];
  const add = (where: string, text: string): void => {
    out.push(h('li', null, h('span', { class: 'where' }, where), ' ', text));
  };
  const ready = s.ready;
  if (ok(ready) && !ready.data.ok) add('readiness', ready.data.text || 'not ready');
  if (ok(s.proxies)) {
    for (const p of arr(s.proxies.data.proxies)) {
      if (p.resolverError) add(`proxy ${str(p.nodeId)}`, `gets no configuration: ${str(p.resolverError)}`);
      if (p.blocked) add(`proxy ${str(p.nodeId)}`, 'is not reading; pushes are held back');
      for (const t of XDS_TYPES) {
        const n = currentNack(p.types?.[t]);
        if (n) add(`proxy ${str(p.nodeId)}`, `rejects ${t.toUpperCase()} ${short(n.version)}: ${str(n.error)}`);
      }
    }
    const refused = arr(s.proxies.data.refused);
    const first = refused[0];
    if (first) add('xDS', `${plural(refused.length, 'refused stream')} recorded, latest ${age(first.at, now)}: ${str(first.nodeId)} ${str(first.reason)}`);
  }
  if (ok(s.config)) {
    const a = s.config.data.lastAttempt;
    if (a && !a.ok) add('configuration', `last reload ${age(a.at, now)} was rejected (${plural(arr(a.errors).length, 'error')}); the last good configuration keeps serving`);
  }
  if (ok(s.discovery)) {
    for (const r of discoveryRows(s.discovery.data)) {
      const k = r.k ?? {};
      if (r.state === 'stale') add(`cluster ${r.cluster}`, `API server unreachable; serving last-known endpoints${k.lastError ? `: ${str(k.lastError)}` : ''}`);
      else if (r.state === 'error' || r.state === 'disconnected') add(`cluster ${r.cluster}`, `discovery ${r.state}${k.lastError || k.error ? `: ${str(k.lastError || k.error)}` : ''}`);
    }
  }
  if (ok(s.translation)) {
    for (const g of arr(s.translation.data.groups)) {
      for (const r of arr(g.rejected)) add('guard', `${str(r.kind)} ${str(r.name)} not pushed: ${arr(r.errors).join('; ')}`);
    }
  }
  if (ok(s.policies)) {
    for (const p of arr(s.policies.data.policies)) for (const x of arr(p.problems)) add(`${str(p.kind)} ${str(p.policy)}`, x);
    const c = arr(s.policies.data.conflicts).length;
    if (c) add('policies', `${plural(c, 'conflict')} between TrafficPolicies`);
  }
  if (ok(s.certs)) {
    for (const c of arr(s.certs.data.issued)) {
      if (Date.parse(str(c.notAfter)) < now) add(`certificate ${str(c.identity)}`, `expired ${age(c.notAfter, now)}`);
      else if (Date.parse(str(c.rotateAt)) < now) add(`certificate ${str(c.identity)}`, `past its rotation time (${age(c.rotateAt, now)})`);
    }
  }
  return out;
}

// ---- sections ----

function summary(s: State, now: number): VNode {
  const ready = s.ready;
  const readyBadge = !ready
    ? badge('muted', 'loading')
    : ready.status !== 'ok'
      ? badge('bad', 'readiness unknown', ready.status === 'error' ? ready.message : '404')
      : ready.data.ok
        ? badge('ok', 'ready')
        : badge('bad', 'not ready', ready.data.text);
  const parts: ChildArg[] = [readyBadge];
  if (ok(s.proxies)) parts.push(h('span', null, `${plural(arr(s.proxies.data.proxies).length, 'stream')} connected`));
  if (ok(s.translation)) parts.push(h('span', null, 'snapshot ', h('code', null, short(s.translation.data.snapshotVersion))));
  if (ok(s.config) && s.config.data.lastGood) parts.push(h('span', null, 'config ', h('code', null, short(s.config.data.lastGood.version))));
  if (s.unreachable) parts.push(badge('bad', 'admin server unreachable', s.unreachable.message));
  parts.push(h('span', { class: 'muted' }, s.at ? `updated ${new Date(s.at).toLocaleTimeString()}${s.unreachable ? ' (showing the last data read)' : ''}` : ''));
  const issues = problems(s, now);
  return h(
    'section',
    { id: 'summary' },
    h('div', { class: 'bar' }, parts),
    issues.length
      ? h(
          'div',
          { class: 'attention' },
          h('h2', null, `Needs attention (${issues.length})`),
          h('ul', { class: 'lines' }, issues.slice(0, MAX_ATTENTION), issues.length > MAX_ATTENTION ? h('li', null, `and ${issues.length - MAX_ATTENTION} more below`) : null),
        )
      : h('p', { class: 'ok-text' }, 'Nothing needs attention.'),
  );
}

function typeCell(st: TypeView | undefined): VNode {
  if (!st) return h('td', { class: 'muted' }, '-');
  if (!st.lastSentVersion) return h('td', { class: 'muted', title: 'requested; nothing sent yet' }, 'waiting');
  const res = plural(st.resources ?? 0, 'resource');
  if (st.ackedVersion === st.lastSentVersion) return h('td', { class: 'v ok', title: `ACKed ${st.ackedVersion}, ${res}` }, short(st.ackedVersion));
  const nack = currentNack(st);
  return h(
    'td',
    { class: `v ${nack ? 'bad' : 'warn'}`, title: `ACKed ${st.ackedVersion || 'nothing'}; sent ${st.lastSentVersion}, ${res}` },
    st.ackedVersion ? short(st.ackedVersion) : 'none',
    h('br'),
    h('small', null, `${nack ? 'NACK ' : 'sent '}${short(st.lastSentVersion)}`),
  );
}

function lastNack(p: ProxyView): { t: string; at: string; error: string } | null {
  let best: { t: string; at: string; error: string } | null = null;
  for (const t of XDS_TYPES) {
    const n = p.types?.[t]?.lastNack;
    if (n && (!best || str(n.at) > best.at)) best = { t, at: str(n.at), error: str(n.error) };
  }
  return best;
}

function troubled(p: ProxyView): boolean {
  return !!(p.resolverError || p.blocked || XDS_TYPES.some((t) => currentNack(p.types?.[t])));
}

function proxies(d: ProxiesView, now: number, filter: string | undefined): VNode {
  const all = arr(d.proxies);
  const needle = str(filter).trim().toLowerCase();
  const matching = all.filter((p) => !needle || str(p.nodeId).toLowerCase().includes(needle));
  // Proxies in trouble first; otherwise the server's order (by node id).
  const sorted = matching.filter(troubled).concat(matching.filter((p) => !troubled(p)));
  const shown = sorted.slice(0, MAX_ROWS);
  const rows = shown.map((p) => {
    const ln = lastNack(p);
    const note = p.resolverError
      ? h('div', { class: 'bad' }, `resolver: ${str(p.resolverError)}`)
      : ln
        ? h('div', { class: currentNack(p.types?.[ln.t]) ? 'bad' : 'muted' }, `${ln.t.toUpperCase()} ${age(ln.at, now)}: ${ln.error}`)
        : h('span', { class: 'muted' }, '-');
    return h(
      'tr',
      { class: p.resolverError ? 'row-bad' : '' },
      h(
        'td',
        null,
        h('a', { class: 'node', href: `/debug/config_dump?node=${encodeURIComponent(str(p.nodeId))}`, title: 'config dump' }, str(p.nodeId)),
        p.identity && p.identity !== 'none' ? h('div', { class: 'muted small' }, str(p.identity)) : null,
      ),
      h('td', null, str(p.role), p.blocked ? [' ', badge('warn', 'blocked')] : null),
      h('td', { title: `peer ${str(p.peer)}, ${str(p.userAgent)}` }, `${str(p.mode)}/${str(p.service)}`),
      h('td', null, when(p.connectedAt, now)),
      XDS_TYPES.map((t) => typeCell(p.types?.[t])),
      h('td', { class: 'err' }, note),
    );
  });
  const summaryNote =
    needle || shown.length < all.length
      ? h(
          'p',
          { class: 'warn small' },
          `Showing ${shown.length} of ${plural(all.length, 'stream')}${needle ? ` matching "${str(filter).trim()}"` : ''}${shown.length < matching.length ? `; proxies with problems first, the rest at ${ENDPOINTS.proxies}` : ''}.`,
        )
      : null;
  return h(
    'div',
    null,
    summaryNote,
    table(['Node', 'Role', 'Stream', 'Connected', ...XDS_TYPES.map((t) => t.toUpperCase()), 'Last NACK / error'], rows, needle && all.length ? 'No connected proxy matches the filter.' : 'No proxies connected.'),
    h('p', { class: 'muted small' }, 'Per type: the ACKed version; below it the version sent and not yet ACKed ("sent") or rejected ("NACK"). Hover for full versions.'),
    h('h3', null, 'Refused streams'),
    table(
      ['When', 'Node', 'Role', 'Peer', 'Code', 'Reason'],
      arr(d.refused).map((r) =>
        h('tr', null, h('td', null, when(r.at, now)), h('td', { class: 'node' }, str(r.nodeId)), h('td', null, str(r.role)), h('td', null, str(r.peer)), h('td', null, str(r.code)), h('td', { class: 'err' }, str(r.reason))),
      ),
      'No stream has been refused.',
    ),
  );
}

function discovery(d: DiscoveryView, now: number): VNode {
  const kinds: Record<string, string> = { connected: 'ok', static: 'ok', stale: 'bad', disconnected: 'warn', error: 'bad' };
  return table(
    ['Cluster', 'Source', 'State', 'Last sync', 'Objects', 'Last error'],
    discoveryRows(d).map((r) => {
      const k = r.k ?? {};
      const counts = k.counts ? `${str(k.counts.services)} services, ${str(k.counts.pods)} pods, ${str(k.counts.endpointSlices)} slices` : '';
      return h(
        'tr',
        null,
        h('td', null, r.cluster),
        h('td', { title: k.server ? `${str(k.server)} (${str(k.context)})` : null }, r.source),
        h('td', null, badge(kinds[r.state] ?? 'warn', r.state)),
        h('td', null, k.lastSyncAt ? when(k.lastSyncAt, now) : '-'),
        h('td', null, counts),
        h('td', { class: 'err' }, str(k.lastError || k.error)),
      );
    }),
    'No clusters configured.',
  );
}

function config(d: ConfigView, now: number): VNode {
  const g = d.lastGood;
  const a = d.lastAttempt;
  const r = d.reloads ?? {};
  return h(
    'div',
    null,
    h(
      'dl',
      null,
      h('dt', null, 'In force'),
      h(
        'dd',
        null,
        g
          ? ['version ', h('code', null, short(g.version)), ', loaded ', when(g.loadedAt, now), ', ', plural(arr(g.files).length, 'file'), ' from ', arr(d.paths).join(', ')]
          : h('span', { class: 'bad' }, 'no valid configuration has been loaded'),
      ),
      h('dt', null, 'Last reload'),
      h('dd', null, a ? [a.ok ? badge('ok', 'applied') : badge('bad', 'rejected'), ' ', when(a.at, now)] : '-'),
      h('dt', null, 'Reloads'),
      h('dd', null, `${str(r.applied || 0)} applied, ${str(r.unchanged || 0)} unchanged, ${str(r.invalid || 0)} rejected`),
    ),
    a && arr(a.errors).length ? [h('h3', null, 'Errors of the last reload'), lines(arr(a.errors).map(str), 'bad mono')] : null,
    a && arr(a.warnings).length ? [h('h3', null, 'Warnings'), lines(arr(a.warnings).map(str), 'warn mono')] : null,
    g ? [h('h3', null, 'Files in force'), lines(arr(g.files).map(str), 'mono small')] : null,
  );
}

function translation(d: TranslationView): VNode {
  const groups = arr(d.groups);
  const rejected: { key: string; r: RejectedView }[] = [];
  for (const g of groups) for (const r of arr(g.rejected)) rejected.push({ key: str(g.key), r });
  const nodes = new Set(groups.flatMap((g) => arr(g.nodes)));
  return h(
    'div',
    null,
    h('p', null, `${plural(groups.length, 'resource group')} serving ${plural(nodes.size, 'node')}, snapshot `, h('code', null, short(d.snapshotVersion))),
    h('h3', null, 'Resources refused by the guard (not pushed)'),
    table(
      ['Kind', 'Resource', 'Errors', 'Group'],
      rejected.map((x) =>
        h('tr', null, h('td', null, str(x.r.kind)), h('td', { class: 'mono' }, str(x.r.name)), h('td', { class: 'err' }, lines(arr(x.r.errors).map(str))), h('td', { class: 'mono small' }, x.key)),
      ),
      'None: every computed resource passed validation.',
    ),
    h('h3', null, 'Nodes the resolver refused'),
    table(['Node', 'Error'], arr(d.unresolved).map((u) => h('tr', null, h('td', { class: 'node' }, str(u.node)), h('td', { class: 'err' }, str(u.error)))), 'None.'),
  );
}

function policies(d: PoliciesView): VNode {
  const rows = arr(d.policies).map((p) => {
    const probs = arr(p.problems);
    return h(
      'tr',
      null,
      h('td', null, str(p.kind)),
      h('td', { class: 'mono' }, str(p.policy)),
      h('td', { title: arr(p.selects).join('\n') }, plural(arr(p.selects).length, 'service')),
      h('td', { title: arr(p.resources).join('\n') }, plural(arr(p.resources).length, 'resource')),
      h('td', { title: arr(p.groups).join('\n') }, arr(p.proxies).length ? fewLines(arr(p.proxies).map(str), 'mono small') : h('span', { class: 'muted' }, 'none connected')),
      h('td', { class: probs.length ? 'err' : 'muted' }, probs.length ? lines(probs.map(str)) : '-'),
    );
  });
  const conflicts = arr(d.conflicts).map((c) =>
    h(
      'tr',
      null,
      h('td', { class: 'mono' }, str(c.destination)),
      h('td', null, str(c.field)),
      h('td', { class: 'mono' }, str(c.winner)),
      h('td', { class: 'mono' }, arr(c.losers).join(', ')),
      h('td', null, arr(c.clusters).join(', ')),
      h('td', { class: 'small' }, str(c.matchers)),
    ),
  );
  return h(
    'div',
    null,
    table(['Kind', 'Policy', 'Selects', 'Shapes', 'Proxies affected', 'Problems'], rows, 'No TrafficPolicy or AccessPolicy configured.'),
    h('h3', null, 'Conflicts'),
    table(['Destination', 'Field', 'Winner', 'Overridden', 'Clusters', 'Matchers'], conflicts, 'None.'),
    d.conflictRule ? h('p', { class: 'muted small' }, `Rule: ${str(d.conflictRule)}.`) : null,
  );
}

function certs(d: CertsView, now: number): VNode {
  const expiry = (iso: string | undefined, warnAt?: string): VNode => {
    const t = Date.parse(str(iso));
    return h('span', { class: t < now ? 'bad' : warnAt && Date.parse(warnAt) < now ? 'warn' : '', title: iso }, age(iso, now));
  };
  const server = d.xdsServer;
  return h(
    'div',
    null,
    table(
      ['Identity', 'Cluster', 'Serial', 'Expires', 'Rotates', 'Key'],
      arr(d.issued).map((c) =>
        h(
          'tr',
          null,
          h('td', { class: 'mono' }, str(c.identity)),
          h('td', null, str(c.cluster)),
          h('td', { class: 'mono small', title: str(c.serial) }, short(c.serial)),
          h('td', null, expiry(c.notAfter, c.rotateAt)),
          h('td', null, when(c.rotateAt, now)),
          h('td', null, str(c.keyAlgorithm)),
        ),
      ),
      'No workload certificate issued yet.',
    ),
    h('h3', null, 'Trust'),
    table(
      ['What', 'Name', 'Id', 'Status', 'Expires'],
      [
        ...arr(d.trustBundle).map((r) => h('tr', null, h('td', null, 'root'), h('td', null, str(r.subject)), h('td', { class: 'mono small' }, str(r.id)), h('td', null, str(r.status)), h('td', null, expiry(r.notAfter)))),
        ...arr(d.intermediates).map((i) =>
          h('tr', null, h('td', null, 'intermediate'), h('td', null, `${str(i.cluster)} (${str(i.trustDomain)})`), h('td', { class: 'mono small' }, str(i.id)), h('td', null, ''), h('td', null, expiry(i.notAfter))),
        ),
        ...(server
          ? [
              h(
                'tr',
                null,
                h('td', null, 'xDS server'),
                h('td', null, [...arr(server.dnsNames), ...arr(server.ipAddresses)].join(', ')),
                h('td', { class: 'mono small' }, short(server.serial)),
                h('td', null, ''),
                h('td', null, expiry(server.notAfter)),
              ),
            ]
          : []),
        ...arr(d.tokenKeys).map((k) =>
          h('tr', null, h('td', null, 'token key'), h('td', null, ''), h('td', { class: 'mono small' }, str(k.kid)), h('td', null, str(k.status)), h('td', null, k.retireAt ? when(k.retireAt, now) : '-')),
        ),
      ],
      'No roots loaded.',
    ),
    h('p', { class: 'muted small' }, 'Private keys are never shown.'),
  );
}

/** The whole page for one set of endpoint results. */
export function render(s: State, now: number, view: ViewOptions = {}): VNode {
  const proxyState: ProxyState = { proxies: ok(s.proxies) ? arr(s.proxies.data.proxies) : null, policies: ok(s.policies) ? arr(s.policies.data.policies) : [] };
  return h(
    'div',
    null,
    summary(s, now),
    section('topology', 'Topology', ENDPOINTS.topology, s.topology, (d) => topologySection(d, proxyState, { selected: view.selected ?? null, hidden: view.hidden ?? DEFAULT_HIDDEN })),
    section('proxies', 'Connected proxies', ENDPOINTS.proxies, s.proxies, (d) => proxies(d, now, view.filter)),
    section('discovery', 'Clusters', ENDPOINTS.discovery, s.discovery, (d) => discovery(d, now)),
    section('config', 'Configuration', ENDPOINTS.config, s.config, (d) => config(d, now)),
    section('translation', 'Translation', ENDPOINTS.translation, s.translation, translation),
    section('policies', 'Policies', ENDPOINTS.policies, s.policies, policies),
    section('certs', 'Certificates', ENDPOINTS.certs, s.certs, (d) => certs(d, now)),
  );
}

// ---- loading ----

function errorText(text: string): string {
  try {
    const j: unknown = JSON.parse(text);
    if (j && typeof j === 'object' && typeof (j as { error?: unknown }).error === 'string') return (j as { error: string }).error;
  } catch {
    // not JSON: show the start of the text
  }
  return text.slice(0, 200);
}

type AnyResult = Result<unknown>;

function load(fetchFn: FetchFn, key: EndpointKey): Promise<AnyResult> {
  const path = ENDPOINTS[key];
  const ctrl = new AbortController();
  const timer = setTimeout(() => ctrl.abort(), TIMEOUT_MS);
  const init: RequestInit = { method: 'GET', credentials: 'same-origin', cache: 'no-store', redirect: 'error', signal: ctrl.signal };
  return fetchFn(path, init)
    .then((res): AnyResult | Promise<AnyResult> => {
      if (res.status === 404) return { status: 'missing' };
      return res.text().then((text): AnyResult => {
        if (key === 'ready') return { status: 'ok', data: { ok: res.status === 200, code: res.status, text: text.trim() } };
        if (res.status !== 200) return { status: 'error', message: `HTTP ${res.status}: ${errorText(text)}` };
        try {
          return { status: 'ok', data: JSON.parse(text) as unknown };
        } catch {
          return { status: 'error', message: 'the answer is not JSON' };
        }
      });
    })
    .catch((e: unknown): AnyResult => ({
      status: 'error',
      network: true,
      message: e instanceof Error && e.name === 'AbortError' ? `no answer within ${TIMEOUT_MS} ms` : errorMessage(e),
    }))
    .then((r) => {
      clearTimeout(timer);
      return r;
    });
}

const KEYS = Object.keys(ENDPOINTS) as EndpointKey[];

/** Reads every endpoint through fetchFn (called as fetch is); resolves to { key: result } and never rejects. */
export async function loadAll(fetchFn: FetchFn): Promise<State> {
  const results = await Promise.all(KEYS.map((k) => load(fetchFn, k)));
  const s: Record<string, AnyResult> = {};
  KEYS.forEach((k, i) => {
    s[k] = results[i]!;
  });
  // Each key holds what its endpoint answered; the shapes are read defensively by the renderers.
  return s as State;
}

/** Keeps the last data when the server cannot be reached at all, and says so. */
export function merge(prev: State | null, next: State, now: number): State {
  const down = KEYS.every((k) => {
    const r = next[k];
    return r?.status === 'error' && r.network === true;
  });
  if (down && prev && prev.at) {
    const ready = next.ready;
    return { ...prev, unreachable: { message: ready?.status === 'error' ? ready.message : '', since: prev.unreachable?.since ?? now } };
  }
  return { ...next, at: now };
}

// ---- the browser loop ----

/** The parts of `window` the loop uses (tests pass their own timers and fetch). */
export interface WindowLike {
  fetch: FetchFn;
  getSelection(): { isCollapsed: boolean; anchorNode: unknown } | null;
  setTimeout(fn: () => void, ms: number): unknown;
  clearTimeout(id: unknown): void;
}

/** The document as the loop uses it: the page shell's elements, and what `mount` creates nodes with. */
export interface PageLike extends DocumentLike {
  hidden: boolean;
  getElementById(id: string): unknown;
}

interface RootLike {
  replaceChildren(...nodes: unknown[]): void;
  contains(n: unknown): boolean;
  addEventListener(type: string, f: (e: { target: unknown; key?: string; preventDefault?: () => void }) => void): void;
}
interface ButtonLike {
  textContent: string | null;
  setAttribute(k: string, v: string): void;
  addEventListener(type: string, f: () => void): void;
}
interface InputLike {
  value: string;
  addEventListener(type: string, f: () => void): void;
}
interface TargetLike {
  closest?(selector: string): { getAttribute(name: string): string | null } | null;
}

/** The attribute value of the nearest element matching `selector` around an event target. */
function around(target: unknown, selector: string, attr: string): string | null {
  const t = target as TargetLike | null;
  const el = t && typeof t.closest === 'function' ? t.closest(selector) : null;
  return el ? el.getAttribute(attr) : null;
}

/** Runs the page: polls every endpoint, redraws, and follows the reader's clicks. */
export function start(doc: PageLike, win: WindowLike): void {
  const root = doc.getElementById('app') as RootLike;
  const pause = doc.getElementById('pause') as ButtonLike;
  const filter = doc.getElementById('filter') as InputLike;
  let state: State | null = null;
  let paused = false;
  let timer: unknown = null;
  let selected: string | null = null;
  const hidden = new Set<string>(DEFAULT_HIDDEN);
  const selecting = (): boolean => {
    const sel = win.getSelection();
    return !!(sel && !sel.isCollapsed && root.contains(sel.anchorNode));
  };
  const draw = (force = false): void => {
    // Redrawing would drop a text selection someone is about to copy (unless they just clicked).
    if (state && (force || !selecting())) root.replaceChildren(mount<unknown>(doc, render(state, Date.now(), { filter: filter.value, selected, hidden })));
  };
  const tick = (): void => {
    win.clearTimeout(timer);
    if (paused || doc.hidden) {
      timer = win.setTimeout(tick, REFRESH_MS);
      return;
    }
    loadAll(win.fetch.bind(win))
      .then((next) => {
        state = merge(state, next, Date.now());
        draw();
      })
      .catch((e: unknown) => {
        // A rendering bug must not stop the refresh loop; say what broke.
        root.replaceChildren(mount<unknown>(doc, h('p', { class: 'bad' }, `The dashboard failed to render: ${errorMessage(e)}`)));
      })
      .then(() => {
        timer = win.setTimeout(tick, REFRESH_MS);
      });
  };
  const choose = (target: unknown): boolean => {
    const node = around(target, '[data-node]', 'data-node');
    if (node === null) return false;
    // The panel's close button carries an empty node id; a second click on a node deselects it.
    selected = node === '' || node === selected ? null : node;
    return true;
  };
  // One listener on the root: the tree is replaced on every redraw, handlers on nodes would be lost.
  root.addEventListener('click', (e) => {
    if (choose(e.target)) draw(true);
  });
  root.addEventListener('keydown', (e) => {
    if ((e.key === 'Enter' || e.key === ' ') && choose(e.target)) {
      e.preventDefault?.();
      draw(true);
    }
  });
  root.addEventListener('change', (e) => {
    const kind = around(e.target, '[data-edge-kind]', 'data-edge-kind');
    if (kind === null) return;
    if (hidden.has(kind)) hidden.delete(kind);
    else hidden.add(kind);
    draw(true);
  });
  pause.addEventListener('click', () => {
    paused = !paused;
    pause.textContent = paused ? 'Resume' : 'Pause';
    pause.setAttribute('aria-pressed', paused ? 'true' : 'false');
    if (!paused) tick();
  });
  filter.addEventListener('input', () => draw());
  tick();
}

if (typeof document !== 'undefined' && typeof window !== 'undefined' && document.getElementById('app')) {
  start(document as unknown as PageLike, window as unknown as WindowLike);
}

/**
 * The web dashboard at `/`: served by a real control plane (mesh loader on the default mesh, xDS
 * security in development mode) with real test proxies connected. The page's script is taken from
 * the HTTP answer and checked to be the compiled module (dist/browser, built from
 * src/admin/browser/) that the test then imports; its loader reads the real endpoints and its render
 * functions run against that data, then mount into a minimal DOM. A headless Chromium run checks the
 * page in a browser when /usr/bin/chromium exists (CI machines usually lack it; the other tests
 * cover the feature without it).
 */
import { execFile } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import * as grpc from '@grpc/grpc-js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CertificateAuthority } from '../../src/ca/index.js';
import { meshLoader } from '../../src/cli/mesh-loader.js';
import { startControlPlane, type ControlPlane } from '../../src/cli/serve.js';
import { startXdsSecurity } from '../../src/xds/auth/security.js';
import { issueToken } from '../../src/xds/auth/tokens.js';
import { SnapshotCache } from '../../src/xds/cache.js';
import { CLUSTER_TYPE, ENDPOINT_TYPE } from '../../src/xds/types.js';
import { testNode, XdsTestClient, type SotwTestStream } from '../support/xds-client.js';
import { until } from '../auth/support.js';
import { dashboardScriptDir } from '../../src/admin/dashboard.js';
import type { ConfigStatus } from '../../src/config/watch.js';
import type { DiscoveryStatus } from '../../src/discovery/manager.js';
import type { PoliciesReport } from '../../src/translate/policy-status.js';
import type { PublisherStatus } from '../../src/xds/mesh-publisher.js';
import type { ProxyStatus, StreamRefusal, TypeStatus } from '../../src/xds/stream.js';

const NODE = 'cluster1/default/productpage-v1-0';
const REVIEWS = 'outbound|9080||reviews.default.svc.cluster.local';
// User-controlled strings carrying markup: they must show as text.
const EVIL_NODE = 'cluster1/default/<script>alert(3)</script>';
const EVIL_NACK = 'bad endpoint <img src=x onerror=alert(1)><script>alert(2)</script>';
const CHROMIUM = '/usr/bin/chromium';

interface VNode {
  tag: string;
  attrs: Record<string, unknown>;
  children: (VNode | string)[];
}
type Result = { status: 'ok'; data: unknown } | { status: 'missing' } | { status: 'error'; message: string; network?: boolean };
type EndpointKey = 'ready' | 'proxies' | 'topology' | 'discovery' | 'config' | 'translation' | 'policies' | 'certs';
type State = Partial<Record<EndpointKey, Result>> & { at?: number; unreachable?: { message: string } };
type FetchFn = (path: string, init: RequestInit) => Promise<Response>;
interface Dashboard {
  ENDPOINTS: Record<string, string>;
  mount(doc: FakeDocument, v: VNode | string): FakeElement | FakeText;
  MAX_ROWS: number;
  REFRESH_MS: number;
  start(doc: unknown, win: unknown): void;
  render(s: State, now: number, view?: { filter?: string; selected?: string | null }): VNode;
  loadAll(fetchFn: FetchFn): Promise<State>;
  merge(prev: State | null, next: State, now: number): State;
}

const SCRIPT_FILE = join(dashboardScriptDir(), 'dashboard.js');
// The one URL-looking string the modules may hold: the SVG namespace name, an identifier that is never fetched.
const SVG_NS = "'http://www.w3.org/2000/svg'";

/** The compiled module the admin server serves (`npm run build` makes it); without a document it does not start its loop. */
async function loadDashboard(): Promise<Dashboard> {
  return (await import(pathToFileURL(SCRIPT_FILE).href)) as Dashboard;
}

/** A fetch for the page's loader that resolves its paths against `base` and records them. */
function recordingFetch(base: string, calls: { path: string; method: string | undefined }[]): FetchFn {
  return (path, init) => {
    calls.push({ path, method: init.method });
    return fetch(base + path, init);
  };
}

/** The text a reader sees, whitespace collapsed. */
function textOf(v: VNode | string): string {
  const raw = (x: VNode | string): string => (typeof x === 'string' ? x : x.children.map(raw).join(' '));
  return raw(v).replace(/\s+/g, ' ');
}

/** One top-level section of the page (by id). */
function sectionOf(page: VNode, id: string): VNode {
  return page.children.find((c): c is VNode => typeof c !== 'string' && c.attrs.id === id)!;
}

// ---- a minimal DOM: enough for mount(), and a serializer that escapes like a browser ----
class FakeText {
  constructor(readonly data: string) {}
}
class FakeElement {
  readonly attributes = new Map<string, string>();
  readonly childNodes: (FakeElement | FakeText)[] = [];
  constructor(readonly tagName: string) {}
  setAttribute(name: string, value: string): void {
    this.attributes.set(name, value);
  }
  appendChild<T extends FakeElement | FakeText>(c: T): T {
    this.childNodes.push(c);
    return c;
  }
}
const fakeDocument = {
  createElement: (tag: string) => new FakeElement(tag),
  createElementNS: (_ns: string, tag: string) => new FakeElement(tag),
  createTextNode: (data: string) => new FakeText(data),
};
type FakeDocument = typeof fakeDocument;

const escapeText = (s: string): string => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
function serialize(n: FakeElement | FakeText): string {
  if (n instanceof FakeText) return escapeText(n.data);
  const attrs = [...n.attributes].map(([k, v]) => ` ${k}="${escapeText(v).replace(/"/g, '&quot;')}"`).join('');
  return `<${n.tagName}${attrs}>${n.childNodes.map(serialize).join('')}</${n.tagName}>`;
}
function elements(n: FakeElement | FakeText): FakeElement[] {
  return n instanceof FakeText ? [] : [n, ...n.childNodes.flatMap(elements)];
}

describe('dashboard on a control plane with the mesh loader', () => {
  let caDir: string;
  let ca: CertificateAuthority;
  let plane: ControlPlane;
  let client: XdsTestClient;
  const streams: SotwTestStream[] = [];
  let script: string;

  beforeAll(async () => {
    caDir = mkdtempSync(join(tmpdir(), 'crossmesh-dashboard-'));
    ca = await CertificateAuthority.open({ directory: caDir });
    const cache = new SnapshotCache({ debounceMs: 5 });
    const security = await startXdsSecurity({ ca, cache, insecure: true, tokenReviewer: false });
    plane = await startControlPlane({ cache, security, xdsPort: 0, adminPort: 0, loadMesh: meshLoader() });
    client = new XdsTestClient(plane.xdsAddress);

    // A sidecar with a token: gets CDS (ACKed), its certificate, and NACKs EDS with markup in the error.
    const { token } = await issueToken(security.keyring, { kind: 'node', nodeId: NODE }, 60_000);
    const md = new grpc.Metadata();
    md.set('authorization', `Bearer ${token}`);
    const s = client.sotw(undefined, md);
    streams.push(s);
    s.send({ typeUrl: CLUSTER_TYPE, node: testNode(NODE) });
    s.ack(await s.next());
    s.send({ typeUrl: ENDPOINT_TYPE, names: [REVIEWS] });
    const eds = await s.next();
    s.send({ typeUrl: ENDPOINT_TYPE, names: [REVIEWS], nonce: eds.nonce, version: '', error: EVIL_NACK });
    s.send({ typeUrl: 'type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.Secret', names: ['default'] });
    await s.next();
    // A node id with markup: the resolver refuses it.
    const evil = client.sotw();
    streams.push(evil);
    evil.send({ typeUrl: CLUSTER_TYPE, node: testNode(EVIL_NODE) });
    // A bad token: the stream is refused at authentication.
    const badMd = new grpc.Metadata();
    badMd.set('authorization', 'Bearer not-a-token');
    const bad = client.sotw(undefined, badMd);
    streams.push(bad);
    bad.send({ typeUrl: CLUSTER_TYPE, node: testNode('cluster2/default/reviews-v3-0') });

    await until(async () => {
      const d = (await (await fetch(`${plane.adminUrl}/debug/proxies`)).json()) as { proxies: { nodeId: string; resolverError: string | null; types: Record<string, { lastNack: unknown }> }[]; refused: unknown[] };
      return d.refused.length > 0 && d.proxies.some((p) => p.nodeId === EVIL_NODE && p.resolverError) && d.proxies.some((p) => p.nodeId === NODE && p.types.eds?.lastNack);
    }, 5000);
    script = await (await fetch(`${plane.adminUrl}/dashboard.js`)).text();
  });
  afterAll(async () => {
    for (const s of streams) s.close();
    client?.close();
    await plane?.close();
    ca?.close();
    if (caDir) rmSync(caDir, { recursive: true, force: true });
  });

  it('serves the page at / with a strict Content-Security-Policy and no inline code', async () => {
    const res = await fetch(`${plane.adminUrl}/`);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toBe('text/html; charset=utf-8');
    const csp = res.headers.get('content-security-policy') ?? '';
    expect(csp).toContain("default-src 'none'");
    expect(csp).toContain("script-src 'self'");
    expect(csp).toContain("connect-src 'self'");
    expect(csp).not.toMatch(/unsafe|\*|https?:|data:/);
    expect(res.headers.get('x-content-type-options')).toBe('nosniff');
    expect(script).toBe(readFileSync(SCRIPT_FILE, 'utf8'));
    const html = await res.text();
    // Every <script> loads a same-origin file and has no body; no inline handlers; nothing external.
    const scripts = [...html.matchAll(/<script\b([^>]*)>([\s\S]*?)<\/script>/g)];
    expect(scripts.map((m) => [m[1]!.trim(), m[2]])).toEqual([['type="module" src="/dashboard.js"', '']]);
    expect(html).not.toMatch(/\son[a-z]+\s*=/i);
    expect(html).not.toMatch(/https?:\/\/|\/\/[a-z]/i);
    expect(html).not.toMatch(/<form|style=/i);

    for (const [path, type] of [['/dashboard.js', 'text/javascript; charset=utf-8'], ['/topology.js', 'text/javascript; charset=utf-8'], ['/dom.js', 'text/javascript; charset=utf-8'], ['/dashboard.css', 'text/css; charset=utf-8']] as const) {
      const r = await fetch(plane.adminUrl + path);
      expect(r.status).toBe(200);
      expect(r.headers.get('content-type')).toBe(type);
      expect(r.headers.get('content-security-policy')).toBe(csp);
      expect((await r.text()).replace(SVG_NS, '')).not.toMatch(/https?:\/\/|@import|url\(/);
    }
    // Read-only: the page cannot be posted to.
    expect((await fetch(`${plane.adminUrl}/`, { method: 'POST', body: 'x' })).status).toBe(405);
  });

  it('its script requests only same-origin admin endpoints, with GET, and has no HTML sinks', async () => {
    // Every module the page loads: the entry and what it imports, as served.
    const imported = [...script.matchAll(/^import .* from '\.\/([a-z-]+\.js)';$/gm)].map((m) => m[1]!);
    expect(imported.sort()).toEqual(['dom.js', 'topology.js']);
    const modules = [script];
    for (const f of imported) {
      const r = await fetch(`${plane.adminUrl}/${f}`);
      expect(r.status).toBe(200);
      modules.push(await r.text());
    }
    const all = modules.join('\n').replace(SVG_NS, '');
    expect(all).not.toMatch(/innerHTML|outerHTML|insertAdjacentHTML|document\.write|\beval\(|new Function|XMLHttpRequest|WebSocket|sendBeacon|importScripts|:\/\//);
    expect(all).not.toMatch(/\son[a-z]+\s*=|['"]on[a-z]+['"]\s*:/i);
    // Requests go through one call site, with a path taken from ENDPOINTS.
    expect(all.match(/fetch\w*\(/g)).toEqual(['fetchFn(']);
    const dashboard = await loadDashboard();
    const endpoints = Object.values(dashboard.ENDPOINTS);
    expect(endpoints.sort()).toEqual(['/debug/certs', '/debug/config', '/debug/discovery', '/debug/policies', '/debug/proxies', '/debug/topology', '/debug/translation', '/readyz']);

    const calls: { path: string; method: string | undefined }[] = [];
    await dashboard.loadAll(recordingFetch(plane.adminUrl, calls));
    expect(calls.map((c) => c.path).sort()).toEqual(endpoints);
    expect(new Set(calls.map((c) => c.method))).toEqual(new Set(['GET']));
  });

  it('renders the live state: readiness, the connected proxy per type, its NACK, refusals, clusters, config, policies, certificates', async () => {
    const dashboard = await loadDashboard();
    const state = dashboard.merge(null, await dashboard.loadAll(recordingFetch(plane.adminUrl, [])), Date.now());
    for (const k of Object.keys(dashboard.ENDPOINTS)) expect(state[k as EndpointKey]?.status, k).toBe('ok');
    const page = dashboard.render(state, Date.now());
    const text = textOf(page);

    const proxies = (await (await fetch(`${plane.adminUrl}/debug/proxies`)).json()) as { proxies: { nodeId: string; types: Record<string, { ackedVersion: string; lastSentVersion: string }> }[] };
    const cds = proxies.proxies.find((p) => p.nodeId === NODE)!.types.cds!;
    const eds = proxies.proxies.find((p) => p.nodeId === NODE)!.types.eds!;
    expect(text).toContain('ready');
    expect(text).toContain(NODE);
    expect(text).toContain(cds.ackedVersion.slice(0, 8)); // CDS ACKed
    expect(text).toContain(`NACK ${eds.lastSentVersion.slice(0, 8)}`); // EDS rejected
    expect(text).toContain(EVIL_NACK);
    expect(text).toContain(`rejects EDS ${eds.lastSentVersion.slice(0, 8)}: ${EVIL_NACK}`); // in "Needs attention"
    expect(text).toMatch(/resolver: node id "cluster1\/default\/<script>alert\(3\)<\/script>" must be/);
    expect(text).toContain('bearer token is not a crossmesh token'); // refused stream
    expect(text).toContain('UNAUTHENTICATED');
    for (const c of ['cluster1', 'cluster2', 'cluster3']) expect(text).toContain(c);
    const config = (await (await fetch(`${plane.adminUrl}/debug/config`)).json()) as { lastGood: { version: string } };
    expect(text).toContain(config.lastGood.version.slice(0, 8));
    expect(text).toContain('applied');
    expect(text).toContain('crossmesh-system/mgmt-reviews-outlier');
    expect(text).toContain('spiffe://cluster1/ns/default/sa/bookinfo-productpage');
    expect(text).not.toMatch(/PRIVATE KEY|BEGIN/);
    expect(text).not.toContain('Not served');
  });

  it('mounts markup from node ids and NACK errors as text, and keeps links on this origin', async () => {
    const dashboard = await loadDashboard();
    const state = dashboard.merge(null, await dashboard.loadAll(recordingFetch(plane.adminUrl, [])), Date.now());
    const root = dashboard.mount(fakeDocument, dashboard.render(state, Date.now()));
    const tags = new Set(elements(root).map((e) => e.tagName));
    expect(tags.has('script')).toBe(false);
    expect(tags.has('img')).toBe(false);
    const html = serialize(root);
    expect(html).toContain('&lt;script&gt;alert(3)&lt;/script&gt;');
    expect(html).toContain('&lt;img src=x onerror=alert(1)&gt;&lt;script&gt;alert(2)&lt;/script&gt;');
    expect(html).not.toMatch(/<script|<img/);
    // The node's config-dump link carries the id URL-encoded.
    const links = elements(root).filter((e) => e.tagName === 'a').map((e) => e.attributes.get('href'));
    expect(links).toContain(`/debug/config_dump?node=${encodeURIComponent(EVIL_NODE)}`);
    expect(links.every((l) => l !== undefined && /^\/[^/\\]/.test(l))).toBe(true);

    // Attributes outside the allow-list and links off this origin are dropped.
    const a = dashboard.mount(fakeDocument, { tag: 'a', attrs: { href: 'javascript:alert(1)', onclick: 'alert(1)', title: '"><script>' }, children: ['x'] }) as FakeElement;
    expect([...a.attributes]).toEqual([['title', '"><script>']]);
    for (const href of ['//evil.example/x', '/\\evil.example', 'https://evil.example/']) {
      expect((dashboard.mount(fakeDocument, { tag: 'a', attrs: { href }, children: [] }) as FakeElement).attributes.has('href')).toBe(false);
    }
  });

  it('in the page loop: polls every REFRESH_MS, redraws, filters, and polls nothing while paused', async () => {
    // Timers are captured so the test steps the loop; a minimal document stands in for the page shell.
    const pending: { fn: () => void; ms: number }[] = [];
    const fakeTimers = {
      setTimeout: ((fn: () => void, ms: number) => pending.push({ fn, ms })) as unknown as typeof setTimeout,
      clearTimeout: (() => undefined) as typeof clearTimeout,
    };
    const dashboard = await loadDashboard();
    const calls: { path: string; method: string | undefined }[] = [];
    const listeners = new Map<string, () => void>();
    const root = new (class extends FakeElement {
      replaceChildren(...nodes: (FakeElement | FakeText)[]): void {
        this.childNodes.splice(0, this.childNodes.length, ...nodes);
      }
      contains(): boolean {
        return false;
      }
      addEventListener(t: string, f: () => void): void {
        listeners.set(`root:${t}`, f);
      }
    })('main');
    const pause = Object.assign(new FakeElement('button'), { textContent: 'Pause', addEventListener: (t: string, f: () => void) => listeners.set(`pause:${t}`, f) });
    const filter = { value: '', addEventListener: (t: string, f: () => void) => listeners.set(`filter:${t}`, f) };
    const doc = { ...fakeDocument, hidden: false, getElementById: (id: string) => ({ app: root, pause, filter })[id] };
    const win = { fetch: recordingFetch(plane.adminUrl, calls), getSelection: () => null, ...fakeTimers };
    const shown = (): string => root.childNodes.map(serialize).join('');
    const nextRefresh = (): (() => void) => {
      const i = pending.findIndex((t) => t.ms === dashboard.REFRESH_MS);
      expect(i).toBeGreaterThanOrEqual(0);
      return pending.splice(i, 1)[0]!.fn;
    };
    const endpoints = Object.keys(dashboard.ENDPOINTS).length;

    dashboard.start(doc, win);
    await until(() => shown().includes(NODE), 5000, 'first render');
    expect(calls).toHaveLength(endpoints);
    expect(shown()).toContain('&lt;script&gt;alert(3)&lt;/script&gt;');

    nextRefresh()();
    await until(() => calls.length === 2 * endpoints && pending.some((t) => t.ms === dashboard.REFRESH_MS), 5000, 'second poll');

    filter.value = 'productpage';
    listeners.get('filter:input')!();
    const proxiesHtml = shown().slice(shown().indexOf('id="proxies"'), shown().indexOf('id="discovery"'));
    expect(proxiesHtml).toContain(NODE);
    expect(proxiesHtml).not.toContain('alert(3)');

    listeners.get('pause:click')!();
    expect(pause.textContent).toBe('Resume');
    nextRefresh()();
    await new Promise((r) => setTimeout(r, 100));
    expect(calls).toHaveLength(2 * endpoints);
  });

  it.skipIf(!existsSync(CHROMIUM))(`in headless Chromium, shows the data with markup as text (skipped when ${CHROMIUM} is absent)`, async () => {
    const profile = mkdtempSync(join(tmpdir(), 'crossmesh-chromium-'));
    const shot = process.env.CROSSMESH_DASHBOARD_SCREENSHOT ?? join(profile, 'dashboard.png');
    const common = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run', `--user-data-dir=${profile}`, `--window-size=${process.env.CROSSMESH_DASHBOARD_WINDOW ?? '1400,1000'}`, '--virtual-time-budget=4000'];
    const run = (args: string[]) =>
      new Promise<{ stdout: string; stderr: string }>((resolve, reject) => {
        execFile(CHROMIUM, [...common, ...args, `${plane.adminUrl}/`], { timeout: 20_000, maxBuffer: 16 << 20 }, (err, stdout, stderr) => (err ? reject(err) : resolve({ stdout, stderr })));
      });
    try {
      // Console messages go to stderr: a CSP violation or a script error would show there.
      const { stdout: dom, stderr } = await run(['--dump-dom', '--enable-logging=stderr', '--v=0']);
      expect(stderr).not.toMatch(/Content Security Policy|Refused to|Uncaught/);
      expect(dom).toContain(NODE);
      expect(dom).toContain('&lt;script&gt;alert(3)&lt;/script&gt;');
      expect(dom).toContain('&lt;img src=x onerror=alert(1)&gt;');
      expect(dom).not.toMatch(/<img/);
      // The only script element is the page's own.
      expect(dom.match(/<script\b[^>]*>/g)).toEqual(['<script type="module" src="/dashboard.js">']);
      expect(dom).toContain('Needs attention');
      await run([`--screenshot=${shot}`]);
      const png = readFileSync(shot);
      expect(png.subarray(1, 4).toString()).toBe('PNG');
      expect(png.length).toBeGreaterThan(20_000);
    } finally {
      rmSync(profile, { recursive: true, force: true });
    }
  }, 60_000);
});

describe('dashboard on an xDS-only server', () => {
  it('shows what exists, says which endpoints are not served, and keeps the last data when the server goes away', async () => {
    const plane = await startControlPlane({ xdsPort: 0, adminPort: 0 });
    let closed = false;
    try {
      const page = await fetch(`${plane.adminUrl}/`);
      expect(page.status).toBe(200);
      expect(await (await fetch(`${plane.adminUrl}/dashboard.js`)).text()).toBe(readFileSync(SCRIPT_FILE, 'utf8'));
      const dashboard = await loadDashboard();
      const state = dashboard.merge(null, await dashboard.loadAll(recordingFetch(plane.adminUrl, [])), Date.now());
      for (const k of ['topology', 'config', 'discovery', 'translation', 'policies', 'certs']) expect(state[k as EndpointKey]?.status, k).toBe('missing');
      const text = textOf(dashboard.render(state, Date.now()));
      expect(text).toContain('not ready');
      expect(text).toContain('no mesh snapshot has been set yet');
      expect(text).toContain('No proxies connected.');
      expect(text).toContain('Not served by this control plane (/debug/policies answered 404)');
      expect(text).toContain('Not served by this control plane (/debug/certs answered 404)');

      await plane.close();
      closed = true;
      const after = dashboard.merge(state, await dashboard.loadAll(recordingFetch(plane.adminUrl, [])), Date.now());
      expect(after.unreachable).toBeTruthy();
      const down = textOf(dashboard.render(after, Date.now()));
      expect(down).toContain('admin server unreachable');
      expect(down).toContain('showing the last data read');
      expect(down).toContain('No proxies connected.');
    } finally {
      if (!closed) await plane.close();
    }
  });
});

describe('dashboard render functions on sample JSON', () => {
  let dashboard: Dashboard;
  beforeAll(async () => {
    dashboard = await loadDashboard();
  });
  const now = Date.parse('2026-11-21T12:00:00.000Z');
  const ago = (s: number): string => new Date(now - s * 1000).toISOString();
  const ok = (data: unknown): Result => ({ status: 'ok', data: JSON.parse(JSON.stringify(data)) as unknown });

  function typeStatus(over: Partial<TypeStatus> = {}): TypeStatus {
    return { subscribed: [], wildcard: true, resources: 3, lastSentVersion: 'aaaaaaaa11111111', lastSentNonce: '1', lastSentAt: ago(30), ackedVersion: 'aaaaaaaa11111111', ackedAt: ago(29), lastNack: null, ...over };
  }
  function proxy(nodeId: string, over: Partial<ProxyStatus> = {}): ProxyStatus {
    return {
      streamId: 1, nodeId, role: 'sidecar', cluster: 'west', locality: null, userAgent: 'envoy', peer: '127.0.0.1:1', mode: 'delta', service: 'ads',
      connectedAt: ago(60), identity: null, groups: { cds: 'g' }, resolverError: null, blocked: false, types: { cds: typeStatus() }, ...over,
    };
  }

  it('shows stale and failing clusters, a rejected reload, guard rejections, policy problems and conflicts, expired certificates', () => {
    const discovery: DiscoveryStatus = {
      staticClusters: ['east'],
      kubernetes: [
        { cluster: 'west', connected: false, stale: true, lastError: 'connect ECONNREFUSED 10.0.0.1:6443', lastSyncAt: ago(120), server: 'https://10.0.0.1:6443', context: 'kind-west', counts: { services: 4, pods: 9, endpointSlices: 4, nodes: 2 }, relists: 1 },
        { cluster: 'north', error: 'kubeconfig /etc/kube/north has no context "north"' },
      ],
      remoteConflicts: [],
    };
    const config: ConfigStatus = {
      paths: ['/etc/crossmesh'],
      lastGood: { version: 'cccccccc22222222', loadedAt: ago(3600), files: ['/etc/crossmesh/a.yaml'], warnings: [], refused: [] },
      lastAttempt: { at: ago(10), ok: false, errors: ['/etc/crossmesh/a.yaml:4: spec.adress: unknown field'], warnings: [] },
      reloads: { applied: 2, unchanged: 0, invalid: 1 },
    };
    const translation: Omit<PublisherStatus, 'stats'> = {
      snapshotVersion: 'dddddddd33333333',
      groups: [{ key: 'clusters|sidecar|west', kind: 'clusters', role: 'sidecar', nodes: ['west/default/a-0'], resources: 4, rejected: [{ kind: 'clusters', name: 'outbound|80||x.default.svc.cluster.local', errors: ['connect_timeout: value must be greater than 0s'] }], computations: 2 }],
      unresolved: [],
      held: 0,
    };
    const policies: PoliciesReport = {
      snapshotVersion: 'dddddddd33333333',
      policies: [
        { kind: 'TrafficPolicy', policy: 'default/retries', selects: ['west/default/reviews'], resources: ['cds outbound|9080||reviews.default.svc.cluster.local (sidecars in west)'], proxies: Array.from({ length: 8 }, (_, i) => `west/default/p-${i}`), groups: ['g'], problems: [] },
        { kind: 'AccessPolicy', policy: 'default/nobody', selects: [], resources: [], proxies: [], groups: [], problems: ['destination selector matched no service'] },
      ],
      conflicts: [{ field: 'requestTimeout', winner: 'default/a', losers: ['default/b'], destination: 'default/reviews', clusters: ['west'], rule: 'first wins' }],
      conflictRule: 'the policy whose <namespace>/<name> sorts first wins the field',
      scopes: [],
    };
    const certs = {
      issued: [{ identity: 'spiffe://west/ns/default/sa/old', cluster: 'west', serial: 'ABCDEF0123456789', notBefore: ago(90_000), notAfter: ago(60), rotateAt: ago(3600), keyAlgorithm: 'ECDSA_P256', rootId: 'r1' }],
      trustBundle: [{ id: 'r1', subject: 'CN=root', notAfter: ago(-86_400 * 365), status: 'active' }],
      intermediates: [],
      xdsServer: null,
      tokenKeys: [],
    };
    const proxies: { proxies: ProxyStatus[]; refused: StreamRefusal[] } = {
      proxies: [proxy('west/default/a-0', { blocked: true, types: { cds: typeStatus(), eds: typeStatus({ ackedVersion: '', lastSentVersion: 'bbbbbbbb', lastNack: null }) } })],
      refused: [],
    };
    const state: State = {
      ready: ok({ ok: true, code: 200, text: 'ready' }),
      proxies: ok(proxies),
      discovery: ok(discovery),
      config: ok(config),
      translation: ok(translation),
      policies: ok(policies),
      certs: ok(certs),
      at: now,
    };
    const text = textOf(dashboard.render(state, now));
    expect(text).toContain('Needs attention (8)');
    expect(text).toContain('cluster west API server unreachable; serving last-known endpoints: connect ECONNREFUSED 10.0.0.1:6443');
    expect(text).toContain('cluster north discovery error: kubeconfig /etc/kube/north has no context "north"');
    expect(text).toContain('stale');
    expect(text).toContain('2m ago'); // last sync of the stale cluster
    expect(text).toContain('4 services, 9 pods, 4 slices');
    expect(text).toContain('configuration last reload 10s ago was rejected (1 error); the last good configuration keeps serving');
    expect(text).toContain('/etc/crossmesh/a.yaml:4: spec.adress: unknown field');
    expect(text).toContain('guard clusters outbound|80||x.default.svc.cluster.local not pushed: connect_timeout: value must be greater than 0s');
    expect(text).toContain('AccessPolicy default/nobody destination selector matched no service');
    expect(text).toContain('policies 1 conflict between TrafficPolicies');
    expect(text).toContain('requestTimeout');
    expect(text).toContain('and 3 more'); // 8 affected proxies, 5 listed
    expect(text).toContain('certificate spiffe://west/ns/default/sa/old expired 60s ago');
    expect(text).toContain('proxy west/default/a-0 is not reading; pushes are held back');
    expect(text).toContain('none sent bbbbbbbb'); // EDS sent, not ACKed yet, not rejected
    expect(text).not.toContain('rejects');
  });

  it('lists proxies in trouble first, caps the table, and filters by node id', () => {
    const many = Array.from({ length: 350 }, (_, i) => proxy(`west/default/app-${String(i).padStart(3, '0')}`));
    const nacking = typeStatus({ ackedVersion: 'aaaaaaaa11111111', lastSentVersion: 'eeeeeeee44444444', lastNack: { error: 'rejected by envoy', code: 3, version: 'eeeeeeee44444444', nonce: '2', at: ago(5) } });
    many[349] = proxy('west/default/app-349', { types: { cds: nacking } });
    const state: State = { ready: ok({ ok: true, code: 200, text: 'ready' }), proxies: ok({ proxies: many, refused: [] }), at: now };
    const page = dashboard.render(state, now);
    const section = sectionOf(page, 'proxies');
    const rows = (v: VNode | string): VNode[] => (typeof v === 'string' ? [] : v.tag === 'tr' && v.attrs.class !== undefined ? [v] : v.children.flatMap(rows));
    const proxyRows = rows(section).filter((r) => textOf(r).includes('/debug') || textOf(r).includes('west/default/app-'));
    expect(proxyRows).toHaveLength(dashboard.MAX_ROWS);
    expect(textOf(proxyRows[0]!)).toContain('west/default/app-349');
    expect(textOf(proxyRows[0]!)).toContain('NACK eeeeeeee');
    expect(textOf(section)).toContain(`Showing ${dashboard.MAX_ROWS} of 350 streams; proxies with problems first, the rest at /debug/proxies.`);

    const filtered = textOf(sectionOf(dashboard.render(state, now, { filter: 'APP-12' }), 'proxies'));
    expect(filtered).toContain('Showing 10 of 350 streams matching "APP-12".');
    expect(filtered).toContain('west/default/app-120');
    expect(filtered).not.toContain('west/default/app-349');
    expect(textOf(dashboard.render(state, now, { filter: 'nomatch' }))).toContain('No connected proxy matches the filter.');
  });
});

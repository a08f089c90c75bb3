/**
 * The dashboard's topology view: an SVG drawn from `/debug/topology` — one column per cluster
 * (network, locality, gateway address), its gateways and services, each service's workloads
 * grouped by locality — with the policy edges between them (traffic-shift weights, access allows,
 * failover order). Proxy nodes are coloured by their xDS state from `/debug/proxies` (red: the
 * version in force was NACKed; green: connected; grey: no stream) and open a side panel when
 * clicked. Pure: data in, virtual DOM out.
 */
import { h, type ChildArg, type VNode } from './dom.js';
import type { NackView, PolicyEffectView, ProxyView, Topology, TopologyEdge, TopologyGateway, TopologyService, TopologyWorkload, TypeView } from './types.js';

export const XDS_TYPES = ['sds', 'cds', 'eds', 'lds', 'rds'] as const;

/** What the view reads besides the topology: streams (null when unknown) and policy effects. */
export interface ProxyState {
  readonly proxies: readonly ProxyView[] | null;
  readonly policies: readonly PolicyEffectView[];
}

/** Edge kinds hidden until the reader asks: access allows are many and would hide the rest. */
export const DEFAULT_HIDDEN: ReadonlySet<string> = new Set(['access']);

/** The reader's choices: the node whose panel is open, the edge kinds hidden. */
export interface TopologyOptions {
  readonly selected: string | null;
  readonly hidden: ReadonlySet<string>;
}

/** The NACK of the version in force, if the proxy rejected it (an older NACK since fixed is not one). */
export function currentNack(st: TypeView | undefined): NackView | null {
  return st && st.lastNack && st.lastNack.version === st.lastSentVersion && st.ackedVersion !== st.lastSentVersion ? st.lastNack : null;
}

/** A proxy's colour: `nack` when any stream rejects what it is served, else `connected`, else `absent`. */
export function proxyHealth(node: string, proxies: readonly ProxyView[] | null): 'nack' | 'connected' | 'absent' | 'unknown' {
  if (proxies === null) return 'unknown';
  const streams = proxies.filter((p) => p.nodeId === node);
  if (streams.length === 0) return 'absent';
  if (streams.some((p) => p.resolverError || XDS_TYPES.some((t) => currentNack(p.types?.[t])))) return 'nack';
  return 'connected';
}

const STATE_TEXT = { nack: 'NACK', connected: 'connected', absent: 'no stream', unknown: 'state unknown' } as const;

// ---- layout ----

const COL_W = 310;
const COL_GAP = 110;
const PAD = 16;
// Room on the left for the loops of edges within the first column.
const LEFT = 70;
const HEADER_H = 62;
const GW_H = 38;
const NODE_H = 30;
const ROW_GAP = 6;
const SVC_TITLE_H = 24;
const LOC_TITLE_H = 18;

interface Rect {
  readonly x: number;
  readonly y: number;
  readonly w: number;
  readonly h: number;
  readonly col: number;
}

interface Layout {
  readonly width: number;
  readonly height: number;
  readonly shapes: VNode[];
  /** Service keys, `gateway:<key>` and node ids → their box. */
  readonly anchors: Map<string, Rect>;
}

function labelOf(w: TopologyWorkload): string {
  return w.version ? `${w.name} (${w.version})` : w.name;
}

function proxyNode(r: Rect, node: string, title: string, sub: string, state: string, selected: boolean, label: string): VNode {
  return h(
    'g',
    { class: `proxy state-${state}${selected ? ' selected' : ''}`, 'data-node': node, 'data-state': state, role: 'button', tabindex: 0, 'aria-label': `${node}: ${label}` },
    h('title', null, `${node}\n${label}`),
    h('rect', { x: r.x, y: r.y, width: r.w, height: r.h, rx: 5 }),
    h('text', { class: 'node-name', x: r.x + 8, y: r.y + (sub ? 13 : r.h / 2 + 4) }, title),
    sub ? h('text', { class: 'node-sub', x: r.x + 8, y: r.y + r.h - 7 }, sub) : null,
  );
}

function layout(t: Topology, ps: ProxyState, selected: string | null): Layout {
  const shapes: VNode[] = [];
  const anchors = new Map<string, Rect>();
  const columns = t.clusters.map((c) => c.name);
  let height = 0;
  const bodies: VNode[][] = [];
  columns.forEach((name, col) => {
    const x0 = LEFT + col * (COL_W + COL_GAP);
    const inner = x0 + 10;
    const innerW = COL_W - 20;
    let y = PAD + HEADER_H;
    const body: VNode[] = [];
    const state = (node: string): string => proxyHealth(node, ps.proxies);
    for (const g of t.gateways.filter((x) => x.cluster === name)) {
      const r: Rect = { x: inner, y, w: innerW, h: GW_H, col };
      anchors.set(`gateway:${g.key}`, r);
      anchors.set(g.node, r);
      const kind = g.type === 'EastWest' ? 'east-west gateway' : 'ingress gateway';
      const st = state(g.node);
      body.push(h('g', { class: `gateway gw-${g.type === 'EastWest' ? 'eastwest' : 'ingress'}` }, proxyNode(r, g.node, `${kind} ${g.name} :${g.port}`, `${g.node.split('/').pop() ?? ''} ${g.address}`, st, selected === g.node, `${kind}, ${STATE_TEXT[st as keyof typeof STATE_TEXT]}`)));
      y += GW_H + ROW_GAP;
    }
    y += 6;
    for (const s of t.services.filter((x) => x.cluster === name)) {
      const top = y;
      const parts: VNode[] = [];
      let yy = top + SVC_TITLE_H;
      const half = (innerW - 20 - ROW_GAP) / 2;
      for (const l of s.localities) {
        parts.push(h('text', { class: 'locality', x: inner + 10, y: yy + 12 }, `${l.region || '?'} / ${l.zone || '?'}`));
        yy += LOC_TITLE_H;
        l.workloads.forEach((w, i) => {
          const r: Rect = { x: inner + 10 + (i % 2) * (half + ROW_GAP), y: yy + Math.floor(i / 2) * (NODE_H + ROW_GAP), w: half, h: NODE_H, col };
          anchors.set(w.node, r);
          const st = state(w.node);
          parts.push(proxyNode(r, w.node, labelOf(w), '', st, selected === w.node, `sidecar, ${STATE_TEXT[st as keyof typeof STATE_TEXT]}`));
        });
        yy += Math.ceil(l.workloads.length / 2) * (NODE_H + ROW_GAP) + 2;
      }
      if (s.localities.length === 0) {
        parts.push(h('text', { class: 'locality', x: inner + 10, y: yy + 12 }, 'no workloads'));
        yy += LOC_TITLE_H;
      }
      const r: Rect = { x: inner, y: top, w: innerW, h: yy - top + 6, col };
      anchors.set(s.key, r);
      body.push(
        h(
          'g',
          { class: 'service', 'data-service': s.key },
          h('rect', { class: 'service-box', x: r.x, y: r.y, width: r.w, height: r.h, rx: 6 }),
          h('text', { class: 'service-name', x: inner + 10, y: top + 16 }, `${s.name}.${s.namespace}`, h('tspan', { class: 'node-sub' }, `  :${s.ports.join(',')}`)),
          parts,
        ),
      );
      y = r.y + r.h + 10;
    }
    height = Math.max(height, y);
    bodies.push(body);
  });
  t.clusters.forEach((c, col) => {
    const x0 = LEFT + col * (COL_W + COL_GAP);
    shapes.push(
      h(
        'g',
        { class: `cluster${c.stale ? ' stale' : ''}`, 'data-cluster': c.name },
        h('rect', { class: 'cluster-box', x: x0, y: PAD, width: COL_W, height: height - PAD + 6, rx: 8 }),
        h('text', { class: 'cluster-name', x: x0 + 12, y: PAD + 20 }, c.name, h('tspan', { class: 'network' }, `  network ${c.network}`)),
        h('text', { class: 'cluster-sub', x: x0 + 12, y: PAD + 37 }, `${c.region || '?'} / ${c.zone || '?'} · trust domain ${c.trustDomain}`),
        h('text', { class: 'cluster-sub', x: x0 + 12, y: PAD + 53 }, c.gateway ? `east-west at ${c.gateway.address}:${c.gateway.port}` : 'no east-west address', c.stale ? h('tspan', { class: 'stale-text' }, `  stale: ${c.stale}`) : null),
        bodies[col],
      ),
    );
  });
  return { width: LEFT + PAD + 50 + columns.length * COL_W + Math.max(0, columns.length - 1) * COL_GAP, height: height + PAD + 10, shapes, anchors };
}

// ---- edges ----

interface DrawnEdge {
  readonly kind: TopologyEdge['kind'];
  readonly policy: string;
  readonly from: string;
  readonly to: string;
  readonly label: string;
}

/** The anchor a traffic-shift target lands on: the subset's first workload when the subset is a version, else the service. */
function shiftAnchor(t: Topology, target: string, subset: string, fromKey: string, anchors: Map<string, Rect>): string | null {
  let key = target;
  if (target.startsWith('failover:')) {
    const fo = t.edges.find((e) => e.kind === 'failover' && e.policy === target.slice('failover:'.length));
    key = fo && fo.kind === 'failover' ? (fo.order[0] ?? '') : '';
  } else if (target.split('/').length === 2) {
    // No cluster named: the service in the caller's own cluster.
    key = `${fromKey.split('/')[0] ?? ''}/${target}`;
  }
  const svc = t.services.find((s) => s.key === key);
  if (!svc) return null;
  const m = /^version=([^,]+)$/.exec(subset);
  if (m) {
    const w = svc.localities.flatMap((l) => l.workloads).find((x) => x.version === m[1]);
    if (w && anchors.has(w.node)) return w.node;
  }
  return anchors.has(svc.key) ? svc.key : null;
}

function edgesToDraw(t: Topology, anchors: Map<string, Rect>): DrawnEdge[] {
  const out: DrawnEdge[] = [];
  for (const e of t.edges) {
    if (e.kind === 'traffic-shift') {
      for (const from of e.from) {
        for (const x of e.targets) {
          const to = shiftAnchor(t, x.target, x.subset, from, anchors);
          if (to === null || !anchors.has(from)) continue;
          const what = x.target.startsWith('failover:') ? ' to failover' : x.subset ? ` ${x.subset.replace(/^version=/, '')}` : '';
          out.push({ kind: e.kind, policy: e.policy, from, to, label: `${x.weight}%${what}` });
        }
      }
    } else if (e.kind === 'access') {
      for (const from of e.from) for (const to of e.to) if (from !== to && anchors.has(from) && anchors.has(to)) out.push({ kind: e.kind, policy: e.policy, from, to, label: 'allows' });
    } else {
      for (let i = 0; i + 1 < e.order.length; i++) {
        const from = e.order[i]!;
        const to = e.order[i + 1]!;
        if (anchors.has(from) && anchors.has(to)) out.push({ kind: e.kind, policy: e.policy, from, to, label: `failover ${i + 1}→${i + 2}` });
      }
    }
  }
  return out;
}

const round = (n: number): number => Math.round(n * 10) / 10;

/** A cubic curve between two boxes: side to side across columns, a loop on one side within a column. */
function edgeShape(e: DrawnEdge, a: Rect, b: Rect, lane: number, highlight: boolean): VNode {
  let p0: [number, number];
  let p1: [number, number];
  let p2: [number, number];
  let p3: [number, number];
  if (a.col !== b.col) {
    const right = b.col > a.col;
    const ax = right ? a.x + a.w : a.x;
    const bx = right ? b.x : b.x + b.w;
    const ay = a.y + Math.min(a.h / 2, 14) + lane * 3;
    const by = b.y + Math.min(b.h / 2, 14) + lane * 3;
    const dx = (bx - ax) / 2;
    p0 = [ax, ay];
    p1 = [ax + dx, ay];
    p2 = [bx - dx, by];
    p3 = [bx, by];
  } else {
    // Access edges loop on the right, traffic and failover on the left, so the kinds do not overlap;
    // a box's edge to itself (a shift back to its own service) loops on the right, clear of its neighbours' labels.
    const left = e.kind !== 'access' && a !== b;
    const ax = left ? a.x : a.x + a.w;
    const bx = left ? b.x : b.x + b.w;
    const ay = a.y + Math.min(a.h / 2, 12) + lane * 3;
    const by = b.y + b.h / 2;
    const bulge = (left ? -1 : 1) * (26 + Math.min(60, Math.abs(by - ay) * 0.25) + lane * 6);
    p0 = [ax, ay];
    p1 = [ax + bulge, ay];
    p2 = [bx + bulge, by];
    p3 = [bx, by];
  }
  const d = `M${round(p0[0])},${round(p0[1])} C${round(p1[0])},${round(p1[1])} ${round(p2[0])},${round(p2[1])} ${round(p3[0])},${round(p3[1])}`;
  // The arrowhead follows the curve's last tangent.
  const ang = Math.atan2(p3[1] - p2[1], p3[0] - p2[0]);
  const tip = (da: number, len: number): string => `${round(p3[0] - len * Math.cos(ang + da))},${round(p3[1] - len * Math.sin(ang + da))}`;
  const arrow = `M${round(p3[0])},${round(p3[1])} L${tip(0.45, 8)} L${tip(-0.45, 8)} Z`;
  // Labels sit at different points of their curves per kind, so a shift and a failover between the same boxes stay readable.
  const t = e.kind === 'traffic-shift' ? 0.75 : 0.5;
  const u = 1 - t;
  const lx = u * u * u * p0[0] + 3 * u * u * t * p1[0] + 3 * u * t * t * p2[0] + t * t * t * p3[0];
  const ly = u * u * u * p0[1] + 3 * u * u * t * p1[1] + 3 * u * t * t * p2[1] + t * t * t * p3[1];
  return h(
    'g',
    { class: `edge edge-${e.kind}${highlight ? ' highlight' : ''}`, 'data-edge-kind': e.kind, 'data-policy': e.policy },
    h('title', null, `${e.policy}: ${e.from} → ${e.to} (${e.label})`),
    h('path', { class: 'edge-line', d }),
    h('path', { class: 'edge-arrow', d: arrow }),
    h('text', { class: 'edge-label', x: round(lx), y: round(ly - 3), 'text-anchor': 'middle' }, e.label),
  );
}

// ---- the side panel ----

function findNode(t: Topology, node: string): { workload?: TopologyWorkload; gateway?: TopologyGateway; services: TopologyService[]; locality?: string } | null {
  const gateway = t.gateways.find((g) => g.node === node);
  const services: TopologyService[] = [];
  let workload: TopologyWorkload | undefined;
  let locality: string | undefined;
  for (const s of t.services) {
    for (const l of s.localities) {
      const w = l.workloads.find((x) => x.node === node);
      if (w) {
        services.push(s);
        workload = w;
        locality = `${l.region || '?'} / ${l.zone || '?'}`;
      }
    }
  }
  if (!gateway && !workload) return null;
  return { ...(workload ? { workload } : {}), ...(gateway ? { gateway } : {}), services, ...(locality ? { locality } : {}) };
}

/** Policies that touch a node: those whose effect reaches its stream, and those whose edges start or end at its services. */
function touchingPolicies(t: Topology, ps: ProxyState, node: string, serviceKeys: readonly string[], gatewayKey: string | undefined): string[] {
  const out = new Set<string>();
  for (const p of ps.policies) if ((p.proxies ?? []).includes(node)) out.add(`${p.kind ?? ''} ${p.policy ?? ''} (shapes what it is served)`);
  const mine = (k: string): boolean => serviceKeys.includes(k) || (gatewayKey !== undefined && k === `gateway:${gatewayKey}`);
  for (const e of t.edges) {
    if (e.kind === 'traffic-shift') {
      if (e.from.some(mine)) out.add(`TrafficPolicy ${e.policy} (shifts calls to its service)`);
      if (e.targets.some((x) => mine(x.target))) out.add(`TrafficPolicy ${e.policy} (receives shifted traffic)`);
    } else if (e.kind === 'access') {
      if (e.from.some(mine)) out.add(`AccessPolicy ${e.policy} (allows it to call ${e.to.length} service${e.to.length === 1 ? '' : 's'})`);
      if (e.to.some(mine)) out.add(`AccessPolicy ${e.policy} (allows callers in)`);
    } else if (e.order.some(mine)) {
      out.add(`FailoverService ${e.policy} (priority ${e.order.findIndex(mine) + 1} of ${e.order.length} for ${e.hostname})`);
    }
  }
  return [...out].sort();
}

function short(v: string | undefined): string {
  return v ? v.slice(0, 8) : '';
}

function panel(t: Topology, ps: ProxyState, node: string): VNode {
  const found = findNode(t, node);
  const close = h('button', { type: 'button', class: 'panel-close', 'data-node': '', title: 'close' }, '×');
  if (!found) return h('aside', { class: 'panel', id: 'topology-panel' }, close, h('p', { class: 'muted' }, `${node} is no longer in the mesh.`));
  const streams = (ps.proxies ?? []).filter((p) => p.nodeId === node);
  const state = proxyHealth(node, ps.proxies);
  const g = found.gateway;
  const role = streams[0]?.role ?? (g ? (g.type === 'EastWest' ? 'gateway' : 'ingress') : 'sidecar');
  const identity = g?.identity ?? found.workload?.identity ?? '';
  const rows: VNode[] = [];
  for (const p of streams) {
    for (const ty of XDS_TYPES) {
      const st = p.types?.[ty];
      if (!st) continue;
      const nack = currentNack(st);
      const acked = !!st.lastSentVersion && st.ackedVersion === st.lastSentVersion;
      rows.push(
        h(
          'tr',
          { class: nack ? 'row-bad' : '' },
          h('td', null, ty.toUpperCase()),
          h('td', { class: `v ${nack ? 'bad' : acked ? 'ok' : 'warn'}` }, nack ? 'NACK' : acked ? 'ACK' : st.lastSentVersion ? 'sent' : 'waiting'),
          h('td', { class: 'v', title: st.ackedVersion ?? '' }, short(st.ackedVersion) || '-'),
          h('td', null, String(st.resources ?? 0)),
          h('td', { class: 'err' }, nack ? `${short(nack.version)}: ${nack.error ?? ''}` : st.lastNack ? `earlier: ${st.lastNack.error ?? ''}` : ''),
        ),
      );
    }
  }
  const policies = touchingPolicies(t, ps, node, found.services.map((s) => s.key), g?.key);
  const served = streams.length
    ? [
        h('div', { class: 'scroll' }, h('table', { class: 'compact' }, h('thead', null, h('tr', null, ['Type', 'State', 'ACKed', 'Resources', 'NACK'].map((x) => h('th', null, x)))), h('tbody', null, rows))),
        h('p', null, h('a', { href: `/debug/config_dump?node=${encodeURIComponent(node)}`, class: 'node' }, 'what it is served (config dump)')),
      ]
    : h('p', { class: 'muted' }, ps.proxies === null ? 'Stream state unknown (/debug/proxies unreadable).' : 'No xDS stream from this node: it is served nothing right now.');
  const dl: ChildArg[] = [
    h('dt', null, 'Role'),
    h('dd', null, g ? `${role} (${g.type === 'EastWest' ? 'east-west' : 'ingress'} gateway ${g.namespace}/${g.name}, port ${g.port})` : role),
    h('dt', null, 'Identity'),
    h('dd', { class: 'mono' }, identity || '-'),
    h('dt', null, 'Address'),
    h('dd', { class: 'mono' }, g?.address ?? found.workload?.address ?? ''),
    found.locality ? [h('dt', null, 'Locality'), h('dd', null, found.locality)] : null,
    found.services.length ? [h('dt', null, 'Services'), h('dd', { class: 'mono' }, found.services.map((s) => s.key).join(', '))] : null,
    h('dt', null, 'xDS'),
    h('dd', null, h('span', { class: `badge ${state === 'nack' ? 'bad' : state === 'connected' ? 'ok' : 'muted'}`, id: 'topology-panel-state' }, STATE_TEXT[state])),
  ];
  return h(
    'aside',
    { class: 'panel', id: 'topology-panel' },
    close,
    h('h3', { class: 'panel-title' }, 'Proxy'),
    h('p', { class: 'node' }, node),
    h('dl', null, dl),
    h('h3', null, 'Served'),
    served,
    g && g.exported.length ? [h('h3', null, `Exports (${g.exported.length})`), h('ul', { class: 'lines mono small' }, g.exported.map((x) => h('li', null, x)))] : null,
    g && g.routes.length ? [h('h3', null, 'Routes'), h('ul', { class: 'lines mono small' }, g.routes.map((x) => h('li', null, x)))] : null,
    h('h3', null, 'Policies that touch it'),
    policies.length ? h('ul', { class: 'lines small' }, policies.map((x) => h('li', null, x))) : h('p', { class: 'muted' }, 'None.'),
  );
}

// ---- the section ----

const KIND_NAMES: Readonly<Record<TopologyEdge['kind'], string>> = { 'traffic-shift': 'traffic shift', access: 'allowed access', failover: 'failover order' };

function edgeText(e: TopologyEdge): string {
  if (e.kind === 'traffic-shift') return `${e.from.join(', ') || 'no service'} (callers: ${e.sources}) → ${e.targets.map((x) => `${x.weight}% ${x.target}${x.subset ? ` [${x.subset}]` : ''}`).join(', ')}`;
  if (e.kind === 'access') return `${e.identities.join(', ')} may call ${e.to.join(', ') || 'no service'}`;
  return `${e.hostname}:${e.port}: ${e.order.map((k, i) => `${i + 1}. ${k}`).join(' → ')}`;
}

/** The topology card: legend with edge toggles, the SVG with the side panel, and every edge as text. */
export function topologySection(t: Topology, ps: ProxyState, opts: TopologyOptions): VNode {
  const L = layout(t, ps, opts.selected);
  // A hidden kind still shows the edges of the selected proxy's services, highlighted.
  const found = opts.selected !== null ? findNode(t, opts.selected) : null;
  const mine = new Set<string>(found ? [...found.services.map((s) => s.key), ...(found.gateway ? [`gateway:${found.gateway.key}`] : [])] : []);
  const touches = (e: DrawnEdge): boolean => mine.has(e.from) || mine.has(e.to) || (opts.selected !== null && (e.from === opts.selected || e.to === opts.selected));
  const drawn = edgesToDraw(t, L.anchors).filter((e) => !opts.hidden.has(e.kind) || touches(e));
  const lanes = new Map<string, number>();
  const edgeShapes = drawn.map((e) => {
    // Edges leaving the same box are spread apart a little.
    const lane = lanes.get(e.from) ?? 0;
    lanes.set(e.from, lane + 1);
    return edgeShape(e, L.anchors.get(e.from)!, L.anchors.get(e.to)!, lane % 5, touches(e));
  });
  const legend = h(
    'div',
    { class: 'legend' },
    (Object.keys(KIND_NAMES) as TopologyEdge['kind'][]).map((k) =>
      h('label', { class: `toggle edge-${k}` }, h('input', { type: 'checkbox', 'data-edge-kind': k, checked: opts.hidden.has(k) ? null : 'checked' }), h('span', { class: 'swatch' }), ` ${KIND_NAMES[k]}`),
    ),
    h('span', { class: 'key state-connected' }, h('span', { class: 'dot' }), ' connected'),
    h('span', { class: 'key state-nack' }, h('span', { class: 'dot' }), ' NACK'),
    h('span', { class: 'key state-absent' }, h('span', { class: 'dot' }), ' no stream'),
    h('span', { class: 'muted small' }, opts.selected === null ? 'Click a proxy (a gateway or a workload) for what it is served, its ACK/NACK state and the policies that touch it. ' : '', opts.hidden.has('access') ? 'Allowed access is drawn for the selected proxy; tick it to draw all. ' : '', t.accessEnforced ? 'Access: deny unless allowed.' : 'Access: not enforced (no VirtualMesh with globalAccessPolicy ENABLED).'),
  );
  const svg = h(
    'svg',
    { class: 'topology', width: L.width, height: L.height, viewBox: `0 0 ${L.width} ${L.height}`, role: 'img', 'aria-label': `mesh topology: ${t.clusters.length} clusters, ${t.gateways.length} gateways, ${t.services.length} services` },
    L.shapes,
    h('g', { class: 'edges' }, edgeShapes),
  );
  return h(
    'div',
    null,
    legend,
    h('div', { class: 'topo-wrap' }, h('div', { class: 'topo-canvas' }, svg), opts.selected !== null ? panel(t, ps, opts.selected) : null),
    h('h3', null, `Policy edges (${t.edges.length})`),
    t.edges.length
      ? h('ul', { class: 'lines edge-list' }, t.edges.map((e) => h('li', { 'data-edge-kind': e.kind }, h('span', { class: 'where' }, `${KIND_NAMES[e.kind]} ${e.policy}`), ' ', edgeText(e))))
      : h('p', { class: 'muted' }, 'No traffic shift, access policy or failover service.'),
  );
}

/**
 * Has an Envoy taken what crossmesh serves it? Compares Envoy's own `/config_dump` with
 * crossmesh's `/debug/config_dump` for the same node: the same resource names per type, the same
 * versions (per response for state-of-the-world, per resource for delta), nothing in
 * `error_state`, nothing warming, and crossmesh recording an ACK of its last push and no NACK.
 */
import type { EnvoyAdmin } from '../envoy/admin.js';
import { XDS_CLIENT_CERT_SECRET } from '../translate/bootstrap.js';
import type { ControlPlaneProcess } from './control-plane.js';

type Obj = Record<string, unknown>;

interface CrossmeshTypeDump {
  readonly lastSentVersion: string;
  readonly ackedVersion: string;
  readonly resources: readonly { readonly name: string; readonly version: string; readonly resource?: Obj }[];
}

interface CrossmeshDump {
  readonly streams: readonly { readonly mode: string; readonly types: Readonly<Record<string, { lastNack: { error?: string } | null; ackedVersion: string; lastSentVersion: string }>> }[];
  readonly types: Readonly<Record<string, CrossmeshTypeDump>>;
}

/** What Envoy holds of one xDS type: resource name → version, plus the type's last accepted version. */
interface EnvoyTypeView {
  readonly versions: Map<string, string>;
  /** LDS: the active listeners, by name. */
  readonly listeners: Map<string, Obj>;
  readonly typeVersion?: string;
  readonly problems: string[];
}

const DUMP_TYPES: Record<string, string> = {
  cds: 'type.googleapis.com/envoy.admin.v3.ClustersConfigDump',
  eds: 'type.googleapis.com/envoy.admin.v3.EndpointsConfigDump',
  lds: 'type.googleapis.com/envoy.admin.v3.ListenersConfigDump',
  rds: 'type.googleapis.com/envoy.admin.v3.RoutesConfigDump',
  sds: 'type.googleapis.com/envoy.admin.v3.SecretsConfigDump',
};

function arr(v: unknown): Obj[] {
  return Array.isArray(v) ? (v as Obj[]) : [];
}

function nameOf(o: unknown, ...path: string[]): string {
  let cur: unknown = o;
  for (const p of path) cur = cur && typeof cur === 'object' ? (cur as Obj)[p] : undefined;
  return typeof cur === 'string' ? cur : '';
}

/** Reads one type's resources out of Envoy's config dump. */
function envoyView(kind: string, dump: Obj | undefined): EnvoyTypeView {
  const versions = new Map<string, string>();
  const listeners = new Map<string, Obj>();
  const problems: string[] = [];
  if (!dump) return { versions, listeners, problems };
  switch (kind) {
    case 'cds':
      for (const c of arr(dump.dynamic_active_clusters)) versions.set(nameOf(c, 'cluster', 'name'), String(c.version_info ?? ''));
      for (const c of arr(dump.dynamic_warming_clusters)) problems.push(`cluster ${nameOf(c, 'cluster', 'name')} is warming`);
      break;
    case 'lds':
      for (const l of arr(dump.dynamic_listeners)) {
        const name = String(l.name ?? '');
        if (l.error_state) problems.push(`listener ${name} error_state: ${JSON.stringify(l.error_state).slice(0, 300)}`);
        if (l.warming_state) problems.push(`listener ${name} is warming`);
        const active = l.active_state as Obj | undefined;
        if (active) {
          versions.set(name, String(active.version_info ?? ''));
          if (active.listener && typeof active.listener === 'object') listeners.set(name, active.listener as Obj);
        }
      }
      break;
    case 'rds':
      for (const r of arr(dump.dynamic_route_configs)) versions.set(nameOf(r, 'route_config', 'name'), String(r.version_info ?? ''));
      break;
    case 'eds':
      for (const e of arr(dump.dynamic_endpoint_configs)) versions.set(nameOf(e, 'endpoint_config', 'cluster_name'), String(e.version_info ?? ''));
      break;
    case 'sds':
      // The xDS client certificate comes from a local file (durable credentials), not from crossmesh.
      for (const x of arr(dump.dynamic_active_secrets)) if (x.name !== XDS_CLIENT_CERT_SECRET) versions.set(String(x.name ?? ''), String(x.version_info ?? ''));
      for (const x of arr(dump.dynamic_warming_secrets)) problems.push(`secret ${String(x.name ?? '')} is warming`);
      break;
  }
  // Only the cluster and listener dumps carry the type's last accepted version.
  return { versions, listeners, problems, ...(typeof dump.version_info === 'string' ? { typeVersion: dump.version_info } : {}) };
}

/** What a listener's filter chains match and where they send traffic, comparable across Envoy's and crossmesh's JSON. */
function chainsOf(listener: Obj | undefined): string {
  return JSON.stringify(
    arr(listener?.filter_chains).map((c) => [c.name ?? '', (c.filter_chain_match as Obj | undefined)?.server_names ?? [], arr(c.filters).map((f) => [f.name, (f.typed_config as Obj | undefined)?.cluster ?? '', arr((f.typed_config as Obj | undefined)?.http_filters).map((h) => h.name)])]),
  );
}

function sameChains(a: Obj | undefined, b: Obj | undefined): boolean {
  return a !== undefined && b !== undefined && chainsOf(a) === chainsOf(b);
}

/**
 * Every way the Envoy behind `admin` (node `nodeId`) differs from what crossmesh serves it; empty
 * when it holds exactly crossmesh's resources at crossmesh's versions and everything is ACKed.
 */
export async function convergenceProblems(cp: ControlPlaneProcess, nodeId: string, admin: EnvoyAdmin): Promise<string[]> {
  const [served, dump] = await Promise.all([cp.adminJson<CrossmeshDump>(`/debug/config_dump?node=${encodeURIComponent(nodeId)}`), admin.configDump({ includeEds: true })]);
  const byType = new Map<string, Obj>();
  for (const c of dump.configs) byType.set(String(c['@type']), c);
  const problems: string[] = [];
  const delta = served.streams.some((s) => s.mode === 'delta');
  for (const s of served.streams) {
    for (const [kind, t] of Object.entries(s.types)) {
      if (t.lastNack) problems.push(`${kind}: crossmesh recorded a NACK: ${String(t.lastNack.error ?? '').slice(0, 300)}`);
      if (t.ackedVersion !== t.lastSentVersion) problems.push(`${kind}: crossmesh sent ${t.lastSentVersion}, ACKed ${t.ackedVersion || '(nothing)'}`);
    }
  }
  // Envoy lists the inline assignments of STATIC/ORIGINAL_DST clusters among its endpoint configs too.
  const edsClusters = new Set((served.types.cds?.resources ?? []).filter((r) => r.resource?.type === 'EDS' || r.resource?.eds_cluster_config !== undefined).map((r) => r.name));
  const notEds = new Set((served.types.cds?.resources ?? []).map((r) => r.name).filter((n) => !edsClusters.has(n)));
  for (const [kind, t] of Object.entries(served.types)) {
    const dumpType = DUMP_TYPES[kind];
    if (!dumpType) continue;
    const envoy = envoyView(kind, byType.get(dumpType));
    problems.push(...envoy.problems.map((p) => `${kind}: ${p}`));
    const want = new Map(t.resources.map((r) => [r.name, r.version]));
    for (const name of want.keys()) if (!envoy.versions.has(name)) problems.push(`${kind}: Envoy lacks ${name}`);
    // Route configurations stay in Envoy's dump while a listener that used them drains; what
    // counts is that every served one is held.
    for (const name of envoy.versions.keys()) if (!want.has(name) && kind !== 'rds' && !(kind === 'eds' && notEds.has(name))) problems.push(`${kind}: Envoy holds ${name}, which crossmesh does not serve it`);
    if (delta) {
      // Envoy 1.40 leaves version_info empty on delta EDS entries (judged by name and crossmesh's
      // ACK), and keeps a listener's old version_info when an update only changed its filter
      // chains (applied in place): a listener is judged by its chains then.
      for (const [name, v] of want) {
        const got = envoy.versions.get(name);
        if (!got || got === v) continue;
        if (kind === 'lds' && sameChains(envoy.listeners.get(name), t.resources.find((r) => r.name === name)?.resource)) continue;
        problems.push(`${kind}: ${name} at version ${got} in Envoy, ${v} in crossmesh`);
      }
    }
    if (envoy.typeVersion && envoy.typeVersion !== t.ackedVersion) problems.push(`${kind}: Envoy's last accepted version ${envoy.typeVersion}, crossmesh's ACKed ${t.ackedVersion}`);
  }
  return problems;
}

/** Waits until `convergenceProblems` is empty, or throws with what still differs after `timeoutMs`. */
export async function waitConverged(cp: ControlPlaneProcess, nodeId: string, admin: EnvoyAdmin, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let last: string[] = [];
  while (Date.now() < deadline) {
    last = await convergenceProblems(cp, nodeId, admin).catch((e: Error) => [e.message]);
    if (last.length === 0) return;
    await new Promise((r) => setTimeout(r, 200));
  }
  throw new Error(`${nodeId} did not converge within ${timeoutMs} ms:\n  ${last.slice(0, 20).join('\n  ')}`);
}

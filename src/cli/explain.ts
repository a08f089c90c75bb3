/**
 * `crossmesh explain <node-id> [--to host[:port]] [--json]`: what one proxy is served and why, in
 * plain words. Offline: the configuration is loaded as `validate` loads it (`--config` paths, or
 * the embedded default mesh) and explained by translate/explain.ts, which reads the resources the
 * translator builds for that node; the CLI only loads and renders. With `--admin`, a running
 * `crossmesh serve` explains from the mesh it serves (`/debug/explain`), Kubernetes clusters included.
 */
import type { Command } from 'commander';
import { fetchAdminJson } from '../admin/client.js';
import { configPathsOrDefault } from '../config/default-mesh.js';
import { formatDiagnostic } from '../config/diagnostics.js';
import { loadConfig } from '../config/loader.js';
import { StaticDiscovery, applyConfig } from '../discovery/static/static-discovery.js';
import { ModelStore } from '../model/store.js';
import type { ProxyRole } from '../translate/bootstrap.js';
import { explainProxy, localityText, type AssignmentExplanation, type Explanation, type PlaceExplanation, type ReachableExplanation } from '../translate/explain.js';
import { MeshView } from '../translate/mesh-view.js';
import { parseRole } from '../translate/proxy.js';

export interface ExplainOutput {
  out(text: string): void;
  err(line: string): void;
}

const stdio: ExplainOutput = {
  out: (text) => process.stdout.write(text),
  err: (line) => process.stderr.write(`${line}\n`),
};

export interface ExplainFlags {
  readonly config?: readonly string[];
  readonly to?: string;
  readonly role?: string;
  readonly json?: boolean;
  /** Admin URL of a running `crossmesh serve`: explain from the mesh it serves (Kubernetes-discovered clusters included). */
  readonly admin?: string;
}

function plural(n: number, word: string): string {
  return `${n} ${word}${n === 1 ? '' : 's'}`;
}

function destinationsText(ds: readonly { cluster: string; weight?: number }[]): string {
  const total = ds.reduce((s, d) => s + (d.weight ?? 0), 0);
  return ds.map((d) => (d.weight !== undefined && ds.length > 1 ? `${Math.round((d.weight / total) * 1000) / 10}% ${d.cluster}` : d.cluster)).join(', ');
}

function matchText(m: Record<string, unknown>): string {
  const keys = Object.keys(m);
  if (keys.length === 1 && m.prefix === '/') return 'every request';
  return JSON.stringify(m);
}

function placeText(p: PlaceExplanation): string {
  if (p.gateway) return `${p.cluster} via east-west gateway ${p.gateway} (other network ${p.network}; ${p.reason}; ${plural(p.serving, 'serving endpoint')} behind it)`;
  return `${plural(p.endpoints, 'endpoint')} of ${p.cluster} (${p.reason})`;
}

function assignmentLines(a: AssignmentExplanation): string[] {
  const lines = [`  ${a.cluster} (overprovisioning ${a.overprovisioningFactor})`];
  if (a.priorities.length === 0) lines.push('    no endpoints');
  for (const p of a.priorities) {
    for (const l of p.localities) {
      const weight = l.places.some((x) => x.gateway) ? `, weight ${l.weight}` : '';
      lines.push(`    priority ${p.priority}: ${localityText(l.locality)}: ${l.places.map(placeText).join(' + ')}${weight}`);
      const plaintext = l.endpoints.filter((e) => e.plaintext).map((e) => `${e.address}:${e.port}`);
      if (plaintext.length) lines.push(`      plaintext (outside the mesh, no mTLS): ${plaintext.join(', ')}`);
    }
  }
  for (const u of a.unreachable) lines.push(`    left out: ${plural(u.endpoints, 'endpoint')} of ${u.cluster} in ${localityText(u.locality)} (${u.reason})`);
  return lines;
}

function reachableLine(r: ReachableExplanation): string {
  const routes = r.routes.map((x) => {
    const by = x.name !== 'default' && x.name !== 'tcp_proxy' ? ` [${x.name}]` : '';
    const when = r.routes.length > 1 ? `${matchText(x.match)}: ` : '';
    return `${when}${destinationsText(x.destinations)}${by}`;
  });
  const name = r.protocol === 'tcp' ? `${r.name} (tcp${r.domains.length ? `, SNI ${r.domains.join(', ')}` : ''})` : r.name;
  return `  ${name} -> ${routes.join('; ')}`;
}

/** The explanation as short, readable sections. */
export function renderExplanation(e: Explanation): string {
  const p = e.proxy;
  const out: string[] = [];
  out.push(`Proxy ${e.node} (mesh version ${e.snapshotVersion})`);
  out.push(`  role:      ${p.role} (${p.roleReason})${p.gateway && p.roleReason === 'given' ? `, runs ${p.gateway}` : ''}`);
  out.push(`  placement: cluster ${p.cluster}, network ${p.network}, locality ${localityText(p.locality)}, address ${p.address}`);
  out.push(`  identity:  ${p.identity}`);
  if (p.services.length) out.push(`  serves:    ${p.services.join(', ')}`);
  const m = e.mesh;
  const vm = m.virtualMesh ? `VirtualMesh ${m.virtualMesh}, sees ${m.visibleClusters.join(', ')}` : `no VirtualMesh: sees only ${p.cluster}`;
  const scope = !m.accessPolicyEnforced
    ? '; access policy not enforced'
    : m.dependencies
      ? `; globalAccessPolicy ENABLED: sent only ${m.dependencies.join(', ') || 'no service'} (what its identity may call, what its TrafficPolicies send to, FailoverService children)`
      : '; globalAccessPolicy ENABLED';
  out.push(`  mesh:      ${vm}${scope}`);

  out.push('', 'Reachable services (host:port -> cluster)');
  if (e.reachable.length === 0) out.push('  none');
  for (const r of e.reachable) out.push(reachableLine(r));

  if (e.failover.length) {
    out.push('', 'Failover services (Envoy aggregate clusters: the first child with a healthy endpoint takes the traffic)');
    for (const f of e.failover) {
      out.push(`  ${f.hostname}:${f.port} (FailoverService ${f.failoverService}) -> ${f.cluster}${f.problem ? `: REJECTED: ${f.problem}` : ''}`);
      f.children.forEach((c, i) => out.push(`    ${i + 1}. ${c.cluster}${c.firstPriority ? ` (first: ${c.firstPriority})` : ''}`));
    }
  }

  out.push('', 'Endpoints by priority (0 is tried first; a priority spills to the next as its hosts fail)');
  if (e.endpoints.length === 0) out.push('  none');
  for (const a of e.endpoints) out.push(...assignmentLines(a));

  if (e.trafficPolicies.length) {
    out.push('', `Traffic policies (conflict rule: ${e.conflictRule})`);
    for (const h of e.trafficPolicies) {
      out.push(`  ${h.host}:${h.port}: ${h.policies.join(', ')}`);
      for (const g of h.routeGroups) {
        const when = g.matches.length ? g.matches.map(matchText).join(' or ') : 'every request';
        for (const f of g.fields) {
          const dest = f.field === 'trafficShift' && g.destinations.length ? ` -> ${destinationsText(g.destinations)}` : '';
          out.push(`    ${when}: ${f.field} from ${f.winner}${dest}${f.losers.length ? ` (conflict: ${f.winner} wins over ${f.losers.join(', ')})` : ''}`);
        }
        if (g.inherited.length) out.push(`    ${when}: also ${g.inherited.join(', ')} of the every-request policies`);
        for (const l of g.leftOut) out.push(`    ${when}: shift destination ${l.destination} left out: ${l.reason}`);
      }
      for (const f of h.clusterFields) out.push(`    clusters: ${f.field} from ${f.winner}${f.losers.length ? ` (conflict: ${f.winner} wins over ${f.losers.join(', ')})` : ''}`);
    }
  }

  if (e.rejected.length) {
    out.push('', 'Refused by the guard (not pushed; the proxy keeps its last good version)');
    for (const r of e.rejected) out.push(`  ${r.kind} ${r.name}: ${r.errors.join('; ')}`);
  }

  if (e.access) {
    const a = e.access;
    out.push('', `Access: ${a.caller} -> ${a.host}:${a.port}: ${a.verdict}`);
    for (const d of a.destinations) out.push(`  ${d.cluster} ${d.service}:${d.port}${d.targetPort !== d.port ? ` (app port ${d.targetPort})` : ''}: ${d.decision}: ${d.reason}`);
    for (const d of a.destinations) for (const i of d.ignored) out.push(`  ${d.cluster}: ${i.policy} grants nothing here: ${i.reason}`);
    if (a.destinations.length === 0) out.push('  no instance of it runs in a cluster this proxy sees');
    out.push(
      a.inConfiguration
        ? `  this proxy is served ${a.host}:${a.port}`
        : `  this proxy is not served ${a.host}:${a.port}${m.accessPolicyEnforced ? ' (under enforced access policy a proxy gets only what it may call)' : ''}`,
    );
  }
  return out.join('\n') + '\n';
}

/** Asks a running `crossmesh serve` (its admin API) for the explanation: what it explains from the mesh it serves now. */
async function explainFromServer(adminUrl: string, nodeId: string, role: ProxyRole | undefined, to: string | undefined): Promise<Explanation | Error> {
  const q = new URLSearchParams({ node: nodeId, ...(role ? { role } : {}), ...(to !== undefined ? { to } : {}) });
  try {
    return await fetchAdminJson<Explanation>(adminUrl, `/debug/explain?${q.toString()}`);
  } catch (err) {
    return err instanceof Error ? err : new Error(String(err));
  }
}

/** Loads the configuration offline and explains `nodeId`, or asks the server at `flags.admin`; returns the exit code. */
export async function runExplain(nodeId: string, flags: ExplainFlags, io: ExplainOutput = stdio): Promise<number> {
  let role: ProxyRole | undefined;
  if (flags.role !== undefined) {
    const r = parseRole(flags.role);
    if (r instanceof Error) {
      io.err(`crossmesh explain: --role: ${r.message}`);
      return 1;
    }
    role = r;
  }
  if (flags.admin !== undefined) {
    if (flags.config?.length) {
      io.err('crossmesh explain: --admin explains what that server serves; --config cannot be given with it');
      return 1;
    }
    return finish(await explainFromServer(flags.admin, nodeId, role, flags.to), flags, io);
  }
  const result = await loadConfig(configPathsOrDefault(flags.config?.length ? flags.config : undefined));
  if (result.errors.length || !result.config) {
    for (const e of result.errors) io.err(formatDiagnostic(e));
    io.err(`crossmesh explain: the configuration has ${plural(result.errors.length, 'error')}`);
    return 1;
  }
  const config = result.config;
  // Offline there is no API server to ask: such a cluster's services and workloads are unknown here.
  for (const c of config.clusters) if (c.discovery?.kubernetes) io.err(`crossmesh explain: warning: cluster ${c.name} is discovered from Kubernetes; offline, its services and workloads are not known`);
  const store = new ModelStore();
  applyConfig(store, new StaticDiscovery(config), config);
  return finish(explainProxy(new MeshView(store.current), nodeId, { ...(role ? { role } : {}), ...(flags.to !== undefined ? { to: flags.to } : {}) }), flags, io);
}

function finish(e: Explanation | Error, flags: ExplainFlags, io: ExplainOutput): number {
  if (e instanceof Error) {
    io.err(`crossmesh explain: ${e.message}`);
    return 1;
  }
  io.out(flags.json ? JSON.stringify(e, null, 2) + '\n' : renderExplanation(e));
  return 0;
}

function collect(value: string, previous: string[]): string[] {
  return [...previous, value];
}

/** Adds `crossmesh explain`. */
export function register(program: Command): void {
  program
    .command('explain')
    .description("explain a proxy's configuration: reachable services, endpoint priorities and why, TrafficPolicies and conflicts, access to a destination")
    .argument('<node-id>', 'Envoy node.id, e.g. cluster1/default/productpage-v1-0')
    .option('--to <host[:port]>', 'also check whether this proxy may call that destination (AccessPolicy RBAC)')
    .option('--role <role>', 'sidecar, gateway, ingress or proxyless (default: from the Gateway naming the workload, else sidecar)')
    .option('-c, --config <path>', 'a YAML file or a directory of them (repeatable; default: the embedded default mesh)', collect, [] as string[])
    .option('--admin <url>', 'ask a running crossmesh serve instead (its admin URL, e.g. http://127.0.0.1:18080): the mesh it serves now')
    .option('--json', 'print the explanation as JSON')
    .action(async (nodeId: string, opts: { config: string[]; to?: string; role?: string; json?: boolean; admin?: string }) => {
      process.exitCode = await runExplain(nodeId, opts);
    });
}

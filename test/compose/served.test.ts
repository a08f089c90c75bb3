/**
 * What crossmesh serves to each Envoy of the compose simulation passes the guard: every node of
 * envoy-configs/ is resolved against the compose topology, translated (src/translate/index.ts
 * translateProxy, what the publisher serves), and every resource checked with the same guard the
 * publisher applies (protoc-gen-validate rules + Envoy's semantic rules), for the topology alone
 * and after each scripted policy step.
 *
 * Roles the translator does not serve yet (ingress, at the time of writing) are listed, not
 * checked; the test checks them automatically once translatorFor(role) accepts them.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MeshView, resolveProxy, translateProxy, translatorFor } from '../../src/translate/index.js';
import { INBOUND_PORT, OUTBOUND_PORT, VIRTUAL_INBOUND_LISTENER, VIRTUAL_OUTBOUND_LISTENER } from '../../src/translate/listeners.js';
import { RESOURCE_KINDS, type ProxyResources } from '../../src/translate/resources.js';
import { guardResources } from '../../src/translate/semantics.js';
import type { MeshSnapshot } from '../../src/model/snapshot.js';
import { bootstrapPlan, composeTopology, loadCompose, replaySteps, storeOf } from './support.js';

const plan = bootstrapPlan();
const compose = loadCompose();
let dir: string;
/** Snapshot of the model per state: the topology alone, then after each step. */
const states = new Map<string, MeshSnapshot>();

beforeAll(async () => {
  states.set('topology', storeOf(await composeTopology()).current);
  dir = await mkdtemp(join(tmpdir(), 'crossmesh-compose-served-'));
  await replaySteps(dir, async (step) => {
    states.set(step, storeOf(await composeTopology([dir])).current);
  });
}, 30_000);
afterAll(async () => {
  if (dir) await rm(dir, { recursive: true, force: true });
});

function served(snapshot: MeshSnapshot, node: string, role: (typeof plan.entries)[number]['role']): ProxyResources | string {
  const t = translatorFor(role);
  if (t instanceof Error) return t.message;
  const proxy = resolveProxy(snapshot, node, role);
  if (proxy instanceof Error) throw proxy;
  return translateProxy(snapshot, proxy, { view: new MeshView(snapshot) });
}

describe('resources served to the compose Envoys', () => {
  it('pass the guard for every node, with the topology alone and after every policy step', () => {
    expect([...states.keys()]).toEqual(['topology', 'step1-virtual-mesh.sh', 'step2-traffic-shift.sh', 'step3-access-policy.sh', 'step4-failover.sh']);
    const checked = new Set<string>();
    const notServed = new Map<string, string>();
    for (const [state, snapshot] of states) {
      for (const p of plan.entries) {
        const r = served(snapshot, p.node, p.role);
        if (typeof r === 'string') {
          notServed.set(p.node, r);
          continue;
        }
        const g = guardResources(r);
        expect(g.rejected, `${state}: ${p.node}`).toEqual([]);
        // A gateway exports nothing until a virtual mesh makes its cluster's services visible elsewhere.
        if (p.role === 'sidecar' || state !== 'topology') expect(r.listeners.size * r.clusters.size, `${state}: ${p.node} is served listeners and clusters`).toBeGreaterThan(0);
        for (const k of RESOURCE_KINDS) expect([...g.accepted[k].keys()], `${state}: ${p.node} ${k}`).toEqual([...r[k].keys()]);
        checked.add(p.node);
      }
    }
    // Sidecars and east-west gateways are always served; a role not yet translated says so.
    for (const p of plan.entries.filter((x) => x.role !== 'ingress')) expect(checked.has(p.node), p.node).toBe(true);
    for (const [node, why] of notServed) expect(why, node).toMatch(/role "ingress" is not translated yet/);
  });

  it("reach cluster2 from cluster1 only through cluster2's east-west gateway address on wan, once the virtual mesh exists", () => {
    const gw2 = compose.services['cluster2-east-west-gateway']!.networks!.wan!.ipv4_address!;
    const productpage = plan.entries.find((p) => p.service === 'cluster1-productpage-envoy')!;
    const endpointsOf = (state: string): string[] => {
      const r = served(states.get(state)!, productpage.node, 'sidecar') as ProxyResources;
      const cla = r.endpoints.get('outbound|9080||reviews.default.svc.cluster.local') as { endpoints: { priority: number; lb_endpoints: { endpoint: { address: { socket_address: { address: string; port_value: number } } } }[] }[] };
      return cla.endpoints.flatMap((l) => l.lb_endpoints.map((e) => `${l.priority} ${e.endpoint.address.socket_address.address}:${e.endpoint.address.socket_address.port_value}`)).sort();
    };
    // Before: cluster1's own reviews only. After: cluster2's reviews v3 behind its gateway, one priority down.
    expect(endpointsOf('topology')).toEqual(['0 172.30.1.12:9080', '0 172.30.1.13:9080']);
    expect(endpointsOf('step1-virtual-mesh.sh')).toEqual(['0 172.30.1.12:9080', '0 172.30.1.13:9080', `1 ${gw2}:15443`]);
    // cluster2's gateway forwards to its reviews v3 on the cluster2 network.
    const gwNode = plan.entries.find((p) => p.service === 'cluster2-east-west-gateway')!;
    const gw = served(states.get('step1-virtual-mesh.sh')!, gwNode.node, 'gateway') as ProxyResources;
    expect([...gw.listeners.values()].map((l) => (l as { address: { socket_address: { port_value: number } } }).address.socket_address.port_value)).toEqual([15443]);
    expect(JSON.stringify(gw.endpoints.get('outbound|9080||reviews.default.svc.cluster.local'))).toContain('"172.30.2.12"');
  });

  // Transparent capture in every app container (its "-init" service runs `crossmesh capture --apply`):
  // callers (sidecars, east-west gateways) are sent to <workload address>:<targetPort>, where the
  // app's rules hand the connection to its sidecar's virtualInbound (15006), which forwards to the
  // app on 127.0.0.1; the app calls services by name, and its rules hand that to virtualOutbound (15001).
  it('sends callers to the workload address and target port, and has the sidecars take both directions from capture', () => {
    const snapshot = states.get('topology')!;
    const sidecarOf = (service: string) => served(snapshot, plan.entries.find((p) => p.service === service)!.node, 'sidecar') as ProxyResources;
    const details = compose.services['cluster1-details']!.command!;
    const port = Number(details.includes('--port') ? details[details.indexOf('--port') + 1] : 9080);
    type Obj = Record<string, any>;

    // productpage's sidecar: details' endpoint is the workload's own address and the app's port.
    const productpage = sidecarOf('cluster1-productpage-envoy');
    const cla = productpage.endpoints.get('outbound|9080||details.default.svc.cluster.local') as Obj;
    const addresses = (cla.endpoints as Obj[]).flatMap((l) => (l.lb_endpoints as Obj[]).map((e) => `${e.endpoint.address.socket_address.address}:${e.endpoint.address.socket_address.port_value}`));
    expect(addresses).toEqual([`${compose.services['cluster1-details']!.networks!.cluster1!.ipv4_address}:${port}`]);
    // Its outbound side: the capture listener, and the per-port HTTP listener routing by Host over RDS "9080".
    expect([...productpage.listeners.keys()].sort()).toEqual(['0.0.0.0_9080', VIRTUAL_INBOUND_LISTENER, VIRTUAL_OUTBOUND_LISTENER].sort());
    const outbound = productpage.listeners.get(VIRTUAL_OUTBOUND_LISTENER) as Obj;
    expect(outbound.address.socket_address).toEqual({ address: '0.0.0.0', port_value: OUTBOUND_PORT });
    expect(outbound.use_original_dst).toEqual({ value: true });
    expect((productpage.listeners.get('0.0.0.0_9080') as Obj).bind_to_port).toEqual({ value: false });
    const domains = ((productpage.routes.get('9080') as Obj).virtual_hosts as Obj[]).flatMap((v) => v.domains as string[]);
    for (const called of ['details', 'reviews']) expect(domains, called).toContain(`${called}.default.svc.cluster.local:9080`);

    // details' sidecar: virtualInbound on 15006 restores the original destination and forwards to
    // the app where it listens (127.0.0.1:<targetPort>, the demo app's default address).
    const d = sidecarOf('cluster1-details-envoy');
    const inbound = d.listeners.get(VIRTUAL_INBOUND_LISTENER) as Obj;
    expect(inbound.address.socket_address).toEqual({ address: '0.0.0.0', port_value: INBOUND_PORT });
    expect((inbound.listener_filters as Obj[]).map((f) => f.name)).toContain('envoy.filters.listener.original_dst');
    expect((inbound.filter_chains as Obj[]).map((c) => c.name)).toEqual(['inbound|9080|details.default']);
    const app = (d.clusters.get(`inbound|${port}||`) as Obj).load_assignment.endpoints[0].lb_endpoints[0].endpoint.address.socket_address;
    expect(app).toEqual({ address: '127.0.0.1', port_value: port });
  });
});

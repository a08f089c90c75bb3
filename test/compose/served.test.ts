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
import { INBOUND_PORT } from '../../src/translate/listeners.js';
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
    expect(endpointsOf('topology')).toEqual(['0 172.30.1.12:15006', '0 172.30.1.13:15006']);
    expect(endpointsOf('step1-virtual-mesh.sh')).toEqual(['0 172.30.1.12:15006', '0 172.30.1.13:15006', `1 ${gw2}:15443`]);
    // cluster2's gateway forwards to its reviews v3 on the cluster2 network.
    const gwNode = plan.entries.find((p) => p.service === 'cluster2-east-west-gateway')!;
    const gw = served(states.get('step1-virtual-mesh.sh')!, gwNode.node, 'gateway') as ProxyResources;
    expect([...gw.listeners.values()].map((l) => (l as { address: { socket_address: { port_value: number } } }).address.socket_address.port_value)).toEqual([15443]);
    expect(JSON.stringify(gw.endpoints.get('outbound|9080||reviews.default.svc.cluster.local'))).toContain('"172.30.2.12"');
  });

  // No iptables in the compose containers: the only thing listening on a workload's address is its
  // sidecar's inbound listener (0.0.0.0:15006), so the topology declares `sidecar.inboundPort: 15006`
  // and callers (sidecars, east-west gateways) must be sent there; the sidecar forwards to the app.
  it('sends callers to the sidecar inbound port 15006 on the workload address', () => {
    const productpage = plan.entries.find((p) => p.service === 'cluster1-productpage-envoy')!;
    const r = served(states.get('topology')!, productpage.node, 'sidecar') as ProxyResources;
    const ports = JSON.stringify(r.endpoints.get('outbound|9080||details.default.svc.cluster.local')).match(/"port_value":\d+/g);
    expect(ports).toEqual([`"port_value":${INBOUND_PORT}`]);
  });
});


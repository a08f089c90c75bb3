/**
 * Properties of every proxy's translation over generated meshes (seeded, so failures reproduce):
 * the guard accepts everything; priorities are contiguous from 0 and every locality is weighted;
 * every referenced cluster, route and secret exists; filter chains are unique; and every
 * cross-network endpoint is a gateway whose listener has a chain for the SNI the sidecar sends.
 */
import { describe, expect, it } from 'vitest';
import type { ProxyRole } from '../../src/translate/bootstrap.js';
import { MeshView, resolveProxy, translateProxy, type ProxyResources } from '../../src/translate/index.js';
import { referencedSecrets } from '../../src/translate/semantics.js';
import { guardResources } from '../../src/translate/semantics.js';
import { generateMesh } from './mesh-generator.js';

type Obj = Record<string, any>;

const SEEDS = Array.from({ length: 40 }, (_, i) => 1000 + i * 7919);
/** Cross-network hops checked over all seeds (the property must actually be exercised). */
let totalHops = 0;
let totalSubsetHops = 0;

function routeClusters(rc: Obj): string[] {
  return (rc.virtual_hosts ?? []).flatMap((vh: Obj) => (vh.routes ?? []).map((r: Obj) => r.route?.cluster).filter(Boolean));
}

function listenerRefs(l: Obj): { clusters: string[]; routes: string[] } {
  const clusters: string[] = [];
  const routes: string[] = [];
  // The default chain too (the sidecar's capture listener passes unmatched connections through it).
  for (const chain of [...(l.filter_chains ?? []), ...(l.default_filter_chain ? [l.default_filter_chain] : [])]) {
    for (const f of chain.filters ?? []) {
      const tc = f.typed_config ?? {};
      if (typeof tc.cluster === 'string') clusters.push(tc.cluster);
      if (tc.rds) routes.push(tc.rds.route_config_name);
      if (tc.route_config) clusters.push(...routeClusters(tc.route_config));
    }
  }
  return { clusters, routes };
}

function checkInvariants(where: string, r: ProxyResources): void {
  expect(guardResources(r).rejected, where).toEqual([]);
  for (const [name, cla] of r.endpoints as Map<string, Obj>) {
    const prios = [...new Set<number>(cla.endpoints.map((e: Obj) => e.priority))].sort((a, b) => a - b);
    expect(prios, `${where} ${name} priorities`).toEqual(prios.map((_, i) => i));
    for (const loc of cla.endpoints) expect(loc.load_balancing_weight.value, `${where} ${name} locality weight`).toBeGreaterThanOrEqual(1);
    expect(r.clusters.has(name), `${where} assignment ${name} has a cluster`).toBe(true);
  }
  for (const [name, c] of r.clusters as Map<string, Obj>) {
    if (c.type === 'EDS') expect(r.endpoints.has(name), `${where} EDS cluster ${name} has an assignment`).toBe(true);
  }
  for (const rc of r.routes.values()) for (const c of routeClusters(rc)) expect(r.clusters.has(c), `${where} route → ${c}`).toBe(true);
  const bound = new Set<string>();
  for (const l of r.listeners.values() as Iterable<Obj>) {
    const refs = listenerRefs(l);
    for (const c of refs.clusters) expect(r.clusters.has(c), `${where} ${l.name} → cluster ${c}`).toBe(true);
    for (const rn of refs.routes) expect(r.routes.has(rn), `${where} ${l.name} → routes ${rn}`).toBe(true);
    const sni = (l.filter_chains ?? []).flatMap((c: Obj) => c.filter_chain_match?.server_names ?? ['<none>']);
    expect(new Set(sni).size, `${where} ${l.name} unique chains`).toBe(sni.length);
    const addr = `${l.address.socket_address.address}:${l.address.socket_address.port_value}`;
    expect(bound.has(addr), `${where} ${l.name} binds ${addr} once`).toBe(false);
    bound.add(addr);
  }
  for (const kind of ['clusters', 'listeners'] as const) {
    for (const res of r[kind].values()) for (const s of referencedSecrets(res)) expect(['default', 'ROOTCA']).toContain(s);
  }
}

describe('translation over generated meshes', () => {
  for (const seed of SEEDS) {
    it(`seed ${seed}: every proxy's resources are consistent and pass the guard`, () => {
      const { store, proxies } = generateMesh(seed);
      const snap = store.current;
      const view = new MeshView(snap);
      const byId = new Map<string, ProxyResources>();
      for (const [id, role] of proxies) {
        const proxy = resolveProxy(snap, id, role as ProxyRole);
        if (proxy instanceof Error) throw proxy;
        const r = translateProxy(snap, proxy, { view });
        checkInvariants(`seed ${seed} ${id}`, r);
        byId.set(id, r);
      }
      // Cross-network hops land on a gateway with a chain for the SNI the sidecar sends.
      const gatewayChains = new Map<string, Set<string>>();
      for (const c of snap.clusters.values()) {
        if (!c.gateway) continue;
        const r = byId.get(`${c.name}/mesh-system/ew-0`);
        const names = new Set<string>();
        for (const l of r?.listeners.values() ?? []) for (const ch of (l as Obj).filter_chains) for (const n of ch.filter_chain_match.server_names) names.add(n);
        gatewayChains.set(`${c.gateway.address}:${c.gateway.port}`, names);
      }
      for (const [id, role] of proxies) {
        if (role !== 'sidecar') continue;
        const r = byId.get(id)!;
        for (const [name, cla] of r.endpoints as Map<string, Obj>) {
          const sni = (r.clusters.get(name) as Obj).transport_socket.typed_config.sni as string;
          for (const loc of cla.endpoints) {
            for (const e of loc.lb_endpoints) {
              const sa = e.endpoint.address.socket_address;
              const chains = gatewayChains.get(`${sa.address}:${sa.port_value}`);
              if (sa.port_value !== 15443) continue;
              totalHops++;
              if (!name.includes('||')) totalSubsetHops++;
              expect(chains?.has(sni), `seed ${seed} ${id} ${name}: gateway ${sa.address} has a chain for ${sni}`).toBe(true);
            }
          }
        }
      }
    });
  }

  it('exercised cross-network hops, including subset hops, across the seeds', () => {
    expect(totalHops).toBeGreaterThan(50);
    expect(totalSubsetHops).toBeGreaterThan(5);
  });
});

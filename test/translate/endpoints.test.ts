import { describe, expect, it } from 'vitest';
import {
  buildClusterLoadAssignment,
  type EndpointInput,
  type NetworkGateway,
  type ProxyPlacement,
  LOCALITY_OVERPROVISIONING,
  STRICT_ORDER_OVERPROVISIONING,
} from '../../src/translate/endpoints.js';
import { messageType } from '../../src/xds/protos.js';
import type { Health, Locality } from '../../src/model/types.js';

const loc = (region: string, zone = '', subzone = ''): Locality => ({ region, zone, subzone });
const ep = (address: string, cluster: string, network: string, locality: Locality, health: Health = 'HEALTHY', port = 9080): EndpointInput => ({
  address, port, health, locality, cluster, network,
});

const proxy: ProxyPlacement = { cluster: 'cluster1', network: 'net1', locality: loc('us-east', 'us-east-1a') };
const gateways = new Map<string, NetworkGateway[]>([['cluster2', [{ address: '127.0.2.100', port: 15443 }]]]);

function roundTrip(cla: unknown): Record<string, unknown> {
  const T = messageType('envoy.config.endpoint.v3.ClusterLoadAssignment');
  const msg = T.fromObject(cla as Record<string, unknown>);
  expect(T.verify(msg)).toBeNull();
  return T.toObject(T.decode(T.encode(msg).finish()), { enums: String, defaults: false }) as Record<string, unknown>;
}

describe('buildClusterLoadAssignment', () => {
  it('puts same-zone endpoints first, then same region, then remote networks through their gateway', () => {
    // The seed scenario: reviews v1/v2 in cluster1, v3 only in cluster2 on another network.
    const cla = buildClusterLoadAssignment(
      'outbound|9080||reviews.default.svc.cluster.local',
      [
        ep('127.0.1.21', 'cluster1', 'net1', loc('us-east', 'us-east-1a')),
        ep('127.0.1.22', 'cluster1', 'net1', loc('us-east', 'us-east-1b')),
        ep('127.0.2.23', 'cluster2', 'net2', loc('eu-west', 'eu-west-1a')),
        ep('127.0.2.24', 'cluster2', 'net2', loc('eu-west', 'eu-west-1a')),
      ],
      proxy,
      gateways,
    );
    expect(cla.endpoints.map((l) => [l.priority, l.locality.zone, l.lb_endpoints.map((e) => e.endpoint.address.socket_address.address)])).toEqual([
      [0, 'us-east-1a', ['127.0.1.21']],
      [1, 'us-east-1b', ['127.0.1.22']],
      [2, 'eu-west-1a', ['127.0.2.100']],
    ]);
    const gw = cla.endpoints[2]!.lb_endpoints[0]!;
    expect(gw.endpoint.address.socket_address.port_value).toBe(15443);
    expect(gw.load_balancing_weight.value).toBe(2); // two healthy endpoints behind the gateway
    const decoded = roundTrip(cla) as { endpoints: unknown[] };
    expect(decoded.endpoints).toHaveLength(3);
  });

  it('ranks the proxy own cluster ahead of another cluster at the same closeness', () => {
    const cla = buildClusterLoadAssignment(
      'c',
      [ep('127.0.3.1', 'cluster3', 'net1', loc('us-east', 'us-east-1a')), ep('127.0.1.1', 'cluster1', 'net1', loc('us-east', 'us-east-1a'))],
      proxy,
      gateways,
    );
    expect(cla.endpoints.map((l) => [l.priority, l.lb_endpoints[0]!.endpoint.address.socket_address.address])).toEqual([
      [0, '127.0.1.1'],
      [1, '127.0.3.1'],
    ]);
  });

  it('marks unhealthy and draining endpoints instead of dropping them, and weights localities by serving endpoints', () => {
    const cla = buildClusterLoadAssignment(
      'c',
      [
        ep('127.0.1.1', 'cluster1', 'net1', loc('us-east', 'us-east-1a'), 'HEALTHY'),
        ep('127.0.1.2', 'cluster1', 'net1', loc('us-east', 'us-east-1a'), 'UNHEALTHY'),
        ep('127.0.1.3', 'cluster1', 'net1', loc('us-east', 'us-east-1a'), 'DRAINING'),
      ],
      proxy,
      gateways,
    );
    expect(cla.endpoints).toHaveLength(1);
    expect(cla.endpoints[0]!.lb_endpoints.map((e) => e.health_status)).toEqual(['HEALTHY', 'UNHEALTHY', 'DRAINING']);
    expect(cla.endpoints[0]!.load_balancing_weight.value).toBe(1);
  });

  it('reaches each remote cluster through its own gateway, even when two clusters share a network', () => {
    const gws = new Map<string, NetworkGateway[]>([
      ['cluster2', [{ address: '127.0.2.100', port: 15443 }]],
      ['cluster3', [{ address: '127.0.3.100', port: 15443 }]],
    ]);
    const cla = buildClusterLoadAssignment(
      'c',
      [ep('127.0.2.1', 'cluster2', 'net2', loc('eu-west', 'a')), ep('127.0.3.1', 'cluster3', 'net2', loc('eu-west', 'a')), ep('127.0.3.2', 'cluster3', 'net2', loc('eu-west', 'a'))],
      proxy,
      gws,
    );
    expect(cla.endpoints).toHaveLength(1);
    expect(cla.endpoints[0]!.lb_endpoints.map((e) => [e.endpoint.address.socket_address.address, e.load_balancing_weight.value])).toEqual([
      ['127.0.2.100', 1],
      ['127.0.3.100', 2],
    ]);
  });

  it('marks a gateway unhealthy when nothing behind it serves', () => {
    const cla = buildClusterLoadAssignment('c', [ep('127.0.2.1', 'cluster2', 'net2', loc('eu-west', 'a'), 'UNHEALTHY')], proxy, gateways);
    expect(cla.endpoints[0]!.lb_endpoints[0]!.health_status).toBe('UNHEALTHY');
    expect(cla.endpoints[0]!.priority).toBe(0);
  });

  it('leaves out endpoints of a remote cluster that has no gateway', () => {
    const cla = buildClusterLoadAssignment('c', [ep('127.0.9.1', 'cluster9', 'net9', loc('ap-south', 'a'))], proxy, gateways);
    expect(cla).toEqual({ cluster_name: 'c', endpoints: [], policy: { overprovisioning_factor: { value: LOCALITY_OVERPROVISIONING } } });
  });

  it('gives an empty assignment, not a missing one, when there are no endpoints', () => {
    const cla = buildClusterLoadAssignment('outbound|80||none.default.svc.cluster.local', [], proxy, gateways);
    expect(roundTrip(cla)).toEqual({ cluster_name: 'outbound|80||none.default.svc.cluster.local', policy: { overprovisioning_factor: { value: 140 } } });
  });

  it('keeps priorities contiguous from 0 and every locality weighted over generated meshes', () => {
    let seed = 42;
    const rand = (n: number) => {
      seed = (seed * 1103515245 + 12345) % 2 ** 31;
      return seed % n;
    };
    const regions = ['us-east', 'us-west', 'eu-west'];
    const healths: Health[] = ['HEALTHY', 'UNHEALTHY', 'DRAINING', 'UNKNOWN'];
    for (let round = 0; round < 300; round++) {
      const eps: EndpointInput[] = [];
      const n = rand(30);
      for (let i = 0; i < n; i++) {
        const cluster = `cluster${rand(3) + 1}`;
        const region = regions[rand(3)]!;
        eps.push(ep(`127.0.${rand(9)}.${rand(250)}`, cluster, `net${rand(2) + 1}`, loc(region, `${region}-${rand(3)}`), healths[rand(4)]!));
      }
      const p: ProxyPlacement = { cluster: `cluster${rand(3) + 1}`, network: `net${rand(2) + 1}`, locality: loc(regions[rand(3)]!, `z${rand(3)}`) };
      const gws = new Map<string, NetworkGateway[]>([
        ['cluster1', [{ address: '127.0.1.100', port: 15443 }]],
        ['cluster2', [{ address: '127.0.2.100', port: 15443 }, { address: '127.0.2.101', port: 15443 }]],
      ]);
      const cla = buildClusterLoadAssignment('c', eps, p, gws);
      const priorities = [...new Set(cla.endpoints.map((l) => l.priority))];
      expect(priorities).toEqual(priorities.map((_, i) => i));
      const seen = new Set<string>();
      for (const l of cla.endpoints) {
        expect(l.load_balancing_weight.value).toBeGreaterThanOrEqual(1);
        const key = `${l.priority}/${l.locality.region}/${l.locality.zone}/${l.locality.sub_zone}`;
        expect(seen.has(key)).toBe(false); // gRPC rejects a locality repeated within one priority
        seen.add(key);
      }
      // Same inputs, same output (translate is deterministic).
      expect(buildClusterLoadAssignment('c', eps, p, gws)).toEqual(cla);
    }
  });
});

describe('dual-stack endpoints', () => {
  it('sends the other addresses as additional_addresses on the endpoint port; a gateway stand-in carries none', () => {
    const cla = buildClusterLoadAssignment(
      'outbound|9080||reviews.default.svc.cluster.local',
      [
        { ...ep('10.1.0.21', 'cluster1', 'net1', loc('us-east', 'us-east-1a')), additionalAddresses: ['fd00:1::21'] },
        ep('10.1.0.22', 'cluster1', 'net1', loc('us-east', 'us-east-1a')),
        { ...ep('10.2.0.23', 'cluster2', 'net2', loc('eu-west', 'eu-west-1a')), additionalAddresses: ['fd00:2::23'] },
      ],
      proxy,
      gateways,
    );
    expect(cla.endpoints.map((l) => l.lb_endpoints.map((e) => e.endpoint))).toEqual([
      [
        { address: { socket_address: { address: '10.1.0.21', port_value: 9080 } }, additional_addresses: [{ address: { socket_address: { address: 'fd00:1::21', port_value: 9080 } } }] },
        { address: { socket_address: { address: '10.1.0.22', port_value: 9080 } } },
      ],
      // Another network's endpoint is reached through its gateway's one address.
      [{ address: { socket_address: { address: '127.0.2.100', port_value: 15443 } } }],
    ]);
    const decoded = roundTrip(cla) as { endpoints: { lb_endpoints: { endpoint: { additional_addresses?: unknown[] } }[] }[] };
    expect(decoded.endpoints[0]!.lb_endpoints[0]!.endpoint.additional_addresses).toHaveLength(1);
  });
});

describe('buildClusterLoadAssignment with many places', () => {
  it('groups endpoints by place past the few dozen places a scan handles', () => {
    // 120 endpoints in 60 places (one cluster, one network): each lands once, in its own locality's group.
    const eps: EndpointInput[] = [];
    const where = new Map<string, string>();
    for (let i = 0; i < 120; i++) {
      const zone = `z${i % 60}`;
      eps.push(ep(`10.0.${i >> 8}.${i & 255}`, 'cluster1', 'net1', loc('us-east', zone)));
      where.set(`10.0.${i >> 8}.${i & 255}`, zone);
    }
    const cla = buildClusterLoadAssignment('c', eps, proxy, gateways);
    expect(cla.endpoints).toHaveLength(60);
    const seen = new Set<string>();
    for (const g of cla.endpoints) {
      expect(g.lb_endpoints).toHaveLength(2);
      for (const e of g.lb_endpoints) {
        const a = e.endpoint.address.socket_address.address;
        expect(where.get(a)).toBe(g.locality.zone);
        seen.add(a);
      }
    }
    expect(seen.size).toBe(120);
    // Same zone first (z0 is not the proxy's zone: every place ranks alike), localities ordered.
    expect(cla.endpoints.map((g) => g.locality.zone)).toEqual([...new Set(eps.map((e) => e.locality.zone))].sort());
  });
});

describe('MeshView.assignment (shared layouts and parts)', () => {
  it('equals the unshared builder for every target and placement over generated meshes, and reuses one object per layout', async () => {
    const { generateMesh } = await import('./mesh-generator.js');
    const { MeshView } = await import('../../src/translate/mesh-view.js');
    const { endpointPort } = await import('../../src/model/snapshot.js');
    let compared = 0;
    let reused = 0;
    for (let seed = 1; seed <= 30; seed++) {
      const snap = generateMesh(seed * 104729).store.current;
      const view = new MeshView(snap);
      const gateways = view.gatewaysByCluster();
      // Every cluster's placement, plus other zones of its region (they lay some targets out alike).
      const placements: ProxyPlacement[] = [];
      for (const c of snap.clusters.values()) {
        for (const zone of [c.locality.zone, `${c.locality.zone}-x`]) placements.push({ cluster: c.name, network: c.network, locality: { ...c.locality, zone } });
      }
      for (const c of snap.clusters.values()) {
        for (const t of view.sidecarTargets(c.name)) {
          const inputs: EndpointInput[] = view.targetEndpoints(t).map((e) => ({
            address: e.address, port: endpointPort(e, t.port)!, health: e.health, locality: e.locality, cluster: e.cluster, network: e.network,
          }));
          const seen = new Map<string, unknown>();
          for (const p of placements) {
            const shared = view.assignment(t, p);
            const factor = t.hostCluster === undefined ? LOCALITY_OVERPROVISIONING : STRICT_ORDER_OVERPROVISIONING;
            const plain = buildClusterLoadAssignment(t.clusterName, inputs, p, gateways, factor);
            expect(JSON.parse(JSON.stringify(shared)), `${t.clusterName} from ${p.cluster}/${p.locality.zone}`).toEqual(JSON.parse(JSON.stringify(plain)));
            expect(Object.isFrozen(shared)).toBe(true);
            // Equal content for the same target is one object (built, guarded and encoded once).
            const key = JSON.stringify(plain);
            if (seen.has(key)) {
              expect(seen.get(key)).toBe(shared);
              reused++;
            } else seen.set(key, shared);
            compared++;
          }
        }
      }
    }
    expect(compared).toBeGreaterThan(1000);
    expect(reused).toBeGreaterThan(100);
  });
});

/**
 * `/debug/topology` as a pure function of a snapshot: a small two-network mesh built from plain
 * objects (every relation the view draws, checked exactly), then the embedded default mesh.
 */
import { describe, expect, it } from 'vitest';
import { meshTopology } from '../../src/admin/topology.js';
import { EMPTY_POLICIES, type MeshPolicies } from '../../src/model/policies.js';
import { ModelStore } from '../../src/model/store.js';
import type { Cluster, Locality, Service, Workload } from '../../src/model/types.js';
import { defaultMeshStore } from '../translate/default-mesh.js';

const loc = (region: string, zone: string): Locality => ({ region, zone, subzone: '' });
const cluster = (name: string, network: string, address: string): Cluster => ({ name, network, trustDomain: `${name}.td`, locality: loc(name === 'west' ? 'us' : 'eu', `${name}-a`), gateway: { address, port: 15443 } });
const service = (name: string, c: string): Service => ({ name, namespace: 'shop', cluster: c, ports: [{ name: 'http', port: 8080, targetPort: 8080, protocol: 'HTTP' }], selector: { app: name }, labels: { app: name } });
const workload = (name: string, c: string, labels: Record<string, string>, sa: string, locality?: Locality): Workload => ({
  name, namespace: c === 'gw' ? 'system' : 'shop', cluster: c, address: `127.0.${c === 'west' ? 1 : 2}.${name.length}`, labels, serviceAccount: sa, locality: locality ?? loc('', ''), health: 'HEALTHY',
});

function smallMesh(): ModelStore {
  const store = new ModelStore();
  const policies: MeshPolicies = {
    ...EMPTY_POLICIES,
    virtualMeshes: [{ name: 'vm', namespace: 'system', meshes: [{ name: 'west' }, { name: 'east' }], mtls: { rootCertificateAuthority: { kind: 'generated' }, autoRestartPods: false }, globalAccessPolicy: 'ENABLED', federation: { enabled: true }, ca: { directory: '/tmp/x', leafTtlMs: 1, keyType: 'ECDSA_P256' } }],
    trafficPolicies: [{
      name: 'shift', namespace: 'shop', sourceSelector: [{ labels: { app: 'web' }, namespaces: [], clusters: ['west'] }], httpRequestMatchers: [],
      destinationSelector: [{ kind: 'refs', services: [{ name: 'cart', namespace: 'shop', cluster: 'west' }] }],
      trafficShift: { destinations: [
        { kind: 'service', service: { name: 'cart', namespace: 'shop', cluster: 'east' }, subset: { version: 'v2' }, weight: 60 },
        { kind: 'service', service: { name: 'cart', namespace: 'shop' }, subset: {}, weight: 30 },
        { kind: 'failoverService', name: 'cart-fo', namespace: 'shop', subset: {}, weight: 10 },
      ] },
    }, { name: 'timeouts', namespace: 'shop', sourceSelector: [], destinationSelector: [], httpRequestMatchers: [], requestTimeoutMs: 1000 }],
    accessPolicies: [{
      name: 'web-to-cart', namespace: 'shop', allowedPaths: [], allowedMethods: [], allowedPorts: [],
      sourceSelector: [{ kind: 'serviceAccounts', serviceAccounts: [{ name: 'web', namespace: 'shop', cluster: 'west' }] }, { kind: 'matcher', namespaces: ['system'], clusters: [] }],
      destinationSelector: [{ kind: 'matcher', labels: { app: 'cart' }, namespaces: [], clusters: [] }],
    }],
    failoverServices: [{ name: 'cart-fo', namespace: 'shop', hostname: 'cart.shop.global', port: { number: 8080, protocol: 'HTTP' }, meshes: [{ name: 'west' }], backingServices: [{ name: 'cart', namespace: 'shop', cluster: 'east' }, { name: 'cart', namespace: 'shop', cluster: 'west' }] }],
  };
  store.applyDeclarations({
    clusters: [cluster('west', 'n1', '127.0.1.100'), cluster('east', 'n2', '127.0.2.100')],
    gateways: [{ name: 'ew', namespace: 'system', cluster: 'east', type: 'EastWest', workload: 'ew-0', port: 15443 }],
    policies,
  });
  store.applyEvents([
    { kind: 'upsertService', service: service('web', 'west') },
    { kind: 'upsertService', service: service('cart', 'west') },
    { kind: 'upsertService', service: service('cart', 'east') },
    { kind: 'upsertWorkload', workload: workload('web-0', 'west', { app: 'web' }, 'web') },
    { kind: 'upsertWorkload', workload: workload('cart-1', 'west', { app: 'cart', version: 'v1' }, 'cart', loc('us', 'us-b')) },
    { kind: 'upsertWorkload', workload: workload('cart-0', 'west', { app: 'cart', version: 'v1' }, 'cart') },
    { kind: 'upsertWorkload', workload: workload('cart-2', 'east', { app: 'cart', version: 'v2' }, 'cart') },
    { kind: 'upsertWorkload', workload: { ...workload('ew-0', 'east', { app: 'ew' }, 'gateway'), namespace: 'system' } },
    { kind: 'clusterStale', cluster: 'east', stale: true, reason: 'API server unreachable' },
  ]);
  return store;
}

describe('meshTopology', () => {
  it('lists clusters with network and gateway, gateways with their node and exports, workloads by locality', () => {
    const t = meshTopology(smallMesh().current);
    expect(t.clusters).toEqual([
      { name: 'east', network: 'n2', trustDomain: 'east.td', region: 'eu', zone: 'east-a', gateway: { address: '127.0.2.100', port: 15443 }, stale: 'API server unreachable' },
      { name: 'west', network: 'n1', trustDomain: 'west.td', region: 'us', zone: 'west-a', gateway: { address: '127.0.1.100', port: 15443 }, stale: null },
    ]);
    expect(t.accessEnforced).toBe(true);
    expect(t.gateways).toHaveLength(1);
    const gw = t.gateways[0]!;
    expect(gw).toMatchObject({ key: 'east/system/ew', type: 'EastWest', node: 'east/system/ew-0', address: '127.0.2.4', port: 15443, identity: 'spiffe://east.td/ns/system/sa/gateway', routes: [] });
    // The policy's v2 subset is exported beside the whole service.
    expect(gw.exported).toEqual(['cart.shop:8080', 'cart.shop:8080 subset version-v2']);

    const cart = t.services.find((s) => s.key === 'west/shop/cart')!;
    expect(cart.ports).toEqual([8080]);
    // cart-0 declares no locality: it takes its cluster's.
    expect(cart.localities.map((l) => [l.region, l.zone, l.workloads.map((w) => w.node)])).toEqual([
      ['us', 'us-b', ['west/shop/cart-1']],
      ['us', 'west-a', ['west/shop/cart-0']],
    ]);
    expect(cart.localities[0]!.workloads[0]).toEqual({ node: 'west/shop/cart-1', name: 'cart-1', address: '127.0.1.6', identity: 'spiffe://west.td/ns/shop/sa/cart', health: 'HEALTHY', version: 'v1' });
    expect(t.services.map((s) => s.key)).toEqual(['east/shop/cart', 'west/shop/cart', 'west/shop/web']);
  });

  it('turns traffic shifts, access policies and failover services into edges', () => {
    const t = meshTopology(smallMesh().current);
    expect(t.edges).toEqual([
      {
        kind: 'traffic-shift', policy: 'shop/shift', from: ['west/shop/cart'], sources: 'app=web in clusters west',
        targets: [{ target: 'east/shop/cart', subset: 'version=v2', weight: 60 }, { target: 'shop/cart', subset: '', weight: 30 }, { target: 'failover:shop/cart-fo', subset: '', weight: 10 }],
      },
      {
        kind: 'access', policy: 'shop/web-to-cart',
        identities: ['spiffe://east.td/ns/system/*', 'spiffe://west.td/ns/shop/sa/web', 'spiffe://west.td/ns/system/*'],
        // The gateway's identity is in namespace system: it is a source too.
        from: ['gateway:east/system/ew', 'west/shop/web'],
        to: ['east/shop/cart', 'west/shop/cart'],
      },
      { kind: 'failover', policy: 'shop/cart-fo', hostname: 'cart.shop.global', port: 8080, order: ['east/shop/cart', 'west/shop/cart'] },
    ]);
  });

  it('is deterministic: equal snapshots give equal JSON', () => {
    expect(JSON.stringify(meshTopology(smallMesh().current))).toBe(JSON.stringify(meshTopology(smallMesh().current)));
  });

  it('on the default mesh: three clusters, their east-west gateways and the ingress, the 75/15/10 shift and the failover order', async () => {
    const t = meshTopology((await defaultMeshStore()).current);
    expect(t.clusters.map((c) => [c.name, c.network])).toEqual([['cluster1', 'net1'], ['cluster2', 'net2'], ['cluster3', 'net1']]);
    expect(t.gateways.map((g) => [g.key, g.type, g.node])).toEqual([
      ['cluster1/crossmesh-system/east-west', 'EastWest', 'cluster1/crossmesh-system/east-west-gateway-0'],
      ['cluster1/crossmesh-system/ingress', 'Ingress', 'cluster1/crossmesh-system/ingress-gateway-0'],
      ['cluster2/crossmesh-system/east-west', 'EastWest', 'cluster2/crossmesh-system/east-west-gateway-0'],
      ['cluster3/crossmesh-system/east-west', 'EastWest', 'cluster3/crossmesh-system/east-west-gateway-0'],
    ]);
    expect(t.gateways[1]!.routes).toEqual(['/productpage → default/productpage:9080']);
    expect(t.gateways[2]!.exported).toContain('reviews.default:9080 subset version-v3');
    const simple = t.edges.find((e) => e.policy === 'crossmesh-system/simple');
    expect(simple).toEqual({
      kind: 'traffic-shift', policy: 'crossmesh-system/simple', from: ['cluster1/default/reviews'], sources: 'every workload',
      targets: [
        { target: 'cluster2/default/reviews', subset: 'version=v3', weight: 75 },
        { target: 'cluster1/default/reviews', subset: 'version=v1', weight: 15 },
        { target: 'cluster1/default/reviews', subset: 'version=v2', weight: 10 },
      ],
    });
    expect(t.edges.find((e) => e.kind === 'failover')).toMatchObject({ hostname: 'reviews-failover.default.global', order: ['cluster2/default/reviews', 'cluster1/default/reviews', 'cluster3/default/reviews'] });
    expect(t.edges.find((e) => e.policy === 'crossmesh-system/ingress-gateway')).toMatchObject({ kind: 'access', from: ['gateway:cluster1/crossmesh-system/ingress'], to: ['cluster1/default/productpage', 'cluster2/default/productpage'] });
    // Outlier detection and timeouts draw no edge.
    expect(t.edges.filter((e) => e.kind === 'traffic-shift').map((e) => e.policy)).toEqual(['crossmesh-system/simple', 'default/reviews-shift-failover']);
  });
});

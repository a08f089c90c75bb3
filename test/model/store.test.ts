import { describe, expect, test } from 'vitest';
import { defaultMeshDir } from '../../src/config/default-mesh.js';
import { loadConfig } from '../../src/config/loader.js';
import type { MeshConfig } from '../../src/config/mesh-config.js';
import { applyConfig, StaticDiscovery } from '../../src/discovery/static/static-discovery.js';
import type { ChangeSet } from '../../src/model/changeset.js';
import { EMPTY_POLICIES, type TrafficPolicy } from '../../src/model/policies.js';
import { endpointPort, type MeshSnapshot } from '../../src/model/snapshot.js';
import { ModelStore } from '../../src/model/store.js';
import type { Cluster, Service, Workload } from '../../src/model/types.js';

const LOC = { region: 'r1', zone: 'z1', subzone: '' };
const cluster = (name: string, network = 'n1'): Cluster => ({ name, network, trustDomain: `${name}.td`, locality: LOC });
const service = (name: string, c = 'c1', selector: Record<string, string> = { app: name }): Service => ({
  name,
  namespace: 'default',
  cluster: c,
  ports: [{ name: 'http', port: 9080, targetPort: 9080, protocol: 'HTTP' }],
  selector,
  labels: {},
});
const workload = (name: string, labels: Record<string, string>, address: string, c = 'c1', extra: Partial<Workload> = {}): Workload => ({
  name,
  namespace: 'default',
  cluster: c,
  address,
  labels,
  serviceAccount: 'sa',
  locality: { region: '', zone: '', subzone: '' },
  health: 'HEALTHY',
  ...extra,
});

function small(): ModelStore {
  return new ModelStore({
    declarations: { clusters: [cluster('c1'), cluster('c2', 'n2')], gateways: [], policies: EMPTY_POLICIES },
    events: [
      { kind: 'upsertService', service: service('reviews') },
      { kind: 'upsertService', service: service('ratings') },
      { kind: 'upsertService', service: service('reviews', 'c2') },
      { kind: 'upsertWorkload', workload: workload('reviews-v1', { app: 'reviews', version: 'v1' }, '127.0.1.1') },
      { kind: 'upsertWorkload', workload: workload('reviews-v2', { app: 'reviews', version: 'v2' }, '127.0.1.2') },
      { kind: 'upsertWorkload', workload: workload('ratings-v1', { app: 'ratings', version: 'v1' }, '127.0.1.3') },
      { kind: 'upsertWorkload', workload: workload('reviews-v3', { app: 'reviews', version: 'v3' }, '127.0.2.1', 'c2') },
    ],
  });
}

const addrs = (s: MeshSnapshot, key: string) => (s.endpoints.get(key) ?? []).map((e) => e.address);

describe('ModelStore snapshots', () => {
  test('endpoints per service, derived from selectors in the same cluster and namespace', () => {
    const s = small().current;
    expect(addrs(s, 'c1/default/reviews')).toEqual(['127.0.1.1', '127.0.1.2']);
    expect(addrs(s, 'c1/default/ratings')).toEqual(['127.0.1.3']);
    expect(addrs(s, 'c2/default/reviews')).toEqual(['127.0.2.1']);
    const ep = s.endpoints.get('c2/default/reviews')![0]!;
    expect(ep).toMatchObject({
      workload: 'c2/default/reviews-v3',
      cluster: 'c2',
      network: 'n2',
      health: 'HEALTHY',
      locality: LOC, // the workload declares none: its cluster's
      labels: { app: 'reviews', version: 'v3' },
      identity: 'spiffe://c2.td/ns/default/sa/sa',
    });
    expect(endpointPort(ep, 9080)).toBe(9080);
    expect(s.workloadServices.get('c1/default/reviews-v1')).toEqual(['c1/default/reviews']);
    expect(s.globalServices.get('default/reviews')).toEqual({
      name: 'reviews',
      namespace: 'default',
      services: ['c1/default/reviews', 'c2/default/reviews'],
      clusters: ['c1', 'c2'],
    });
    expect(s.globalServices.get('default/ratings')?.clusters).toEqual(['c1']);
  });

  test('one endpoint change touches only that service and leaves the old snapshot intact', () => {
    const store = small();
    const before = store.current;
    const seen: ChangeSet[] = [];
    store.subscribe((_s, c) => seen.push(c));
    const cs = store.applyEvents([{ kind: 'upsertWorkload', workload: workload('reviews-v1', { app: 'reviews', version: 'v1' }, '127.0.1.1', 'c1', { health: 'UNHEALTHY' }) }]);
    const after = store.current;
    expect(cs.endpoints).toEqual(['c1/default/reviews']);
    expect(cs.workloads).toEqual({ added: [], changed: ['c1/default/reviews-v1'], removed: [] });
    expect(cs.services).toEqual({ added: [], changed: [], removed: [] });
    expect(cs.globalServices).toEqual([]);
    expect(cs.empty).toBe(false);
    expect(seen).toEqual([cs]);
    // Untouched services share their endpoint arrays with the previous snapshot.
    expect(after.endpoints.get('c1/default/ratings')).toBe(before.endpoints.get('c1/default/ratings'));
    expect(after.endpoints.get('c2/default/reviews')).toBe(before.endpoints.get('c2/default/reviews'));
    // The unchanged endpoint object of the changed service is shared too.
    expect(after.endpoints.get('c1/default/reviews')![1]).toBe(before.endpoints.get('c1/default/reviews')![1]);
    expect(after.endpoints.get('c1/default/reviews')![0]!.health).toBe('UNHEALTHY');
    expect(before.endpoints.get('c1/default/reviews')![0]!.health).toBe('HEALTHY');
    expect(before.workloads.get('c1/default/reviews-v1')!.health).toBe('HEALTHY');
    expect(after.version).not.toBe(before.version);
    expect(after.generation).toBe(before.generation + 1);
    expect(cs.fromVersion).toBe(before.version);
    expect(cs.toVersion).toBe(after.version);
    expect(Object.isFrozen(after)).toBe(true);
  });

  test('re-applying the same state is an empty change set and notifies nobody', () => {
    const store = small();
    let calls = 0;
    store.subscribe(() => calls++);
    const v = store.current.version;
    const cs = store.applyEvents([{ kind: 'upsertWorkload', workload: workload('reviews-v1', { app: 'reviews', version: 'v1' }, '127.0.1.1') }]);
    expect(cs.empty).toBe(true);
    expect(calls).toBe(0);
    expect(store.current.version).toBe(v);
  });

  test('a workload label change moves it between services', () => {
    const store = small();
    const cs = store.applyEvents([{ kind: 'upsertWorkload', workload: workload('reviews-v2', { app: 'ratings', version: 'v2' }, '127.0.1.2') }]);
    expect(cs.endpoints).toEqual(['c1/default/ratings', 'c1/default/reviews']);
    expect(addrs(store.current, 'c1/default/reviews')).toEqual(['127.0.1.1']);
    expect(addrs(store.current, 'c1/default/ratings')).toEqual(['127.0.1.3', '127.0.1.2']); // sorted by workload key
    expect(store.current.workloadServices.get('c1/default/reviews-v2')).toEqual(['c1/default/ratings']);
  });

  test('a version label change moves it between subsets of the same service', () => {
    const store = small();
    const cs = store.applyEvents([{ kind: 'upsertWorkload', workload: workload('reviews-v2', { app: 'reviews', version: 'v1' }, '127.0.1.2') }]);
    expect(cs.endpoints).toEqual(['c1/default/reviews']);
    const versions = store.current.endpoints.get('c1/default/reviews')!.map((e) => e.labels.version);
    expect(versions).toEqual(['v1', 'v1']);
  });

  test('policy change: only that policy is reported, endpoints untouched', () => {
    const store = small();
    const decl = (timeoutMs: number) => ({
      clusters: [cluster('c1'), cluster('c2', 'n2')],
      gateways: [],
      policies: {
        ...EMPTY_POLICIES,
        trafficPolicies: [
          { name: 'timeouts', namespace: 'mesh', sourceSelector: [], destinationSelector: [], httpRequestMatchers: [], requestTimeoutMs: timeoutMs } satisfies TrafficPolicy,
        ],
      },
    });
    const first = store.applyDeclarations(decl(1000));
    expect(first.policies.trafficPolicies).toEqual({ added: ['mesh/timeouts'], changed: [], removed: [] });
    const before = store.current;
    const cs = store.applyDeclarations(decl(2000));
    expect(cs.policies.trafficPolicies).toEqual({ added: [], changed: ['mesh/timeouts'], removed: [] });
    expect(cs.endpoints).toEqual([]);
    expect(cs.clusters).toEqual({ added: [], changed: [], removed: [] });
    expect(store.current.endpoints).toBe(before.endpoints);
    expect(store.current.policies.trafficPolicies[0]!.requestTimeoutMs).toBe(2000);
    expect(store.applyDeclarations(decl(2000)).empty).toBe(true);
  });

  test('a cluster change recomputes that cluster’s endpoints only', () => {
    const store = small();
    const cs = store.applyDeclarations({ clusters: [cluster('c1'), cluster('c2', 'n3')], gateways: [], policies: EMPTY_POLICIES });
    expect(cs.clusters).toEqual({ added: [], changed: ['c2'], removed: [] });
    expect(cs.endpoints).toEqual(['c2/default/reviews']);
    expect(store.current.endpoints.get('c2/default/reviews')![0]!.network).toBe('n3');
  });

  test('replaceCluster removes what is not listed; deleting a service removes its endpoints and global membership', () => {
    const store = small();
    const cs = store.applyEvents([{ kind: 'replaceCluster', cluster: 'c2', services: [], workloads: [] }]);
    expect(cs.services.removed).toEqual(['c2/default/reviews']);
    expect(cs.workloads.removed).toEqual(['c2/default/reviews-v3']);
    expect(cs.endpoints).toEqual(['c2/default/reviews']);
    expect(cs.globalServices).toEqual(['default/reviews']);
    expect(store.current.endpoints.has('c2/default/reviews')).toBe(false);
    expect(store.current.globalServices.get('default/reviews')!.clusters).toEqual(['c1']);
    expect(store.current.services.size).toBe(2);
    expect(store.current.workloads.size).toBe(3);
  });

  test('stale clusters are marked, reported as changed, and keep their objects', () => {
    const store = small();
    const cs = store.applyEvents([{ kind: 'clusterStale', cluster: 'c2', stale: true, reason: 'connection refused' }]);
    expect(cs.clusters.changed).toEqual(['c2']);
    expect(store.current.staleClusters.get('c2')?.reason).toBe('connection refused');
    expect(addrs(store.current, 'c2/default/reviews')).toEqual(['127.0.2.1']);
    const back = store.applyEvents([{ kind: 'clusterStale', cluster: 'c2', stale: false }]);
    expect(back.clusters.changed).toEqual(['c2']);
    expect(store.current.staleClusters.size).toBe(0);
  });

  test('the content version depends on content, not on history', () => {
    const a = small();
    const original = a.current.version;
    a.applyEvents([{ kind: 'deleteWorkload', key: 'c1/default/ratings-v1' }]);
    expect(a.current.version).not.toBe(original);
    a.applyEvents([{ kind: 'upsertWorkload', workload: workload('ratings-v1', { app: 'ratings', version: 'v1' }, '127.0.1.3') }]);
    expect(a.current.version).toBe(original);
    // Same content, built in another order and in several steps.
    const b = new ModelStore();
    b.applyEvents([
      { kind: 'upsertWorkload', workload: workload('reviews-v3', { app: 'reviews', version: 'v3' }, '127.0.2.1', 'c2') },
      { kind: 'upsertWorkload', workload: workload('ratings-v1', { app: 'ratings', version: 'v1' }, '127.0.1.3') },
      { kind: 'upsertService', service: service('reviews', 'c2') },
    ]);
    b.applyDeclarations({ clusters: [cluster('c2', 'n2'), cluster('c1')], gateways: [], policies: EMPTY_POLICIES });
    b.applyEvents([
      { kind: 'upsertWorkload', workload: workload('reviews-v2', { app: 'reviews', version: 'v2' }, '127.0.1.2') },
      { kind: 'upsertService', service: service('ratings') },
      { kind: 'upsertWorkload', workload: workload('reviews-v1', { app: 'reviews', version: 'v1' }, '127.0.1.1') },
      { kind: 'upsertService', service: service('reviews') },
    ]);
    expect(b.current.version).toBe(original);
    expect(addrs(b.current, 'c1/default/reviews')).toEqual(['127.0.1.1', '127.0.1.2']);
  });

  test('a workload port override and a service targetPort', () => {
    const store = new ModelStore({
      declarations: { clusters: [cluster('c1')], gateways: [], policies: EMPTY_POLICIES },
      events: [
        { kind: 'upsertService', service: { ...service('api'), ports: [{ name: 'http', port: 80, targetPort: 8080, protocol: 'HTTP' }] } },
        { kind: 'upsertWorkload', workload: workload('api-0', { app: 'api' }, '127.0.1.1') },
        { kind: 'upsertWorkload', workload: workload('api-1', { app: 'api' }, '127.0.1.2', 'c1', { ports: { '80': 8081 } }) },
      ],
    });
    const eps = store.current.endpoints.get('c1/default/api')!;
    expect(eps.map((e) => endpointPort(e, 80))).toEqual([8080, 8081]);
  });
});

describe('the embedded default mesh in the model', () => {
  test('static discovery fills the model with the bookinfo topology', async () => {
    const r = await loadConfig([defaultMeshDir()]);
    expect(r.errors).toEqual([]);
    const config = r.config as MeshConfig;
    const store = new ModelStore();
    const cs = applyConfig(store, new StaticDiscovery(config), config);
    const s = store.current;
    expect(cs.clusters.added).toEqual(['cluster1', 'cluster2', 'cluster3']);
    expect([...s.clusters.keys()].sort()).toEqual(['cluster1', 'cluster2', 'cluster3']);
    expect(s.globalServices.get('default/reviews')!.clusters).toEqual(['cluster1', 'cluster2', 'cluster3']);
    expect(s.globalServices.get('default/productpage')!.clusters).toEqual(['cluster1', 'cluster2']);
    const v3 = [...s.globalServices.get('default/reviews')!.services].flatMap((k) => s.endpoints.get(k)!).filter((e) => e.labels.version === 'v3');
    expect(v3.map((e) => e.cluster)).toEqual(['cluster2']);
    expect(v3[0]).toMatchObject({ network: 'net2', locality: { region: 'eu-west', zone: 'eu-west-1a' }, identity: 'spiffe://cluster2/ns/default/sa/bookinfo-reviews' });
    for (const ep of s.endpoints.values()) for (const e of ep) expect(e.address.startsWith(`127.0.${e.cluster.slice(-1)}.`)).toBe(true);
    expect([...s.gateways.values()].filter((g) => g.type === 'EastWest').map((g) => g.cluster).sort()).toEqual(['cluster1', 'cluster2', 'cluster3']);
    const ingress = [...s.gateways.values()].find((g) => g.type === 'Ingress')!;
    expect(ingress).toMatchObject({ cluster: 'cluster1', routes: [{ pathPrefix: '/productpage', service: { name: 'productpage', namespace: 'default', port: 9080 } }] });
    expect(s.workloads.get(`cluster1/crossmesh-system/${ingress.workload}`)).toBeDefined();
    const vm = s.policies.virtualMeshes[0]!;
    expect(vm.globalAccessPolicy).toBe('ENABLED');
    expect(vm.mtls.rootCertificateAuthority.kind).toBe('generated');
    expect(vm.meshes.map((m) => m.name)).toEqual(['cluster1', 'cluster2', 'cluster3']);
    const simple = s.policies.trafficPolicies.find((p) => p.name === 'simple')!;
    expect(simple.trafficShift!.destinations.map((d) => [d.kind === 'service' ? d.service.cluster : '', d.subset.version, d.weight])).toEqual([
      ['cluster2', 'v3', 75],
      ['cluster1', 'v1', 15],
      ['cluster1', 'v2', 10],
    ]);
    expect(s.policies.failoverServices[0]!.backingServices.map((b) => b.cluster)).toEqual(['cluster2', 'cluster1', 'cluster3']);
    expect(s.policies.accessPolicies.map((p) => p.name)).toEqual(['ingress-gateway', 'productpage', 'reviews']);
    expect(r.warnings).toEqual([]);
  });
});

describe('listed membership (Kubernetes: endpoints from EndpointSlices)', () => {
  const listed = (name: string, selector: Record<string, string> = { app: name }): Service => ({ ...service(name, 'c1', selector), membership: 'listed' });
  const addresses = (s: ModelStore, svc: string) => (s.current.endpoints.get(`c1/default/${svc}`) ?? []).map((e) => e.address).sort();

  test('a listed service takes the workloads that name it, not those its selector matches; changes follow both ways', () => {
    const s = new ModelStore({
      declarations: { clusters: [cluster('c1')], gateways: [], policies: EMPTY_POLICIES },
      events: [
        // Named before the service exists: picked up when it arrives.
        { kind: 'upsertWorkload', workload: workload('db-1', {}, '10.0.0.1', 'c1', { memberOf: ['db'] }) },
        { kind: 'upsertService', service: listed('db', {}) },
        { kind: 'upsertService', service: listed('web') },
        { kind: 'upsertWorkload', workload: workload('web-0', { app: 'web' }, '10.0.1.1', 'c1', { memberOf: ['web'] }) },
        { kind: 'upsertWorkload', workload: workload('web-1', { app: 'web' }, '10.0.1.2') },
      ],
    });
    expect(addresses(s, 'db')).toEqual(['10.0.0.1']);
    expect(addresses(s, 'web')).toEqual(['10.0.1.1']);
    const changes = s.applyEvents([{ kind: 'upsertWorkload', workload: workload('web-1', { app: 'web' }, '10.0.1.2', 'c1', { memberOf: ['web'] }) }]);
    expect(addresses(s, 'web')).toEqual(['10.0.1.1', '10.0.1.2']);
    expect(changes.endpoints).toEqual(['c1/default/web']);
    expect(changes.services.changed).toEqual([]);
    s.applyEvents([{ kind: 'upsertWorkload', workload: workload('web-0', { app: 'web' }, '10.0.1.1') }]);
    expect(addresses(s, 'web')).toEqual(['10.0.1.2']);
    s.applyEvents([{ kind: 'deleteWorkload', key: 'c1/default/db-1' }]);
    expect(addresses(s, 'db')).toEqual([]);
  });
});

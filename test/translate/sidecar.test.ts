/**
 * What sidecars and east-west gateways receive: the seed scenario on the default mesh (reviews v1/v2
 * local, v3 through cluster2's gateway with an SNI that gateway routes), gateway refusal of unknown
 * SNIs, route domains, TCP listeners, HTTP/2 upstreams, secure naming and visibility.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import { EMPTY_POLICIES, type VirtualMesh } from '../../src/model/policies.js';
import type { MeshSnapshot } from '../../src/model/snapshot.js';
import { ModelStore } from '../../src/model/store.js';
import type { Cluster, Service, Workload } from '../../src/model/types.js';
import type { ProxyRole } from '../../src/translate/bootstrap.js';
import { resolveProxy, translateProxy, type ProxyResources } from '../../src/translate/index.js';
import { tcpServiceAddresses } from '../../src/translate/listeners.js';
import { guardResources } from '../../src/translate/semantics.js';
import { defaultMeshStore } from './default-mesh.js';

type Obj = Record<string, any>;

function translate(snap: MeshSnapshot, node: string, role: ProxyRole = 'sidecar'): ProxyResources {
  const p = resolveProxy(snap, node, role);
  if (p instanceof Error) throw p;
  return translateProxy(snap, p);
}

/** The chain Envoy would pick for an SNI: exact server_names match, no default chain. */
function chainFor(listener: Obj, sni: string): Obj | undefined {
  if (listener.default_filter_chain) throw new Error('a gateway must not have a default chain');
  return listener.filter_chains.find((c: Obj) => c.filter_chain_match.server_names.includes(sni));
}

function addressesOf(cla: Obj, priority: number): string[] {
  return cla.endpoints.filter((l: Obj) => l.priority === priority).flatMap((l: Obj) => l.lb_endpoints.map((e: Obj) => `${e.endpoint.address.socket_address.address}:${e.endpoint.address.socket_address.port_value}`)).sort();
}

describe('the seed scenario on the default mesh', () => {
  let snap: MeshSnapshot;
  let sidecar: ProxyResources;
  let gateway2: ProxyResources;
  beforeAll(async () => {
    snap = (await defaultMeshStore()).current;
    sidecar = translate(snap, 'cluster1/default/productpage-v1-0');
    gateway2 = translate(snap, 'cluster2/crossmesh-system/east-west-gateway-0', 'gateway');
  });

  it('a sidecar in cluster1 gets reviews v1 and v2 at priority 0 and v3 through cluster2 gateway later', () => {
    const cla = sidecar.endpoints.get('outbound|9080||reviews.default.svc.cluster.local') as Obj;
    expect(addressesOf(cla, 0)).toEqual(['127.0.1.12:9080', '127.0.1.13:9080']); // v1, v2 in cluster1 (us-east-1a)
    expect(addressesOf(cla, 1)).toEqual(['127.0.3.12:9080', '127.0.3.13:9080']); // cluster3, same network, us-east-1b
    expect(addressesOf(cla, 2)).toEqual(['127.0.2.100:15443']); // v3: cluster2's east-west gateway
    expect(cla.endpoints.find((l: Obj) => l.priority === 2).locality).toEqual({ region: 'eu-west', zone: 'eu-west-1a', sub_zone: '' });
  });

  it('the SNI the sidecar sends is one cluster2 gateway has a chain for, ending at the v3 endpoint', () => {
    for (const name of ['outbound|9080||reviews.default.svc.cluster.local', 'outbound|9080|version-v3|reviews.default.svc.cluster2.global']) {
      const c = sidecar.clusters.get(name) as Obj;
      const sni = c.transport_socket.typed_config.sni;
      const chain = chainFor(gateway2.listeners.get('gateway_15443') as Obj, sni);
      expect(chain, `gateway chain for ${sni}`).toBeDefined();
      const target = chain!.filters.at(-1).typed_config.cluster;
      expect(gateway2.clusters.has(target)).toBe(true);
      expect('transport_socket' in (gateway2.clusters.get(target) as Obj)).toBe(false); // TLS passes through
      expect(addressesOf(gateway2.endpoints.get(target) as Obj, 0)).toEqual(['127.0.2.12:9080']);
    }
    const v3 = sidecar.endpoints.get('outbound|9080|version-v3|reviews.default.svc.cluster2.global') as Obj;
    expect(addressesOf(v3, 0)).toEqual(['127.0.2.100:15443']);
  });

  it('a gateway refuses an SNI it has no chain for (unknown service, or a subset of another cluster)', () => {
    const l = gateway2.listeners.get('gateway_15443') as Obj;
    expect(chainFor(l, 'outbound_.9080_._.unknown.default.svc.cluster.local')).toBeUndefined();
    expect(chainFor(l, 'outbound_.9080_.version-v1_.reviews.default.svc.cluster1.global')).toBeUndefined();
    expect(chainFor(l, 'outbound_.9080_._.reviews.default.svc.cluster1.global')).toBeUndefined();
    // Only cluster2's own endpoints are behind the gateway.
    for (const cla of gateway2.endpoints.values() as Iterable<Obj>) {
      for (const loc of cla.endpoints) for (const e of loc.lb_endpoints) expect(e.endpoint.address.socket_address.address.startsWith('127.0.2.')).toBe(true);
    }
  });

  it('upstream TLS verifies exactly the identities behind each cluster', () => {
    const sans = (name: string) =>
      (sidecar.clusters.get(name) as Obj).transport_socket.typed_config.common_tls_context.combined_validation_context.default_validation_context.match_typed_subject_alt_names.map((m: Obj) => m.matcher.exact);
    expect(sans('outbound|9080|version-v3|reviews.default.svc.cluster2.global')).toEqual(['spiffe://cluster2/ns/default/sa/bookinfo-reviews']);
    expect(sans('outbound|9080||reviews.default.svc.cluster.local')).toEqual([
      'spiffe://cluster1/ns/default/sa/bookinfo-reviews',
      'spiffe://cluster2/ns/default/sa/bookinfo-reviews',
      'spiffe://cluster3/ns/default/sa/bookinfo-reviews',
    ]);
    expect(sans('outbound|9080||details.default.svc.cluster3.global')).toEqual(['spiffe://cluster3/ns/default/sa/bookinfo-details']);
  });

  it('the inbound listener accepts the SNIs callers send for this workload, including its subsets, and requires a client certificate', () => {
    const r = translate(snap, 'cluster1/default/reviews-v1-0');
    const l = r.listeners.get('inbound_15006') as Obj;
    expect(l.listener_filters.map((f: Obj) => f.name)).toEqual(['envoy.filters.listener.tls_inspector']);
    const chain = chainFor(l, 'outbound_.9080_.version-v1_.reviews.default.svc.cluster1.global')!;
    expect(chain).toBeDefined();
    expect(chainFor(l, 'outbound_.9080_._.reviews.default.svc.cluster.local')).toBe(chain);
    expect(chainFor(l, 'outbound_.9080_.version-v2_.reviews.default.svc.cluster1.global')).toBeUndefined();
    expect(chain.transport_socket.typed_config.require_client_certificate).toEqual({ value: true });
    const hcm = chain.filters.at(-1).typed_config;
    expect(hcm.http_filters.at(-1).name).toBe('envoy.filters.http.router');
    expect(hcm.route_config.virtual_hosts[0].routes[0].route.cluster).toBe('inbound|9080||');
    expect((r.clusters.get('inbound|9080||') as Obj).load_assignment.endpoints[0].lb_endpoints[0].endpoint.address.socket_address).toEqual({ address: '127.0.0.1', port_value: 9080 });
  });
});

// A small hand-made mesh for the cases the default mesh does not have.
const loc = { region: 'r1', zone: 'r1-a', subzone: '' };
const cluster = (name: string, network: string): Cluster => ({ name, network, trustDomain: name, locality: loc, gateway: { address: `127.0.${name.slice(-1)}.100`, port: 15443 } });
const svc = (name: string, namespace: string, c: string, ports: Service['ports']): Service => ({ name, namespace, cluster: c, ports, selector: { app: name }, labels: {} });
const wl = (name: string, namespace: string, c: string, app: string, address: string, extra: Partial<Workload> = {}): Workload => ({
  name, namespace, cluster: c, address, labels: { app }, serviceAccount: app, locality: loc, health: 'HEALTHY', ...extra,
});
const vm = (members: string[]): VirtualMesh => ({
  name: 'vm', namespace: 'mesh', meshes: members.map((name) => ({ name })),
  mtls: { rootCertificateAuthority: { kind: 'generated' }, autoRestartPods: false }, globalAccessPolicy: 'DISABLED',
  federation: { enabled: true }, ca: { directory: '.ca', leafTtlMs: 1, keyType: 'ECDSA_P256' },
});

function smallMesh(withVirtualMesh = true): MeshSnapshot {
  const services = [
    svc('web', 'shop', 'c1', [{ name: 'http', port: 80, targetPort: 8080, protocol: 'HTTP' }, { name: 'admin', port: 9000, targetPort: 9000, protocol: 'HTTP' }]),
    svc('web', 'other', 'c1', [{ name: 'http', port: 80, targetPort: 8080, protocol: 'HTTP' }]),
    svc('api', 'shop', 'c2', [{ name: 'grpc', port: 50051, targetPort: 50051, protocol: 'GRPC' }]),
    svc('db', 'shop', 'c1', [{ name: 'pg', port: 5432, targetPort: 5432, protocol: 'TCP' }]),
    svc('empty', 'shop', 'c1', [{ name: 'http', port: 80, targetPort: 80, protocol: 'HTTP' }]),
  ];
  const workloads = [
    wl('web-0', 'shop', 'c1', 'web', '127.0.1.10', { ports: { '80': 8081 } }),
    wl('web-0', 'other', 'c1', 'web', '127.0.1.11'),
    wl('api-0', 'shop', 'c2', 'api', '127.0.2.10'),
    wl('db-0', 'shop', 'c1', 'db', '127.0.1.12'),
  ];
  const store = new ModelStore({
    declarations: { clusters: [cluster('c1', 'n1'), cluster('c2', 'n2')], gateways: [], policies: { ...EMPTY_POLICIES, virtualMeshes: withVirtualMesh ? [vm(['c1', 'c2'])] : [] } },
    events: ['c1', 'c2'].map((c) => ({ kind: 'replaceCluster' as const, cluster: c, services: services.filter((s) => s.cluster === c), workloads: workloads.filter((w) => w.cluster === c) })),
  });
  return store.current;
}

describe('sidecar resources on a hand-made mesh', () => {
  const snap = smallMesh();
  const r = translate(snap, 'c1/shop/web-0');

  it('passes the guard', () => {
    expect(guardResources(r).rejected).toEqual([]);
  });

  it('gives every domain to exactly one virtual host; port-less names go to the lowest port; short names only in the own namespace', () => {
    const vhs = (r.routes.get('outbound_http') as Obj).virtual_hosts as Obj[];
    const owner = new Map<string, string>();
    for (const vh of vhs) for (const d of vh.domains) {
      expect(owner.has(d), `domain ${d} appears twice`).toBe(false);
      owner.set(d, vh.name);
    }
    expect(owner.get('web')).toBe('web.shop.svc.cluster.local:80');
    expect(owner.get('web:9000')).toBe('web.shop.svc.cluster.local:9000');
    expect(owner.get('web.shop.svc.cluster.local')).toBe('web.shop.svc.cluster.local:80');
    expect(owner.get('web.other')).toBe('web.other.svc.cluster.local:80');
    expect(owner.has('web.other.svc:80')).toBe(true);
    expect(owner.get('api.shop.svc.c2.global:50051')).toBe('api.shop.svc.c2.global:50051');
    expect([...owner.keys()].some((d) => d.startsWith('db'))).toBe(false); // TCP services are not HTTP-routed
  });

  it('gives TCP service ports their own listener on a stable loopback address', () => {
    const l = r.listeners.get('tcp|5432|db.shop.svc.cluster.local') as Obj;
    const expected = tcpServiceAddresses(['db.shop.svc.cluster.local']).get('db.shop.svc.cluster.local')!;
    expect(l.address.socket_address).toEqual({ address: expected, port_value: 5432 });
    expect(expected.startsWith('127.')).toBe(true);
    const [a, b] = expected.split('.').map(Number);
    expect(a === 127 && b! >= 64 && b! < 128).toBe(true);
    expect(l.filter_chains[0].filters.at(-1).typed_config.cluster).toBe('outbound|5432||db.shop.svc.cluster.local');
    expect(r.listeners.has('tcp|5432|db.shop.svc.c1.global')).toBe(true);
  });

  it('speaks HTTP/2 upstream to gRPC ports and offers h2', () => {
    const c = r.clusters.get('outbound|50051||api.shop.svc.cluster.local') as Obj;
    expect(c.typed_extension_protocol_options['envoy.extensions.upstreams.http.v3.HttpProtocolOptions'].explicit_http_config).toEqual({ http2_protocol_options: {} });
    expect(c.transport_socket.typed_config.common_tls_context.alpn_protocols).toEqual(['h2']);
    expect(c.common_lb_config).toEqual({ locality_weighted_lb_config: {} });
  });

  it('forwards inbound traffic to the workload port override', () => {
    const l = r.listeners.get('inbound_15006') as Obj;
    const chain = chainFor(l, 'outbound_.80_._.web.shop.svc.cluster.local')!;
    expect(chain.filters.at(-1).typed_config.route_config.virtual_hosts[0].routes[0].route.cluster).toBe('inbound|8081||');
    expect(r.clusters.has('inbound|8081||')).toBe(true);
    expect(r.clusters.has('inbound|9000||')).toBe(true);
  });

  it('gives a service without endpoints an empty assignment and trusts no real identity for it', () => {
    expect(r.endpoints.get('outbound|80||empty.shop.svc.cluster.local')).toEqual({ cluster_name: 'outbound|80||empty.shop.svc.cluster.local', endpoints: [] });
    const c = r.clusters.get('outbound|80||empty.shop.svc.cluster.local') as Obj;
    expect(c.transport_socket.typed_config.common_tls_context.combined_validation_context.default_validation_context.match_typed_subject_alt_names).toEqual([
      { san_type: 'URI', matcher: { exact: 'spiffe://c1/ns/shop/sa/_no-endpoints_' } },
    ]);
  });

  it('without a VirtualMesh a cluster sees only its own services', () => {
    const alone = translate(smallMesh(false), 'c1/shop/web-0');
    expect([...alone.clusters.keys()].some((n) => n.includes('api.shop'))).toBe(false);
    expect(alone.clusters.has('outbound|80||web.shop.svc.cluster.local')).toBe(true);
  });
});

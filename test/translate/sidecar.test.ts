/**
 * What sidecars and east-west gateways receive: the seed scenario on the default mesh (reviews v1/v2
 * local, v3 through cluster2's gateway with an SNI that gateway routes), gateway refusal of unknown
 * SNIs, the capture listeners, route domains per port, TCP listeners on service addresses, HTTP/2
 * upstreams, secure naming and visibility.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import { EMPTY_POLICIES, type VirtualMesh } from '../../src/model/policies.js';
import type { MeshSnapshot } from '../../src/model/snapshot.js';
import { ModelStore } from '../../src/model/store.js';
import type { Cluster, Service, Workload } from '../../src/model/types.js';
import type { ProxyRole } from '../../src/translate/bootstrap.js';
import { MeshView, resolveProxy, translateProxy, type ProxyResources } from '../../src/translate/index.js';
import { PROXYLESS_ROUTE_NAME } from '../../src/translate/proxyless.js';
import { clusterServiceAddresses, hostAddresses } from '../../src/translate/service-addresses.js';
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
    const l = r.listeners.get('virtualInbound') as Obj;
    expect(l.address.socket_address).toEqual({ address: '0.0.0.0', port_value: 15006 });
    // The original destination is restored before the SNI is read.
    expect(l.listener_filters.map((f: Obj) => f.name)).toEqual(['envoy.filters.listener.original_dst', 'envoy.filters.listener.tls_inspector']);
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

function smallMesh(withVirtualMesh = true, dbAddress?: string): MeshSnapshot {
  const services = [
    svc('web', 'shop', 'c1', [{ name: 'http', port: 80, targetPort: 8080, protocol: 'HTTP' }, { name: 'admin', port: 9000, targetPort: 9000, protocol: 'HTTP' }]),
    svc('web', 'other', 'c1', [{ name: 'http', port: 80, targetPort: 8080, protocol: 'HTTP' }]),
    svc('api', 'shop', 'c2', [{ name: 'grpc', port: 50051, targetPort: 50051, protocol: 'GRPC' }]),
    { ...svc('db', 'shop', 'c1', [{ name: 'pg', port: 5432, targetPort: 5432, protocol: 'TCP' }]), ...(dbAddress ? { address: dbAddress } : {}) },
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

  it('captures outbound traffic on 15001: original destinations go to their listener, the rest passes through, 15001 itself is black-holed', () => {
    const l = r.listeners.get('virtualOutbound') as Obj;
    expect(l.address.socket_address).toEqual({ address: '0.0.0.0', port_value: 15001 });
    expect(l.use_original_dst).toEqual({ value: true });
    expect(l.filter_chains).toHaveLength(1);
    expect(l.filter_chains[0].filter_chain_match).toEqual({ destination_port: { value: 15001 } });
    expect(l.filter_chains[0].filters.map((f: Obj) => f.typed_config.cluster)).toEqual(['BlackHoleCluster']);
    expect(l.default_filter_chain.filters.map((f: Obj) => f.typed_config.cluster)).toEqual(['PassthroughCluster']);
    expect(r.clusters.get('BlackHoleCluster')).toMatchObject({ type: 'STATIC' });
    expect((r.clusters.get('BlackHoleCluster') as Obj).load_assignment).toBeUndefined();
    expect(r.clusters.get('PassthroughCluster')).toMatchObject({ type: 'ORIGINAL_DST', lb_policy: 'CLUSTER_PROVIDED' });
    // No listener binds a port of its own besides the two capture ports.
    const bound = [...r.listeners.values()].filter((x: Obj) => x.bind_to_port?.value !== false).map((x: Obj) => x.name).sort();
    expect(bound).toEqual(['virtualInbound', 'virtualOutbound']);
  });

  it('gives each HTTP service port an unbound 0.0.0.0_<port> listener loading the route configuration named by the port', () => {
    expect([...r.routes.keys()].sort()).toEqual(['50051', '80', '9000']);
    for (const port of [80, 9000, 50051]) {
      const l = r.listeners.get(`0.0.0.0_${port}`) as Obj;
      expect(l.address.socket_address).toEqual({ address: '0.0.0.0', port_value: port });
      expect(l.bind_to_port).toEqual({ value: false });
      const hcm = l.filter_chains[0].filters.at(-1).typed_config;
      expect(hcm.stat_prefix).toBe(`outbound_0.0.0.0_${port}`);
      expect(hcm.rds.route_config_name).toBe(String(port));
      expect((r.routes.get(String(port)) as Obj).name).toBe(String(port));
    }
    expect(r.listeners.has('0.0.0.0_5432')).toBe(false); // TCP: no HTTP listener
  });

  it("gives every domain to exactly one virtual host of its port's configuration; each port's virtual host owns the port-less names; short names only in the own namespace", () => {
    const owners = new Map<string, Map<string, string>>();
    for (const [port, rc] of r.routes) {
      const owner = new Map<string, string>();
      for (const vh of (rc as Obj).virtual_hosts as Obj[]) {
        expect(vh.name.endsWith(`:${port}`), `${vh.name} in the configuration of port ${port}`).toBe(true);
        for (const d of vh.domains) {
          expect(owner.has(d), `domain ${d} appears twice in ${port}`).toBe(false);
          owner.set(d, vh.name);
        }
      }
      owners.set(port, owner);
    }
    const p80 = owners.get('80')!;
    const p9000 = owners.get('9000')!;
    expect(p80.get('web')).toBe('web.shop.svc.cluster.local:80');
    expect(p9000.get('web')).toBe('web.shop.svc.cluster.local:9000');
    expect(p80.get('web.shop.svc.cluster.local')).toBe('web.shop.svc.cluster.local:80');
    expect(p9000.get('web.shop.svc.cluster.local')).toBe('web.shop.svc.cluster.local:9000');
    expect(p9000.get('web:9000')).toBe('web.shop.svc.cluster.local:9000');
    expect(p80.has('web:9000')).toBe(false);
    expect(p9000.has('web:80')).toBe(false);
    expect(p80.get('web.other')).toBe('web.other.svc.cluster.local:80');
    expect(p80.has('web.other.svc:80')).toBe(true);
    expect(p9000.has('web.other')).toBe(false); // web in "other" has no port 9000
    expect(owners.get('50051')!.get('api.shop.svc.c2.global:50051')).toBe('api.shop.svc.c2.global:50051');
    for (const owner of owners.values()) expect([...owner.keys()].some((d) => d.startsWith('db'))).toBe(false); // TCP services are not HTTP-routed
  });

  it('in the all-ports configuration of proxyless clients, port-less names still go to the lowest port', () => {
    const p = resolveProxy(snap, 'c1/shop/web-0', 'proxyless');
    if (p instanceof Error) throw p;
    const rc = translateProxy(snap, p).routes.get(PROXYLESS_ROUTE_NAME) as Obj;
    const owner = new Map<string, string>();
    for (const vh of rc.virtual_hosts as Obj[]) for (const d of vh.domains) {
      expect(owner.has(d), `domain ${d} appears twice`).toBe(false);
      owner.set(d, vh.name);
    }
    expect(owner.get('web')).toBe('web.shop.svc.cluster.local:80');
    expect(owner.get('web.shop.svc.cluster.local')).toBe('web.shop.svc.cluster.local:80');
    expect(owner.get('web:9000')).toBe('web.shop.svc.cluster.local:9000');
  });

  it("gives TCP service ports an unbound <address>_<port> listener on the service's virtual address", () => {
    const view = new MeshView(snap);
    // db has no address of its own: hashed into c1's service range (default 10.96.0.0/16).
    const address = clusterServiceAddresses(view, 'c1').get('shop/db')!;
    expect(address).toMatch(/^10\.96\.\d+\.\d+$/);
    expect(hostAddresses(view, 'c1').get('db.shop.svc.cluster.local')).toBe(address);
    const l = r.listeners.get(`${address}_5432`) as Obj;
    expect(l.address.socket_address).toEqual({ address, port_value: 5432 });
    expect(l.bind_to_port).toEqual({ value: false });
    expect(l.filter_chains[0].filters.at(-1).typed_config.cluster).toBe('outbound|5432||db.shop.svc.cluster.local');
    // The one-cluster host gets an address of its own in 240.240.0.0/16.
    const global = hostAddresses(view, 'c1').get('db.shop.svc.c1.global')!;
    expect(global).toMatch(/^240\.240\.\d+\.\d+$/);
    expect((r.listeners.get(`${global}_5432`) as Obj).filter_chains[0].filters.at(-1).typed_config.cluster).toBe('outbound|5432||db.shop.svc.c1.global');
    // The same configuration always gives the same addresses.
    expect(clusterServiceAddresses(new MeshView(smallMesh()), 'c1').get('shop/db')).toBe(address);
    // A sidecar in c2, which does not run db, reaches the mesh-wide host at its address in c1.
    const c2 = translate(snap, 'c2/shop/api-0');
    expect((c2.listeners.get(`${address}_5432`) as Obj).filter_chains[0].filters.at(-1).typed_config.cluster).toBe('outbound|5432||db.shop.svc.cluster.local');
    expect(guardResources(c2).rejected).toEqual([]);
  });

  it("uses the service's own address (its ClusterIP) when it has one", () => {
    const own = translate(smallMesh(true, '10.0.0.7'), 'c1/shop/web-0');
    const l = own.listeners.get('10.0.0.7_5432') as Obj;
    expect(l.address.socket_address).toEqual({ address: '10.0.0.7', port_value: 5432 });
    expect(l.filter_chains[0].filters.at(-1).typed_config.cluster).toBe('outbound|5432||db.shop.svc.cluster.local');
    expect([...own.listeners.keys()].filter((n) => n.endsWith('_5432'))).toHaveLength(2); // and the .global host's
  });

  it('speaks HTTP/2 upstream to gRPC ports and offers h2', () => {
    const c = r.clusters.get('outbound|50051||api.shop.svc.cluster.local') as Obj;
    expect(c.typed_extension_protocol_options['envoy.extensions.upstreams.http.v3.HttpProtocolOptions'].explicit_http_config).toEqual({ http2_protocol_options: {} });
    expect(c.transport_socket.typed_config.common_tls_context.alpn_protocols).toEqual(['h2']);
    expect(c.common_lb_config).toEqual({ locality_weighted_lb_config: {} });
  });

  it('forwards inbound traffic to the workload port override', () => {
    const l = r.listeners.get('virtualInbound') as Obj;
    const chain = chainFor(l, 'outbound_.80_._.web.shop.svc.cluster.local')!;
    expect(chain.filters.at(-1).typed_config.route_config.virtual_hosts[0].routes[0].route.cluster).toBe('inbound|8081||');
    expect(r.clusters.has('inbound|8081||')).toBe(true);
    expect(r.clusters.has('inbound|9000||')).toBe(true);
  });

  it('gives a service without endpoints an empty assignment and trusts no real identity for it', () => {
    expect(r.endpoints.get('outbound|80||empty.shop.svc.cluster.local')).toEqual({ cluster_name: 'outbound|80||empty.shop.svc.cluster.local', endpoints: [], policy: { overprovisioning_factor: { value: 140 } } });
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

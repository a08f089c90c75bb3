/**
 * Ingress gateway role: HTTP listener on the Gateway's port (TLS from file references when set),
 * one virtual host for the gateway's hosts, routes by path prefix (longest first) to mesh
 * clusters, and those clusters with mesh mTLS; everything passes the guard.
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config/loader.js';
import type { MeshConfig } from '../../src/config/mesh-config.js';
import { StaticDiscovery, applyConfig } from '../../src/discovery/static/static-discovery.js';
import type { MeshSnapshot } from '../../src/model/snapshot.js';
import { ModelStore } from '../../src/model/store.js';
import { MeshView, resolveProxy, translateProxy, type ProxyResources } from '../../src/translate/index.js';
import { ROLE_TRANSLATORS } from '../../src/translate/index.js';
import { guardResources } from '../../src/translate/semantics.js';
import { ingressPathMatch } from '../../src/translate/ingress.js';
import { defaultMeshStore } from './default-mesh.js';

type Obj = Record<string, any>;

const dirs: string[] = [];
afterAll(async () => {
  for (const d of dirs) await rm(d, { recursive: true, force: true });
});

async function meshFromYaml(yaml: string): Promise<{ snap: MeshSnapshot; dir: string }> {
  const dir = await mkdtemp(join(tmpdir(), 'crossmesh-ingress-'));
  dirs.push(dir);
  await writeFile(join(dir, 'mesh.yaml'), yaml);
  const r = await loadConfig([dir]);
  if (!r.config) throw new Error(r.errors.map((e) => e.message).join('; '));
  const store = new ModelStore();
  applyConfig(store, new StaticDiscovery(r.config as MeshConfig), r.config as MeshConfig);
  return { snap: store.current, dir };
}

function translate(snap: MeshSnapshot, node: string): ProxyResources {
  const p = resolveProxy(snap, node, 'ingress');
  if (p instanceof Error) throw p;
  return translateProxy(snap, p);
}

const MESH = `
apiVersion: crossmesh.io/v1alpha1
kind: Cluster
metadata: {name: c1}
spec: {network: net1, locality: {region: r1, zone: r1-a}}
---
apiVersion: crossmesh.io/v1alpha1
kind: Service
metadata: {name: web, namespace: shop, cluster: c1}
spec: {selector: {app: web}, ports: [{name: http, port: 8000}]}
---
apiVersion: crossmesh.io/v1alpha1
kind: Service
metadata: {name: api, namespace: shop, cluster: c1}
spec: {selector: {app: api}, ports: [{name: grpc, port: 9000}]}
---
apiVersion: crossmesh.io/v1alpha1
kind: Workload
metadata: {name: web-0, namespace: shop, cluster: c1}
spec: {address: 127.0.1.10, labels: {app: web}, serviceAccount: web}
---
apiVersion: crossmesh.io/v1alpha1
kind: Workload
metadata: {name: api-0, namespace: shop, cluster: c1}
spec: {address: 127.0.1.11, labels: {app: api}, serviceAccount: api}
---
apiVersion: crossmesh.io/v1alpha1
kind: Workload
metadata: {name: edge-0, namespace: edge, cluster: c1}
spec: {address: 127.0.1.200, labels: {app: edge}, serviceAccount: edge}
---
apiVersion: crossmesh.io/v1alpha1
kind: Gateway
metadata: {name: public, namespace: edge, cluster: c1}
spec:
  type: Ingress
  workload: edge-0
  port: 8443
  hosts: [shop.example.com, "*.shop.example.com"]
  routes:
  - {pathPrefix: /, service: {name: web, namespace: shop, port: 8000}}
  - {pathPrefix: /api, service: {name: api, namespace: shop, port: 9000}}
  - {pathPrefix: /missing, service: {name: nope, namespace: shop, port: 1}}
  tls: {certFile: certs/tls.crt, keyFile: certs/tls.key}
---
apiVersion: crossmesh.io/v1alpha1
kind: Workload
metadata: {name: edge-1, namespace: edge, cluster: c1}
spec: {address: 127.0.1.201, labels: {app: edge}, serviceAccount: edge}
---
apiVersion: crossmesh.io/v1alpha1
kind: Gateway
metadata: {name: internal, namespace: edge, cluster: c1}
spec:
  type: Ingress
  workload: edge-1
  routes:
  - {pathPrefix: /web, service: {name: web, namespace: shop, port: 8000, cluster: c1}}
`;

describe('ingress gateway', () => {
  it('serves the default mesh: /productpage to productpage over mesh mTLS, plain HTTP on 8080', async () => {
    const r = translate((await defaultMeshStore()).current, 'cluster1/crossmesh-system/ingress-gateway-0');
    expect(guardResources(r).rejected).toEqual([]);
    const l = r.listeners.get('ingress_8080') as Obj;
    expect(l.address.socket_address).toEqual({ address: '0.0.0.0', port_value: 8080 });
    expect(l.filter_chains).toHaveLength(1);
    expect(l.filter_chains[0].transport_socket).toBeUndefined();
    expect(l.filter_chains[0].filters[0].typed_config.rds.route_config_name).toBe('ingress_8080');
    const vh = (r.routes.get('ingress_8080') as Obj).virtual_hosts;
    expect(vh).toHaveLength(1);
    expect(vh[0].domains).toEqual(['*']);
    expect(vh[0].routes.map((x: Obj) => [x.match.path_separated_prefix ?? x.match.prefix, x.route.cluster])).toEqual([['/productpage', 'outbound|9080||productpage.default.svc.cluster.local']]);
    const c = r.clusters.get('outbound|9080||productpage.default.svc.cluster.local') as Obj;
    const tls = c.transport_socket.typed_config;
    expect(tls.sni).toBe('outbound_.9080_._.productpage.default.svc.cluster.local');
    expect(tls.common_tls_context.tls_certificate_sds_secret_configs[0].name).toBe('default'); // the gateway's own identity
    expect([...r.clusters.keys()]).toEqual([...r.endpoints.keys()]);
  });

  it('terminates TLS with the gateway\'s SDS secret, routes by longest prefix, and leaves out routes to missing services', async () => {
    const { snap } = await meshFromYaml(MESH);
    const r = translate(snap, 'c1/edge/edge-0');
    expect(guardResources(r).rejected).toEqual([]);
    const chain = (r.listeners.get('ingress_8443') as Obj).filter_chains[0];
    const ctx = chain.transport_socket.typed_config;
    expect(ctx['@type']).toBe('type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.DownstreamTlsContext');
    // The control plane reads the files and serves them over ADS: Envoy is never handed a path it may not be able to read.
    expect(ctx.common_tls_context.tls_certificate_sds_secret_configs).toEqual([{ name: 'ingress-tls~edge~public', sds_config: { ads: {}, resource_api_version: 'V3' } }]);
    expect(ctx.common_tls_context.tls_certificates).toBeUndefined();
    expect(JSON.stringify(r)).not.toContain('tls.crt');
    expect(ctx.require_client_certificate).toBeUndefined();
    expect(JSON.stringify(r)).not.toContain('inline_bytes');
    const vh = (r.routes.get('ingress_8443') as Obj).virtual_hosts[0];
    expect(vh.name).toBe('edge/public');
    expect(vh.domains).toEqual(['*.shop.example.com', '*.shop.example.com:8443', 'shop.example.com', 'shop.example.com:8443']);
    expect(vh.routes.map((x: Obj) => [x.match.path_separated_prefix ?? x.match.prefix, x.route.cluster])).toEqual([
      ['/api', 'outbound|9000||api.shop.svc.cluster.local'],
      ['/', 'outbound|8000||web.shop.svc.cluster.local'],
    ]);
    expect([...r.clusters.keys()]).toEqual(['outbound|8000||web.shop.svc.cluster.local', 'outbound|9000||api.shop.svc.cluster.local']);
    // gRPC upstream speaks HTTP/2 and offers h2.
    const api = r.clusters.get('outbound|9000||api.shop.svc.cluster.local') as Obj;
    expect(api.typed_extension_protocol_options).toBeDefined();
    expect(api.transport_socket.typed_config.common_tls_context.alpn_protocols).toEqual(['h2']);
    expect(api.transport_socket.typed_config.common_tls_context.combined_validation_context.default_validation_context.match_typed_subject_alt_names).toEqual([
      { san_type: 'URI', matcher: { exact: 'spiffe://c1/ns/shop/sa/api' } },
    ]);
  });

  it('two ingress gateways in one cluster get scopes (and resources) of their own', async () => {
    const { snap } = await meshFromYaml(MESH);
    const view = new MeshView(snap);
    const t = ROLE_TRANSLATORS.ingress!;
    const keys = ['c1/edge/edge-0', 'c1/edge/edge-1'].map((id) => {
      const p = resolveProxy(snap, id, 'ingress');
      if (p instanceof Error) throw p;
      const s = t.scopes(view, p);
      return [s.clusters.key, s.endpoints.key, s.listeners.key, s.routes.key];
    });
    for (let i = 0; i < 4; i++) expect(keys[0]![i]).not.toBe(keys[1]![i]);
    const internal = translate(snap, 'c1/edge/edge-1');
    expect([...internal.listeners.keys()]).toEqual(['ingress_8080']); // default port of an Ingress
    expect((internal.routes.get('ingress_8080') as Obj).virtual_hosts[0].routes[0].route.cluster).toBe('outbound|8000||web.shop.svc.c1.global');
    expect(guardResources(internal).rejected).toEqual([]);
  });

  it('refuses a workload that runs no Ingress Gateway', async () => {
    const { snap } = await meshFromYaml(MESH);
    const p = resolveProxy(snap, 'c1/shop/web-0', 'ingress');
    expect(p).toBeInstanceOf(Error);
    expect((p as Error).message).toContain('no Ingress Gateway');
  });

  it('matches path prefixes on a segment boundary and treats no client as internal but the gateway itself', async () => {
    expect(ingressPathMatch('/api')).toEqual({ path_separated_prefix: '/api' });
    expect(ingressPathMatch('/api/')).toEqual({ prefix: '/api/' });
    expect(ingressPathMatch('/')).toEqual({ prefix: '/' });
    const store = await defaultMeshStore();
    const p = resolveProxy(store.current, 'cluster1/crossmesh-system/ingress-gateway-0', 'ingress');
    if (p instanceof Error) throw p;
    const r = translateProxy(store.current, p) as unknown as { listeners: Map<string, Obj> };
    const hcm = [...r.listeners.values()][0]!.filter_chains[0].filters[0].typed_config;
    expect(hcm.use_remote_address).toEqual({ value: true });
    expect(hcm.internal_address_config.cidr_ranges.map((c: Obj) => `${c.address_prefix}/${c.prefix_len.value}`)).toEqual(['127.0.0.1/32', '::1/128']);
  });

  it('refuses a pathPrefix with a query or fragment, naming the file and line', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'crossmesh-ingress-'));
    dirs.push(dir);
    const gw = 'apiVersion: crossmesh.io/v1alpha1\nkind: Gateway\nmetadata: {name: bad, namespace: edge, cluster: c1}\nspec:\n  type: Ingress\n  workload: edge-0\n  port: 9443\n  routes:\n  - pathPrefix: /web?x=1\n    service: {name: web, namespace: shop, port: 8000}\n';
    await writeFile(join(dir, 'mesh.yaml'), `${MESH}\n---\n${gw}`);
    const r = await loadConfig([dir]);
    expect(r.config).toBeUndefined();
    const e = r.errors.find((x) => x.message.includes('hold no'));
    expect(e?.path).toBe('spec.routes[0].pathPrefix');
    expect(e?.message, JSON.stringify(r.errors)).toMatch(/must start with "\/" and hold no "\?" or "#"/);
    expect(`${e?.file}:${e?.line}`).toMatch(/mesh\.yaml:\d+$/);
  });
});

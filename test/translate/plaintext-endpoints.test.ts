/**
 * Per-endpoint TLS mode (Istio's tlsMode): a workload outside the mesh (`mesh: false`: a hand-listed
 * address of a selector-less Kubernetes service, a VM) is reached in plaintext, every mesh workload
 * keeps mesh mTLS. Its LbEndpoint carries `envoy.transport_socket_match` metadata, its service's
 * cluster a matching raw_buffer entry; clusters of mesh-only services are unchanged; its identity is
 * never trusted; a gateway never stands for it; no proxy may claim it; the guard accepts it all.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import type { MeshSnapshot } from '../../src/model/snapshot.js';
import { renderExplanation } from '../../src/cli/explain.js';
import { explainProxy } from '../../src/translate/explain.js';
import { MeshView, resolveProxy, translateProxy, type ProxyResources } from '../../src/translate/index.js';
import { guardResources } from '../../src/translate/semantics.js';
import { SnapshotCache } from '../../src/xds/cache.js';
import { encodeResource, resourceToJson } from '../../src/xds/codec.js';
import { MeshPublisher } from '../../src/xds/mesh-publisher.js';
import { CLUSTER_TYPE, ENDPOINT_TYPE, type NodeInfo } from '../../src/xds/types.js';
import { sidecarResources, yamlMeshStore } from './yaml-mesh.js';

type Obj = Record<string, any>;

const MESH = `apiVersion: crossmesh.io/v1alpha1
kind: Cluster
metadata: {name: c1}
spec: {network: n1, locality: {region: r1, zone: z1}, gateway: {address: 192.0.2.1}}
---
apiVersion: crossmesh.io/v1alpha1
kind: Gateway
metadata: {name: east-west, namespace: crossmesh-system, cluster: c1}
spec: {type: EastWest, workload: ewgw-0, port: 15443}
---
apiVersion: crossmesh.io/v1alpha1
kind: Workload
metadata: {name: ewgw-0, namespace: crossmesh-system, cluster: c1}
spec: {address: 10.1.0.99, labels: {app: ewgw}}
---
apiVersion: crossmesh.io/v1alpha1
kind: Cluster
metadata: {name: c2}
spec: {network: n2, locality: {region: r2, zone: z2}, gateway: {address: 192.0.2.2}}
---
apiVersion: networking.smh.solo.io/v1alpha2
kind: VirtualMesh
metadata: {name: mesh, namespace: crossmesh-system}
spec: {meshes: [{name: c1}, {name: c2}]}
---
apiVersion: crossmesh.io/v1alpha1
kind: Service
metadata: {name: db, namespace: shop, cluster: c1}
spec: {selector: {app: db}, ports: [{name: tcp-pg, port: 5432}]}
---
apiVersion: crossmesh.io/v1alpha1
kind: Service
metadata: {name: db, namespace: shop, cluster: c2}
spec: {selector: {app: db}, ports: [{name: tcp-pg, port: 5432}]}
---
apiVersion: crossmesh.io/v1alpha1
kind: Service
metadata: {name: legacy, namespace: shop, cluster: c1}
spec: {selector: {app: legacy}, ports: [{name: http, port: 80, targetPort: 8080}]}
---
apiVersion: crossmesh.io/v1alpha1
kind: Service
metadata: {name: api, namespace: shop, cluster: c1}
spec: {selector: {app: api}, ports: [{name: http, port: 80, targetPort: 8080}]}
---
apiVersion: crossmesh.io/v1alpha1
kind: Workload
metadata: {name: db-vm, namespace: shop, cluster: c1}
spec: {address: 10.1.9.1, labels: {app: db}, mesh: false}
---
apiVersion: crossmesh.io/v1alpha1
kind: Workload
metadata: {name: db-vm, namespace: shop, cluster: c2}
spec: {address: 10.2.9.1, labels: {app: db}, mesh: false}
---
apiVersion: crossmesh.io/v1alpha1
kind: Workload
metadata: {name: legacy-vm, namespace: shop, cluster: c1}
spec: {address: 10.1.9.2, labels: {app: legacy}, mesh: false}
---
apiVersion: crossmesh.io/v1alpha1
kind: Workload
metadata: {name: legacy-0, namespace: shop, cluster: c1}
spec: {address: 10.1.0.2, labels: {app: legacy}, serviceAccount: legacy}
---
apiVersion: crossmesh.io/v1alpha1
kind: Workload
metadata: {name: api-0, namespace: shop, cluster: c1}
spec: {address: 10.1.0.30, labels: {app: api}, serviceAccount: api}
`;

/** `address health plaintext|mesh` of every endpoint of an assignment. */
function lbEndpoints(cla: Obj): string[] {
  return cla.endpoints.flatMap((g: Obj) => g.lb_endpoints.map((e: Obj) => `${e.endpoint.address.socket_address.address} ${e.health_status} ${e.metadata ? JSON.stringify(e.metadata.filter_metadata) : 'mesh'}`)).sort();
}

describe('endpoints outside the mesh (mesh: false)', () => {
  let snap: MeshSnapshot;
  let r: ProxyResources;
  beforeAll(async () => {
    snap = (await yamlMeshStore(MESH)).current;
    r = sidecarResources(snap, 'c1/shop/api-0');
  });

  it('their endpoints carry the plaintext transport socket match; mesh endpoints carry no metadata', () => {
    expect(lbEndpoints(r.endpoints.get('outbound|80||legacy.shop.svc.cluster.local') as Obj)).toEqual([
      '10.1.0.2 HEALTHY mesh',
      '10.1.9.2 HEALTHY {"envoy.transport_socket_match":{"fields":{"tlsMode":{"stringValue":"disabled"}}}}',
    ]);
    expect(lbEndpoints(r.endpoints.get('outbound|80||api.shop.svc.cluster.local') as Obj)).toEqual(['10.1.0.30 HEALTHY mesh']);
  });

  it('their cluster keeps mesh mTLS as its default, trusting only mesh identities, and adds a raw_buffer match', () => {
    const legacy = r.clusters.get('outbound|80||legacy.shop.svc.cluster.local') as Obj;
    expect(legacy.transport_socket_matches).toEqual([
      { name: 'plaintext', match: { fields: { tlsMode: { stringValue: 'disabled' } } }, transport_socket: { name: 'envoy.transport_sockets.raw_buffer', typed_config: { '@type': 'type.googleapis.com/envoy.extensions.transport_sockets.raw_buffer.v3.RawBuffer' } } },
    ]);
    expect(legacy.transport_socket.name).toBe('envoy.transport_sockets.tls');
    const tls = JSON.stringify(legacy.transport_socket.typed_config);
    expect(tls).toContain('spiffe://c1/ns/shop/sa/legacy');
    // The mesh: false workload's would-be account ("default") is not trusted.
    expect(tls).not.toContain('/sa/default');
  });

  it('clusters of mesh-only services are unchanged (no transport_socket_matches)', () => {
    expect((r.clusters.get('outbound|80||api.shop.svc.cluster.local') as Obj).transport_socket_matches).toBeUndefined();
  });

  it('a service with only endpoints outside the mesh trusts no identity (the no-endpoints one) and reaches them in plaintext', () => {
    const db = r.clusters.get('outbound|5432||db.shop.svc.cluster.local') as Obj;
    expect(db.transport_socket_matches).toHaveLength(1);
    expect(JSON.stringify(db.transport_socket.typed_config)).toContain('/sa/_no-endpoints_');
  });

  it('another network\'s endpoints outside the mesh are not reached through its gateway (it routes mesh mTLS by SNI)', () => {
    const db = r.endpoints.get('outbound|5432||db.shop.svc.cluster.local') as Obj;
    expect(lbEndpoints(db)).toEqual(['10.1.9.1 HEALTHY {"envoy.transport_socket_match":{"fields":{"tlsMode":{"stringValue":"disabled"}}}}', '192.0.2.2 UNHEALTHY mesh']);
    const global = r.endpoints.get('outbound|5432||db.shop.svc.c2.global') as Obj;
    expect(lbEndpoints(global)).toEqual(['192.0.2.2 UNHEALTHY mesh']);
  });

  it('an east-west gateway never forwards to them (it passes mesh mTLS through by SNI)', () => {
    const p = resolveProxy(snap, 'c1/crossmesh-system/ewgw-0', 'gateway');
    if (p instanceof Error) throw p;
    const gw = translateProxy(snap, p);
    expect(lbEndpoints(gw.endpoints.get('outbound|80||legacy.shop.svc.cluster.local') as Obj)).toEqual(['10.1.0.2 HEALTHY mesh']);
    expect(lbEndpoints(gw.endpoints.get('outbound|5432||db.shop.svc.cluster.local') as Obj)).toEqual([]);
    expect(guardResources(gw).rejected).toEqual([]);
  });

  it('a proxyless gRPC client is not given them (its xDS client has no transport socket matches)', () => {
    const p = resolveProxy(snap, 'c1/shop/api-0', 'proxyless');
    if (p instanceof Error) throw p;
    const grpc = translateProxy(snap, p);
    expect(lbEndpoints(grpc.endpoints.get('outbound|80||legacy.shop.svc.cluster.local') as Obj)).toEqual(['10.1.0.2 HEALTHY mesh']);
    expect((grpc.clusters.get('outbound|80||legacy.shop.svc.cluster.local') as Obj).transport_socket_matches).toBeUndefined();
  });

  it('explain names the plaintext endpoints', () => {
    const e = explainProxy(new MeshView(snap), 'c1/shop/api-0');
    if (e instanceof Error) throw e;
    const legacy = e.endpoints.find((a) => a.cluster === 'outbound|80||legacy.shop.svc.cluster.local')!;
    const eps = legacy.priorities.flatMap((p) => p.localities.flatMap((l) => l.endpoints));
    expect(eps.map((x) => `${x.address} ${x.plaintext ? 'plaintext' : 'mesh'}`).sort()).toEqual(['10.1.0.2 mesh', '10.1.9.2 plaintext']);
    expect(renderExplanation(e)).toContain('plaintext (outside the mesh, no mTLS): 10.1.9.2:8080');
  });

  it('no proxy may claim a workload outside the mesh', () => {
    const p = resolveProxy(snap, 'c1/shop/legacy-vm', 'sidecar');
    expect(p).toBeInstanceOf(Error);
    expect((p as Error).message).toContain('outside the mesh');
  });

  it('Envoy rules accept it (the guard: PGV and semantic checks) and it encodes', () => {
    expect(guardResources(r).rejected).toEqual([]);
    // The guard does not look inside a Struct; the encoder does (a JSON-form Struct failed only there).
    expect(() => encodeResource(CLUSTER_TYPE, 'legacy', r.clusters.get('outbound|80||legacy.shop.svc.cluster.local')!)).not.toThrow();
    expect(() => encodeResource(ENDPOINT_TYPE, 'legacy', r.endpoints.get('outbound|80||legacy.shop.svc.cluster.local')!)).not.toThrow();
  });

  it('a workload outside the mesh joining a mesh-only service (an endpoint change) adds the match to its cluster, and leaving removes it', async () => {
    const s = await yamlMeshStore(MESH);
    const cache = new SnapshotCache({ debounceMs: 1 });
    const publisher = MeshPublisher.attach(s, cache);
    try {
      const n: NodeInfo = { id: 'c1/shop/legacy-0', cluster: '', metadata: {}, locality: { region: '', zone: '', sub_zone: '' }, userAgentName: 't', userAgentVersion: '' };
      const groups = cache.resolve(n, undefined);
      if (groups instanceof Error) throw groups;
      const api = (): Obj => resourceToJson(cache.get(groups.get(CLUSTER_TYPE)!, CLUSTER_TYPE).resources.get('outbound|80||api.shop.svc.cluster.local')!);
      const apiEds = (): Obj => resourceToJson(cache.get(groups.get(ENDPOINT_TYPE)!, ENDPOINT_TYPE).resources.get('outbound|80||api.shop.svc.cluster.local')!);
      expect(api().transport_socket_matches ?? []).toEqual([]);
      const api0 = s.current.workloads.get('c1/shop/api-0')!;
      s.applyEvents([{ kind: 'upsertWorkload', workload: { ...api0, name: 'api-vm', address: '10.1.9.3', mesh: false } }]);
      cache.flush();
      // Decoded messages show the Struct as a message (fields/stringValue), as sent.
      expect(api().transport_socket_matches).toEqual([{ name: 'plaintext', match: { fields: { tlsMode: { stringValue: 'disabled' } } }, transport_socket: { name: 'envoy.transport_sockets.raw_buffer', typed_config: { '@type': 'type.googleapis.com/envoy.extensions.transport_sockets.raw_buffer.v3.RawBuffer' } } }]);
      // The cluster still trusts only the mesh workload's identity.
      expect(JSON.stringify(api().transport_socket)).toContain('spiffe://c1/ns/shop/sa/api');
      const eps = (apiEds().endpoints as Obj[]).flatMap((g) => g.lb_endpoints as Obj[]);
      expect(eps.map((e) => `${e.endpoint.address.socket_address.address} ${JSON.stringify(e.metadata ?? null)}`).sort()).toEqual(['10.1.0.30 null', '10.1.9.3 {"filter_metadata":{"envoy.transport_socket_match":{"fields":{"tlsMode":{"stringValue":"disabled"}}}}}']);
      s.applyEvents([{ kind: 'deleteWorkload', key: 'c1/shop/api-vm' }]);
      cache.flush();
      expect(api().transport_socket_matches ?? []).toEqual([]);
      expect(publisher.status().groups.flatMap((g) => g.rejected ?? [])).toEqual([]);
    } finally {
      publisher.close();
      cache.close();
    }
  });
});

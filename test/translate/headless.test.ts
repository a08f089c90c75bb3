/**
 * Headless services (`clusterIP: None`): a sidecar reaches the workload the app connected to, not
 * any workload of the service. HTTP ports route the service's names and every name under it
 * (`<pod>.<svc>.<ns>.svc.cluster.local`) to an ORIGINAL_DST cluster with the usual mesh mTLS; TCP
 * ports get one listener per workload address of the proxy's network; nothing is loaded over EDS
 * for them; the hosts table resolves per-pod names; Envoy's rules (the guard) accept the result.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config/loader.js';
import type { MeshSnapshot } from '../../src/model/snapshot.js';
import { MeshView, type ProxyResources } from '../../src/translate/index.js';
import { guardResources } from '../../src/translate/semantics.js';
import { clusterServiceAddresses, hostsEntries } from '../../src/translate/service-addresses.js';
import { SnapshotCache } from '../../src/xds/cache.js';
import { MeshPublisher } from '../../src/xds/mesh-publisher.js';
import { ENDPOINT_TYPE, LISTENER_TYPE, type NodeInfo } from '../../src/xds/types.js';
import { tempDir } from '../config/helpers.js';
import { sidecarResources, yamlMeshStore } from './yaml-mesh.js';

type Obj = Record<string, any>;

const MESH = `apiVersion: crossmesh.io/v1alpha1
kind: Cluster
metadata: {name: c1}
spec: {network: n1, locality: {region: r1, zone: z1}}
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
spec: {clusterIP: None, selector: {app: db}, ports: [{name: tcp-pg, port: 5432}]}
---
apiVersion: crossmesh.io/v1alpha1
kind: Service
metadata: {name: web, namespace: shop, cluster: c1}
spec: {clusterIP: None, selector: {app: web}, ports: [{name: http, port: 80, targetPort: 8080}]}
---
apiVersion: crossmesh.io/v1alpha1
kind: Service
metadata: {name: db, namespace: shop, cluster: c2}
spec: {clusterIP: None, selector: {app: db}, ports: [{name: tcp-pg, port: 5432}]}
---
apiVersion: crossmesh.io/v1alpha1
kind: Service
metadata: {name: api, namespace: shop, cluster: c1}
spec: {selector: {app: api}, ports: [{name: http, port: 80, targetPort: 8080}]}
---
apiVersion: crossmesh.io/v1alpha1
kind: Workload
metadata: {name: db-0, namespace: shop, cluster: c1}
spec: {address: 10.1.0.10, labels: {app: db}, serviceAccount: db}
---
apiVersion: crossmesh.io/v1alpha1
kind: Workload
metadata: {name: db-1, namespace: shop, cluster: c1}
spec: {address: 10.1.0.11, labels: {app: db}, serviceAccount: db}
---
apiVersion: crossmesh.io/v1alpha1
kind: Workload
metadata: {name: db-2, namespace: shop, cluster: c2}
spec: {address: 10.2.0.12, labels: {app: db}, serviceAccount: db}
---
apiVersion: crossmesh.io/v1alpha1
kind: Workload
metadata: {name: web-0, namespace: shop, cluster: c1}
spec: {address: 10.1.0.20, labels: {app: web}, serviceAccount: web}
---
apiVersion: crossmesh.io/v1alpha1
kind: Workload
metadata: {name: api-0, namespace: shop, cluster: c1}
spec: {address: 10.1.0.30, labels: {app: api}, serviceAccount: api}
`;

describe('headless services', () => {
  let snap: MeshSnapshot;
  let r: ProxyResources;
  beforeAll(async () => {
    snap = (await yamlMeshStore(MESH)).current;
    r = sidecarResources(snap, 'c1/shop/api-0');
  });

  it('`clusterIP: None` makes a headless service with no virtual address', () => {
    expect(snap.services.get('c1/shop/db')).toMatchObject({ headless: true });
    expect(snap.services.get('c1/shop/db')?.address).toBeUndefined();
    const addresses = clusterServiceAddresses(new MeshView(snap), 'c1');
    expect(addresses.has('shop/db')).toBe(false);
    expect(addresses.has('shop/api')).toBe(true);
  });

  it('the mesh-wide host is an ORIGINAL_DST cluster with the mesh mTLS of an EDS one; nothing of it goes over EDS', () => {
    const db = r.clusters.get('outbound|5432||db.shop.svc.cluster.local') as Obj;
    expect(db.type).toBe('ORIGINAL_DST');
    expect(db.lb_policy).toBe('CLUSTER_PROVIDED');
    expect(db.eds_cluster_config).toBeUndefined();
    expect(db.common_lb_config).toBeUndefined();
    const tls = db.transport_socket.typed_config;
    expect(tls.sni).toBe('outbound_.5432_._.db.shop.svc.cluster.local');
    expect(JSON.stringify(tls)).toContain('spiffe://c1/ns/shop/sa/db');
    expect(r.endpoints.has('outbound|5432||db.shop.svc.cluster.local')).toBe(false);
    expect(r.endpoints.has('outbound|80||web.shop.svc.cluster.local')).toBe(false);
    // The .global hosts still load-balance (another network's pods are reached through its gateway).
    expect((r.clusters.get('outbound|5432||db.shop.svc.c2.global') as Obj).type).toBe('EDS');
    expect(r.endpoints.has('outbound|5432||db.shop.svc.c2.global')).toBe(true);
    // A service with a ClusterIP is unchanged.
    expect((r.clusters.get('outbound|80||api.shop.svc.cluster.local') as Obj).type).toBe('EDS');
  });

  it('a TCP port gets one listener per workload address in the proxy network, to the ORIGINAL_DST cluster', () => {
    const names = [...r.listeners.keys()].filter((n) => n.endsWith('_5432')).sort();
    // db-2 is in another network; the .global hosts keep their own virtual addresses (240.240/16).
    expect(names.filter((n) => !n.startsWith('240.240.'))).toEqual(['10.1.0.10_5432', '10.1.0.11_5432']);
    expect(names).toHaveLength(4);
    const l = r.listeners.get('10.1.0.11_5432') as Obj;
    expect(l.address.socket_address).toEqual({ address: '10.1.0.11', port_value: 5432 });
    expect(l.bind_to_port).toEqual({ value: false });
    expect(l.filter_chains[0].filters[0].typed_config.cluster).toBe('outbound|5432||db.shop.svc.cluster.local');
  });

  it('an HTTP port routes the service names and every per-pod name to the ORIGINAL_DST cluster', () => {
    const rc = r.routes.get('80') as Obj;
    const vh = rc.virtual_hosts.find((v: Obj) => v.name === 'web.shop.svc.cluster.local:80');
    expect(vh.domains).toEqual(expect.arrayContaining(['web.shop.svc.cluster.local', '*.web.shop.svc.cluster.local', '*.web.shop.svc.cluster.local:80', 'web']));
    expect(vh.routes[0].route.cluster).toBe('outbound|80||web.shop.svc.cluster.local');
    expect((r.clusters.get('outbound|80||web.shop.svc.cluster.local') as Obj).type).toBe('ORIGINAL_DST');
  });

  it('Envoy rules accept it (the guard: PGV and semantic checks)', () => {
    expect(guardResources(r).rejected).toEqual([]);
  });

  it('the hosts table resolves per-pod names to their workloads and the service name to one of them', () => {
    const entries = hostsEntries(new MeshView(snap), 'c1', 'shop');
    const byName = new Map(entries.flatMap((e) => e.names.map((n) => [n, e.address] as const)));
    expect(byName.get('db-0.db.shop.svc.cluster.local')).toBe('10.1.0.10');
    expect(byName.get('db-1.db.shop.svc.cluster.local')).toBe('10.1.0.11');
    expect(byName.get('db.shop.svc.cluster.local')).toBe('10.1.0.10');
    expect(byName.get('db')).toBe('10.1.0.10');
    expect(byName.get('web-0.web.shop.svc.cluster.local')).toBe('10.1.0.20');
    expect(byName.has('db-2.db.shop.svc.cluster.local')).toBe(false);
  });

  it('a service headless in one cluster only keeps its load-balanced host', async () => {
    const mixed = (await yamlMeshStore(MESH.replace('metadata: {name: db, namespace: shop, cluster: c2}\nspec: {clusterIP: None, ', 'metadata: {name: db, namespace: shop, cluster: c2}\nspec: {'))).current;
    const m = sidecarResources(mixed, 'c1/shop/api-0');
    expect((m.clusters.get('outbound|5432||db.shop.svc.cluster.local') as Obj).type).toBe('EDS');
    expect(guardResources(m).rejected).toEqual([]);
  });

  it('a clusterIP that is neither an IPv4 address nor None is refused, naming the field', async () => {
    const dir = tempDir('crossmesh-headless-');
    try {
      const result = await loadConfig([dir.write('bad.yaml', MESH.replace('spec: {clusterIP: None, selector: {app: web}', 'spec: {clusterIP: none, selector: {app: web}'))]);
      expect(result.errors).toMatchObject([{ kind: 'Service', name: 'web', path: 'spec.clusterIP', message: 'expected an IPv4 address, or None for a headless service' }]);
    } finally {
      dir.remove();
    }
  });

  it('a new workload of a headless TCP service gets its listener on every sidecar (the change is not EDS-only)', async () => {
    const s = await yamlMeshStore(MESH);
    const cache = new SnapshotCache({ debounceMs: 1 });
    const publisher = MeshPublisher.attach(s, cache);
    try {
      const n: NodeInfo = { id: 'c1/shop/api-0', cluster: '', metadata: {}, locality: { region: '', zone: '', sub_zone: '' }, userAgentName: 't', userAgentVersion: '' };
      const groups = cache.resolve(n, undefined);
      if (groups instanceof Error) throw groups;
      const lds = () => [...cache.get(groups.get(LISTENER_TYPE)!, LISTENER_TYPE).resources.keys()].filter((k) => k.startsWith('10.1.0.')).sort();
      expect(lds()).toEqual(['10.1.0.10_5432', '10.1.0.11_5432']);
      const db0 = s.current.workloads.get('c1/shop/db-0')!;
      s.applyEvents([{ kind: 'upsertWorkload', workload: { ...db0, name: 'db-3', address: '10.1.0.13' } }]);
      cache.flush();
      expect(lds()).toEqual(['10.1.0.10_5432', '10.1.0.11_5432', '10.1.0.13_5432']);
      s.applyEvents([{ kind: 'deleteWorkload', key: 'c1/shop/db-0' }]);
      cache.flush();
      expect(lds()).toEqual(['10.1.0.11_5432', '10.1.0.13_5432']);
      expect([...cache.get(groups.get(ENDPOINT_TYPE)!, ENDPOINT_TYPE).resources.keys()].filter((k) => k.endsWith('db.shop.svc.cluster.local'))).toEqual([]);
      expect(publisher.status().groups.flatMap((g) => g.rejected ?? [])).toEqual([]);
    } finally {
      publisher.close();
      cache.close();
    }
  });
});

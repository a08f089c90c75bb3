/**
 * The "translate" benchmark's mesh, built deterministically in memory: 3 clusters (two networks)
 * × 2,000 services × 10 endpoints, 12 localities (4 zones per cluster), one VirtualMesh over all
 * clusters, and 1,000 sidecar node ids spread over the clusters, localities and 400 services.
 */
import type { VirtualMesh } from '../src/model/policies.js';
import { ModelStore } from '../src/model/store.js';
import type { GroupChange, SnapshotCache } from '../src/xds/cache.js';
import { MeshPublisher } from '../src/xds/mesh-publisher.js';
import type { NodeInfo, TypeUrl } from '../src/xds/types.js';
import type { Cluster, Gateway, Protocol, Service, Workload } from '../src/model/types.js';

export interface TranslateMeshSize {
  readonly clusters: number;
  readonly servicesPerCluster: number;
  readonly endpointsPerService: number;
  readonly zonesPerCluster: number;
  readonly namespaces: number;
  readonly sidecars: number;
  /** How many distinct services the sidecars run (replicas of one service share most groups). */
  readonly sidecarServices: number;
}

/** The issue's size: 3 × 2,000 × 10, 12 localities, 1,000 sidecars. */
export const ISSUE_SIZE: TranslateMeshSize = {
  clusters: 3,
  servicesPerCluster: 2000,
  endpointsPerService: 10,
  zonesPerCluster: 4,
  namespaces: 4,
  sidecars: 1000,
  sidecarServices: 400,
};

export interface TranslateMesh {
  readonly store: ModelStore;
  /** Node ids (`<cluster>/<ns>/<workload>`) of the sidecars to translate. */
  readonly sidecars: readonly string[];
  /** Every workload, for picking endpoint changes. */
  readonly workloads: readonly Workload[];
}

const REGIONS = ['us-east', 'us-west', 'eu-west', 'ap-south'];

function clusterName(c: number): string {
  return `cluster${c + 1}`;
}

function serviceName(s: number): string {
  return `svc-${String(s).padStart(4, '0')}`;
}

function namespaceOf(s: number, size: TranslateMeshSize): string {
  return `ns-${s % size.namespaces}`;
}

function workloadName(s: number, e: number): string {
  return `${serviceName(s)}-${e}`;
}

/** Every fifth service speaks gRPC (HTTP/2 upstream), the rest HTTP/1.1. */
function protocolOf(s: number): Protocol {
  return s % 5 === 0 ? 'GRPC' : 'HTTP';
}

/** Builds the mesh into a ModelStore (one update: declarations and one replaceCluster per cluster). */
export function buildTranslateMesh(size: TranslateMeshSize = ISSUE_SIZE): TranslateMesh {
  const clusters: Cluster[] = [];
  const gateways: Gateway[] = [];
  const byCluster = new Map<string, { services: Service[]; workloads: Workload[] }>();
  const all: Workload[] = [];
  for (let c = 0; c < size.clusters; c++) {
    const name = clusterName(c);
    const region = REGIONS[c % REGIONS.length]!;
    clusters.push({
      name,
      // cluster1 and cluster2 share a network; cluster3 is reached through its east-west gateway.
      network: c === size.clusters - 1 && size.clusters > 1 ? 'net2' : 'net1',
      trustDomain: name,
      locality: { region, zone: `${region}-1a`, subzone: '' },
      gateway: { address: `172.30.${c + 1}.250`, port: 15443 },
    });
    const services: Service[] = [];
    const workloads: Workload[] = [];
    for (let s = 0; s < size.servicesPerCluster; s++) {
      const svc = serviceName(s);
      const namespace = namespaceOf(s, size);
      const protocol = protocolOf(s);
      const port = protocol === 'GRPC' ? 9090 : 8080;
      services.push({ name: svc, namespace, cluster: name, ports: [{ name: protocol.toLowerCase(), port, targetPort: port, protocol }], selector: { app: svc }, labels: { app: svc } });
      for (let e = 0; e < size.endpointsPerService; e++) {
        const idx = s * size.endpointsPerService + e;
        const zone = `${region}-1${String.fromCharCode(97 + (e % size.zonesPerCluster))}`;
        const w: Workload = {
          name: workloadName(s, e),
          namespace,
          cluster: name,
          address: `10.${c + 1}.${(idx >> 8) & 255}.${idx & 255}`,
          labels: { app: svc, version: `v${e % 3}` },
          serviceAccount: svc,
          locality: { region, zone, subzone: '' },
          health: 'HEALTHY',
        };
        workloads.push(w);
        all.push(w);
      }
    }
    const gw: Workload = {
      name: 'east-west-0',
      namespace: 'crossmesh-system',
      cluster: name,
      address: `172.30.${c + 1}.250`,
      labels: { app: 'east-west' },
      serviceAccount: 'east-west',
      locality: { region, zone: `${region}-1a`, subzone: '' },
      health: 'HEALTHY',
    };
    workloads.push(gw);
    gateways.push({ name: 'east-west', namespace: 'crossmesh-system', cluster: name, type: 'EastWest', workload: gw.name, port: 15443 });
    byCluster.set(name, { services, workloads });
  }
  const virtualMesh: VirtualMesh = {
    name: 'bench-mesh',
    namespace: 'crossmesh-system',
    meshes: clusters.map((c) => ({ name: c.name })),
    mtls: { rootCertificateAuthority: { kind: 'generated' }, autoRestartPods: false },
    globalAccessPolicy: 'DISABLED',
    federation: { enabled: true },
    ca: { directory: '.crossmesh/ca', leafTtlMs: 86_400_000, keyType: 'ECDSA_P256' },
  };
  const store = new ModelStore({
    declarations: { clusters, gateways, policies: { virtualMeshes: [virtualMesh], trafficPolicies: [], accessPolicies: [], failoverServices: [] } },
    events: [...byCluster].map(([cluster, v]) => ({ kind: 'replaceCluster' as const, cluster, services: v.services, workloads: v.workloads })),
  });

  // Sidecar i: cluster i mod 3, service i mod 400, endpoint 7i mod 10 (so every zone gets some),
  // shifted by one per round of 1,200 (i mod 1,200 is what cluster and service fix): every node id
  // is distinct up to 12,000 sidecars, and the first 1,200 are those of the 1,000-sidecar mesh.
  const round = size.clusters * size.sidecarServices;
  const sidecars: string[] = [];
  for (let i = 0; i < size.sidecars; i++) {
    const c = i % size.clusters;
    const s = i % size.sidecarServices;
    const e = (i * 7 + Math.floor(i / round)) % size.endpointsPerService;
    sidecars.push(`${clusterName(c)}/${namespaceOf(s, size)}/${workloadName(s, e)}`);
  }
  if (new Set(sidecars).size !== sidecars.length) throw new Error(`${size.sidecars} sidecars do not have distinct node ids in this mesh size`);
  return { store, sidecars, workloads: all };
}

/** A sidecar's node as it would connect (the bench resolves nodes directly through the cache). */
export function sidecarNode(id: string): NodeInfo {
  return { id, cluster: '', metadata: {}, locality: { region: '', zone: '', sub_zone: '' }, userAgentName: 'bench', userAgentVersion: '' };
}

/**
 * Attaches a publisher to `cache` and resolves every sidecar of the mesh, as 1,000 connecting
 * proxies would: each resolution computes (or shares) its groups. `onPublisher` receives the
 * publisher as soon as it exists, so the caller can close it if a resolution throws.
 */
export function publishSidecars(mesh: TranslateMesh, cache: SnapshotCache, onPublisher: (p: MeshPublisher) => void): Map<string, ReadonlyMap<TypeUrl, string>> {
  onPublisher(MeshPublisher.attach(mesh.store, cache));
  const groups = new Map<string, ReadonlyMap<TypeUrl, string>>();
  for (const id of mesh.sidecars) {
    const g = cache.resolve(sidecarNode(id), undefined);
    if (g instanceof Error) throw new Error(`node ${id} did not resolve: ${g.message}`);
    groups.set(id, g);
  }
  cache.flush();
  return groups;
}

/** The benchmarks' pseudo-random sequence (an LCG), so every run picks the same workloads. */
export function nextSeed(seed: number): number {
  return (seed * 1103515245 + 12345) & 0x7fffffff;
}

/**
 * One endpoint change as the benchmarks make it: workload `w`'s health flips and the cache is
 * flushed. Returns the time until the cache has handed its change batch to its listeners (where
 * the xDS server starts pushing) and the changes in that batch.
 */
export function flipHealth(mesh: TranslateMesh, cache: SnapshotCache, w: Workload): { key: string; ms: number; changes: GroupChange[] } {
  const key = `${w.cluster}/${w.namespace}/${w.name}`;
  const cur = mesh.store.current.workloads.get(key)!;
  const next: Workload = { ...cur, health: cur.health === 'HEALTHY' ? 'UNHEALTHY' : 'HEALTHY' };
  const changes: GroupChange[] = [];
  const off = cache.onChange((b) => changes.push(...b));
  try {
    const t = performance.now();
    mesh.store.applyEvents([{ kind: 'upsertWorkload', workload: next }]);
    cache.flush();
    return { key, ms: performance.now() - t, changes };
  } finally {
    off();
  }
}

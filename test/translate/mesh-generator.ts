/**
 * Random meshes from a seed (mulberry32), for property tests: several clusters over one to three
 * networks and regions, services spread over random clusters with HTTP/HTTP2/GRPC/TCP ports,
 * workloads in random localities, health and service accounts, east-west gateways on most
 * clusters, a VirtualMesh over some of them, and traffic shifts to version subsets.
 */
import type { MeshPolicies, TrafficPolicy, VirtualMesh } from '../../src/model/policies.js';
import { ModelStore } from '../../src/model/store.js';
import type { Cluster, Gateway, Health, Protocol, Service, Workload } from '../../src/model/types.js';

/** Deterministic PRNG in [0, 1). */
export function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export interface GeneratedMesh {
  readonly store: ModelStore;
  /** `[node id, role]` of every proxy worth translating. */
  readonly proxies: readonly (readonly [string, 'sidecar' | 'gateway'])[];
}

/** Builds a random mesh from `seed`. */
export function generateMesh(seed: number): GeneratedMesh {
  const rnd = mulberry32(seed);
  const int = (lo: number, hi: number) => lo + Math.floor(rnd() * (hi - lo + 1));
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rnd() * xs.length)]!;
  const regions = ['us-east', 'eu-west', 'ap-south'];
  const zones = ['a', 'b'];

  const clusterCount = int(2, 4);
  const networks = int(1, 3);
  const clusters: Cluster[] = [];
  for (let i = 0; i < clusterCount; i++) {
    const region = pick(regions);
    clusters.push({
      name: `c${i}`,
      network: `net${int(0, networks - 1)}`,
      trustDomain: `c${i}.example`,
      locality: { region, zone: `${region}-${pick(zones)}`, subzone: '' },
      ...(rnd() < 0.85 ? { gateway: { address: `127.0.${i + 1}.100`, port: 15443 } } : {}),
    });
  }
  const members = clusters.filter(() => rnd() < 0.8).map((c) => ({ name: c.name }));
  const virtualMeshes: VirtualMesh[] = members.length
    ? [{
        name: 'vm',
        namespace: 'mesh',
        meshes: members,
        mtls: { rootCertificateAuthority: { kind: 'generated' }, autoRestartPods: false },
        globalAccessPolicy: 'DISABLED',
        federation: { enabled: true },
        ca: { directory: '.crossmesh/ca', leafTtlMs: 86_400_000, keyType: 'ECDSA_P256' },
      }]
    : [];

  const services: Service[] = [];
  const workloads: Workload[] = [];
  const protocols: Protocol[] = ['HTTP', 'HTTP2', 'GRPC', 'TCP'];
  const serviceCount = int(1, 6);
  const defs: { name: string; namespace: string; clusters: Cluster[] }[] = [];
  for (let s = 0; s < serviceCount; s++) {
    const name = `svc${s}`;
    const namespace = pick(['ns0', 'ns1']);
    const ports = [...new Set([pick([80, 8080, 9080, 5432, 15006]), pick([80, 8080, 9090])])].map((port) => ({
      name: `p${port}`,
      port,
      targetPort: pick([port, 8000 + s]),
      protocol: pick(protocols),
    }));
    const runIn = clusters.filter(() => rnd() < 0.6);
    if (runIn.length === 0) runIn.push(pick(clusters));
    defs.push({ name, namespace, clusters: runIn });
    for (const c of runIn) {
      services.push({ name, namespace, cluster: c.name, ports, selector: { app: name }, labels: { service: name } });
      const n = int(0, 3);
      for (let w = 0; w < n; w++) {
        const region = rnd() < 0.7 ? c.locality.region : pick(regions);
        workloads.push({
          name: `${name}-${w}`,
          namespace,
          cluster: c.name,
          address: `127.0.${clusters.indexOf(c) + 1}.${10 + s * 8 + w}`,
          labels: { app: name, version: pick(['v1', 'v2', 'v3']) },
          serviceAccount: pick(['sa-a', 'sa-b']),
          locality: rnd() < 0.3 ? { region: '', zone: '', subzone: '' } : { region, zone: `${region}-${pick(zones)}`, subzone: '' },
          health: pick<Health>(['HEALTHY', 'HEALTHY', 'HEALTHY', 'UNHEALTHY', 'DRAINING', 'UNKNOWN']),
        });
      }
    }
  }

  const gateways: Gateway[] = [];
  for (const c of clusters) {
    if (!c.gateway) continue;
    workloads.push({
      name: 'ew-0',
      namespace: 'mesh-system',
      cluster: c.name,
      address: c.gateway.address,
      labels: { app: 'ew' },
      serviceAccount: 'ew',
      locality: { region: '', zone: '', subzone: '' },
      health: 'HEALTHY',
    });
    gateways.push({ name: 'ew', namespace: 'mesh-system', cluster: c.name, type: 'EastWest', workload: 'ew-0', port: 15443 });
  }

  const trafficPolicies: TrafficPolicy[] = [];
  for (const d of defs) {
    if (rnd() < 0.5) continue;
    const where = rnd() < 0.5 ? pick(d.clusters).name : undefined;
    trafficPolicies.push({
      name: `shift-${d.name}`,
      namespace: 'mesh',
      sourceSelector: [],
      destinationSelector: [],
      httpRequestMatchers: [],
      trafficShift: {
        destinations: [
          { kind: 'service', service: { name: d.name, namespace: d.namespace, ...(where ? { cluster: where } : {}) }, subset: { version: 'v1' }, weight: 50 },
          { kind: 'service', service: { name: d.name, namespace: d.namespace }, subset: { version: 'v2' }, weight: 50 },
        ],
      },
    });
  }
  const policies: MeshPolicies = { virtualMeshes, trafficPolicies, accessPolicies: [], failoverServices: [] };

  const store = new ModelStore({
    declarations: { clusters, gateways, policies },
    events: clusters.map((c) => ({
      kind: 'replaceCluster' as const,
      cluster: c.name,
      services: services.filter((s) => s.cluster === c.name),
      workloads: workloads.filter((w) => w.cluster === c.name),
    })),
  });
  const proxies = workloads.map((w) => [`${w.cluster}/${w.namespace}/${w.name}`, w.namespace === 'mesh-system' ? 'gateway' : 'sidecar'] as const);
  return { store, proxies };
}

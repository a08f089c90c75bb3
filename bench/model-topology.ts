/**
 * Generates a deterministic synthetic mesh as YAML files: N clusters × S services × E endpoints,
 * in the same document shapes users write (for the "model" benchmark).
 */
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';

export interface TopologySize {
  readonly clusters: number;
  readonly servicesPerCluster: number;
  readonly endpointsPerService: number;
}

function clusterDoc(c: number): string {
  return `apiVersion: crossmesh.io/v1alpha1
kind: Cluster
metadata:
  name: cluster${c}
spec:
  network: net${c % 2}
  locality:
    region: region${c % 2}
    zone: zone${c}
  gateway:
    address: 10.${c}.255.254
    port: 15443
`;
}

function serviceDoc(c: number, s: number): string {
  return `apiVersion: crossmesh.io/v1alpha1
kind: Service
metadata:
  name: svc-${s}
  namespace: default
  cluster: cluster${c}
spec:
  selector:
    app: svc-${s}
  ports:
  - name: http
    port: 8080
    targetPort: 8080
  - name: grpc
    port: 9090
`;
}

function workloadDoc(c: number, s: number, e: number): string {
  return `apiVersion: crossmesh.io/v1alpha1
kind: Workload
metadata:
  name: svc-${s}-${e}
  namespace: default
  cluster: cluster${c}
spec:
  address: 10.${c}.${Math.floor(s / 10) % 250}.${(s % 10) * 20 + e + 1}
  labels:
    app: svc-${s}
    version: v${e % 3}
  serviceAccount: svc-${s}
  locality:
    region: region${c % 2}
    zone: zone${c}-${e % 3}
`;
}

/** Writes the topology into `dir` (one file of clusters, one of services and one of workloads per cluster); returns the files and total bytes. */
export async function writeTopology(dir: string, size: TopologySize): Promise<{ files: string[]; bytes: number }> {
  const files: string[] = [];
  let bytes = 0;
  const put = async (name: string, docs: string[]) => {
    const text = docs.join('---\n');
    const p = join(dir, name);
    await writeFile(p, text);
    files.push(p);
    bytes += Buffer.byteLength(text);
  };
  await put('clusters.yaml', Array.from({ length: size.clusters }, (_, c) => clusterDoc(c + 1)));
  for (let c = 1; c <= size.clusters; c++) {
    await put(`cluster${c}-services.yaml`, Array.from({ length: size.servicesPerCluster }, (_, s) => serviceDoc(c, s)));
    const w: string[] = [];
    for (let s = 0; s < size.servicesPerCluster; s++) for (let e = 0; e < size.endpointsPerService; e++) w.push(workloadDoc(c, s, e));
    await put(`cluster${c}-workloads.yaml`, w);
  }
  return { files, bytes };
}

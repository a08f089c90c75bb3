/**
 * The small mesh of the policy tests on real Envoy: one cluster, a `client` pod (its app calls
 * nothing; the tests send requests from its namespace, so its sidecar's outbound routes carry the
 * policies), three `web` pods (versions v1, v2, v3: subsets a route can pick) and one `shadow` pod
 * (a mirror target). Policies are written into the watched directory as TrafficPolicy YAML, as a
 * user writes them.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { afterAll, beforeAll } from 'vitest';
import * as os from 'node:os';
import * as path from 'node:path';
import type { Driver, RequestResult } from '../../src/netsim/index.js';
import type { ServedRequest } from '../../src/demo-app/server.js';
import { startMeshSim, type MeshSim } from '../../src/meshsim/index.js';
import { policyDir } from './support.js';

const TOPOLOGY = `apiVersion: crossmesh.io/v1alpha1
kind: Cluster
metadata: {name: c1}
spec:
  network: n1
  serviceCIDR: 10.96.7.0/24
  locality: {region: r1, zone: z1}
  gateway: {address: 172.31.0.11, port: 15443}
---
kind: Service
apiVersion: crossmesh.io/v1alpha1
metadata: {name: web, namespace: default, cluster: c1, labels: {app: web}}
spec: {clusterIP: 10.96.7.1, selector: {app: web}, ports: [{name: http, port: 9080, targetPort: 9080}]}
---
kind: Service
apiVersion: crossmesh.io/v1alpha1
metadata: {name: shadow, namespace: default, cluster: c1, labels: {app: shadow}}
spec: {clusterIP: 10.96.7.2, selector: {app: shadow}, ports: [{name: http, port: 9080, targetPort: 9080}]}
${[
  ['client-0', '172.31.7.10', 'client', 'v1'],
  ['web-0', '172.31.7.20', 'web', 'v1'],
  ['web-1', '172.31.7.21', 'web', 'v2'],
  ['web-2', '172.31.7.22', 'web', 'v3'],
  ['shadow-0', '172.31.7.30', 'shadow', 'v1'],
]
  .map(
    ([name, address, app, version]) => `---
kind: Workload
apiVersion: crossmesh.io/v1alpha1
metadata: {name: ${name}, namespace: default, cluster: c1}
spec: {address: ${address}, labels: {app: ${app}, version: ${version}}, serviceAccount: ${app}}
`,
  )
  .join('')}`;

/** The URL of the web service as the client app calls it (through its sidecar). */
export const WEB = 'http://web.default.svc.cluster.local:9080';
/** The client pod's simulation name. */
export const CLIENT_POD = 'c1-client-0';
/** The web pods' workload names (what `x-demo-pods` and the `x-demo-pod` answer header name). */
export const WEB_PODS = ['web-0', 'web-1', 'web-2'] as const;

/** A TrafficPolicy on the web service with `spec` (YAML lines under `spec:`, indented two spaces). */
export function webPolicy(name: string, spec: string): string {
  return `apiVersion: networking.smh.solo.io/v1alpha2
kind: TrafficPolicy
metadata: {name: ${name}, namespace: default}
spec:
  destinationSelector:
  - kubeServiceRefs:
      services: [{name: web, namespace: default, clusterName: c1}]
${spec.replace(/^\n/, '').replace(/\s+$/, '')}
`;
}

/** The running policy mesh, its client's driver, and the watched policy directory. */
export interface PolicyMesh {
  readonly mesh: MeshSim;
  readonly client: Driver;
  /** Replaces every policy file with `files` (name → YAML) and waits until every Envoy holds the result. */
  setPolicies(files: Readonly<Record<string, string>>): Promise<void>;
  /** What the pod's app served since the last `clearLogs` (its request log). */
  served(pod: string): ServedRequest[];
  /** Forgets what was served so far (every pod). */
  clearLogs(): void;
  close(): Promise<void>;
}

/** Starts the policy mesh (one cluster, five pods); close() removes everything. */
export async function startPolicyMesh(): Promise<PolicyMesh> {
  const topoDir = mkdtempSync(path.join(os.tmpdir(), 'crossmesh-policy-mesh-'));
  writeFileSync(path.join(topoDir, 'topology.yaml'), TOPOLOGY);
  const policies = policyDir();
  const mesh = await startMeshSim({ topology: [topoDir], policyDir: policies.dir, calls: () => '' });
  let current: string[] = [];
  /** Bytes of each request log already seen: clearLogs moves the mark instead of truncating a file the app appends to. */
  const marks = new Map<string, number>();
  const logOf = (pod: string): string => {
    const file = mesh.pod(`c1-${pod}`).requestLog;
    try {
      return file ? readFileSync(file, 'utf8') : '';
    } catch {
      return '';
    }
  };
  return {
    mesh,
    client: await mesh.sim.driver(CLIENT_POD),
    async setPolicies(files) {
      for (const f of current) if (!(f in files)) policies.remove(f);
      for (const [name, text] of Object.entries(files)) policies.write(name, text);
      current = Object.keys(files);
      await mesh.settle(current, 20_000);
      // settle() sees what the Envoys accepted; a changed cluster still warms (until its EDS
      // arrives) while the old one serves, and workers take an update a moment after the main
      // thread: requests sent at once measured the previous policy (seen for per-try timeouts and
      // circuit breakers). Wait for the client's warming clusters to go, then a beat.
      const admin = mesh.pod(CLIENT_POD).envoy.admin;
      const deadline = Date.now() + 10_000;
      while (JSON.stringify((await admin.configDump({ resource: 'dynamic_warming_clusters', includeEds: false })).configs ?? []).includes('outbound|')) {
        if (Date.now() > deadline) throw new Error('the client sidecar kept warming clusters for 10 s');
        await new Promise((r) => setTimeout(r, 100));
      }
      await new Promise((r) => setTimeout(r, 300));
    },
    served(pod) {
      const text = logOf(pod).slice(marks.get(pod) ?? 0);
      return text.split('\n').filter((l) => l.trim() !== '').map((l) => JSON.parse(l) as ServedRequest);
    },
    clearLogs() {
      for (const pod of [...WEB_PODS, 'shadow-0', 'client-0']) marks.set(pod, logOf(pod).length);
    },
    async close() {
      await mesh.close();
      policies.dispose();
      rmSync(topoDir, { recursive: true, force: true });
    },
  };
}

/** Counts results by status (`error` text for a request with none). */
export function statusCounts(results: readonly RequestResult[]): Record<string, number> {
  const out: Record<string, number> = {};
  for (const r of results) {
    const k = r.status !== undefined ? String(r.status) : `error ${r.error}`;
    out[k] = (out[k] ?? 0) + 1;
  }
  return out;
}

/** The pod that answered (the app's `x-demo-pod` header), or undefined for Envoy's own answers. */
export function podOf(r: RequestResult): string | undefined {
  const h = r.headers?.['x-demo-pod'];
  return Array.isArray(h) ? h[0] : h;
}

/** Starts the policy mesh before a suite's tests and closes it after; the returned function gives the running mesh. */
export function policyMeshHooks(): () => PolicyMesh {
  let pm: PolicyMesh | undefined;
  beforeAll(async () => {
    pm = await startPolicyMesh();
  }, 90_000);
  afterAll(async () => {
    await pm?.close();
  }, 30_000);
  return () => {
    if (!pm) throw new Error('the policy mesh did not start');
    return pm;
  };
}

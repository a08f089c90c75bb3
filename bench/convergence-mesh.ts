/**
 * The convergence benchmark's mesh: crossmesh (model store → mesh publisher → cache → xDS server,
 * in process) serving one cluster with an `echo` service of N XdsServer endpoints and M proxyless
 * clients that call it in a paced loop (CONVERGENCE_PACING_MS, default 50 ms between RPCs), each recording when it sent what to whom.
 */
import type * as grpc from '@grpc/grpc-js';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CertificateAuthority } from '../src/ca/authority.js';
import { startControlPlane, type ControlPlane } from '../src/cli/serve.js';
import { loadConfig } from '../src/config/loader.js';
import type { MeshConfig } from '../src/config/mesh-config.js';
import { writeWorkloadCertFiles } from '../src/demo/cert-files.js';
import { callWho } from '../src/demo/echo.js';
import { proxylessClient, startProxylessServer, type ProxylessServer } from '../src/demo/proxyless-workload.js';
import { StaticDiscovery, applyConfig } from '../src/discovery/static/static-discovery.js';
import { ModelStore } from '../src/model/store.js';
import type { Workload } from '../src/model/types.js';
import { buildProxylessBootstrap } from '../src/translate/proxyless-bootstrap.js';
import { SnapshotCache } from '../src/xds/cache.js';
import { MeshPublisher } from '../src/xds/mesh-publisher.js';

const LOCALITY = { region: 'us-east', zone: 'us-east-1a', subzone: '' };
const PACING_MS = Number(process.env.CONVERGENCE_PACING_MS ?? 50);

async function freePort(): Promise<number> {
  const s = createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  const port = (s.address() as { port: number }).port;
  await new Promise<void>((r) => s.close(() => r()));
  return port;
}

function topology(endpoints: number, clients: number, ports: readonly number[]): string {
  const docs = [
    `apiVersion: crossmesh.io/v1alpha1
kind: Cluster
metadata: {name: cluster1}
spec: {network: net1, locality: {region: us-east, zone: us-east-1a}}`,
    `apiVersion: crossmesh.io/v1alpha1
kind: Service
metadata: {name: echo, namespace: default, cluster: cluster1}
spec: {selector: {app: echo}, ports: [{name: grpc, port: 9080, protocol: GRPC}]}`,
  ];
  for (let i = 0; i < endpoints; i++) {
    docs.push(`apiVersion: crossmesh.io/v1alpha1
kind: Workload
metadata: {name: echo-${i}, namespace: default, cluster: cluster1}
spec: {address: 127.0.1.${11 + i}, labels: {app: echo}, serviceAccount: echo, ports: {"9080": ${ports[i]}}}`);
  }
  for (let i = 0; i < clients; i++) {
    docs.push(`apiVersion: crossmesh.io/v1alpha1
kind: Workload
metadata: {name: client-${i}, namespace: default, cluster: cluster1}
spec: {address: 127.0.9.${1 + i}, labels: {app: client}, serviceAccount: client}`);
  }
  return docs.join('\n---\n') + '\n';
}

interface Sent {
  readonly start: number;
  readonly who: string;
}

/** One repetition's measurement. */
export interface Convergence {
  /** Per client: ms from the model change until it stopped sending to the endpoint. */
  readonly perClientMs: number[];
  /** The cache's debounce window as measured on this change's batch. */
  readonly debounceMs: number;
}

/** The running benchmark mesh. */
export interface ConvergenceMesh {
  /** Resolves once every client has been answered by every endpoint. */
  warmUp(timeoutMs: number): Promise<void>;
  /** Takes endpoint `i` out of service and measures; throws if clients do not all stop in time. */
  takeOutAndMeasure(i: number, timeoutMs: number): Promise<Convergence>;
  /** Puts endpoint `i` back and waits until every client sends to it again. */
  restore(i: number, timeoutMs: number): Promise<void>;
  /** RPCs that reached a taken-out endpoint after all clients had been seen to stop. */
  readonly strayRpcs: number;
  close(): Promise<void>;
}

async function waitUntil(cond: () => boolean, timeoutMs: number, what: string): Promise<void> {
  const end = performance.now() + timeoutMs;
  while (!cond()) {
    if (performance.now() > end) throw new Error(`convergence bench: ${what} not reached within ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

/** Starts crossmesh, the endpoints and the clients. */
export async function startConvergenceMesh(o: { clients: number; endpoints: number; debounceMs: number }): Promise<ConvergenceMesh> {
  const dir = await mkdtemp(join(tmpdir(), 'crossmesh-convergence-'));
  const ports: number[] = [];
  for (let i = 0; i < o.endpoints; i++) ports.push(await freePort());
  await writeFile(join(dir, 'mesh.yaml'), topology(o.endpoints, o.clients, ports));
  const loaded = await loadConfig([join(dir, 'mesh.yaml')]);
  if (!loaded.config) throw new Error(`convergence bench topology: ${loaded.errors.map((e) => e.message).join('; ')}`);
  const config = loaded.config as MeshConfig;
  const store = new ModelStore();
  applyConfig(store, new StaticDiscovery(config), config);
  const cache = new SnapshotCache({ debounceMs: o.debounceMs });
  const publisher = MeshPublisher.attach(store, cache);
  const ca = await CertificateAuthority.open({ directory: join(dir, 'ca') });
  let plane: ControlPlane | undefined;
  const servers: ProxylessServer[] = [];
  const clients: grpc.Client[] = [];
  const logs: Sent[][] = [];
  let running = true;
  const loops: Promise<void>[] = [];
  let stray = 0;
  let watching: string | undefined;
  let debounceSample: number | undefined;
  const offChange = cache.onChange((batch) => {
    if (debounceSample === undefined && batch.length) debounceSample = performance.now() - Math.min(...batch.map((b) => b.since));
  });
  try {
    plane = await startControlPlane({ cache, xdsPort: 0, adminPort: 0 });
    const bootstrap = (node: string, certDir: string) => buildProxylessBootstrap({ nodeId: `cluster1/default/${node}`, xdsAddress: plane!.xdsAddress, certDir, locality: LOCALITY });
    const echoCerts = join(dir, 'certs', 'echo');
    const clientCerts = join(dir, 'certs', 'client');
    await writeWorkloadCertFiles(ca, { cluster: 'cluster1', trustDomain: 'cluster1', namespace: 'default', serviceAccount: 'echo' }, echoCerts);
    await writeWorkloadCertFiles(ca, { cluster: 'cluster1', trustDomain: 'cluster1', namespace: 'default', serviceAccount: 'client' }, clientCerts);
    for (let i = 0; i < o.endpoints; i++) {
      servers.push(await startProxylessServer({ bootstrap: bootstrap(`echo-${i}`, echoCerts), address: `127.0.1.${11 + i}`, port: ports[i]!, answer: { cluster: 'cluster1', zone: 'us-east-1a', workload: `echo-${i}`, version: 'v1' } }));
    }
    for (let i = 0; i < o.clients; i++) {
      const c = proxylessClient('echo.default.svc.cluster.local:9080', bootstrap(`client-${i}`, clientCerts));
      clients.push(c);
      const log: Sent[] = [];
      logs.push(log);
      loops.push(
        (async () => {
          while (running) {
            const start = performance.now();
            try {
              const a = await callWho(c, 1000);
              log.push({ start, who: a.workload });
              if (a.workload === watching) stray++;
            } catch {
              await new Promise((r) => setTimeout(r, 50));
            }
            await new Promise((r) => setTimeout(r, PACING_MS));
          }
        })(),
      );
    }
  } catch (e) {
    running = false;
    for (const c of clients) c.close();
    for (const s of servers) s.close();
    offChange();
    publisher.close();
    await plane?.close();
    ca.close();
    await rm(dir, { recursive: true, force: true });
    throw e;
  }

  const workloadOf = (i: number): Workload => {
    const w = store.current.workloads.get(`cluster1/default/echo-${i}`);
    if (!w) throw new Error(`echo-${i} is not in the model`);
    return w;
  };
  const sinceHit = (log: Sent[], who: string, after: number): boolean => log.some((s) => s.start > after && s.who === who);

  return {
    get strayRpcs() {
      return stray;
    },
    async warmUp(timeoutMs) {
      await waitUntil(() => logs.every((l) => new Set(l.map((s) => s.who)).size === o.endpoints), timeoutMs, 'every client answered by every endpoint');
    },
    async takeOutAndMeasure(i, timeoutMs) {
      const who = `echo-${i}`;
      debounceSample = undefined;
      const t0 = performance.now();
      store.applyEvents([{ kind: 'upsertWorkload', workload: { ...workloadOf(i), health: 'UNHEALTHY' } }]);
      // Stopped: a client's last 6 RPCs, all started after the change, went elsewhere.
      const stopped = (l: Sent[]): boolean => {
        const tail = l.slice(-6);
        return tail.length === 6 && tail.every((s) => s.start > t0 && s.who !== who);
      };
      await waitUntil(() => logs.every(stopped), timeoutMs, `every client stopped sending to ${who}`);
      const perClientMs = logs.map((l) => {
        let last = -1;
        for (let k = l.length - 1; k >= 0; k--) if (l[k]!.who === who) { last = k; break; }
        const after = l.slice(last + 1).find((s) => s.start > t0);
        return Math.max(0, (after?.start ?? t0) - t0);
      });
      // Anything reaching the endpoint from here on is a client that went back to it.
      watching = who;
      await new Promise((r) => setTimeout(r, 200));
      watching = undefined;
      return { perClientMs, debounceMs: debounceSample ?? Number.NaN };
    },
    async restore(i, timeoutMs) {
      const who = `echo-${i}`;
      const t0 = performance.now();
      store.applyEvents([{ kind: 'upsertWorkload', workload: { ...workloadOf(i), health: 'HEALTHY' } }]);
      await waitUntil(() => logs.every((l) => sinceHit(l, who, t0)), timeoutMs, `every client sending to ${who} again`);
    },
    async close() {
      running = false;
      await Promise.all(loops);
      for (const c of clients) c.close();
      for (const s of servers) s.close();
      offChange();
      publisher.close();
      await plane?.close();
      ca.close();
      await rm(dir, { recursive: true, force: true });
    },
  };
}

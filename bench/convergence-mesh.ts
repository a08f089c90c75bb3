/**
 * The convergence benchmark's mesh: crossmesh (model store → mesh publisher → cache → xDS server,
 * in process) serving one cluster with an `echo` service of N XdsServer endpoints and M proxyless
 * clients that call it in a paced loop (CONVERGENCE_PACING_MS, default 50 ms between RPCs), each
 * recording when it sent what to whom (failed RPCs included); the xDS server's ACK observer and
 * per-stream state say when each client's EDS response was written and ACKed. Besides the
 * in-process grpc-js-xds clients, clients of other libraries (grpcio, grpc-go) can run the same
 * loop in processes of their own, under the same changes.
 */
import type * as grpc from '@grpc/grpc-js';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CertificateAuthority } from '../src/ca/authority.js';
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
import { XdsServer } from '../src/xds/server.js';
import type { AckObserver } from '../src/xds/stream.js';
import { ENDPOINT_TYPE, TYPE_SHORT_NAME } from '../src/xds/types.js';
import { ExternalClient, writeBootstrap, type ExternalImpl } from './proxyless-clients.js';

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
  readonly end: number;
  /** The workload that answered; '' when the RPC failed. */
  readonly who: string;
}

/** One client in one repetition; all times in ms from the model change. */
export interface ClientConvergence {
  /**
   * Start of the last RPC this client sent that the endpoint answered (0 if none was sent after
   * the change): the moment it stopped sending there. Every RPC it started later went elsewhere.
   */
  readonly lastSentMs: number;
  /** Start of its next RPC after that one (answered elsewhere or failed): the upper bound of the same moment. */
  readonly nextSentMs: number;
  /** When the server wrote the EDS response carrying the change on this client's ADS stream (NaN: not seen). */
  readonly pushMs: number;
  /** When the server received the client's ACK of that response (NaN: not seen). */
  readonly ackMs: number;
}

/** One repetition's measurement. */
export interface Convergence {
  readonly clients: ClientConvergence[];
  /** The cache's debounce window as measured on this change's batch. */
  readonly debounceMs: number;
  /** performance.now() of the model change. */
  readonly changedAt: number;
  /** RPCs that failed (any client, any code) from the change until every client had stopped, times relative to it. */
  readonly failures: { client: number; start: number; end: number; code: number }[];
  /** ACKs received per resource type (short name) from the change until the end of the watch, summed over clients. */
  readonly acksByType: Record<string, number>;
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
  /** Per client index: its library ('grpc-js' for the in-process ones). */
  readonly impls: readonly string[];
  /** The stray RPCs by library. */
  readonly strayByImpl: Readonly<Record<string, number>>;
  /** The endpoints' ports (each on its own 127.0.1.x address). */
  readonly endpointPorts: readonly number[];
  /** Which library each client process runs (this process: grpc-js). */
  readonly libraryByPid: ReadonlyMap<number, string>;
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
export async function startConvergenceMesh(o: { clients: number; endpoints: number; debounceMs: number; external?: readonly { impl: ExternalImpl; count: number }[] }): Promise<ConvergenceMesh> {
  const dir = await mkdtemp(join(tmpdir(), 'crossmesh-convergence-'));
  const ports: number[] = [];
  for (let i = 0; i < o.endpoints; i++) ports.push(await freePort());
  const impls: string[] = Array.from({ length: o.clients }, () => 'grpc-js');
  for (const e of o.external ?? []) for (let k = 0; k < e.count; k++) impls.push(e.impl);
  await writeFile(join(dir, 'mesh.yaml'), topology(o.endpoints, impls.length, ports));
  const loaded = await loadConfig([join(dir, 'mesh.yaml')]);
  if (!loaded.config) throw new Error(`convergence bench topology: ${loaded.errors.map((e) => e.message).join('; ')}`);
  const config = loaded.config as MeshConfig;
  const store = new ModelStore();
  applyConfig(store, new StaticDiscovery(config), config);
  const cache = new SnapshotCache({ debounceMs: o.debounceMs });
  const publisher = MeshPublisher.attach(store, cache);
  const ca = await CertificateAuthority.open({ directory: join(dir, 'ca') });
  let xds: XdsServer | undefined;
  const servers: ProxylessServer[] = [];
  const clients: grpc.Client[] = [];
  const externals: ExternalClient[] = [];
  const logs: Sent[][] = [];
  const failures: { client: number; start: number; end: number; code: number }[] = [];
  const wallAtPerf = (perf: number): number => Date.now() - (performance.now() - perf);
  let running = true;
  const loops: Promise<void>[] = [];
  const strayByImpl: Record<string, number> = {};
  let watching: string | undefined;
  let debounceSample: number | undefined;
  // ACKs (performance.now()) per node, to tell a late push from a late client.
  const acks: { nodeId: string; type: string; at: number }[] = [];
  const onAck: AckObserver = (a) => {
    acks.push({ nodeId: a.nodeId, type: TYPE_SHORT_NAME[a.typeUrl], at: performance.now() });
  };
  const offChange = cache.onChange((batch) => {
    if (debounceSample === undefined && batch.length) debounceSample = performance.now() - Math.min(...batch.map((b) => b.since));
  });
  /** Stops traffic, then everything started, in reverse order; used on failure and by close(). */
  const teardown = async (): Promise<void> => {
    running = false;
    await Promise.all(loops);
    await Promise.all(externals.map((c) => c.close()));
    for (const c of clients) c.close();
    for (const s of servers) s.close();
    offChange();
    publisher.close();
    await xds?.close(0);
    cache.close();
    ca.close();
    await rm(dir, { recursive: true, force: true });
  };
  try {
    // The xDS server itself (not the whole `serve` plane) so that the bench can observe ACKs.
    xds = new XdsServer({ cache, onAck });
    const xdsAddress = `127.0.0.1:${await xds.listen('127.0.0.1', 0)}`;
    const bootstrap = (node: string, certDir: string) => buildProxylessBootstrap({ nodeId: `cluster1/default/${node}`, xdsAddress, certDir, locality: LOCALITY });
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
              log.push({ start, end: performance.now(), who: a.workload });
              if (a.workload === watching) strayByImpl['grpc-js'] = (strayByImpl['grpc-js'] ?? 0) + 1;
            } catch (e) {
              const end = performance.now();
              log.push({ start, end, who: '' });
              failures.push({ client: logs.indexOf(log), start, end, code: (e as { code?: number }).code ?? -1 });
              await new Promise((r) => setTimeout(r, 50));
            }
            await new Promise((r) => setTimeout(r, PACING_MS));
          }
        })(),
      );
    }
    for (let j = o.clients; j < impls.length; j++) {
      const impl = impls[j] as ExternalImpl;
      const path = await writeBootstrap(join(dir, `bootstrap-client-${j}.json`), bootstrap(`client-${j}`, clientCerts));
      const c = ExternalClient.start(impl, 'echo.default.svc.cluster.local:9080', path);
      externals.push(c);
      const log: Sent[] = [];
      logs.push(log);
      // Its times are wall-clock ms; the measurements are on performance.now().
      const perf = (wall: number) => wall - performance.timeOrigin;
      c.loop(PACING_MS, 1000, (r) => {
        const start = perf(r.start);
        const end = perf(r.end);
        if (r.ok) {
          log.push({ start, end, who: r.answer.workload });
          if (r.answer.workload === watching) strayByImpl[impl] = (strayByImpl[impl] ?? 0) + 1;
        } else {
          log.push({ start, end, who: '' });
          failures.push({ client: j, start, end, code: r.code });
        }
      });
    }
  } catch (e) {
    await teardown();
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
      return Object.values(strayByImpl).reduce((a, b) => a + b, 0);
    },
    impls,
    strayByImpl,
    endpointPorts: ports,
    libraryByPid: new Map<number, string>([[process.pid, 'grpc-js'], ...externals.flatMap((c, k) => (c.pid ? [[c.pid, impls[o.clients + k]!] as [number, string]] : []))]),
    async warmUp(timeoutMs) {
      await waitUntil(() => logs.every((l) => new Set(l.filter((s) => s.who !== '').map((s) => s.who)).size === o.endpoints), timeoutMs, 'every client answered by every endpoint');
    },
    async takeOutAndMeasure(i, timeoutMs) {
      const who = `echo-${i}`;
      debounceSample = undefined;
      acks.length = 0;
      const t0 = performance.now();
      const t0Wall = wallAtPerf(t0);
      store.applyEvents([{ kind: 'upsertWorkload', workload: { ...workloadOf(i), health: 'UNHEALTHY' } }]);
      // Stopped: a client's last 6 RPCs, all started after the change, were answered, and not by the endpoint.
      const stopped = (l: Sent[]): boolean => {
        const tail = l.slice(-6);
        return tail.length === 6 && tail.every((s) => s.start > t0 && s.who !== who && s.who !== '');
      };
      await waitUntil(() => logs.every(stopped), timeoutMs, `every client stopped sending to ${who}`);
      const settled = performance.now();
      // Anything reaching the endpoint from here on is a client that went back to it.
      watching = who;
      await new Promise((r) => setTimeout(r, 200));
      watching = undefined;
      const pushedAt = new Map<string, number>();
      for (const st of xds!.activeStreams()) {
        const eds = st.types.get(ENDPOINT_TYPE);
        if (st.node && eds && eds.lastSentAt >= t0Wall) pushedAt.set(st.node.id, eds.lastSentAt - t0Wall);
      }
      const perClient = logs.map((l, c): ClientConvergence => {
        // RPCs are sequential per client: the last one the endpoint answered is the last one sent there.
        let last = -1;
        for (let k = l.length - 1; k >= 0; k--) if (l[k]!.who === who) { last = k; break; }
        const lastSent = last >= 0 ? l[last]!.start : t0;
        const next = l.slice(last + 1).find((s) => s.start >= Math.max(lastSent, t0));
        const node = `cluster1/default/client-${c}`;
        const ack = acks.find((a) => a.nodeId === node && a.type === 'eds');
        return {
          lastSentMs: Math.max(0, lastSent - t0),
          nextSentMs: Math.max(0, (next?.start ?? t0) - t0),
          pushMs: pushedAt.get(node) ?? Number.NaN,
          ackMs: ack ? ack.at - t0 : Number.NaN,
        };
      });
      const acksByType: Record<string, number> = {};
      for (const a of acks) if (a.nodeId.includes('/client-')) acksByType[a.type] = (acksByType[a.type] ?? 0) + 1;
      const fails = failures.filter((f) => f.end > t0 && f.start < settled).map((f) => ({ ...f, start: f.start - t0, end: f.end - t0 }));
      return { clients: perClient, debounceMs: debounceSample ?? Number.NaN, changedAt: t0, failures: fails, acksByType };
    },
    async restore(i, timeoutMs) {
      const who = `echo-${i}`;
      const t0 = performance.now();
      store.applyEvents([{ kind: 'upsertWorkload', workload: { ...workloadOf(i), health: 'HEALTHY' } }]);
      await waitUntil(() => logs.every((l) => sinceHit(l, who, t0)), timeoutMs, `every client sending to ${who} again`);
    },
    close: teardown,
  };
}

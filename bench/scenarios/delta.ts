/**
 * delta: 200 delta ADS streams, each holding a wildcard CDS of 10,000 clusters; one cluster
 * changes. Measures change → last ACK against a bare grpc-js server writing one pre-encoded
 * DeltaDiscoveryResponse with that cluster to the same streams (the floor for delivering a
 * one-resource delta). A delta push must cost the change, not the size of what the stream holds.
 * Clients and servers run in this process, one after the other, so both figures carry the same
 * client cost.
 */
import * as grpc from '@grpc/grpc-js';
import { SnapshotCache } from '../../src/xds/cache.js';
import { buildDeltaResponse, encodeResource } from '../../src/xds/codec.js';
import { messageType } from '../../src/xds/protos.js';
import { XdsServer } from '../../src/xds/server.js';
import { log } from '../../src/log.js';
import { CLUSTER_TYPE } from '../../src/xds/types.js';
import { median } from '../measure.js';
import type { BenchRow, BenchScenario } from '../types.js';

const STREAMS = 200;
const CLUSTERS = 10_000;
const WARMUP = 3;
const CHANGES = 9;
const ADS_DELTA = '/envoy.service.discovery.v3.AggregatedDiscoveryService/DeltaAggregatedResources';
const pass = (b: Buffer): Buffer => b;

function cluster(name: string, timeoutS: number): object {
  return { name, type: 'EDS', eds_cluster_config: { eds_config: { ads: {}, resource_api_version: 'V3' } }, connect_timeout: { seconds: timeoutS } };
}

/** Delta clients that ACK every response; `acked()` resolves once `count` ACKs have been sent in total. */
class Clients {
  private acks = 0;
  private waiter: { count: number; done: () => void } | undefined;
  private readonly client: grpc.Client;
  private readonly calls: grpc.ClientDuplexStream<Buffer, Buffer>[] = [];

  constructor(port: number) {
    const request = messageType('envoy.service.discovery.v3.DeltaDiscoveryRequest');
    const response = messageType('envoy.service.discovery.v3.DeltaDiscoveryResponse');
    this.client = new grpc.Client(`127.0.0.1:${port}`, grpc.credentials.createInsecure());
    for (let i = 0; i < STREAMS; i++) {
      const call = this.client.makeBidiStreamRequest(ADS_DELTA, pass, pass);
      call.on('data', (b: Buffer) => {
        const r = response.decode(b) as unknown as { nonce: string };
        call.write(Buffer.from(request.encode({ type_url: CLUSTER_TYPE, response_nonce: r.nonce }).finish()));
        this.acks++;
        if (this.waiter && this.acks >= this.waiter.count) this.waiter.done();
      });
      call.on('error', () => undefined);
      call.write(Buffer.from(request.encode({ type_url: CLUSTER_TYPE, node: { id: `delta-${i}` } }).finish()));
      this.calls.push(call);
    }
  }

  /** Resolves once `count` ACKs were sent in total, rejects after 60 s. */
  acked(count: number): Promise<void> {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`only ${this.acks} of ${count} delta ACKs within 60 s`)), 60_000);
      this.waiter = {
        count,
        done: () => {
          clearTimeout(timer);
          this.waiter = undefined;
          resolve();
        },
      };
      if (this.acks >= count) this.waiter.done();
    });
  }

  get total(): number {
    return this.acks;
  }

  close(): void {
    for (const c of this.calls) c.cancel();
    this.client.close();
  }
}

/** Median change → last ACK over CHANGES changes after WARMUP, for `change(i)` applied to `clients`. */
async function measure(clients: Clients, change: (i: number) => void): Promise<number> {
  await clients.acked(STREAMS);
  const times: number[] = [];
  for (let i = 0; i < WARMUP + CHANGES; i++) {
    await new Promise((r) => setTimeout(r, 200));
    const target = clients.total + STREAMS;
    const start = performance.now();
    const done = clients.acked(target);
    change(i);
    await done;
    if (i >= WARMUP) times.push(performance.now() - start);
  }
  return median(times);
}

async function crossmesh(): Promise<number> {
  // One "stream connected" line per stream would drown the table (and stdout carries the rows).
  log.level = 'warn';
  const cache = new SnapshotCache({ debounceMs: 0 });
  cache.setResources('default', CLUSTER_TYPE, Object.fromEntries(Array.from({ length: CLUSTERS }, (_, i) => [`c${i}`, cluster(`c${i}`, 1)])));
  const server = new XdsServer({ cache });
  const clients = new Clients(await server.listen('127.0.0.1', 0));
  try {
    return await measure(clients, (i) => cache.upsertResources('default', CLUSTER_TYPE, { c0: cluster('c0', i + 2) }));
  } finally {
    clients.close();
    await server.close(100);
  }
}

/** A bare grpc-js delta server: the full set once, then one pre-encoded one-cluster response per change. */
async function baseline(): Promise<number> {
  const all = Array.from({ length: CLUSTERS }, (_, i) => encodeResource(CLUSTER_TYPE, `c${i}`, cluster(`c${i}`, 1)));
  const calls = new Set<grpc.ServerDuplexStream<Buffer, Buffer>>();
  const server = new grpc.Server();
  server.addService(
    { DeltaAggregatedResources: { path: ADS_DELTA, requestStream: true, responseStream: true, requestSerialize: pass, requestDeserialize: pass, responseSerialize: pass, responseDeserialize: pass } },
    {
      DeltaAggregatedResources: (call: grpc.ServerDuplexStream<Buffer, Buffer>) => {
        let first = true;
        call.on('data', () => {
          if (!first) return;
          first = false;
          calls.add(call);
          call.write(buildDeltaResponse('v0', CLUSTER_TYPE, 'n0', all, []));
        });
        call.on('error', () => calls.delete(call));
        call.on('cancelled', () => calls.delete(call));
      },
    },
  );
  const port = await new Promise<number>((resolve, reject) => server.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (e, p) => (e ? reject(e) : resolve(p))));
  const clients = new Clients(port);
  try {
    return await measure(clients, (i) => {
      const bytes = buildDeltaResponse(`v${i + 1}`, CLUSTER_TYPE, `n${i + 1}`, [encodeResource(CLUSTER_TYPE, 'c0', cluster('c0', i + 2))], []);
      for (const c of calls) c.write(bytes);
    });
  } finally {
    clients.close();
    server.forceShutdown();
  }
}

export const scenario: BenchScenario = {
  name: 'delta',
  description: `one cluster change to ${STREAMS} delta ADS streams each holding ${CLUSTERS.toLocaleString('en')} clusters (wildcard CDS): change → last ACK vs a bare grpc-js server writing the one-cluster response`,
  async run(): Promise<BenchRow[]> {
    const base = await baseline();
    const cm = await crossmesh();
    console.error(`    change → last ACK: crossmesh ${cm.toFixed(1)} ms, bare grpc-js ${base.toFixed(1)} ms`);
    return [
      {
        scenario: 'delta',
        metric: `one-cluster change → last ACK, ${STREAMS} streams × ${CLUSTERS} clusters held`,
        value: cm,
        baseline: base,
        unit: 'ms',
        target: '< 2x baseline',
        pass: cm < 2 * base,
      },
    ];
  },
};

/**
 * Fan-out benchmark server process: either crossmesh's xDS server with its snapshot cache, or a
 * minimal grpc-js ADS server that writes one pre-encoded response to every stream (the baseline).
 * Both count ACKs of the changed version and report the time from the change to the last ACK.
 * Usage (forked by bench/scenarios/fanout.ts): node --expose-gc fanout-server.js crossmesh|baseline <debounceMs>
 */
import * as grpc from '@grpc/grpc-js';
import { SnapshotCache } from '../src/xds/cache.js';
import { XdsServer } from '../src/xds/server.js';
import { decodeDiscoveryRequest, encodeResource, setVersion } from '../src/xds/codec.js';
import { SotwBody } from '../src/xds/sotw-body.js';
import { ENDPOINT_TYPE } from '../src/xds/types.js';
import { FANOUT_RESOURCE, fanoutAssignment as assignment, type FanoutServerMode, type RunnerToServer, type ServerToRunner } from './fanout-protocol.js';

const mode = process.argv[2] as FanoutServerMode;
if (mode !== 'crossmesh' && mode !== 'baseline') throw new Error(`fanout-server runs crossmesh or baseline, not ${mode}`);
const debounceMs = Number(process.argv[3] ?? '100');

function send(msg: ServerToRunner): void {
  process.send!(msg);
}

function memory(): { memoryBytes: number; rssBytes: number } {
  const gc = (globalThis as { gc?: () => void }).gc;
  if (!gc) throw new Error('run with --expose-gc');
  gc();
  gc();
  const m = process.memoryUsage();
  return { memoryBytes: m.heapUsed + m.external, rssBytes: m.rss };
}

interface Target {
  port: number;
  /** Applies the endpoint change; ACKs of `version` are counted afterwards. */
  change(): void;
  /** Number of streams that ACKed the current version. */
  onAckOfCurrent(cb: () => void): void;
  streams(): number;
}

async function crossmesh(): Promise<Target> {
  const cache = new SnapshotCache({ debounceMs });
  let generation = 1;
  cache.setResources('default', ENDPOINT_TYPE, { [FANOUT_RESOURCE]: assignment(generation) });
  let currentVersion = '';
  let ackListener: (() => void) | undefined;
  const server = new XdsServer({
    cache,
    onAck: ({ typeUrl, version }) => {
      if (typeUrl === ENDPOINT_TYPE && version === currentVersion) ackListener?.();
    },
  });
  const port = await server.listen('127.0.0.1', 0);
  return {
    port,
    change() {
      generation++;
      cache.setResources('default', ENDPOINT_TYPE, { [FANOUT_RESOURCE]: assignment(generation) });
      currentVersion = setVersion([cache.get('default', ENDPOINT_TYPE).resources.get(FANOUT_RESOURCE)!]);
    },
    onAckOfCurrent(cb) {
      ackListener = cb;
    },
    streams: () => server.activeStreams().length,
  };
}

async function baseline(): Promise<Target> {
  let generation = 1;
  const build = (): { bytes: Buffer; nonce: string } => {
    const r = encodeResource(ENDPOINT_TYPE, FANOUT_RESOURCE, assignment(generation));
    const nonce = `n${generation}`;
    return { bytes: new SotwBody([r]).response(ENDPOINT_TYPE, nonce), nonce };
  };
  let current = build();
  const calls = new Set<grpc.ServerDuplexStream<Buffer, Buffer>>();
  let ackListener: (() => void) | undefined;
  const server = new grpc.Server({ 'grpc.max_send_message_length': -1 });
  const pass = (b: Buffer): Buffer => b;
  server.addService(
    {
      StreamAggregatedResources: {
        path: '/envoy.service.discovery.v3.AggregatedDiscoveryService/StreamAggregatedResources',
        requestStream: true,
        responseStream: true,
        requestSerialize: pass,
        requestDeserialize: pass,
        responseSerialize: pass,
        responseDeserialize: pass,
      },
    },
    {
      StreamAggregatedResources: (call: grpc.ServerDuplexStream<Buffer, Buffer>) => {
        let first = true;
        call.on('data', (buf: Buffer) => {
          const req = decodeDiscoveryRequest(buf);
          if (first) {
            first = false;
            calls.add(call);
            call.write(current.bytes);
          } else if (req.responseNonce === current.nonce && !req.errorDetail) {
            ackListener?.();
          }
        });
        const drop = (): void => {
          calls.delete(call);
        };
        call.on('end', () => {
          drop();
          call.end();
        });
        call.on('error', drop);
        call.on('cancelled', drop);
      },
    },
  );
  const port = await new Promise<number>((resolve, reject) =>
    server.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (e, p) => (e ? reject(e) : resolve(p))),
  );
  return {
    port,
    change() {
      generation++;
      current = build();
      for (const c of calls) c.write(current.bytes);
    },
    onAckOfCurrent(cb) {
      ackListener = cb;
    },
    streams: () => calls.size,
  };
}

async function main(): Promise<void> {
  const target = mode === 'baseline' ? await baseline() : await crossmesh();
  send({ type: 'listening', port: target.port, ...memory() });
  process.on('message', (msg: RunnerToServer) => {
    if (msg.type === 'measure-idle') {
      send({ type: 'memory', ...memory(), streams: target.streams() });
    } else if (msg.type === 'change') {
      let acks = 0;
      const start = performance.now();
      const timer = setTimeout(() => send({ type: 'error', message: `only ${acks} of ${msg.expectedAcks} ACKs within ${msg.timeoutMs} ms` }), msg.timeoutMs);
      target.onAckOfCurrent(() => {
        if (++acks === msg.expectedAcks) {
          clearTimeout(timer);
          send({ type: 'converged', ms: performance.now() - start, acks });
        }
      });
      target.change();
    } else if (msg.type === 'exit') {
      process.exit(0);
    }
  });
  process.on('disconnect', () => process.exit(0));
}

main().catch((e: unknown) => {
  send({ type: 'error', message: e instanceof Error ? e.stack ?? e.message : String(e) });
  process.exit(1);
});

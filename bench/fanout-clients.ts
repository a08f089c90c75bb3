/**
 * Fan-out benchmark client process: opens N ADS streams to 127.0.0.1:<port>, each subscribed to one
 * EDS resource, over one HTTP/2 connection per `perConnection` streams, and ACKs every response.
 * Responses are parsed only for version_info and nonce so the client stays cheap.
 * Usage (forked by bench/scenarios/fanout.ts): node fanout-clients.js <port> <N> <perConnection>
 */
import * as grpc from '@grpc/grpc-js';
import { messageType } from '../src/xds/protos.js';
import { ENDPOINT_TYPE } from '../src/xds/types.js';
import { FANOUT_RESOURCE, type ClientsToRunner, type RunnerToClients } from './fanout-protocol.js';

const [portArg, nArg, perArg] = process.argv.slice(2);
const port = Number(portArg);
const n = Number(nArg);
const perConnection = Number(perArg ?? '100');

const requestType = messageType('envoy.service.discovery.v3.DiscoveryRequest');

function encodeRequest(fields: Record<string, unknown>): Buffer {
  return Buffer.from(requestType.encode(requestType.fromObject(fields)).finish());
}

/** Reads version_info (1) and nonce (5) from DiscoveryResponse bytes without decoding resources. */
function peek(buf: Buffer): { version: string; nonce: string } {
  let off = 0;
  let version = '';
  let nonce = '';
  const varint = (): number => {
    let result = 0;
    let shift = 0;
    for (;;) {
      const b = buf[off++]!;
      result += (b & 0x7f) * 2 ** shift;
      if (b < 0x80) return result;
      shift += 7;
    }
  };
  while (off < buf.length) {
    const tag = varint();
    const wire = tag & 7;
    if (wire === 2) {
      const len = varint();
      const field = tag >>> 3;
      if (field === 1) version = buf.toString('utf8', off, off + len);
      else if (field === 5) nonce = buf.toString('utf8', off, off + len);
      off += len;
    } else if (wire === 0) varint();
    else throw new Error(`unexpected wire type ${wire}`);
  }
  return { version, nonce };
}

function send(msg: ClientsToRunner): void {
  process.send!(msg);
}

const clients: grpc.Client[] = [];
const start = performance.now();
let ready = 0;
const raw = (b: Buffer): Buffer => b;
const ackCache = new Map<string, Buffer>();

for (let i = 0; i < n; i++) {
  if (i % perConnection === 0) {
    clients.push(new grpc.Client(`127.0.0.1:${port}`, grpc.credentials.createInsecure(), { 'grpc.use_local_subchannel_pool': 1 }));
  }
  const call = clients[clients.length - 1]!.makeBidiStreamRequest(
    '/envoy.service.discovery.v3.AggregatedDiscoveryService/StreamAggregatedResources',
    raw,
    raw,
  );
  let first = true;
  call.on('data', (buf: Buffer) => {
    const { version, nonce } = peek(buf);
    const key = `${version}\u0000${nonce}`;
    let ack = ackCache.get(key);
    if (!ack) {
      ack = encodeRequest({ type_url: ENDPOINT_TYPE, resource_names: [FANOUT_RESOURCE], version_info: version, response_nonce: nonce });
      if (ackCache.size < 100_000) ackCache.set(key, ack);
    }
    call.write(ack);
    if (first) {
      first = false;
      if (++ready === n) send({ type: 'ready', streams: n, ms: performance.now() - start });
    }
  });
  call.on('error', (e: Error) => send({ type: 'error', message: `stream ${i}: ${e.message}` }));
  call.write(
    encodeRequest({
      type_url: ENDPOINT_TYPE,
      resource_names: [FANOUT_RESOURCE],
      node: { id: `c1/bench/proxy-${i}`, cluster: 'c1', locality: { region: 'us-east', zone: 'us-east-1a' } },
    }),
  );
}

process.on('message', (msg: RunnerToClients) => {
  if (msg.type === 'exit') {
    for (const c of clients) c.close();
    process.exit(0);
  }
});
process.on('disconnect', () => process.exit(0));

/**
 * Benchmark client process (fan-out and soak): opens N ADS streams to 127.0.0.1:<port>, over one
 * HTTP/2 connection per `perConnection` streams, subscribes each as the profile says (default: one
 * EDS resource) and ACKs every response. Responses are parsed only for version_info, type_url and
 * nonce so the client stays cheap.
 * Usage (forked by bench/scenarios/fanout.ts and soak.ts): node fanout-clients.js <port> <N> <perConnection> [profile JSON]
 */
import * as grpc from '@grpc/grpc-js';
import { messageType } from '../src/xds/protos.js';
import { FANOUT_PROFILE, type ClientProfile, type ClientsToRunner, type RunnerToClients } from './fanout-protocol.js';

const [portArg, nArg, perArg, profileArg] = process.argv.slice(2);
const port = Number(portArg);
const n = Number(nArg);
const perConnection = Number(perArg ?? '100');
const profile: ClientProfile = profileArg ? (JSON.parse(profileArg) as ClientProfile) : FANOUT_PROFILE;
const namesOf = new Map(profile.subscriptions.map((s) => [s.typeUrl, s.names]));

const requestType = messageType('envoy.service.discovery.v3.DiscoveryRequest');

function encodeRequest(fields: Record<string, unknown>): Buffer {
  return Buffer.from(requestType.encode(requestType.fromObject(fields)).finish());
}

/** Reads version_info (1), type_url (4) and nonce (5) from DiscoveryResponse bytes without decoding resources. */
function peek(buf: Buffer): { version: string; typeUrl: string; nonce: string } {
  let off = 0;
  let version = '';
  let typeUrl = '';
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
      else if (field === 4) typeUrl = buf.toString('utf8', off, off + len);
      else if (field === 5) nonce = buf.toString('utf8', off, off + len);
      off += len;
    } else if (wire === 0) varint();
    else throw new Error(`unexpected wire type ${wire}`);
  }
  return { version, typeUrl, nonce };
}

function send(msg: ClientsToRunner): void {
  process.send!(msg);
}

const clients: grpc.Client[] = [];
const start = performance.now();
// Streams still waiting for their first response of some subscribed type.
let waitingStreams = n;
let readySent = false;
let responses = 0;
let ended = 0;
const endReasons: string[] = [];
const raw = (b: Buffer): Buffer => b;
const ackCache = new Map<string, Buffer>();

function ackFor(typeUrl: string, version: string, nonce: string): Buffer {
  const key = `${typeUrl}\u0000${version}\u0000${nonce}`;
  let ack = ackCache.get(key);
  if (!ack) {
    ack = encodeRequest({ type_url: typeUrl, resource_names: namesOf.get(typeUrl) ?? [], version_info: version, response_nonce: nonce });
    // Nonces are per stream: past the bound the cache would only grow, so it stops taking entries.
    if (ackCache.size < 100_000) ackCache.set(key, ack);
  }
  return ack;
}

for (let i = 0; i < n; i++) {
  if (i % perConnection === 0) {
    clients.push(new grpc.Client(`127.0.0.1:${port}`, grpc.credentials.createInsecure(), { 'grpc.use_local_subchannel_pool': 1, ...(profile.flowControlWindow ? { 'grpc-node.flow_control_window': profile.flowControlWindow } : {}) }));
  }
  const call = clients[clients.length - 1]!.makeBidiStreamRequest(
    '/envoy.service.discovery.v3.AggregatedDiscoveryService/StreamAggregatedResources',
    raw,
    raw,
  );
  const firstSeen = new Set<string>();
  call.on('data', (buf: Buffer) => {
    const { version, typeUrl, nonce } = peek(buf);
    responses++;
    call.write(ackFor(typeUrl, version, nonce));
    if (!firstSeen.has(typeUrl) && namesOf.has(typeUrl)) {
      firstSeen.add(typeUrl);
      if (firstSeen.size === namesOf.size && --waitingStreams === 0 && !readySent) {
        readySent = true;
        send({ type: 'ready', streams: n, ms: performance.now() - start });
      }
    }
  });
  call.on('status', (s: grpc.StatusObject) => {
    ended++;
    if (endReasons.length < 5) endReasons.push(`stream ${i}: ${grpc.status[s.code] ?? s.code} ${s.details}`);
    if (!readySent) send({ type: 'error', message: `stream ${i}: ${s.details}` });
  });
  // A failed stream is reported by 'status'; without an 'error' listener it would throw here.
  call.on('error', () => {});
  profile.subscriptions.forEach((s, k) => {
    call.write(
      encodeRequest({
        type_url: s.typeUrl,
        resource_names: s.names,
        ...(k === 0 ? { node: { id: `${profile.nodePrefix}${i}`, cluster: 'bench', locality: { region: 'us-east', zone: profile.zones[i % profile.zones.length] } } } : {}),
      }),
    );
  });
}

process.on('message', (msg: RunnerToClients) => {
  if (msg.type === 'report') {
    send({ type: 'report', open: n - ended, ended, endReasons, responses });
  } else if (msg.type === 'exit') {
    for (const c of clients) c.close();
    process.exit(0);
  }
});
process.on('disconnect', () => process.exit(0));

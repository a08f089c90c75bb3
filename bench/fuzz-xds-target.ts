/**
 * The xDS request path the fuzz scenario drives: request bytes go through crossmesh's own decoder
 * (codec.ts) and then through real SotwStream/DeltaStream objects of a real (unbound) XdsServer
 * over the default mesh, exactly as grpc-js hands them a message: node bounds, admission (the
 * real authenticator with a bearer token, or development mode), the MeshPublisher's group
 * resolver (node id and role parsing), type URL dispatch, name limits, delta growth limits, the
 * response that follows, and ACK/NACK bookkeeping (the harness answers each input's response as
 * a proxy would: ACK, the input again, NACK).
 *
 * What counts as a crash (each one fails the run):
 * - decoding throws something protobufjs did not throw: protobufjs refusing malformed bytes
 *   (its reader or generated decoder is the frame that threw) is the decoder's documented refusal,
 *   anything thrown from crossmesh's own conversion code is a crash, and so is a stack overflow;
 * - the decoded request does not have the shape codec.ts declares (a string that is not a string);
 * - a stream ends with INTERNAL: that is the stream's catch-all for an exception in its own code,
 *   while INVALID_ARGUMENT, RESOURCE_EXHAUSTED, UNAUTHENTICATED and PERMISSION_DENIED are the
 *   refusals it chooses;
 * - anything is logged at error level (every catch-all in the path logs there), the group
 *   resolver throws (it is meant to return an Error, the cache only masks a throw), an exception
 *   escapes the stream's event handler, or a promise rejection goes unhandled;
 * - a response crossmesh writes does not decode, or the stream's status (what /debug/proxies
 *   serializes) cannot be turned into JSON;
 * - a first request leaves the stream neither admitted nor refused within ADMISSION_MS.
 */
import { EventEmitter } from 'node:events';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setImmediate as nextTurn } from 'node:timers/promises';
import * as grpc from '@grpc/grpc-js';
import type protobuf from 'protobufjs';
import { loadConfig } from '../src/config/loader.js';
import { defaultMeshDir } from '../src/config/default-mesh.js';
import { applyConfig, StaticDiscovery } from '../src/discovery/static/static-discovery.js';
import { TokenKeyring } from '../src/ca/token-key.js';
import { log } from '../src/log.js';
import type { MeshSnapshot } from '../src/model/snapshot.js';
import { ModelStore } from '../src/model/store.js';
import { SnapshotCache, type GroupResolver } from '../src/xds/cache.js';
import { decodeDeltaDiscoveryRequest, decodeDiscoveryRequest, type DeltaRequest, type SotwRequest } from '../src/xds/codec.js';
import { DeltaStream } from '../src/xds/delta-stream.js';
import { MeshPublisher } from '../src/xds/mesh-publisher.js';
import { messageType } from '../src/xds/protos.js';
import { createAuthenticator } from '../src/xds/auth/authenticator.js';
import { issueToken } from '../src/xds/auth/tokens.js';
import { XdsServer } from '../src/xds/server.js';
import { WireReadError } from '../src/xds/wire-reader.js';
import { SotwStream } from '../src/xds/sotw-stream.js';
import type { XdsStream } from '../src/xds/stream.js';
import { CLUSTER_TYPE, ENDPOINT_TYPE, LISTENER_TYPE, ROUTE_TYPE, SECRET_TYPE, type TypeUrl } from '../src/xds/types.js';

/** Which RPC a request arrives on: ADS or one of the per-type services. */
export type XdsService = 'ads' | 'cds' | 'eds' | 'lds' | 'rds' | 'sds';

/** One fuzz input: request bytes, the RPC they arrive on, and whether the stream was admitted before them. */
export interface XdsInput {
  readonly mode: 'sotw' | 'delta';
  readonly service: XdsService;
  /** `first`: the bytes are the stream's first request; `admitted`: a valid first request went before them. */
  readonly stage: 'first' | 'admitted';
  /**
   * `token`: the server authenticates as `serve` does by default, and the call carries a bearer
   * token for KNOWN_NODE_ID's service account; `none` (the default): the call carries no
   * credentials and the server runs in development mode (`serve --insecure-xds`).
   */
  readonly auth?: 'none' | 'token';
  readonly bytes: Buffer;
}

/** What happened to one input. */
export interface XdsOutcome {
  /** Why this input counts as a crash; undefined when the path handled it as designed. */
  readonly crash?: string;
  /** How the stream ended: a gRPC status name, or `open` when it was still serving. */
  readonly status: string;
  /** Whether the bare decode refused the bytes. */
  readonly decodeRefused: boolean;
  readonly responses: number;
}

/** The fixed type of each per-type service (ADS has none). */
export const SERVICE_TYPES: Readonly<Record<XdsService, TypeUrl | undefined>> = {
  ads: undefined,
  cds: CLUSTER_TYPE,
  eds: ENDPOINT_TYPE,
  lds: LISTENER_TYPE,
  rds: ROUTE_TYPE,
  sds: SECRET_TYPE,
};

/** A workload of the default mesh: what the admission request before an `admitted` input names. */
export const KNOWN_NODE_ID = 'cluster1/default/productpage-v1-0';

/** Longest an admission may take (token verification included) before the input counts as hung. */
const ADMISSION_MS = 2000;

const REFUSALS = new Set(['INVALID_ARGUMENT', 'RESOURCE_EXHAUSTED', 'UNAUTHENTICATED', 'PERMISSION_DENIED']);

/**
 * Whether `e` is a decoder's documented refusal of malformed bytes: a WireReadError from the
 * request reader, or an error protobufjs itself threw (its reader or a decoder it generated).
 */
export function isDecodeRefusal(e: unknown): boolean {
  if (e instanceof WireReadError) return true;
  if (!(e instanceof Error) || /Maximum call stack/i.test(e.message)) return false;
  const frame = (e.stack ?? '').split('\n').find((l) => l.trimStart().startsWith('at '));
  return frame !== undefined && /node_modules[\\/](protobufjs|@protobufjs)[\\/]/.test(frame);
}

function isStringArray(x: unknown): boolean {
  return Array.isArray(x) && x.every((s) => typeof s === 'string');
}

/** Where a decoded request differs from the shape codec.ts declares, if anywhere. */
function shapeProblem(r: SotwRequest | DeltaRequest): string | undefined {
  const strings: [string, unknown][] = [
    ['typeUrl', r.typeUrl],
    ['responseNonce', r.responseNonce],
  ];
  if ('versionInfo' in r) strings.push(['versionInfo', r.versionInfo]);
  if (r.node) {
    const n = r.node;
    strings.push(['node.id', n.id], ['node.cluster', n.cluster], ['node.userAgentName', n.userAgentName], ['node.userAgentVersion', n.userAgentVersion]);
    strings.push(['node.locality.region', n.locality.region], ['node.locality.zone', n.locality.zone], ['node.locality.sub_zone', n.locality.sub_zone]);
    if (!n.metadata || typeof n.metadata !== 'object' || Array.isArray(n.metadata)) return 'node.metadata is not an object';
  }
  if (r.errorDetail) strings.push(['errorDetail.message', r.errorDetail.message]);
  for (const [field, v] of strings) if (typeof v !== 'string') return `${field} is ${typeof v}, not a string`;
  if (r.errorDetail && typeof r.errorDetail.code !== 'number') return 'errorDetail.code is not a number';
  if ('resourceNames' in r && !isStringArray(r.resourceNames)) return 'resourceNames is not a list of strings';
  if ('subscribe' in r) {
    if (!isStringArray(r.subscribe) || !isStringArray(r.unsubscribe)) return 'subscribe/unsubscribe is not a list of strings';
    for (const [k, v] of r.initialResourceVersions) if (typeof k !== 'string' || typeof v !== 'string') return 'initialResourceVersions holds a non-string';
  }
  return undefined;
}

/** A server call as grpc-js hands it to a stream handler, recording what the stream does to it. */
class RecordingCall extends EventEmitter {
  readonly metadata = new grpc.Metadata();
  status: { code: number; details: string } | undefined;
  readonly written: Buffer[] = [];

  constructor(token: string | undefined) {
    super();
    if (token !== undefined) this.metadata.set('authorization', `Bearer ${token}`);
    this.on('error', (s: { code: number; details: string }) => {
      this.status ??= s;
    });
  }

  getPeer(): string {
    return 'ipv4:127.0.0.1:40000';
  }

  getAuthContext(): Record<string, never> {
    return {};
  }

  write(bytes: Buffer): boolean {
    this.written.push(bytes);
    return true;
  }

  end(): void {}
}

/** A cache that notes when the resolver throws: SnapshotCache would turn that into an ordinary refusal. */
class ResolverWatchingCache extends SnapshotCache {
  thrown: unknown[] = [];

  override setResolver(resolver: GroupResolver): void {
    super.setResolver((node, identity) => {
      try {
        return resolver(node, identity);
      } catch (e) {
        this.thrown.push(e);
        throw e;
      }
    });
  }
}

function describe(e: unknown): string {
  return e instanceof Error ? `${e.constructor.name}: ${e.message}`.slice(0, 300) : String(e).slice(0, 300);
}

/** The default mesh served by an unbound XdsServer, ready to take fuzz inputs one at a time. */
export class XdsRequestPath {
  private readonly errors: string[] = [];
  private readonly restoreLog: () => void;
  private readonly onProcessError = (e: unknown): void => {
    this.errors.push(`unhandled: ${describe(e)}`);
  };
  private ran = 0;
  private readonly sotwRequest = messageType('envoy.service.discovery.v3.DiscoveryRequest');
  private readonly deltaRequest = messageType('envoy.service.discovery.v3.DeltaDiscoveryRequest');
  private readonly sotwResponse = messageType('envoy.service.discovery.v3.DiscoveryResponse');
  private readonly deltaResponse = messageType('envoy.service.discovery.v3.DeltaDiscoveryResponse');

  private constructor(
    private readonly cache: ResolverWatchingCache,
    private readonly publisher: MeshPublisher,
    /** Development mode (`serve --insecure-xds`): streams without credentials are admitted. */
    private readonly server: XdsServer,
    /** `serve`'s default: every stream authenticated. */
    private readonly secureServer: XdsServer,
    private readonly token: string,
    private readonly keyDir: string,
  ) {
    // The path logs a warning per refused stream; thousands of inputs would bury the table.
    const level = log.level;
    const error = log.error;
    log.level = 'silent';
    log.error = ((obj: unknown, msg?: string) => {
      this.errors.push(`logged an error: ${msg ?? ''} ${describe((obj as { err?: unknown })?.err ?? obj)}`);
    }) as typeof log.error;
    this.restoreLog = () => {
      log.error = error;
      log.level = level;
    };
    process.on('unhandledRejection', this.onProcessError);
    process.on('uncaughtException', this.onProcessError);
  }

  /** Loads the default mesh and wires model, cache, publisher, authenticators and servers as `serve` does. */
  static async open(): Promise<XdsRequestPath> {
    const loaded = await loadConfig([defaultMeshDir()]);
    if (!loaded.config) throw new Error(`the default mesh did not load: ${loaded.errors[0]?.message}`);
    const store = new ModelStore();
    applyConfig(store, new StaticDiscovery(), loaded.config);
    const cache = new ResolverWatchingCache({ debounceMs: 0 });
    const publisher = MeshPublisher.attach(store, cache);
    const keyDir = mkdtempSync(join(tmpdir(), 'crossmesh-fuzz-keys-'));
    const level = log.level;
    log.level = 'silent';
    const keyring = await TokenKeyring.open({ directory: keyDir, rootId: 'fuzz' }).finally(() => {
      log.level = level;
    });
    const workload = store.current.workloads.get(KNOWN_NODE_ID);
    if (!workload) throw new Error(`the default mesh has no workload ${KNOWN_NODE_ID}`);
    const subject = { kind: 'serviceAccount', cluster: workload.cluster, namespace: workload.namespace, serviceAccount: workload.serviceAccount } as const;
    const { token } = await issueToken(keyring, subject, 3_600_000);
    // As security.ts builds them for `serve` (no Kubernetes token review: no API server here).
    const mesh = (): MeshSnapshot => store.current;
    const insecure = new XdsServer({ cache, authenticate: createAuthenticator({ keyring, mesh, allowUnauthenticated: true }) });
    const secure = new XdsServer({ cache, authenticate: createAuthenticator({ keyring, mesh }) });
    return new XdsRequestPath(cache, publisher, insecure, secure, token, keyDir);
  }

  /** The encoded first request of a stream for the default mesh's KNOWN_NODE_ID. */
  admissionRequest(mode: XdsInput['mode'], service: XdsService): Buffer {
    const typeUrl = SERVICE_TYPES[service] ?? CLUSTER_TYPE;
    const node = { id: KNOWN_NODE_ID, cluster: 'productpage', user_agent_name: 'envoy' };
    const type = mode === 'sotw' ? this.sotwRequest : this.deltaRequest;
    return Buffer.from(type.encode(type.fromObject({ node, type_url: typeUrl })).finish());
  }

  /** Decodes `bytes` as the stream would; a crash description when the decoder misbehaved. */
  decodeOnly(mode: XdsInput['mode'], bytes: Buffer): { refused: boolean; crash?: string } {
    let decoded: SotwRequest | DeltaRequest;
    try {
      decoded = mode === 'sotw' ? decodeDiscoveryRequest(bytes) : decodeDeltaDiscoveryRequest(bytes);
    } catch (e) {
      return isDecodeRefusal(e) ? { refused: true } : { refused: true, crash: `decoder threw something other than a refusal: ${describe(e)}\n${(e as Error)?.stack ?? ''}` };
    }
    const bad = shapeProblem(decoded);
    return bad ? { refused: false, crash: `decoded request malformed: ${bad}` } : { refused: false };
  }

  /** Runs one input through decoder and stream; resolves once the stream has handled every request. */
  async run(input: XdsInput): Promise<XdsOutcome> {
    this.errors.length = 0;
    this.cache.thrown = [];
    const decoded = this.decodeOnly(input.mode, input.bytes);
    const secure = input.auth === 'token';
    const call = new RecordingCall(secure ? this.token : undefined);
    const fixed = SERVICE_TYPES[input.service];
    const asCall = call as unknown as grpc.ServerDuplexStream<Buffer, Buffer>;
    const server = secure ? this.secureServer : this.server;
    const stream: XdsStream = input.mode === 'sotw' ? new SotwStream(server, asCall, fixed) : new DeltaStream(server, asCall, fixed);
    const send = async (bytes: Buffer): Promise<void> => {
      try {
        call.emit('data', bytes);
      } catch (e) {
        this.errors.push(`the stream's data handler threw: ${describe(e)}`);
      }
      // Admission awaits the authenticator (token verification finishes on libuv's thread pool):
      // wait until the stream is admitted or refused. Once admitted, requests are handled at once.
      const until = performance.now() + ADMISSION_MS;
      await nextTurn();
      while (!stream.active && !call.status && performance.now() < until) await nextTurn();
      if (!stream.active && !call.status) this.errors.push(`the stream was neither admitted nor refused within ${ADMISSION_MS} ms`);
    };
    if (input.stage === 'admitted') {
      await send(this.admissionRequest(input.mode, input.service));
      if (call.status) this.errors.push(`the admission request was refused: ${call.status.details}`);
    }
    await send(input.bytes);
    // What a proxy does next: answer the latest response (an ACK), send the same request again,
    // then NACK; so whatever state the fuzzed request left meets the ACK/NACK bookkeeping too.
    for (const next of ['ack', 'again', 'nack'] as const) {
      const latest = call.written.at(-1);
      if (call.status || !latest) break;
      const bytes = next === 'again' ? input.bytes : this.answer(input.mode, latest, next === 'nack');
      if (bytes) await send(bytes);
    }
    const crashes = decoded.crash ? [decoded.crash] : [];
    if (call.status?.code === grpc.status.INTERNAL) crashes.push(`stream ended with INTERNAL: ${call.status.details}`);
    else if (call.status && !REFUSALS.has(grpc.status[call.status.code] ?? '')) crashes.push(`stream ended with unexpected status ${call.status.code}: ${call.status.details}`);
    for (const e of this.cache.thrown) crashes.push(`group resolver threw: ${describe(e)}`);
    crashes.push(...this.errors);
    try {
      JSON.stringify(stream.status());
    } catch (e) {
      crashes.push(`stream status not serializable: ${describe(e)}`);
    }
    const responseType = input.mode === 'sotw' ? this.sotwResponse : this.deltaResponse;
    for (const w of call.written) {
      try {
        responseType.decode(w);
      } catch (e) {
        crashes.push(`crossmesh wrote a response that does not decode: ${describe(e)}`);
      }
    }
    stream.close(true);
    // Forget the nodes of closed streams now and then, as serve's sweep does, so state stays bounded.
    if (++this.ran % 256 === 0) this.publisher.prune([]);
    const status = call.status ? (grpc.status[call.status.code] ?? String(call.status.code)) : 'open';
    return { ...(crashes.length ? { crash: crashes.join('\n') } : {}), status, decodeRefused: decoded.refused, responses: call.written.length };
  }

  /** The request answering `response` as Envoy would (ACK, or NACK with an error_detail); undefined if it does not decode. */
  private answer(mode: XdsInput['mode'], response: Buffer, nack: boolean): Buffer | undefined {
    let r: { type_url?: string; nonce?: string; version_info?: string };
    try {
      r = (mode === 'sotw' ? this.sotwResponse : this.deltaResponse).decode(response) as typeof r;
    } catch {
      return undefined;
    }
    const error = nack ? { error_detail: { code: 3, message: 'rejected by the fuzzer' } } : {};
    const type = mode === 'sotw' ? this.sotwRequest : this.deltaRequest;
    const fields = mode === 'sotw' ? { type_url: r.type_url, version_info: r.version_info, response_nonce: r.nonce, ...error } : { type_url: r.type_url, response_nonce: r.nonce, ...error };
    return Buffer.from(type.encode(type.fromObject(fields)).finish());
  }

  /** protobufjs alone: the baseline the scenario compares the path with. */
  bareDecode(mode: XdsInput['mode'], bytes: Buffer): protobuf.Message | undefined {
    try {
      return (mode === 'sotw' ? this.sotwRequest : this.deltaRequest).decode(bytes);
    } catch {
      return undefined;
    }
  }

  /** Stops the publisher and server and gives the logger and process handlers back. */
  async close(): Promise<void> {
    this.publisher.close();
    this.cache.close();
    await this.server.close(0);
    await this.secureServer.close(0);
    rmSync(this.keyDir, { recursive: true, force: true });
    process.off('unhandledRejection', this.onProcessError);
    process.off('uncaughtException', this.onProcessError);
    this.restoreLog();
  }
}

/**
 * The xDS gRPC server: ADS (SotW and delta) and the per-type CDS/EDS/LDS/RDS/SDS services (with
 * their unary Fetch* RPCs) on one port. Responses are pre-assembled bytes (cached Any per
 * resource), so the gRPC layer is given a pass-through serializer and never re-encodes a resource
 * per stream. Besides its TCP port the server may listen on unix sockets (`listenUnix`): the same
 * services, streams and credentials, for proxies in other network namespaces that share a file.
 */
import { lstat, unlink } from 'node:fs/promises';
import { connect } from 'node:net';
import { resolve as resolvePath } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import * as grpc from '@grpc/grpc-js';
import type { SnapshotCache, GroupChange } from './cache.js';
import { buildConfigDump, redactPrivateKeys, type ConfigDump, type ResourceRedactor } from './config-dump.js';
import { DeltaStream } from './delta-stream.js';
import { answerFetch } from './fetch.js';
import { SotwStream } from './sotw-stream.js';
import { DEFAULT_STREAM_LIMITS, type AckObserver, type Authenticator, type ProxyStatus, type StreamHost, type StreamLimits, type StreamRefusal, type XdsStream } from './stream.js';
import { CLUSTER_TYPE, ENDPOINT_TYPE, LISTENER_TYPE, ROUTE_TYPE, SECRET_TYPE, type TypeUrl } from './types.js';
import { log } from '../log.js';

const MAX_REFUSALS = 100;
/**
 * Streams written per turn of the event loop when one cache batch reaches many streams. Done in one
 * go, an EDS batch for 5,000 streams held the loop for 2.5-2.9 s on a busy 2-core machine (the soak
 * benchmark, issue 16): no ACK, new stream, admin request or discovery event was handled meanwhile.
 * Between slices the loop gets a turn.
 */
const FLUSH_SLICE = 256;
/** A drain slice also ends after this much work, so the event loop answers I/O at least this often. */
const FLUSH_SLICE_MS = 10;

export interface XdsServerOptions {
  readonly cache: SnapshotCache;
  /** Called on each stream's first request before anything is served; an Error refuses the stream. */
  readonly authenticate?: Authenticator;
  /** Observer of every ACK (e.g. convergence measurements); must be cheap. */
  readonly onAck?: AckObserver;
  /** Applied to every resource shown by config dumps (default: private keys in Secrets are redacted). */
  readonly redact?: ResourceRedactor;
  /** Source of stream ids, shared by servers over one cache so ids stay unique on /debug/proxies. */
  readonly streamIds?: () => number;
  /** What one stream may make the server hold (default DEFAULT_STREAM_LIMITS; see docs/xds.md, "Limits"). */
  readonly limits?: Partial<StreamLimits>;
  /** Largest accepted request (default 4 MiB); larger ones end that stream with RESOURCE_EXHAUSTED. */
  readonly maxReceiveMessageBytes?: number;
  /**
   * Connections older than this are ended (GOAWAY, then closed after `maxConnectionAgeGraceMs`),
   * so every proxy reconnects and is authenticated again at least this often: an expired token or
   * a revoked identity stops being served (default 30 min; 0 = never).
   */
  readonly maxConnectionAgeMs?: number;
  /** How long streams may go on after the GOAWAY of an aged connection (default 10 s). */
  readonly maxConnectionAgeGraceMs?: number;
  /** Extra grpc-js server options (keepalive etc.). */
  readonly grpcOptions?: grpc.ServerOptions;
}

/** Default connection age: proxies re-authenticate at least every 30 minutes. */
export const DEFAULT_MAX_CONNECTION_AGE_MS = 30 * 60_000;

const passThrough = (b: Buffer): Buffer => b;

function bidi(path: string): grpc.MethodDefinition<Buffer, Buffer> {
  return {
    path,
    requestStream: true,
    responseStream: true,
    requestSerialize: passThrough,
    requestDeserialize: passThrough,
    responseSerialize: passThrough,
    responseDeserialize: passThrough,
  };
}

function unary(path: string): grpc.MethodDefinition<Buffer, Buffer> {
  return { ...bidi(path), requestStream: false, responseStream: false };
}

/** service full name, SotW method, delta method, unary fetch method and fixed type (undefined = ADS, which has no fetch). */
const SERVICES: readonly [string, string, string, string | undefined, TypeUrl | undefined][] = [
  ['envoy.service.discovery.v3.AggregatedDiscoveryService', 'StreamAggregatedResources', 'DeltaAggregatedResources', undefined, undefined],
  ['envoy.service.cluster.v3.ClusterDiscoveryService', 'StreamClusters', 'DeltaClusters', 'FetchClusters', CLUSTER_TYPE],
  ['envoy.service.endpoint.v3.EndpointDiscoveryService', 'StreamEndpoints', 'DeltaEndpoints', 'FetchEndpoints', ENDPOINT_TYPE],
  ['envoy.service.listener.v3.ListenerDiscoveryService', 'StreamListeners', 'DeltaListeners', 'FetchListeners', LISTENER_TYPE],
  ['envoy.service.route.v3.RouteDiscoveryService', 'StreamRoutes', 'DeltaRoutes', 'FetchRoutes', ROUTE_TYPE],
  ['envoy.service.secret.v3.SecretDiscoveryService', 'StreamSecrets', 'DeltaSecrets', 'FetchSecrets', SECRET_TYPE],
];

/** The xDS server around one snapshot cache. */
export class XdsServer implements StreamHost {
  readonly cache: SnapshotCache;
  readonly authenticate: Authenticator | undefined;
  readonly onAck: AckObserver | undefined;
  readonly limits: StreamLimits;
  private readonly redact: ResourceRedactor;
  private readonly server: grpc.Server;
  private readonly streams = new Set<XdsStream>();
  private readonly byGroup = new Map<string, Set<XdsStream>>();
  private readonly streamGroups = new Map<XdsStream, Set<string>>();
  private readonly unsubscribe: (() => void)[] = [];
  private streamCounter = 0;
  private readonly streamIds: (() => number) | undefined;
  /** Most recent refusals first; bounded so a client retrying in a loop cannot grow memory. */
  private readonly refused: StreamRefusal[] = [];
  /** Unix sockets this server created (path → inode), removed on close. */
  private readonly socketFiles = new Map<string, number>();
  /**
   * Streams that batches touched and that are still to be written, oldest first: one queue, so
   * batches that arrive while earlier ones are still being written never add up to more than one
   * slice per turn of the event loop.
   */
  private readonly toFlush = new Set<XdsStream>();
  private draining = false;

  constructor(options: XdsServerOptions) {
    this.cache = options.cache;
    this.authenticate = options.authenticate;
    this.streamIds = options.streamIds;
    this.onAck = options.onAck;
    this.limits = { ...DEFAULT_STREAM_LIMITS, ...options.limits };
    this.redact = options.redact ?? redactPrivateKeys;
    this.server = new grpc.Server({
      'grpc.max_receive_message_length': options.maxReceiveMessageBytes ?? 4 * 1024 * 1024,
      'grpc.max_send_message_length': -1,
      ...((options.maxConnectionAgeMs ?? DEFAULT_MAX_CONNECTION_AGE_MS) > 0
        ? { 'grpc.max_connection_age_ms': options.maxConnectionAgeMs ?? DEFAULT_MAX_CONNECTION_AGE_MS, 'grpc.max_connection_age_grace_ms': options.maxConnectionAgeGraceMs ?? 10_000 }
        : {}),
      ...options.grpcOptions,
    });
    for (const [service, sotw, delta, fetch, fixed] of SERVICES) {
      const definition: Record<string, grpc.MethodDefinition<Buffer, Buffer>> = {
        [sotw]: bidi(`/${service}/${sotw}`),
        [delta]: bidi(`/${service}/${delta}`),
      };
      const handlers: grpc.UntypedServiceImplementation = {
        [sotw]: (call: grpc.ServerDuplexStream<Buffer, Buffer>) => this.track(new SotwStream(this, call, fixed)),
        [delta]: (call: grpc.ServerDuplexStream<Buffer, Buffer>) => this.track(new DeltaStream(this, call, fixed)),
      };
      if (fetch && fixed) {
        definition[fetch] = unary(`/${service}/${fetch}`);
        handlers[fetch] = (call: grpc.ServerUnaryCall<Buffer, Buffer>, callback: grpc.sendUnaryData<Buffer>) => {
          answerFetch(this, fixed, call).then(
            (r) => ('response' in r ? callback(null, r.response) : callback({ code: r.code, details: r.details })),
            (e: unknown) => callback({ code: grpc.status.INTERNAL, details: `fetch failed: ${e instanceof Error ? e.message : String(e)}` }),
          );
        };
      }
      this.server.addService(definition as grpc.ServiceDefinition, handlers);
    }
    this.unsubscribe.push(
      this.cache.onChange((batch) => this.onCacheChange(batch)),
      this.cache.onResolverChange(() => {
        for (const s of [...this.streams]) s.reresolve();
      }),
    );
  }

  /** Binds to host:port (port 0 picks a free one) and returns the bound port. Credentials default to insecure (TLS is a later issue). */
  listen(host: string, port: number, credentials: grpc.ServerCredentials = grpc.ServerCredentials.createInsecure()): Promise<number> {
    const address = host.includes(':') ? `[${host}]:${port}` : `${host}:${port}`;
    return new Promise((resolve, reject) => {
      this.server.bindAsync(address, credentials, (err, bound) => (err ? reject(new Error(`cannot listen for xDS on ${address}: ${err.message}`)) : resolve(bound)));
    });
  }

  /**
   * Also listens on the unix socket `path` (made absolute): a socket file nobody listens on is
   * replaced, a live one or any other kind of file is refused. The file is removed on close.
   */
  async listenUnix(path: string, credentials: grpc.ServerCredentials = grpc.ServerCredentials.createInsecure()): Promise<string> {
    const absolute = resolvePath(path);
    await clearStaleSocket(absolute);
    await new Promise<void>((resolve, reject) => {
      this.server.bindAsync(`unix:${absolute}`, credentials, (err) => (err ? reject(new Error(`cannot listen for xDS on unix:${absolute}: ${err.message}`)) : resolve()));
    });
    this.socketFiles.set(absolute, (await lstat(absolute)).ino);
    return absolute;
  }

  nextStreamId(): number {
    return this.streamIds ? this.streamIds() : ++this.streamCounter;
  }

  private track(stream: XdsStream): void {
    this.streams.add(stream);
  }

  attach(stream: XdsStream): void {
    this.unindex(stream);
    if (!stream.groups) return;
    const groups = new Set(stream.groups.values());
    this.streamGroups.set(stream, groups);
    for (const g of groups) {
      let set = this.byGroup.get(g);
      if (!set) {
        set = new Set();
        this.byGroup.set(g, set);
      }
      set.add(stream);
    }
  }

  detach(stream: XdsStream): void {
    this.unindex(stream);
    this.streams.delete(stream);
    this.toFlush.delete(stream);
  }

  private unindex(stream: XdsStream): void {
    const groups = this.streamGroups.get(stream);
    if (!groups) return;
    for (const g of groups) {
      const set = this.byGroup.get(g);
      set?.delete(stream);
      if (set?.size === 0) this.byGroup.delete(g);
    }
    this.streamGroups.delete(stream);
  }

  private onCacheChange(batch: readonly GroupChange[]): void {
    // Marking every stream first and flushing after lets one batch go out in ADS order on each.
    for (const change of batch) {
      const streams = this.byGroup.get(change.group);
      if (!streams) continue;
      for (const s of streams) {
        if (s.groups?.get(change.typeUrl) === change.group && s.onCacheChange(change)) this.toFlush.add(s);
      }
    }
    if (!this.draining) this.drain();
  }

  /** Queues a stream for the next drain slice (ACKs and requests answered without blocking the loop). */
  scheduleFlush(stream: XdsStream): void {
    this.toFlush.add(stream);
    if (!this.draining) {
      this.draining = true;
      setImmediate(() => this.drain());
    }
  }

  /** Flushes queued streams for up to FLUSH_SLICE streams or FLUSH_SLICE_MS, and the rest in later turns of the event loop. */
  private drain(): void {
    let n = 0;
    const started = performance.now();
    for (const s of this.toFlush) {
      if (n++ === FLUSH_SLICE || performance.now() - started >= FLUSH_SLICE_MS) break;
      this.toFlush.delete(s);
      s.flush();
    }
    this.draining = this.toFlush.size > 0;
    if (this.draining) setImmediate(() => this.drain());
  }

  /**
   * Resolves true once every stream served from one of `groups` for `typeUrl` has answered (ACK
   * or NACK) the latest response of that type it was sent, or has ended; false when `timeoutMs`
   * passes first. Streams are looked at every 20 ms (answers arrive within a round trip).
   */
  async whenAnswered(groups: ReadonlySet<string>, typeUrl: TypeUrl, timeoutMs: number): Promise<boolean> {
    const deadline = performance.now() + timeoutMs;
    for (;;) {
      // A stream whose slice of the batch is not written yet has not been sent what it is to answer.
      let waiting = this.toFlush.size > 0;
      for (const g of groups) {
        for (const s of this.byGroup.get(g) ?? []) if (s.groups?.get(typeUrl) === g && !s.answeredLatest(typeUrl)) waiting = true;
      }
      if (!waiting) return true;
      if (performance.now() >= deadline) return false;
      await sleep(Math.min(20, Math.max(1, deadline - performance.now())));
    }
  }

  /** Records a refused stream (kept: the last 100). */
  recordRefusal(refusal: StreamRefusal): void {
    this.refused.unshift(refusal);
    if (this.refused.length > MAX_REFUSALS) this.refused.length = MAX_REFUSALS;
  }

  /** Streams refused at authentication, most recent first. */
  refusals(): readonly StreamRefusal[] {
    return this.refused;
  }

  proxies(): ProxyStatus[] {
    return [...this.streams].filter((s) => s.active).map((s) => s.status());
  }

  /** Admitted streams (for tests and diagnostics). */
  activeStreams(): XdsStream[] {
    return [...this.streams].filter((s) => s.active);
  }

  /** What `nodeId` is served, decoded and redacted; undefined if no stream of that node is connected. */
  configDump(nodeId: string): ConfigDump | undefined {
    return buildConfigDump(nodeId, [...this.streams], this.cache, this.redact);
  }

  /** Stops accepting streams, ends open ones after `graceMs`, and detaches from the cache. */
  async close(graceMs = 1000): Promise<void> {
    for (const u of this.unsubscribe.splice(0)) u();
    this.toFlush.clear();
    await new Promise<void>((resolve) => {
      const timer = setTimeout(() => {
        this.server.forceShutdown();
        resolve();
      }, graceMs);
      timer.unref();
      this.server.tryShutdown(() => {
        clearTimeout(timer);
        resolve();
      });
      // Long-lived xDS streams never finish by themselves; end them so tryShutdown can complete.
      for (const s of [...this.streams]) s.close(true);
    });
    for (const [path, ino] of this.socketFiles) await removeOwnSocket(path, ino);
    this.socketFiles.clear();
    log.info('xds server stopped');
  }
}

/** How long a connection attempt may take to tell a live socket from a stale one. */
const PROBE_TIMEOUT_MS = 1000;

/** Removes a stale socket file at `path` (nothing listens); throws for a live socket or a file of another kind. */
async function clearStaleSocket(path: string): Promise<void> {
  let st;
  try {
    st = await lstat(path);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return;
    throw new Error(`cannot use ${path} as the xDS socket: ${(e as Error).message}`);
  }
  if (!st.isSocket()) throw new Error(`cannot use ${path} as the xDS socket: it exists and is not a socket (${st.isDirectory() ? 'a directory' : 'a file'}); remove it or pick another path`);
  if (await socketAnswers(path)) throw new Error(`cannot use ${path} as the xDS socket: another process is listening on it`);
  await unlink(path);
  log.info({ path }, 'removed a stale xDS socket file');
}

/** Whether something accepts connections on the unix socket `path` (bounded by PROBE_TIMEOUT_MS). */
function socketAnswers(path: string): Promise<boolean> {
  return new Promise((resolve, reject) => {
    const socket = connect(path);
    const done = (live: boolean): void => {
      clearTimeout(timer);
      socket.destroy();
      resolve(live);
    };
    // A listener too busy to accept within the bound is still a listener: do not steal its path.
    const timer = setTimeout(() => done(true), PROBE_TIMEOUT_MS);
    socket.once('connect', () => done(true));
    socket.once('error', (e: NodeJS.ErrnoException) => {
      if (e.code === 'ECONNREFUSED' || e.code === 'ENOENT') return done(false);
      clearTimeout(timer);
      socket.destroy();
      reject(new Error(`cannot use ${path} as the xDS socket: probing it failed: ${e.message}`));
    });
  });
}

/** Unlinks `path` if it is still the socket this server created (another process may have replaced it). */
async function removeOwnSocket(path: string, ino: number): Promise<void> {
  try {
    const st = await lstat(path);
    if (st.isSocket() && st.ino === ino) await unlink(path);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'ENOENT') log.warn({ path, error: (e as Error).message }, 'could not remove the xDS socket file');
  }
}

/**
 * What SotW and delta streams share: admission (node from the first request, authentication hook,
 * group resolution), per-type protocol state, ACK/NACK bookkeeping, and a writer that never queues
 * more than a few responses: while the client is not reading, types are only marked dirty and the
 * latest state of each is computed when the stream drains.
 */
import * as grpc from '@grpc/grpc-js';
import type { EncodedResource } from './codec.js';
import { VersionMap } from './version-map.js';
import type { SnapshotCache, StreamIdentity, GroupChange } from './cache.js';
import { ADS_ORDER, CLUSTER_TYPE, ENDPOINT_TYPE, TYPE_SHORT_NAME, knownType, nodeRole, type NodeInfo, type TypeUrl } from './types.js';
import { connectedStreams, countPush, nacksTotal, pushLatency, streamErrorsTotal } from './metrics.js';
import { log, LogThrottle } from '../log.js';

/** What the authentication hook sees of a call. */
export interface CallInfo {
  readonly metadata: grpc.Metadata;
  readonly peer: string;
  readonly authContext: ReturnType<grpc.ServerDuplexStream<Buffer, Buffer>['getAuthContext']>;
}

/**
 * Authenticates a stream before anything is served on it. Return an Error to refuse the stream:
 * UNAUTHENTICATED, or PERMISSION_DENIED when the error has `code: grpc.status.PERMISSION_DENIED`.
 */
export type Authenticator = (call: CallInfo, node: NodeInfo) => Promise<StreamIdentity | Error>;

/** Called for every ACK a proxy sends. */
export type AckObserver = (ack: { readonly nodeId: string; readonly typeUrl: TypeUrl; readonly version: string }) => void;

/**
 * What one client may make the server hold, beyond the per-request bounds (MAX_NAMES_PER_REQUEST,
 * the gRPC message size). A delta client keeps state across requests, so without these a stream
 * could grow the server's memory, and the time every request takes, without end (issue 16).
 */
export interface StreamLimits {
  /** Resource names one stream may have subscribed, summed over its types (names in initial_resource_versions count too). */
  readonly maxSubscribedNamesPerStream: number;
  /** UTF-8 bytes of initial_resource_versions (names + versions) one delta stream may declare, summed over its types. */
  readonly maxInitialVersionBytesPerStream: number;
  /** The same, summed over every open delta stream of the process. */
  readonly maxInitialVersionBytesPerProcess: number;
}

/** The defaults: far above what a proxy of a 10,000-service mesh sends, far below what hurts the process. */
export const DEFAULT_STREAM_LIMITS: StreamLimits = {
  maxSubscribedNamesPerStream: 50_000,
  maxInitialVersionBytesPerStream: 8 * 1024 * 1024,
  maxInitialVersionBytesPerProcess: 512 * 1024 * 1024,
};

/** What a stream needs from the server that owns it. */
export interface StreamHost {
  readonly cache: SnapshotCache;
  readonly limits: StreamLimits;
  readonly authenticate: Authenticator | undefined;
  /** Observer of every ACK (convergence measurements); must be cheap. */
  readonly onAck: AckObserver | undefined;
  nextStreamId(): number;
  /** Remembers a stream refused before admission, for /debug/proxies (refused streams are never listed as proxies). */
  recordRefusal(refusal: StreamRefusal): void;
  /** (Re)indexes the stream under its current groups. */
  attach(stream: XdsStream): void;
  detach(stream: XdsStream): void;
  /** Flushes the stream soon, in the host's time-sliced drain (responses are never built in bulk inside one I/O callback). */
  scheduleFlush(stream: XdsStream): void;
}

/** A stream the server refused at authentication, as /debug/proxies shows it. */
export interface StreamRefusal {
  readonly nodeId: string;
  readonly role: string;
  readonly peer: string;
  /** `UNAUTHENTICATED` or `PERMISSION_DENIED`. */
  readonly code: string;
  readonly reason: string;
  readonly at: string;
}

/** The last NACK a proxy sent for a type. */
export interface NackRecord {
  readonly error: string;
  readonly code: number;
  /** The version that was rejected. */
  readonly version: string;
  readonly nonce: string;
  readonly at: string;
}

/** Protocol state of one resource type on one stream. */
export interface TypeState {
  requested: boolean;
  wildcard: boolean;
  subscribed: Set<string>;
  /** name → version the proxy holds, as far as the server knows (what was sent, or declared on reconnect). SotW streams share it (a HeldVersions): replace, never mutate. */
  sent: VersionMap;
  lastSentVersion: string;
  lastSentNonce: string;
  lastSentAt: number;
  ackedVersion: string;
  ackedAt: number;
  lastNack: NackRecord | undefined;
  /** performance.now() of the earliest unpushed cache change relevant to this type. */
  pendingSince: number | undefined;
  /** Names to send again even if unchanged (EDS after a CDS update of their cluster). */
  forceResend: Set<string>;
  /** SotW: a non-empty resource_names list was sent once, so an empty list no longer means wildcard. */
  everNonEmpty: boolean;
  /** SotW: `subscriptionKey(subscribed)`, under which streams with equal subscriptions share response bodies. */
  subscriptionKey: string;
  /** SotW: version_info of the first request of a reconnecting proxy. */
  clientVersionHint: string | undefined;
  /** Delta: subscribed names already reported as not existing. */
  absentNotified: Set<string>;
  /**
   * Delta: the names whose state may have changed since the last response (cache changes, new
   * subscriptions); undefined when everything is to be looked at again (first response, wildcard
   * subscribed, group changed, the set became ready).
   */
  pendingNames: Set<string> | undefined;
  /** Nonce of the latest response the proxy answered (ACK or NACK). */
  answeredNonce: string;
}

/** Per-type status as shown on /debug/proxies. */
export interface TypeStatus {
  readonly subscribed: readonly string[];
  readonly wildcard: boolean;
  readonly resources: number;
  readonly lastSentVersion: string;
  readonly lastSentNonce: string;
  readonly lastSentAt: string | null;
  readonly ackedVersion: string;
  readonly ackedAt: string | null;
  readonly lastNack: NackRecord | null;
}

/** One connected stream as shown on /debug/proxies. */
export interface ProxyStatus {
  readonly streamId: number;
  readonly nodeId: string;
  readonly role: string;
  readonly cluster: string;
  readonly locality: NodeInfo['locality'] | null;
  readonly userAgent: string;
  readonly peer: string;
  readonly mode: 'sotw' | 'delta';
  readonly service: string;
  readonly connectedAt: string;
  readonly identity: string | null;
  readonly groups: Readonly<Record<string, string>> | null;
  readonly resolverError: string | null;
  /** True while the client is not reading and pushes are held back. */
  readonly blocked: boolean;
  readonly types: Readonly<Record<string, TypeStatus>>;
}

const MAX_QUEUED_REQUESTS = 64;
const MAX_NAMES_PER_REQUEST = 20_000;
const MAX_NAME_LENGTH = 2_048;

/** Bounds on the node fields of a first request, checked before the node is stored, logged or authenticated. */
export const NODE_LIMITS = {
  id: 1024,
  cluster: 1024,
  userAgent: 256,
  locality: 256,
  /** Characters of node.metadata as JSON. */
  metadataJson: 64 * 1024,
} as const;

/**
 * What is wrong with a node's size, if anything: a short message that never quotes the field (an
 * oversized id would otherwise travel in the refusal's grpc-message header, which the client
 * cannot receive, and into logs).
 */
export function nodeProblem(node: NodeInfo): string | undefined {
  const long = (field: string, value: string, limit: number) => (value.length > limit ? `${field} is ${value.length} characters long (limit ${limit})` : undefined);
  return (
    long('node.id', node.id, NODE_LIMITS.id) ??
    long('node.cluster', node.cluster, NODE_LIMITS.cluster) ??
    long('node.user_agent_name', node.userAgentName, NODE_LIMITS.userAgent) ??
    long('node.user_agent_version', node.userAgentVersion, NODE_LIMITS.userAgent) ??
    long('node.locality.region', node.locality.region, NODE_LIMITS.locality) ??
    long('node.locality.zone', node.locality.zone, NODE_LIMITS.locality) ??
    long('node.locality.sub_zone', node.locality.sub_zone, NODE_LIMITS.locality) ??
    long('node.metadata (as JSON)', JSON.stringify(node.metadata), NODE_LIMITS.metadataJson)
  );
}

/** Longest grpc-message a refusal carries: a status header must stay far below HTTP/2 header limits or the client never sees it. */
const MAX_STATUS_DETAILS = 1024;
/** Longest NACK error_detail.message kept for /debug/proxies and written to the log. */
export const MAX_NACK_MESSAGE_BYTES = 4096;
/** Identical NACK log lines of one proxy (same node, type and message) are written once per this interval. */
const NACK_LOG_INTERVAL_MS = 60_000;
const nackLogThrottle = new LogThrottle(NACK_LOG_INTERVAL_MS);

/** `text` cut to `maxBytes` of UTF-8, with "... (N bytes truncated)" when cut. */
export function truncateUtf8(text: string, maxBytes: number): string {
  // Three bytes per UTF-16 unit at most: shorter strings need no encoding.
  if (text.length * 3 <= maxBytes) return text;
  const bytes = Buffer.from(text, 'utf8');
  if (bytes.length <= maxBytes) return text;
  const head = bytes.subarray(0, maxBytes).toString('utf8').replace(/\uFFFD$/, '');
  return `${head}... (${bytes.length - Buffer.byteLength(head)} bytes truncated)`;
}

/** What is wrong with a request's resource name list (too many names, a name too long), if anything. */
export function namesProblem(names: readonly string[], field: string): string | undefined {
  if (names.length > MAX_NAMES_PER_REQUEST) return `${field} has ${names.length} names (limit ${MAX_NAMES_PER_REQUEST})`;
  for (const n of names) {
    if (n.length > MAX_NAME_LENGTH) return `${field} contains a name of ${n.length} characters (limit ${MAX_NAME_LENGTH})`;
  }
  return undefined;
}

/** A request after decoding, as far as the shared admission path needs it. */
export interface DecodedRequest {
  readonly node?: NodeInfo;
  readonly typeUrl: string;
  readonly responseNonce: string;
}

function iso(ms: number): string | null {
  return ms ? new Date(ms).toISOString() : null;
}

function newTypeState(): TypeState {
  return {
    requested: false,
    wildcard: false,
    subscribed: new Set(),
    sent: new VersionMap(),
    lastSentVersion: '',
    lastSentNonce: '',
    lastSentAt: 0,
    ackedVersion: '',
    ackedAt: 0,
    lastNack: undefined,
    pendingSince: undefined,
    forceResend: new Set(),
    everNonEmpty: false,
    subscriptionKey: '',
    clientVersionHint: undefined,
    absentNotified: new Set(),
    pendingNames: undefined,
    answeredNonce: '',
  };
}

/** Base of SotW and delta streams; subclasses decode requests, apply them and build responses. */
export abstract class XdsStream {
  readonly id: number;
  abstract readonly mode: 'sotw' | 'delta';
  node: NodeInfo | undefined;
  identity: StreamIdentity | undefined;
  groups: ReadonlyMap<TypeUrl, string> | undefined;
  resolveError: string | undefined;
  readonly types = new Map<TypeUrl, TypeState>();
  readonly connectedAt = Date.now();
  /** Responses written on this stream (diagnostics and tests). */
  responsesWritten = 0;

  protected readonly dirty = new Set<TypeUrl>();
  private closed = false;
  private admitted = false;
  private waitingForDrain = false;
  private queue: Promise<void> = Promise.resolve();
  private queued = 0;
  private nonceCounter = 0;
  private noncePrefix: string | undefined;
  private readonly warnedTypes = new Set<string>();
  private readonly peer: string;

  constructor(
    protected readonly host: StreamHost,
    protected readonly call: grpc.ServerDuplexStream<Buffer, Buffer>,
    /** Set on per-type services (CDS, EDS, ...); undefined on ADS. */
    protected readonly fixedType: TypeUrl | undefined,
  ) {
    this.id = host.nextStreamId();
    this.peer = safePeer(call);
    call.on('data', (buf: Buffer) => this.enqueue(buf));
    call.on('end', () => this.close(true));
    call.on('error', () => this.close(false));
    call.on('cancelled', () => this.close(false));
    call.on('close', () => this.close(false));
  }

  /** Human name of the service this stream arrived on ("ads" or the type's short name). */
  get service(): string {
    return this.fixedType ? TYPE_SHORT_NAME[this.fixedType] : 'ads';
  }

  protected abstract decode(buf: Buffer): DecodedRequest;
  /** Applies a decoded request to the state of `typeUrl`. */
  protected abstract process(typeUrl: TypeUrl, req: DecodedRequest): void;
  /** Builds the response for a type from the cache and the stream's state, or null if nothing is due. */
  protected abstract respond(typeUrl: TypeUrl): Buffer | null;

  protected state(typeUrl: TypeUrl): TypeState {
    let st = this.types.get(typeUrl);
    if (!st) {
      st = newTypeState();
      this.types.set(typeUrl, st);
    }
    return st;
  }

  protected nextNonce(): string {
    this.noncePrefix ??= `${this.id.toString(36)}-`;
    return this.noncePrefix + (++this.nonceCounter).toString(36);
  }

  /** Validates subscription names; returns an error message or undefined. */
  protected checkNames(names: readonly string[], field: string): string | undefined {
    return namesProblem(names, field);
  }

  private enqueue(buf: Buffer): void {
    if (this.closed) return;
    if (this.admitted && this.queued === 0) {
      // Fast path: once admitted nothing awaits, so requests are handled synchronously in arrival order.
      try {
        this.handleAdmitted(buf);
      } catch (e) {
        log.error({ err: e, stream: this.id, node: this.node?.id }, 'xds request handling failed');
        this.fail(grpc.status.INTERNAL, 'internal error while handling the request');
      }
      return;
    }
    if (++this.queued > MAX_QUEUED_REQUESTS) {
      this.fail(grpc.status.RESOURCE_EXHAUSTED, `more than ${MAX_QUEUED_REQUESTS} requests queued before the first was processed`);
      return;
    }
    this.queue = this.queue
      .then(() => this.handle(buf))
      .catch((e: unknown) => {
        log.error({ err: e, stream: this.id, node: this.node?.id }, 'xds request handling failed');
        this.fail(grpc.status.INTERNAL, 'internal error while handling the request');
      })
      .finally(() => {
        this.queued--;
      });
  }

  private decodeOrFail(buf: Buffer): DecodedRequest | undefined {
    try {
      return this.decode(buf);
    } catch (e) {
      this.fail(grpc.status.INVALID_ARGUMENT, `malformed ${this.mode === 'delta' ? 'DeltaDiscoveryRequest' : 'DiscoveryRequest'}: ${e instanceof Error ? e.message : String(e)}`);
      return undefined;
    }
  }

  private async handle(buf: Buffer): Promise<void> {
    if (this.closed) return;
    if (this.admitted) {
      this.handleAdmitted(buf);
      return;
    }
    const req = this.decodeOrFail(buf);
    if (!req) return;
    if (!req.node || req.node.id === '') {
      this.fail(grpc.status.INVALID_ARGUMENT, 'the first request on a stream must carry node with a non-empty node.id');
      return;
    }
    const oversized = nodeProblem(req.node);
    if (oversized) {
      this.fail(grpc.status.INVALID_ARGUMENT, `node refused: ${oversized}`);
      return;
    }
    if (!(await this.admit(req.node))) return;
    this.dispatch(req);
  }

  private handleAdmitted(buf: Buffer): void {
    if (this.closed) return;
    const req = this.decodeOrFail(buf);
    if (req) this.dispatch(req);
  }

  private dispatch(req: DecodedRequest): void {
    let typeUrl: TypeUrl | undefined;
    if (this.fixedType) {
      if (req.typeUrl !== '' && req.typeUrl !== this.fixedType) {
        this.fail(grpc.status.INVALID_ARGUMENT, `type_url ${req.typeUrl} sent on the ${this.service} service, which serves only ${this.fixedType}`);
        return;
      }
      typeUrl = this.fixedType;
    } else typeUrl = knownType(req.typeUrl);
    if (typeUrl === undefined) {
      // Envoy may ask an ADS server for types it does not serve; ending the stream would take its other types down.
      if (!this.warnedTypes.has(req.typeUrl) && this.warnedTypes.size < 16) {
        this.warnedTypes.add(req.typeUrl);
        log.warn({ node: this.node?.id, stream: this.id, typeUrl: req.typeUrl }, req.typeUrl === '' ? 'ADS request without type_url ignored' : 'request for a resource type crossmesh does not serve ignored');
      }
      return;
    }
    this.process(typeUrl, req);
    // One socket read can carry hundreds of ACKs (100 streams share a connection); building each
    // answer inline would block the event loop for all of them at once.
    if (!this.closed && this.dirty.size) this.host.scheduleFlush(this);
  }

  /** Takes the node from the first request, authenticates and resolves the group; false if the stream was refused. */
  private async admit(node: NodeInfo): Promise<boolean> {
    this.node = node;
    const auth = this.host.authenticate;
    if (auth) {
      let result: StreamIdentity | Error;
      try {
        result = await auth({ metadata: this.call.metadata, peer: this.peer, authContext: this.call.getAuthContext() }, node);
      } catch (e) {
        result = e instanceof Error ? e : new Error(String(e));
      }
      if (this.closed) return false;
      if (result instanceof Error) {
        const code = (result as { code?: unknown }).code === grpc.status.PERMISSION_DENIED ? grpc.status.PERMISSION_DENIED : grpc.status.UNAUTHENTICATED;
        this.host.recordRefusal({
          nodeId: node.id,
          role: nodeRole(node),
          peer: this.peer,
          code: code === grpc.status.PERMISSION_DENIED ? 'PERMISSION_DENIED' : 'UNAUTHENTICATED',
          reason: result.message,
          at: new Date().toISOString(),
        });
        this.fail(code, `stream refused for node ${JSON.stringify(node.id)}: ${result.message}`);
        return false;
      }
      this.identity = result;
    }
    this.admitted = true;
    connectedStreams.inc({ mode: this.mode });
    this.resolveGroups();
    this.host.attach(this);
    log.info({ node: node.id, role: nodeRole(node), stream: this.id, mode: this.mode, service: this.service, peer: this.peer }, 'xds stream connected');
    return true;
  }

  private resolveGroups(): boolean {
    const before = this.groups;
    const r = this.host.cache.resolve(this.node!, this.identity);
    if (r instanceof Error) {
      if (this.resolveError !== r.message) {
        log.warn({ node: this.node!.id, stream: this.id, error: r.message }, 'no configuration for node: group resolver refused it');
        streamErrorsTotal.inc({ reason: 'resolver' });
      }
      this.resolveError = r.message;
      this.groups = undefined;
    } else {
      this.resolveError = undefined;
      this.groups = r;
    }
    if (before === undefined || this.groups === undefined) return before !== this.groups;
    for (const [t, g] of this.groups) if (before.get(t) !== g) return true;
    return false;
  }

  /** Re-runs the resolver; if the groups changed, every requested type is recomputed against the new groups. */
  reresolve(): void {
    if (!this.admitted || this.closed) return;
    if (!this.resolveGroups()) return;
    this.host.attach(this);
    for (const [t, st] of this.types) {
      if (!st.requested) continue;
      this.dirty.add(t);
      st.pendingNames = undefined;
    }
    this.flush();
  }

  /** Notes a cache change; returns true if the stream has something to recompute. */
  onCacheChange(change: GroupChange): boolean {
    const st = this.types.get(change.typeUrl);
    if (!st?.requested) return false;
    let relevant = change.becameReady || st.wildcard;
    if (!relevant) {
      for (const n of change.names) {
        if (st.subscribed.has(n)) {
          relevant = true;
          break;
        }
      }
    }
    if (!relevant) return false;
    if (change.becameReady) st.pendingNames = undefined;
    else if (st.pendingNames) for (const n of change.names) st.pendingNames.add(n);
    this.dirty.add(change.typeUrl);
    if (st.pendingSince === undefined || change.since < st.pendingSince) st.pendingSince = change.since;
    return true;
  }

  /**
   * Writes responses for dirty types in ADS order, stopping while the client is not reading.
   * A type whose latest response the proxy has not answered yet stays dirty: at most one
   * response per type is unanswered, so a proxy that falls behind is sent the newest state once
   * it catches up instead of every version in between (what it would discard anyway), and the
   * bytes queued for a slow reader are bounded by its subscriptions, not by the update rate.
   */
  flush(): void {
    if (this.closed || !this.groups) return;
    for (const t of ADS_ORDER) {
      if (this.waitingForDrain) return;
      if (!this.dirty.has(t) || !this.answeredLatest(t)) continue;
      this.dirty.delete(t);
      const bytes = this.respond(t);
      if (bytes) this.write(t, bytes);
    }
  }

  private write(t: TypeUrl, bytes: Buffer): void {
    const st = this.state(t);
    this.responsesWritten++;
    countPush(t);
    if (st.pendingSince !== undefined) {
      pushLatency.observe(t, (performance.now() - st.pendingSince) / 1000);
      st.pendingSince = undefined;
    }
    // No per-write callback: at most one response per type is unanswered, so what a stream has
    // queued is bounded by its types, and the writable's own signal covers a client not reading.
    const ok = this.call.write(bytes);
    if (!ok) {
      this.waitingForDrain = true;
      this.call.once('drain', () => {
        this.waitingForDrain = false;
        this.flush();
      });
    }
  }

  /** Marks the EDS resources of clusters that were just (re)sent to be sent again (Envoy warms EDS clusters on CDS updates). */
  protected noteClustersSent(t: TypeUrl, sent: readonly EncodedResource[]): void {
    if (t !== CLUSTER_TYPE) return;
    const eds = this.types.get(ENDPOINT_TYPE);
    if (!eds?.requested) return;
    for (const c of sent) {
      if (c.edsServiceName !== undefined && (eds.subscribed.has(c.edsServiceName) || eds.wildcard)) {
        eds.forceResend.add(c.edsServiceName);
        this.dirty.add(ENDPOINT_TYPE);
      }
    }
  }

  /** Whether the proxy has answered (ACK or NACK) the latest response of `t` sent on this stream; true when none is outstanding. */
  answeredLatest(t: TypeUrl): boolean {
    const st = this.types.get(t);
    return this.closed || !st || st.lastSentNonce === '' || st.answeredNonce === st.lastSentNonce;
  }

  protected recordAck(t: TypeUrl, st: TypeState, version: string): void {
    st.answeredNonce = st.lastSentNonce;
    st.ackedVersion = version;
    st.ackedAt = Date.now();
    this.host.onAck?.({ nodeId: this.node?.id ?? '', typeUrl: t, version });
  }

  protected recordNack(t: TypeUrl, st: TypeState, code: number, message: string): void {
    // A proxy chooses the message: what is kept and logged is bounded, and a proxy NACKing the
    // same thing in a loop writes one log line per interval, not one per NACK.
    const error = truncateUtf8(message, MAX_NACK_MESSAGE_BYTES);
    st.answeredNonce = st.lastSentNonce;
    st.lastNack = { error, code, version: st.lastSentVersion, nonce: st.lastSentNonce, at: new Date().toISOString() };
    nacksTotal.inc({ type: TYPE_SHORT_NAME[t] });
    const suppressed = nackLogThrottle.admit([this.node?.id ?? '', TYPE_SHORT_NAME[t], error]);
    if (suppressed === undefined) return;
    log.warn(
      { node: this.node?.id, stream: this.id, type: TYPE_SHORT_NAME[t], version: st.lastSentVersion, error, ...(suppressed ? { suppressedSinceLast: suppressed } : {}) },
      'proxy rejected configuration (NACK)',
    );
  }

  /** Ends the stream with a gRPC status and a log line; other streams are unaffected. */
  protected fail(code: grpc.status, details: string): void {
    if (this.closed) return;
    details = truncateUtf8(details, MAX_STATUS_DETAILS);
    log.warn({ node: this.node?.id, stream: this.id, peer: this.peer, code: grpc.status[code], details }, 'xds stream refused');
    streamErrorsTotal.inc({ reason: grpc.status[code] ?? String(code) });
    this.close(false);
    try {
      this.call.emit('error', { code, details, metadata: new grpc.Metadata() });
    } catch {
      /* the call may already be gone */
    }
  }

  /** Returns what the stream holds of process-wide budgets; runs once, when it closes. */
  protected released(): void {}

  /** Forgets the stream; `graceful` ends the call with OK (client half-closed). */
  close(graceful: boolean): void {
    if (this.closed) return;
    this.closed = true;
    this.released();
    if (this.admitted) {
      connectedStreams.dec({ mode: this.mode });
      this.host.detach(this);
      log.info({ node: this.node?.id, stream: this.id }, 'xds stream closed');
    }
    if (graceful) {
      try {
        this.call.end();
      } catch {
        /* already ended */
      }
    }
  }

  /** Status of this stream for /debug/proxies. */
  status(): ProxyStatus {
    const types: Record<string, TypeStatus> = {};
    for (const t of ADS_ORDER) {
      const st = this.types.get(t);
      if (!st?.requested) continue;
      types[TYPE_SHORT_NAME[t]] = {
        subscribed: [...st.subscribed].sort(),
        wildcard: st.wildcard,
        resources: st.sent.size,
        lastSentVersion: st.lastSentVersion,
        lastSentNonce: st.lastSentNonce,
        lastSentAt: iso(st.lastSentAt),
        ackedVersion: st.ackedVersion,
        ackedAt: iso(st.ackedAt),
        lastNack: st.lastNack ?? null,
      };
    }
    const node = this.node;
    return {
      streamId: this.id,
      nodeId: node?.id ?? '',
      role: node ? nodeRole(node) : '',
      cluster: node?.cluster ?? '',
      locality: node?.locality ?? null,
      userAgent: node ? `${node.userAgentName} ${node.userAgentVersion}`.trim() : '',
      peer: this.peer,
      mode: this.mode,
      service: this.service,
      connectedAt: new Date(this.connectedAt).toISOString(),
      identity: this.identity?.id ?? null,
      groups: this.groups ? Object.fromEntries([...this.groups].map(([t, g]) => [TYPE_SHORT_NAME[t], g])) : null,
      resolverError: this.resolveError ?? null,
      blocked: this.waitingForDrain,
      types,
    };
  }

  /** True once the stream is admitted and still open. */
  get active(): boolean {
    return this.admitted && !this.closed;
  }
}

function safePeer(call: grpc.ServerDuplexStream<Buffer, Buffer>): string {
  try {
    return call.getPeer();
  } catch {
    return 'unknown';
  }
}

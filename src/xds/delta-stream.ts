/**
 * Incremental (delta) streams (DeltaAggregatedResources and the per-type Delta* RPCs): per-resource
 * versions, subscribe/unsubscribe, initial_resource_versions on reconnect, removed_resources.
 */
import * as grpc from '@grpc/grpc-js';
import { buildDeltaResponse, decodeDeltaDiscoveryRequest, type DeltaRequest, type EncodedResource } from './codec.js';
import { XdsStream, type DecodedRequest, type TypeState } from './stream.js';
import { isFullStateType, type TypeUrl } from './types.js';
import { log } from '../log.js';

/** initial_resource_versions bytes held by every open delta stream of the process (DEFAULT_STREAM_LIMITS). */
let processInitialBytes = 0;

/** initial_resource_versions bytes currently accounted to open delta streams of this process. */
export function initialVersionBytesInUse(): number {
  return processInitialBytes;
}

/** One delta stream. */
export class DeltaStream extends XdsStream {
  readonly mode = 'delta' as const;
  /** Names declared in initial_resource_versions, over all types (they stay in `sent` until unsubscribed or answered). */
  private initialNames = 0;
  /** Their UTF-8 bytes (names + versions), counted in `processInitialBytes` until the stream closes. */
  private initialBytes = 0;

  protected override released(): void {
    processInitialBytes -= this.initialBytes;
    this.initialBytes = 0;
  }

  /** Names this stream holds: subscriptions over every type plus the names it declared on reconnect. */
  private heldNames(): number {
    let n = this.initialNames;
    for (const st of this.types.values()) n += st.subscribed.size;
    return n;
  }

  /**
   * Refuses (RESOURCE_EXHAUSTED, naming the limit) a request that would take this stream or the
   * process past DEFAULT_STREAM_LIMITS; otherwise accounts its initial_resource_versions. Checked
   * before anything of the request is applied, so a refused request leaves nothing behind.
   */
  private admitGrowth(st: TypeState, req: DeltaRequest): boolean {
    const limits = this.host.limits;
    let added = 0;
    for (const n of req.subscribe) if (n !== '*' && !st.subscribed.has(n)) added++;
    const initial = st.requested ? undefined : req.initialResourceVersions;
    const total = this.heldNames() + added + (initial?.size ?? 0);
    if (total > limits.maxSubscribedNamesPerStream) {
      this.fail(grpc.status.RESOURCE_EXHAUSTED, `subscriptions on this stream would reach ${total} resource names (limit maxSubscribedNamesPerStream = ${limits.maxSubscribedNamesPerStream}); subscribe to fewer names or use a wildcard`);
      return false;
    }
    if (!initial || initial.size === 0) return true;
    let bytes = 0;
    for (const [n, v] of initial) bytes += Buffer.byteLength(n) + Buffer.byteLength(v);
    if (this.initialBytes + bytes > limits.maxInitialVersionBytesPerStream) {
      this.fail(grpc.status.RESOURCE_EXHAUSTED, `initial_resource_versions on this stream would hold ${this.initialBytes + bytes} bytes (limit maxInitialVersionBytesPerStream = ${limits.maxInitialVersionBytesPerStream})`);
      return false;
    }
    if (processInitialBytes + bytes > limits.maxInitialVersionBytesPerProcess) {
      this.fail(grpc.status.RESOURCE_EXHAUSTED, `initial_resource_versions of all delta streams would hold ${processInitialBytes + bytes} bytes (limit maxInitialVersionBytesPerProcess = ${limits.maxInitialVersionBytesPerProcess}); retry later`);
      return false;
    }
    this.initialNames += initial.size;
    this.initialBytes += bytes;
    processInitialBytes += bytes;
    return true;
  }

  protected decode(buf: Buffer): DecodedRequest {
    return decodeDeltaDiscoveryRequest(buf);
  }

  protected process(t: TypeUrl, decoded: DecodedRequest): void {
    const req = decoded as DeltaRequest;
    const bad =
      this.checkNames(req.subscribe, 'resource_names_subscribe') ??
      this.checkNames(req.unsubscribe, 'resource_names_unsubscribe') ??
      this.checkNames([...req.initialResourceVersions.keys()], 'initial_resource_versions');
    if (bad) {
      this.fail(grpc.status.INVALID_ARGUMENT, bad);
      return;
    }
    const st = this.state(t);
    if (!this.admitGrowth(st, req)) return;
    let changed = false;
    if (!st.requested) {
      st.requested = true;
      changed = true;
      for (const [n, v] of req.initialResourceVersions) st.sent.set(n, v);
      // Legacy wildcard: a first LDS/CDS request that names nothing subscribes to everything.
      if (isFullStateType(t) && req.subscribe.length === 0) st.wildcard = true;
    }
    // Subscription changes apply even when the nonce is stale.
    for (const n of req.subscribe) {
      if (n === '*') {
        if (!st.wildcard) {
          changed = true;
          st.pendingNames = undefined;
        }
        st.wildcard = true;
      } else if (!st.subscribed.has(n)) {
        st.subscribed.add(n);
        st.absentNotified.delete(n);
        st.pendingNames?.add(n);
        changed = true;
      }
    }
    for (const n of req.unsubscribe) {
      if (n === '*') st.wildcard = false;
      else st.subscribed.delete(n);
      st.sent.delete(n);
      st.absentNotified.delete(n);
      st.forceResend.delete(n);
    }
    if (req.responseNonce !== '' && st.lastSentNonce !== '') {
      if (req.responseNonce !== st.lastSentNonce) {
        log.debug({ node: this.node?.id, stream: this.id, nonce: req.responseNonce, latest: st.lastSentNonce }, 'stale delta ACK/NACK ignored');
      } else if (req.errorDetail) {
        this.recordNack(t, st, req.errorDetail.code, req.errorDetail.message);
      } else {
        this.recordAck(t, st, st.lastSentVersion);
      }
    }
    if (changed) this.dirty.add(t);
  }

  protected respond(t: TypeUrl): Buffer | null {
    const st = this.types.get(t);
    const group = this.groups?.get(t);
    if (!st?.requested || group === undefined) return null;
    const set = this.host.cache.get(group, t);
    if (isFullStateType(t) && !set.ready) return null;
    const toSend: EncodedResource[] = [];
    const removed: string[] = [];
    const consider = (n: string, explicit: boolean): void => {
      const r = set.resources.get(n);
      if (r) {
        st.absentNotified.delete(n);
        if (st.sent.get(n) !== r.version || st.forceResend.has(n)) toSend.push(r);
      } else if (st.sent.has(n)) {
        removed.push(n);
        st.sent.delete(n);
        if (explicit) st.absentNotified.add(n);
      } else if (explicit && set.ready && !st.absentNotified.has(n)) {
        // Tell the proxy a subscribed name does not exist rather than letting it wait for a timeout.
        removed.push(n);
        st.absentNotified.add(n);
      }
    };
    const pending = st.pendingNames;
    st.pendingNames = new Set();
    if (pending) {
      // Only what changed since the last response: a push costs the change, not the subscription.
      for (const n of pending) if (st.wildcard || st.subscribed.has(n)) consider(n, st.subscribed.has(n));
      for (const n of st.forceResend) if (!pending.has(n) && (st.wildcard || st.subscribed.has(n))) consider(n, st.subscribed.has(n));
    } else if (st.wildcard) {
      for (const n of set.resources.keys()) consider(n, st.subscribed.has(n));
      for (const n of [...st.sent.keys()]) if (!set.resources.has(n)) consider(n, st.subscribed.has(n));
      for (const n of st.subscribed) if (!set.resources.has(n)) consider(n, true);
    } else {
      for (const n of st.subscribed) consider(n, true);
    }
    const firstWildcardAnswer = st.lastSentNonce === '' && st.wildcard;
    if (toSend.length === 0 && removed.length === 0 && !firstWildcardAnswer) return null;
    this.noteClustersSent(t, toSend);
    for (const r of toSend) st.sent.set(r.name, r.version);
    const version = st.sent.digest();
    const nonce = this.nextNonce();
    const bytes = buildDeltaResponse(version, t, nonce, toSend, removed);
    st.lastSentVersion = version;
    st.lastSentNonce = nonce;
    st.lastSentAt = Date.now();
    st.forceResend.clear();
    return bytes;
  }
}

/**
 * Incremental (delta) streams (DeltaAggregatedResources and the per-type Delta* RPCs): per-resource
 * versions, subscribe/unsubscribe, initial_resource_versions on reconnect, removed_resources.
 */
import * as grpc from '@grpc/grpc-js';
import { buildDeltaResponse, decodeDeltaDiscoveryRequest, setVersion, type DeltaRequest, type EncodedResource } from './codec.js';
import { XdsStream, type DecodedRequest } from './stream.js';
import { isFullStateType, type TypeUrl } from './types.js';
import { log } from '../log.js';

/** One delta stream. */
export class DeltaStream extends XdsStream {
  readonly mode = 'delta' as const;

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
        if (!st.wildcard) changed = true;
        st.wildcard = true;
      } else if (!st.subscribed.has(n)) {
        st.subscribed.add(n);
        st.absentNotified.delete(n);
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
    if (st.wildcard) {
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
    const version = setVersion([...st.sent].map(([name, v]) => ({ name, version: v })));
    const nonce = this.nextNonce();
    const bytes = buildDeltaResponse(version, t, nonce, toSend, removed);
    st.lastSentVersion = version;
    st.lastSentNonce = nonce;
    st.lastSentAt = Date.now();
    st.forceResend.clear();
    return bytes;
  }
}

/**
 * State-of-the-world streams (StreamAggregatedResources and the per-type Stream* RPCs): full sets
 * for LDS/CDS, subscribed sets for EDS/RDS/SDS, one version_info and nonce per response.
 */
import * as grpc from '@grpc/grpc-js';
import { decodeDiscoveryRequest, type SotwRequest } from './codec.js';
import { sotwBody, subscriptionKey } from './sotw-body.js';
import { XdsStream, type DecodedRequest, type TypeState } from './stream.js';
import { VersionMap } from './version-map.js';
import { isFullStateType, type TypeUrl } from './types.js';
import { log } from '../log.js';

/** One SotW stream. */
export class SotwStream extends XdsStream {
  readonly mode = 'sotw' as const;

  protected decode(buf: Buffer): DecodedRequest {
    return decodeDiscoveryRequest(buf);
  }

  protected process(t: TypeUrl, decoded: DecodedRequest): void {
    const req = decoded as SotwRequest;
    const bad = this.checkNames(req.resourceNames, 'resource_names');
    if (bad) {
      this.fail(grpc.status.INVALID_ARGUMENT, bad);
      return;
    }
    const st = this.state(t);
    if (st.lastSentNonce !== '') {
      if (req.responseNonce !== st.lastSentNonce) {
        // Stale: the proxy has not seen our latest response for this type yet; it will answer that one.
        log.debug({ node: this.node?.id, stream: this.id, nonce: req.responseNonce, latest: st.lastSentNonce }, 'stale xds request ignored');
        return;
      }
      if (req.errorDetail) this.recordNack(t, st, req.errorDetail.code, req.errorDetail.message);
      else this.recordAck(t, st, req.versionInfo);
    } else if (!st.requested && req.versionInfo !== '') {
      // A reconnecting proxy says what it already has; if that is still current, nothing is re-sent.
      st.clientVersionHint = req.versionInfo;
    }

    const names = req.resourceNames;
    if (st.requested && this.repeats(t, st, names)) return;
    let wildcard = false;
    let explicit: Set<string>;
    if (isFullStateType(t)) {
      if (names.length === 0) {
        wildcard = !st.everNonEmpty;
        explicit = new Set();
      } else {
        st.everNonEmpty = true;
        explicit = new Set(names);
        wildcard = explicit.delete('*');
      }
    } else {
      explicit = new Set(names);
    }
    let added = false;
    for (const n of explicit) {
      if (!st.subscribed.has(n)) {
        added = true;
        break;
      }
    }
    const changed = added || !st.requested || wildcard !== st.wildcard;
    // No name added and as many names as before: the same subscription (every ACK), nothing to redo.
    if (added || explicit.size !== st.subscribed.size) {
      // Unsubscribed names: forget they were sent, so a later resubscription sends them again.
      let held: VersionMap | undefined;
      for (const n of st.subscribed) {
        if (explicit.has(n)) continue;
        if (st.sent.has(n)) (held ??= new VersionMap(st.sent)).delete(n);
        st.forceResend.delete(n);
      }
      if (held) st.sent = held;
      st.subscribed = explicit;
      st.subscriptionKey = subscriptionKey(explicit);
    }
    st.wildcard = wildcard;
    st.requested = true;
    if (changed) this.dirty.add(t);
  }

  /**
   * Whether `names` is the subscription `st` already holds, for the lists decided without building
   * a set (none, or one name): most requests are ACKs repeating such a subscription.
   */
  private repeats(t: TypeUrl, st: TypeState, names: readonly string[]): boolean {
    if (names.length > 1) return false;
    const full = isFullStateType(t);
    if (names.length === 0) return st.subscribed.size === 0 && st.wildcard === (full && !st.everNonEmpty);
    if (full && !st.everNonEmpty) return false;
    const name = names[0]!;
    if (full && name === '*') return st.wildcard && st.subscribed.size === 0;
    return !st.wildcard && st.subscribed.size === 1 && st.subscribed.has(name);
  }

  protected respond(t: TypeUrl): Buffer | null {
    const st = this.types.get(t);
    const group = this.groups?.get(t);
    if (!st?.requested || group === undefined) return null;
    const set = this.host.cache.get(group, t);
    const full = isFullStateType(t);
    // Never answer LDS/CDS (whose absence means deletion) before the group's set was loaded.
    if (full && !set.ready) return null;
    if (!st.wildcard && st.subscribed.size === 0) {
      if (st.sent.size) st.sent = new VersionMap();
      return null;
    }
    const body = sotwBody(set.resources, st.wildcard ? undefined : st.subscribed, st.subscriptionKey);
    const desired = body.resources;
    const version = body.version;
    // The hint is compared once there is something to compare: a named set not filled yet (an SDS
    // group whose certificate is still being issued, say) would be sent nothing anyway, and
    // dropping the hint then would re-send the proxy what it holds the moment the set fills.
    if (st.lastSentNonce === '' && st.clientVersionHint !== undefined && (full || desired.length > 0)) {
      const hint = st.clientVersionHint;
      st.clientVersionHint = undefined;
      if (hint === version && desired.length > 0) {
        st.sent = body.held;
        st.lastSentVersion = version;
        st.ackedVersion = version;
        st.forceResend.clear();
        return null;
      }
    }
    const fresh = st.forceResend.size === 0 ? body.freshAgainst(st.sent) : desired.filter((r) => st.sent.get(r.name) !== r.version || st.forceResend.has(r.name));
    let due = fresh.length > 0;
    if (full) {
      // Full-state types: a removal is a change too, and the first answer is due even if empty,
      // unless the proxy already holds this stream's first answer (its reconnect hint matched:
      // ackedVersion is set without any nonce sent), which must not be re-sent on a later change.
      due ||= desired.length !== st.sent.size || (st.lastSentNonce === '' && st.ackedVersion === '');
    }
    if (!due) return null;
    this.noteClustersSent(t, fresh);
    const nonce = this.nextNonce();
    const bytes = body.response(t, nonce);
    st.sent = body.held;
    st.lastSentVersion = version;
    st.lastSentNonce = nonce;
    st.lastSentAt = Date.now();
    st.forceResend.clear();
    return bytes;
  }
}

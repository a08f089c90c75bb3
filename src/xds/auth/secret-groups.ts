/**
 * The resolver decorator that decides which secrets a stream may see. It keeps whatever the mesh
 * resolver assigns for listeners, routes, clusters and endpoints, and overrides the SDS group:
 *
 * - the stream's authenticated identity owns the node (same cluster, trust domain, namespace and
 *   service account as the node's workload in the current model): that identity's group
 *   (`default` + `ROOTCA`), issued on first use;
 * - authenticated, but the node's workload is not (or no longer) that identity: `ROOTCA` only;
 * - unauthenticated: no secrets at all.
 *
 * It re-checks ownership on every resolution, so a model change (a workload's service account
 * edited) moves the stream off the old identity's secrets at the next `cache.reresolve()`.
 */
import { log } from '../../log.js';
import type { MeshSnapshot } from '../../model/snapshot.js';
import type { GroupResolver, StreamIdentity } from '../cache.js';
import { NO_SECRETS_GROUP, ROOTCA_ONLY_GROUP, type SecretPublisher } from '../secret-publisher.js';
import { SECRET_TYPE } from '../types.js';
import { nodeWorkloadIdentity } from './binding.js';
import { workloadIdentityOf } from './principal.js';

export interface SecretGroupOptions {
  readonly publisher: SecretPublisher;
  /** The current mesh model. */
  readonly mesh: () => MeshSnapshot | undefined;
}

/** Wraps `base` so the SDS group follows the stream's authenticated identity (see the module comment). */
export function withSecretGroups(base: GroupResolver, o: SecretGroupOptions): GroupResolver {
  return (node, identity) => {
    const a = base(node, identity);
    if (a instanceof Error) return a;
    const group = typeof a === 'string' ? a : a.group;
    const byType = typeof a === 'string' ? {} : { ...a.byType };
    byType[SECRET_TYPE] = secretGroupFor(node.id, identity, o);
    return { group, byType };
  };
}

/** The SDS group a stream of `nodeId` with `identity` may read (for resolvers that take a secret-group hook). */
export function secretGroupFor(nodeId: string, identity: StreamIdentity | undefined, o: SecretGroupOptions): string {
  const claimed = workloadIdentityOf(identity);
  if (!claimed) return NO_SECRETS_GROUP;
  const mesh = o.mesh();
  const actual = mesh ? nodeWorkloadIdentity(mesh, nodeId) : undefined;
  const owns =
    actual !== undefined &&
    actual.cluster === claimed.cluster &&
    actual.trustDomain === claimed.trustDomain &&
    actual.namespace === claimed.namespace &&
    actual.serviceAccount === claimed.serviceAccount;
  if (!owns) return ROOTCA_ONLY_GROUP;
  try {
    return o.publisher.groupFor(actual);
  } catch (e) {
    // An identity the CA cannot issue for (invalid name) must not take the stream's other config down.
    log.error({ node: nodeId, err: (e as Error).message }, 'cannot serve a workload certificate to this node');
    return ROOTCA_ONLY_GROUP;
  }
}

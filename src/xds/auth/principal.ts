/**
 * Who an xDS client proved to be (a principal, before binding) and the stream identity it becomes
 * once bound to the node it claims. The stream identity carries the workload identity in its
 * attributes so the secret resolver can serve that identity's certificate and nothing else.
 */
import { spiffeIdOf, type WorkloadIdentity } from '../../ca/identity.js';
import type { StreamIdentity } from '../cache.js';

/** How a client authenticated; `none` = admitted without credentials (development / proxyless mode). */
export type AuthMode = 'token' | 'k8s' | 'cert' | 'none';

/** A verified credential, not yet checked against the node it claims. */
export type Principal =
  /** crossmesh token bound to exactly one node id. */
  | { readonly mode: 'token'; readonly kind: 'node'; readonly nodeId: string; readonly subject: string; readonly expiresAt: Date }
  /** crossmesh token for a service account (shared by replicas). */
  | { readonly mode: 'token'; readonly kind: 'serviceAccount'; readonly cluster: string; readonly namespace: string; readonly serviceAccount: string; readonly subject: string; readonly expiresAt: Date }
  /** Kubernetes service account token, reviewed by the API server of `cluster`. */
  | { readonly mode: 'k8s'; readonly cluster: string; readonly namespace: string; readonly serviceAccount: string; readonly subject: string }
  /** Client certificate from crossmesh's CA: a SPIFFE ID. */
  | { readonly mode: 'cert'; readonly trustDomain: string; readonly namespace: string; readonly serviceAccount: string; readonly subject: string; readonly expiresAt: Date };

/** Stream identity of a client admitted without credentials. */
export const UNAUTHENTICATED_IDENTITY: StreamIdentity = Object.freeze({ id: 'none', attributes: Object.freeze({ mode: 'none' }) });

/**
 * The stream identity of a principal bound to `workload` (the identity of the node it claims).
 * `id` is `<mode>:<SPIFFE ID>` so `/debug/proxies` shows how each stream authenticated.
 */
export function boundIdentity(p: Principal, workload: WorkloadIdentity, nodeId: string): StreamIdentity {
  const spiffe = spiffeIdOf(workload);
  const attributes: Record<string, string> = {
    mode: p.mode,
    subject: p.subject,
    node: nodeId,
    spiffeId: spiffe,
    cluster: workload.cluster,
    trustDomain: workload.trustDomain,
    namespace: workload.namespace,
    serviceAccount: workload.serviceAccount,
  };
  if ('expiresAt' in p) attributes.expiresAt = p.expiresAt.toISOString();
  return { id: `${p.mode}:${spiffe}`, attributes };
}

/** How a stream authenticated, from its identity (`none` when it has none). */
export function authModeOf(identity: StreamIdentity | undefined): AuthMode {
  const m = identity?.attributes?.mode;
  return m === 'token' || m === 'k8s' || m === 'cert' ? m : 'none';
}

/** The workload identity a bound stream identity stands for; undefined for unauthenticated streams. */
export function workloadIdentityOf(identity: StreamIdentity | undefined): WorkloadIdentity | undefined {
  if (authModeOf(identity) === 'none') return undefined;
  const a = identity!.attributes!;
  const { cluster, trustDomain, namespace, serviceAccount } = a;
  if (!cluster || !trustDomain || !namespace || !serviceAccount) return undefined;
  return { cluster, trustDomain, namespace, serviceAccount };
}

/** A short description of a principal for logs (never a credential). */
export function describePrincipal(p: Principal): string {
  switch (p.mode) {
    case 'token':
      return p.kind === 'node' ? `token for node ${p.nodeId}` : `token for service account ${p.cluster}/${p.namespace}/${p.serviceAccount}`;
    case 'k8s':
      return `Kubernetes service account ${p.namespace}/${p.serviceAccount} of cluster ${p.cluster}`;
    case 'cert':
      return `client certificate ${p.subject}`;
  }
}

/** Workload identities the CA issues for, and their SPIFFE IDs. */
import { spiffeId } from '../model/types.js';

/** Who a workload certificate is for: a service account in a member cluster's trust domain. */
export interface WorkloadIdentity {
  /** Member cluster; its intermediate signs the certificate. */
  readonly cluster: string;
  /** The cluster's SPIFFE trust domain (Cluster.trustDomain). */
  readonly trustDomain: string;
  readonly namespace: string;
  readonly serviceAccount: string;
}

// SPIFFE ID spec §2.1/§2.2: trust domains are lowercase; path segments use [A-Za-z0-9._-], never "." or "..".
const TRUST_DOMAIN = /^[a-z0-9._-]{1,255}$/;
const SEGMENT = /^[A-Za-z0-9._-]{1,253}$/;
// Cluster names become directory names in the CA store.
const CLUSTER = /^[A-Za-z0-9][A-Za-z0-9._-]{0,252}$/;

function checkSegment(value: string, field: string): void {
  if (!SEGMENT.test(value) || value === '.' || value === '..') {
    throw new Error(`invalid ${field} "${value}" for a SPIFFE ID: use letters, digits, ".", "-" or "_"`);
  }
}

/** Validates an identity and returns its SPIFFE ID; the error names the offending field. */
export function spiffeIdOf(identity: WorkloadIdentity): string {
  if (!CLUSTER.test(identity.cluster) || identity.cluster.includes('..')) {
    throw new Error(`invalid cluster name "${identity.cluster}": use letters, digits, ".", "-" or "_"`);
  }
  if (!TRUST_DOMAIN.test(identity.trustDomain)) {
    throw new Error(`invalid trust domain "${identity.trustDomain}" of cluster ${identity.cluster}: use lowercase letters, digits, ".", "-" or "_"`);
  }
  checkSegment(identity.namespace, 'namespace');
  checkSegment(identity.serviceAccount, 'service account');
  return spiffeId(identity.trustDomain, identity.namespace, identity.serviceAccount);
}

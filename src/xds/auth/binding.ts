/**
 * Binding: an authenticated principal may only stream as a node whose workload it is. The node id
 * names a workload in the current model; the principal must carry that workload's cluster,
 * namespace and service account (certificates: its cluster's trust domain), or, for a token
 * bound to one node, exactly that node id.
 */
import type { WorkloadIdentity } from '../../ca/identity.js';
import type { MeshSnapshot } from '../../model/snapshot.js';
import type { Principal } from './principal.js';

/** The binding failed: `unknown_node` (no such workload) or `identity_mismatch`. */
export interface BindingFailure {
  readonly reason: 'unknown_node' | 'identity_mismatch';
  readonly message: string;
}

/** The workload identity (cluster, trust domain, namespace, service account) of a node, if the model knows it. */
export function nodeWorkloadIdentity(mesh: MeshSnapshot, nodeId: string): WorkloadIdentity | undefined {
  const w = mesh.workloads.get(nodeId);
  if (!w) return undefined;
  const trustDomain = mesh.clusters.get(w.cluster)?.trustDomain ?? w.cluster;
  return { cluster: w.cluster, trustDomain, namespace: w.namespace, serviceAccount: w.serviceAccount };
}

/** Whether `p` may act as a node with workload identity `w` and id `nodeId`. */
export function principalOwns(p: Principal, w: WorkloadIdentity, nodeId: string): boolean {
  switch (p.mode) {
    case 'token':
      if (p.kind === 'node') return p.nodeId === nodeId;
      return p.cluster === w.cluster && p.namespace === w.namespace && p.serviceAccount === w.serviceAccount;
    case 'k8s':
      return p.cluster === w.cluster && p.namespace === w.namespace && p.serviceAccount === w.serviceAccount;
    case 'cert':
      return p.trustDomain === w.trustDomain && p.namespace === w.namespace && p.serviceAccount === w.serviceAccount;
  }
}

/** Binds `p` to `nodeId`: the node's workload identity, or why the principal may not claim it. */
export function bindPrincipal(p: Principal, nodeId: string, mesh: MeshSnapshot): WorkloadIdentity | BindingFailure {
  const w = nodeWorkloadIdentity(mesh, nodeId);
  if (!w) return { reason: 'unknown_node', message: `node ${nodeId} names no workload in the mesh, so no identity can be bound to it` };
  if (!principalOwns(p, w, nodeId)) {
    return { reason: 'identity_mismatch', message: `node ${nodeId} runs as ${w.cluster}/${w.namespace}/${w.serviceAccount}` };
  }
  return w;
}

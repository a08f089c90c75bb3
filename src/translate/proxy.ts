/**
 * Who a connecting proxy is, in mesh terms: the workload its node id names, where it runs, which
 * identity it holds, and which role it plays. Every per-proxy translator starts from this.
 */
import type { MeshSnapshot } from '../model/snapshot.js';
import { spiffeId, type Cluster, type Gateway, type Locality, type ObjectKey, type Workload } from '../model/types.js';
import { parseNodeId, type ProxyRole } from './bootstrap.js';

/** The proxy as translators see it. */
export interface ProxyContext {
  readonly nodeId: string;
  readonly role: ProxyRole;
  readonly workload: Workload;
  readonly cluster: Cluster;
  readonly network: string;
  readonly locality: Locality;
  /** SPIFFE ID of the workload's service account. */
  readonly identity: string;
  /** Services (keys) whose selector picks this workload: what its inbound side serves. */
  readonly services: readonly ObjectKey[];
  /** For gateway and ingress roles: the Gateway object this workload runs. */
  readonly gateway?: Gateway;
}

const ROLES: readonly ProxyRole[] = ['sidecar', 'gateway', 'ingress', 'proxyless'];

/** Reads the role from node metadata; absent means sidecar. */
export function parseRole(value: unknown): ProxyRole | Error {
  if (value === undefined || value === null || value === '') return 'sidecar';
  if (typeof value === 'string' && (ROLES as readonly string[]).includes(value)) return value as ProxyRole;
  return new Error(`node.metadata.role ${JSON.stringify(value)} is not one of ${ROLES.join(', ')}`);
}

/**
 * Resolves a node id and role against the mesh, or explains why it cannot
 * (malformed id, unknown cluster, no such workload, a gateway role without a Gateway).
 */
export function resolveProxy(snapshot: MeshSnapshot, nodeId: string, role: ProxyRole): ProxyContext | Error {
  let parts: { cluster: string; namespace: string; name: string };
  try {
    parts = parseNodeId(nodeId);
  } catch (err) {
    return err as Error;
  }
  const cluster = snapshot.clusters.get(parts.cluster);
  if (!cluster) {
    const known = [...snapshot.clusters.keys()].sort().join(', ') || 'none';
    return new Error(`node ${nodeId}: cluster "${parts.cluster}" is not in the mesh (known clusters: ${known})`);
  }
  const workload = snapshot.workloads.get(nodeId);
  if (!workload) {
    return new Error(`node ${nodeId}: no workload "${parts.name}" in namespace "${parts.namespace}" of cluster "${parts.cluster}"`);
  }
  // Its peers reach it in plaintext and trust no identity for it: a proxy claiming it gets nothing.
  if (workload.mesh === false) return new Error(`node ${nodeId}: workload "${parts.name}" is outside the mesh (mesh: false) and runs no proxy`);
  let gateway: Gateway | undefined;
  if (role === 'gateway' || role === 'ingress') {
    const wanted = role === 'gateway' ? 'EastWest' : 'Ingress';
    gateway = [...snapshot.gateways.values()].find(
      (g) => g.cluster === workload.cluster && g.namespace === workload.namespace && g.workload === workload.name && g.type === wanted,
    );
    if (!gateway) {
      return new Error(`node ${nodeId}: role "${role}" but no ${wanted} Gateway in ${workload.cluster}/${workload.namespace} names workload "${workload.name}"`);
    }
  }
  return {
    nodeId,
    role,
    workload,
    cluster,
    network: cluster.network,
    locality: workload.locality,
    identity: spiffeId(cluster.trustDomain, workload.namespace, workload.serviceAccount),
    services: snapshot.workloadServices.get(nodeId) ?? [],
    ...(gateway ? { gateway } : {}),
  };
}

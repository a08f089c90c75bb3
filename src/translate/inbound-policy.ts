/**
 * The filters access policy puts in front of a sidecar's inbound traffic. This is the one place
 * AccessPolicy translation (RBAC, principals = SPIFFE IDs) plugs in: the network filters returned
 * here run before tcp_proxy (TCP ports) and the HTTP filters before the router (HTTP ports). The
 * RBAC translation is in rbac.ts (nothing is inserted when the mesh does not enforce access policy).
 */
import type { InboundPort } from './listeners.js';
import type { MeshView } from './mesh-view.js';
import { rbacFilters } from './rbac.js';
import type { Resource } from './resources.js';

/** Filters guarding one inbound port. */
export interface InboundPolicyFilters {
  /** Network filters placed before tcp_proxy (TCP ports) or before the HTTP connection manager. */
  readonly network: readonly Resource[];
  /** HTTP filters placed before the router (HTTP ports only). */
  readonly http: readonly Resource[];
}

/** The policy filters for an inbound port of a workload in `cluster`. */
export function inboundPolicyFilters(view: MeshView, cluster: string, port: InboundPort): InboundPolicyFilters {
  return rbacFilters(view, cluster, port);
}

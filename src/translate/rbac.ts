/**
 * AccessPolicy → Envoy RBAC on a sidecar's inbound filter chains (one chain per service port).
 *
 * When the destination's VirtualMesh has `globalAccessPolicy: ENABLED`, every inbound chain gets an
 * RBAC filter whose action is ALLOW and whose policies are the AccessPolicies selecting that
 * service (and port): a request no policy allows is denied, and a chain no policy selects gets an
 * ALLOW filter with no policies, which denies everything. HTTP/gRPC ports get the HTTP RBAC filter
 * (before the router; `allowedPaths`/`allowedMethods` become permissions), TCP ports the network
 * RBAC filter (before tcp_proxy; a policy that restricts paths or methods cannot allow TCP bytes,
 * as in Istio, and grants nothing there). With enforcement off no filter is added: any caller with
 * a mesh certificate gets in.
 *
 * Principals are SPIFFE IDs of the calling workload. East-west gateways pass TLS through, so the
 * principal is always the original caller, never a gateway; an ingress gateway is an ordinary
 * caller and needs a policy of its own.
 */
import type { AccessPolicy } from '../model/policies.js';
import { policyKey } from '../model/policies.js';
import { isHttp } from './clusters.js';
import type { InboundPolicyFilters } from './inbound-policy.js';
import type { InboundPort } from './listeners.js';
import type { MeshView } from './mesh-view.js';
import { meshOf, principalsFor, selectsService, type ServiceInstance } from './policy-selectors.js';
import type { Resource } from './resources.js';

const T = 'type.googleapis.com/';
export const HTTP_RBAC_NAME = 'envoy.filters.http.rbac';
export const HTTP_RBAC_TYPE = `${T}envoy.extensions.filters.http.rbac.v3.RBAC`;
export const NETWORK_RBAC_NAME = 'envoy.filters.network.rbac';
export const NETWORK_RBAC_TYPE = `${T}envoy.extensions.filters.network.rbac.v3.RBAC`;

/** An `allowedPaths` entry as Istio reads it: `*` any, `/a*` prefix, `*.js` suffix, else exact. */
function pathMatcher(p: string): Resource | undefined {
  if (p === '*') return undefined;
  if (p.endsWith('*')) return { prefix: p.slice(0, -1) };
  if (p.startsWith('*')) return { suffix: p.slice(1) };
  return { exact: p };
}

function anyOf(rules: Resource[]): Resource {
  return rules.length === 1 ? rules[0]! : { or_rules: { rules } };
}

/** The RBAC permission of an AccessPolicy on an HTTP port: its paths and methods (each empty = any). */
export function httpPermission(ap: AccessPolicy): Resource {
  const parts: Resource[] = [];
  const paths = ap.allowedPaths.map(pathMatcher);
  if (paths.length && paths.every((p) => p !== undefined)) parts.push(anyOf(paths.map((path) => ({ url_path: { path } }))));
  if (ap.allowedMethods.length) parts.push(anyOf(ap.allowedMethods.map((m) => ({ header: { name: ':method', string_match: { exact: m } } }))));
  if (parts.length === 0) return { any: true };
  return parts.length === 1 ? parts[0]! : { and_rules: { rules: parts } };
}

/** Whether an AccessPolicy selects a service instance on a port (`allowedPorts` names service or target ports). */
export function accessPolicyApplies(ap: AccessPolicy, svc: ServiceInstance, port: Pick<InboundPort, 'port' | 'targetPort'>): boolean {
  if (ap.allowedPorts.length && !ap.allowedPorts.includes(port.port) && !ap.allowedPorts.includes(port.targetPort)) return false;
  return selectsService(ap.destinationSelector, svc);
}

/** What access policy decides for one inbound port: the RBAC policies and why others were left out. */
export interface InboundAccess {
  /** False when the mesh does not enforce access policy (no RBAC filter at all). */
  readonly enforced: boolean;
  /** RBAC policies by AccessPolicy key (`<ns>/<name>`), sorted by key. */
  readonly policies: ReadonlyMap<string, Resource>;
  /** AccessPolicies that select this port but grant nothing here, with the reason. */
  readonly ignored: readonly { readonly policy: string; readonly reason: string }[];
}

/** Access decision for an inbound port of the workload's service in `cluster` (memoized on the view). */
export function inboundAccess(view: MeshView, cluster: string, p: InboundPort): InboundAccess {
  return view.memo(`rbac|${cluster}|${p.namespace}/${p.service}|${p.port}|${p.targetPort}|${p.protocol}`, () => computeAccess(view, cluster, p));
}

function computeAccess(view: MeshView, cluster: string, p: InboundPort): InboundAccess {
  const mesh = meshOf(view, cluster);
  if (!mesh.enforced) return { enforced: false, policies: new Map(), ignored: [] };
  const svc: ServiceInstance = view.snapshot.services.get(`${cluster}/${p.namespace}/${p.service}`) ?? { name: p.service, namespace: p.namespace, cluster, labels: {} };
  const policies = new Map<string, Resource>();
  const ignored: { policy: string; reason: string }[] = [];
  for (const ap of view.snapshot.policies.accessPolicies) {
    if (!accessPolicyApplies(ap, svc, p)) continue;
    const key = policyKey(ap);
    if (!isHttp(p.protocol) && (ap.allowedPaths.length || ap.allowedMethods.length)) {
      ignored.push({ policy: key, reason: `port ${p.port} is TCP: a policy restricting paths or methods cannot allow TCP traffic` });
      continue;
    }
    const { principals, problems } = principalsFor(view, ap.sourceSelector, mesh.clusters);
    if (principals.length === 0) {
      ignored.push({ policy: key, reason: `no principal: ${problems.join('; ') || 'its source selector names no identity'}` });
      continue;
    }
    // An AccessPolicy's RBAC policy is the same on every port of its kind it selects: one frozen object, checked and encoded once.
    const http = isHttp(p.protocol);
    policies.set(key, view.memoOn(ap, `rbac-policy|${cluster}|${http}`, () => Object.freeze({ permissions: [http ? httpPermission(ap) : { any: true }], principals })));
  }
  return { enforced: true, policies: new Map([...policies].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))), ignored };
}

/**
 * Whether an RBAC policy built by `inboundAccess` admits a caller: one of its principals matches
 * the caller's SPIFFE ID as Envoy matches `authenticated.principal_name` (exact or prefix).
 */
export function rbacPolicyAdmits(policy: Resource, spiffeId: string): boolean {
  const principals = (policy.principals ?? []) as readonly Resource[];
  return principals.some((p) => {
    const m = (p.authenticated as Resource | undefined)?.principal_name as { exact?: string; prefix?: string } | undefined;
    if (!m) return false;
    return m.exact !== undefined ? m.exact === spiffeId : m.prefix !== undefined && spiffeId.startsWith(m.prefix);
  });
}

/** The RBAC filters of one inbound port (none when the mesh does not enforce access policy). */
export function rbacFilters(view: MeshView, cluster: string, p: InboundPort): InboundPolicyFilters {
  const access = inboundAccess(view, cluster, p);
  if (!access.enforced) return { network: [], http: [] };
  const rules = { action: 'ALLOW', policies: Object.fromEntries(access.policies) };
  if (isHttp(p.protocol)) return { network: [], http: [{ name: HTTP_RBAC_NAME, typed_config: { '@type': HTTP_RBAC_TYPE, rules } }] };
  return { network: [{ name: NETWORK_RBAC_NAME, typed_config: { '@type': NETWORK_RBAC_TYPE, stat_prefix: `rbac_inbound_${p.port}_${p.service}.${p.namespace}`, rules } }], http: [] };
}

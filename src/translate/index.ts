/**
 * Translation entry points: a proxy (resolved from its node id) and a mesh snapshot in, the
 * proxy's clusters, endpoints, listeners and routes out. Pure and deterministic: the same snapshot
 * and proxy give byte-identical resources (every map and list is sorted).
 *
 * Roles plug in through `ROLE_TRANSLATORS`; a role without an entry is not served yet.
 */
import type { MeshSnapshot } from '../model/snapshot.js';
import type { ProxyRole } from './bootstrap.js';
import { gatewayTranslator } from './gateway-resources.js';
import { MeshView } from './mesh-view.js';
import type { OutboundTarget } from './mesh-view.js';
import type { ProxyContext } from './proxy.js';
import { byName, type ProxyResources, type Resource } from './resources.js';
import type { EndpointScope, RoleTranslator } from './scopes.js';
import { sidecarTranslator } from './sidecar.js';
import { proxylessTranslator } from './proxyless.js';
import { ingressTranslator } from './ingress.js';
import type { SubsetNeed } from './subsets.js';

/** Translators by role (ingress and proxyless are added by their own translators). */
export const ROLE_TRANSLATORS: Partial<Record<ProxyRole, RoleTranslator>> = {
  sidecar: sidecarTranslator,
  gateway: gatewayTranslator,
  proxyless: proxylessTranslator,
  ingress: ingressTranslator,
};

/** The translator of a role, or an Error saying the role is not served. */
export function translatorFor(role: ProxyRole): RoleTranslator | Error {
  return ROLE_TRANSLATORS[role] ?? new Error(`role "${role}" is not translated yet (served roles: ${Object.keys(ROLE_TRANSLATORS).sort().join(', ')})`);
}

export interface TranslateOptions {
  /** Subsets policies need (default: computed from the snapshot's policies). */
  readonly subsets?: readonly SubsetNeed[];
  /** A view of the same snapshot to share derived data with (the publisher passes its own). */
  readonly view?: MeshView;
}

/** Every resource of one proxy, each kind a name → resource map sorted by name; throws for a role that is not translated. */
export function translateProxy(snapshot: MeshSnapshot, proxy: ProxyContext, options: TranslateOptions = {}): ProxyResources {
  const t = translatorFor(proxy.role);
  if (t instanceof Error) throw t;
  const view = options.view ?? new MeshView(snapshot, options.subsets ? { subsets: options.subsets } : {});
  const s = t.scopes(view, proxy);
  return {
    clusters: t.build(view, s.clusters),
    endpoints: t.build(view, s.endpoints),
    listeners: t.build(view, s.listeners),
    routes: t.build(view, s.routes),
  };
}

/**
 * Memo keys of scopes' targets-by-service maps, built once per scope object. A scope is immutable
 * and lives as long as its group; building (and hashing) the key, which holds the policy's whole
 * services key, on every endpoint change for every group was most of that change's cost at
 * 10,000 sidecars. A cache of a pure function of its key, so translate stays deterministic.
 */
const targetsKeys = new WeakMap<EndpointScope, string>();

function targetsByServiceKey(scope: EndpointScope): string {
  let key = targetsKeys.get(scope);
  if (key === undefined) {
    key = `targets-by-service|${scope.role}|${scope.cluster}|${scope.gateway ?? ''}|${scope.policy?.servicesKey ?? ''}`;
    targetsKeys.set(scope, key);
  }
  return key;
}

/**
 * Rebuilds, for one EDS scope, the assignments of the global services (`<ns>/<name>`) whose
 * endpoints changed; names of other services are not touched.
 */
export function rebuildAssignments(view: MeshView, translator: RoleTranslator, scope: EndpointScope, globalKeys: ReadonlySet<string>): Map<string, Resource> {
  const byService = view.memoTargets(targetsByServiceKey(scope), () => {
    const m = new Map<string, OutboundTarget[]>();
    for (const t of translator.targets(view, scope)) {
      let l = m.get(t.globalKey);
      if (!l) m.set(t.globalKey, (l = []));
      l.push(t);
    }
    return m;
  });
  const targets = [...globalKeys].flatMap((gk) => byService.get(gk) ?? []);
  // Most groups of a large mesh do not depend on the changed service: nothing to build.
  if (targets.length === 0) return new Map();
  // East-west gateways and proxyless clients are never given endpoints outside the mesh (mesh-view.ts).
  const assignment = scope.role === 'gateway' || scope.role === 'proxyless' ? view.meshEndpointsAssignment.bind(view) : view.assignment.bind(view);
  return byName('endpoints', targets.map((t) => assignment(t, scope.placement) as unknown as Resource));
}

export { MeshView } from './mesh-view.js';
export type { OutboundTarget } from './mesh-view.js';
export type { ProxyResources, Resource, ResourceKind, ResourceMap } from './resources.js';
export type { ProxyScopes, Scope, RoleTranslator } from './scopes.js';
export { subsetsFromPolicies, subsetName, type SubsetNeed } from './subsets.js';
export { resolveProxy, type ProxyContext } from './proxy.js';

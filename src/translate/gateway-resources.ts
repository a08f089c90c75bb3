/**
 * The east-west gateway role: for every service port its cluster exports (and the subsets policies
 * need), a plain-TCP EDS cluster with this cluster's endpoints only, and the SNI-passthrough
 * listener on the Gateway's port with one chain per exported service/port/subset.
 */
import { buildEastWestListener } from './gateway.js';
import { gatewayCluster } from './clusters.js';
import type { MeshView } from './mesh-view.js';
import type { ProxyContext } from './proxy.js';
import { byName, type Resource } from './resources.js';
import { endpointScope, scopeKey, type ProxyScopes, type RoleTranslator, type Scope } from './scopes.js';

function build(view: MeshView, scope: Scope): Map<string, Resource> {
  const targets = view.gatewayTargets(scope.cluster);
  switch (scope.kind) {
    case 'clusters':
      return byName('clusters', targets.map(gatewayCluster));
    case 'endpoints':
      return byName('endpoints', targets.map((t) => view.meshEndpointsAssignment(t, scope.placement) as unknown as Resource));
    case 'routes':
      return new Map();
    case 'listeners': {
      // Envoy rejects a listener without filter chains; a gateway exporting nothing has no listener.
      if (targets.length === 0 || scope.port === undefined) return new Map();
      const exported = targets.map((t) => ({ name: t.service, namespace: t.namespace, port: t.port, subset: t.subset }));
      return byName('listeners', [buildEastWestListener(scope.cluster, scope.port, exported)]);
    }
  }
}

function scopes(_view: MeshView, proxy: ProxyContext): ProxyScopes {
  const cluster = proxy.cluster.name;
  const port = proxy.gateway?.port;
  return {
    clusters: { kind: 'clusters', role: 'gateway', cluster, inbound: [], key: scopeKey('clusters', 'gateway', cluster, '') },
    endpoints: endpointScope(proxy),
    listeners: { kind: 'listeners', role: 'gateway', cluster, inbound: [], ...(port !== undefined ? { port } : {}), key: scopeKey('listeners', 'gateway', cluster, String(port ?? '')) },
    routes: { kind: 'routes', role: 'gateway', cluster, namespace: '', key: scopeKey('routes', 'gateway', '', '') },
  };
}

/** The east-west gateway role. */
export const gatewayTranslator: RoleTranslator = {
  role: 'gateway',
  scopes,
  build,
  targets: (view, scope) => view.gatewayTargets(scope.cluster),
  // Gateway clusters carry no upstream identities: nothing to rebuild when identities change.
  rebuildClusters: () => new Map(),
};

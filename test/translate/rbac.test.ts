/**
 * AccessPolicy → RBAC on the right inbound chains: the seed's AuthorizationPolicies (slides 35-48)
 * as Envoy HTTP RBAC with SPIFFE principals, deny-all where nothing allows, nothing at all when the
 * mesh does not enforce, network RBAC on TCP ports, paths/methods/ports, and the status report.
 */
import { describe, expect, it } from 'vitest';
import type { AccessPolicy } from '../../src/model/policies.js';
import type { MeshSnapshot } from '../../src/model/snapshot.js';
import type { ModelStore } from '../../src/model/store.js';
import { MeshView, resolveProxy, translateProxy, type ProxyResources } from '../../src/translate/index.js';
import { policiesReport } from '../../src/translate/policy-status.js';
import { guardResources } from '../../src/translate/semantics.js';
import { seedFile, seedStore } from './policy-seed-mesh.js';

type Obj = Record<string, any>;

function translate(snap: MeshSnapshot, node: string): ProxyResources {
  const p = resolveProxy(snap, node, 'sidecar');
  if (p instanceof Error) throw p;
  const r = translateProxy(snap, p);
  expect(guardResources(r).rejected).toEqual([]);
  return r;
}

function chain(r: ProxyResources, name: string): Obj {
  const c = (r.listeners.get('virtualInbound') as Obj).filter_chains.find((x: Obj) => x.name === name);
  expect(c, name).toBeDefined();
  return c;
}

function httpRbac(c: Obj): Obj | undefined {
  const hcm = c.filters.at(-1).typed_config;
  const names = hcm.http_filters.map((f: Obj) => f.name);
  const i = names.indexOf('envoy.filters.http.rbac');
  if (i < 0) return undefined;
  expect(names.at(-1)).toBe('envoy.filters.http.router');
  return hcm.http_filters[i].typed_config.rules;
}

const exact = (id: string) => ({ authenticated: { principal_name: { exact: id } } });
const SEED = ['01-virtual-mesh.yaml', '02-access-ingress-gateway.yaml', '03-access-productpage.yaml', '06-access-reviews-two-clusters.yaml'].map(seedFile);

describe('seed 000 access policies (globalAccessPolicy ENABLED)', () => {
  it('productpage admits only the ingress gateway (slide 35); reviews and details only productpage (slide 37)', async () => {
    const { store } = await seedStore(SEED);
    const snap = store.current;
    expect(httpRbac(chain(translate(snap, 'kind2/default/productpage-v1-0'), 'inbound|9080|productpage.default'))).toEqual({
      action: 'ALLOW',
      policies: { 'service-mesh-hub/istio-ingressgateway': { permissions: [{ any: true }], principals: [exact('spiffe://kind2/ns/istio-system/sa/istio-ingressgateway-service-account')] } },
    });
    for (const [node, c] of [['kind2/default/reviews-v1-0', 'inbound|9080|reviews.default'], ['kind3/default/reviews-v3-0', 'inbound|9080|reviews.default'], ['kind2/default/details-v1-0', 'inbound|9080|details.default']] as const) {
      expect(httpRbac(chain(translate(snap, node), c)), node).toEqual({
        action: 'ALLOW',
        policies: { 'service-mesh-hub/productpage': { permissions: [{ any: true }], principals: [exact('spiffe://kind2/ns/default/sa/bookinfo-productpage')] } },
      });
    }
  });

  it('ratings in both clusters admits reviews of kind2 and kind3 (slide 48), not the east-west gateway', async () => {
    const { store } = await seedStore(SEED);
    for (const node of ['kind2/default/ratings-v1-0', 'kind3/default/ratings-v1-0']) {
      const rules = httpRbac(chain(translate(store.current, node), 'inbound|9080|ratings.default'))!;
      expect(rules.policies['service-mesh-hub/reviews'].principals).toEqual([exact('spiffe://kind2/ns/default/sa/bookinfo-reviews'), exact('spiffe://kind3/ns/default/sa/bookinfo-reviews')]);
      expect(JSON.stringify(rules)).not.toContain('eastwestgateway');
    }
  });

  it('a service no policy selects gets an ALLOW filter with no policies (deny all); disabled enforcement adds no filter', async () => {
    const { store } = await seedStore(SEED.filter((f) => !f.includes('02-')));
    expect(httpRbac(chain(translate(store.current, 'kind2/default/productpage-v1-0'), 'inbound|9080|productpage.default'))).toEqual({ action: 'ALLOW', policies: {} });
    setMesh(store, 'DISABLED');
    expect(httpRbac(chain(translate(store.current, 'kind2/default/reviews-v1-0'), 'inbound|9080|reviews.default'))).toBeUndefined();
  });
});

function setMesh(store: ModelStore, mode: 'ENABLED' | 'DISABLED', accessPolicies?: AccessPolicy[]): void {
  const s = store.current;
  const virtualMeshes = s.policies.virtualMeshes.map((vm) => ({ ...vm, globalAccessPolicy: mode }));
  store.applyDeclarations({ clusters: [...s.clusters.values()], gateways: [...s.gateways.values()], policies: { ...s.policies, virtualMeshes, ...(accessPolicies ? { accessPolicies } : {}) } });
}

function ap(name: string, spec: Partial<AccessPolicy>): AccessPolicy {
  return { name, namespace: 'team', sourceSelector: [], destinationSelector: [], allowedPaths: [], allowedMethods: [], allowedPorts: [], ...spec };
}

describe('RBAC shapes', () => {
  it('paths and methods become permissions; no clusterName means every mesh cluster; matchers become SPIFFE prefixes; ports filter', async () => {
    const { store } = await seedStore([seedFile('01-virtual-mesh.yaml')]);
    setMesh(store, 'ENABLED', [
      ap('get-ratings', { sourceSelector: [{ kind: 'serviceAccounts', serviceAccounts: [{ name: 'bookinfo-reviews', namespace: 'default' }] }], destinationSelector: [{ kind: 'refs', services: [{ name: 'ratings', namespace: 'default' }] }], allowedPaths: ['/ratings*', '/health'], allowedMethods: ['GET', 'HEAD'] }),
      ap('ns-istio-system', { sourceSelector: [{ kind: 'matcher', namespaces: ['istio-system'], clusters: ['kind2'] }], destinationSelector: [{ kind: 'matcher', labels: { service: 'ratings' }, namespaces: [], clusters: [] }] }),
      ap('wrong-port', { destinationSelector: [{ kind: 'refs', services: [{ name: 'ratings', namespace: 'default' }] }], allowedPorts: [1234] }),
    ]);
    const rules = httpRbac(chain(translate(store.current, 'kind3/default/ratings-v1-0'), 'inbound|9080|ratings.default'))!;
    expect(Object.keys(rules.policies)).toEqual(['team/get-ratings', 'team/ns-istio-system']);
    expect(rules.policies['team/get-ratings']).toEqual({
      permissions: [{ and_rules: { rules: [
        { or_rules: { rules: [{ url_path: { path: { prefix: '/ratings' } } }, { url_path: { path: { exact: '/health' } } }] } },
        { or_rules: { rules: [{ header: { name: ':method', string_match: { exact: 'GET' } } }, { header: { name: ':method', string_match: { exact: 'HEAD' } } }] } },
      ] } }],
      principals: [exact('spiffe://kind2/ns/default/sa/bookinfo-reviews'), exact('spiffe://kind3/ns/default/sa/bookinfo-reviews')],
    });
    expect(rules.policies['team/ns-istio-system'].principals).toEqual([{ authenticated: { principal_name: { prefix: 'spiffe://kind2/ns/istio-system/sa/' } } }]);
  });

  it('a TCP port gets network RBAC before tcp_proxy; a policy restricting paths grants nothing there and says why', async () => {
    const { store } = await seedStore([seedFile('01-virtual-mesh.yaml')]);
    const db = { name: 'db', namespace: 'default', cluster: 'kind2', ports: [{ name: 'tcp', port: 5432, targetPort: 5432, protocol: 'TCP' as const }], selector: { app: 'db' }, labels: { app: 'db' } };
    store.applyEvents([
      { kind: 'upsertService', service: db },
      { kind: 'upsertWorkload', workload: { name: 'db-0', namespace: 'default', cluster: 'kind2', address: '127.0.2.30', labels: { app: 'db' }, serviceAccount: 'db', locality: { region: 'us-east', zone: 'us-east-1a', subzone: '' }, health: 'HEALTHY' } },
    ]);
    const toDb = { kind: 'refs' as const, services: [{ name: 'db', namespace: 'default' }] };
    setMesh(store, 'ENABLED', [
      ap('db-clients', { sourceSelector: [{ kind: 'serviceAccounts', serviceAccounts: [{ name: 'bookinfo-ratings', namespace: 'default', cluster: 'kind2' }] }], destinationSelector: [toDb] }),
      ap('db-paths', { destinationSelector: [toDb], allowedPaths: ['/x'] }),
    ]);
    const c = chain(translate(store.current, 'kind2/default/db-0'), 'inbound|5432|db.default');
    expect(c.filters.map((f: Obj) => f.name)).toEqual(['envoy.filters.network.rbac', 'envoy.filters.network.tcp_proxy']);
    expect(c.filters[0].typed_config).toEqual({
      '@type': 'type.googleapis.com/envoy.extensions.filters.network.rbac.v3.RBAC',
      stat_prefix: 'rbac_inbound_5432_db.default',
      rules: { action: 'ALLOW', policies: { 'team/db-clients': { permissions: [{ any: true }], principals: [exact('spiffe://kind2/ns/default/sa/bookinfo-ratings')] } } },
    });
    const report = policiesReport(new MeshView(store.current), []);
    const paths = report.policies.find((p) => p.policy === 'team/db-paths')!;
    expect(paths.resources).toEqual([]);
    expect(paths.problems.join()).toMatch(/TCP/);
    expect(report.policies.find((p) => p.policy === 'team/db-clients')!.resources).toEqual(['lds virtualInbound inbound|5432|db.default (workloads of kind2/default/db)']);
  });
});

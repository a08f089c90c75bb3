/**
 * Policy selectors evaluated against the mesh: which service instances a destination selector
 * picks, which workloads a TrafficPolicy source selector picks, which identities an AccessPolicy
 * source selector picks, and the Envoy RBAC principals those identities become. Shared by the
 * TrafficPolicy, AccessPolicy, scoping and status translators so they agree on every decision.
 */
import type { IdentitySelector, ServiceSelector, WorkloadSelector } from '../model/policies.js';
import { subsetMatches } from '../model/snapshot.js';
import type { Service, Workload } from '../model/types.js';
import type { MeshView } from './mesh-view.js';
import type { Resource } from './resources.js';

/** A service in one cluster, as selectors see it (may stand for a cluster that does not run it). */
export interface ServiceInstance {
  readonly name: string;
  readonly namespace: string;
  readonly cluster: string;
  readonly labels: Readonly<Record<string, string>>;
}

/** An identity (service account in a cluster), as AccessPolicy source selectors see it. */
export interface IdentityInstance {
  readonly cluster: string;
  readonly namespace: string;
  readonly serviceAccount: string;
}

/** Whether one destination selector picks a service instance. */
export function selectorPicksService(s: ServiceSelector, svc: ServiceInstance): boolean {
  if (s.kind === 'refs') return s.services.some((r) => r.name === svc.name && r.namespace === svc.namespace && (r.cluster === undefined || r.cluster === svc.cluster));
  if (s.namespaces.length && !s.namespaces.includes(svc.namespace)) return false;
  if (s.clusters.length && !s.clusters.includes(svc.cluster)) return false;
  return subsetMatches(s.labels, svc.labels);
}

/** Whether a destination selector list picks a service instance (an empty list picks every service). */
export function selectsService(selectors: readonly ServiceSelector[], svc: ServiceInstance): boolean {
  return selectors.length === 0 || selectors.some((s) => selectorPicksService(s, svc));
}

/** Whether a source workload selector list picks a workload (an empty list picks every workload). */
export function selectsWorkload(selectors: readonly WorkloadSelector[], w: Pick<Workload, 'labels' | 'namespace' | 'cluster'>): boolean {
  if (selectors.length === 0) return true;
  return selectors.some(
    (s) => (s.namespaces.length === 0 || s.namespaces.includes(w.namespace)) && (s.clusters.length === 0 || s.clusters.includes(w.cluster)) && subsetMatches(s.labels, w.labels),
  );
}

/** Whether an identity selector list picks an identity (an empty list picks every identity). */
export function selectsIdentity(selectors: readonly IdentitySelector[], id: IdentityInstance): boolean {
  if (selectors.length === 0) return true;
  return selectors.some((s) =>
    s.kind === 'serviceAccounts'
      ? s.serviceAccounts.some((a) => a.name === id.serviceAccount && a.namespace === id.namespace && (a.cluster === undefined || a.cluster === id.cluster))
      : (s.namespaces.length === 0 || s.namespaces.includes(id.namespace)) && (s.clusters.length === 0 || s.clusters.includes(id.cluster)),
  );
}

/**
 * The instance a host stands for, as seen from a proxy in `proxyCluster`: a `.global` host is the
 * service in its cluster; the mesh-wide name is the service in the proxy's own cluster (as Service
 * Mesh Hub's VirtualService in that cluster was). A cluster that does not run the service gets an
 * instance with the labels of the first cluster that does, so label matchers still apply.
 */
export function instanceFor(view: MeshView, globalKey: string, cluster: string): ServiceInstance | undefined {
  const gs = view.snapshot.globalServices.get(globalKey);
  if (!gs) return undefined;
  const own: Service | undefined = view.snapshot.services.get(`${cluster}/${gs.namespace}/${gs.name}`);
  if (own) return own;
  const any = view.snapshot.services.get(gs.services[0] ?? '');
  return { name: gs.name, namespace: gs.namespace, cluster, labels: any?.labels ?? {} };
}

/** A StringMatcher for an exact SPIFFE ID or an ID prefix. */
function principal(match: { exact: string } | { prefix: string }): Resource {
  return { authenticated: { principal_name: match } };
}

/** Result of turning identity selectors into RBAC principals. */
export interface Principals {
  /** Envoy `Principal`s, sorted and de-duplicated. */
  readonly principals: readonly Resource[];
  /** References that could not become a principal (a cluster the mesh does not have). */
  readonly problems: readonly string[];
}

/**
 * RBAC principals for identity selectors, on a destination whose mesh spans `meshClusters`: a
 * service account names `spiffe://<trust domain>/ns/<ns>/sa/<name>` exactly (no cluster: one per
 * mesh cluster); a namespace/cluster matcher becomes SPIFFE ID prefixes. Empty selectors: every
 * identity of the mesh's trust domains.
 */
export function principalsFor(view: MeshView, selectors: readonly IdentitySelector[], meshClusters: readonly string[]): Principals {
  const out = new Map<string, Resource>();
  const problems: string[] = [];
  const td = (c: string) => view.snapshot.clusters.get(c)?.trustDomain;
  const add = (m: { exact: string } | { prefix: string }) => out.set(JSON.stringify(m), principal(m));
  const domains = (clusters: readonly string[]) => {
    const list: string[] = [];
    for (const c of clusters) {
      const d = td(c);
      if (d === undefined) problems.push(`cluster "${c}" is not in the mesh`);
      else list.push(d);
    }
    return [...new Set(list)];
  };
  if (selectors.length === 0) for (const d of domains(meshClusters)) add({ prefix: `spiffe://${d}/` });
  for (const s of selectors) {
    if (s.kind === 'serviceAccounts') {
      for (const a of s.serviceAccounts) for (const d of domains(a.cluster !== undefined ? [a.cluster] : meshClusters)) add({ exact: `spiffe://${d}/ns/${a.namespace}/sa/${a.name}` });
    } else {
      for (const d of domains(s.clusters.length ? s.clusters : meshClusters)) {
        if (s.namespaces.length === 0) add({ prefix: `spiffe://${d}/` });
        else for (const ns of s.namespaces) add({ prefix: `spiffe://${d}/ns/${ns}/sa/` });
      }
    }
  }
  const principals = [...out.entries()].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)).map(([, p]) => p);
  return { principals, problems: [...new Set(problems)].sort() };
}

/** The VirtualMesh a cluster belongs to (the first by key, as visibility does), if any. */
export function meshOf(view: MeshView, cluster: string): { readonly enforced: boolean; readonly clusters: readonly string[]; readonly name?: string } {
  const vm = view.snapshot.policies.virtualMeshes.find((m) => m.meshes.some((x) => x.name === cluster));
  return { enforced: vm?.globalAccessPolicy === 'ENABLED', clusters: view.visibleClusters(cluster), ...(vm ? { name: `${vm.namespace}/${vm.name}` } : {}) };
}

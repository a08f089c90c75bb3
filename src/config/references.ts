/**
 * Cross-reference checks: policies and topology objects naming clusters, services, subsets,
 * workloads or failover services that do not exist. These are warnings, never errors: a policy
 * may name a service that a cluster's discovery has not reported yet.
 */
import { policyKey, type MeshPolicies, type ServiceSelector } from '../model/policies.js';
import { objectKey, type Cluster, type Gateway, type Service, type Workload } from '../model/types.js';
import { selectorMatches, subsetMatches } from '../model/snapshot.js';

/** What the checks look at: declared (or discovered) objects. */
export interface ReferenceView {
  readonly clusters: ReadonlyMap<string, Cluster>;
  readonly services: readonly Service[];
  readonly workloads: readonly Workload[];
  readonly gateways: readonly Gateway[];
  readonly policies: MeshPolicies;
  /**
   * Whether this cluster's services and workloads are all in the view. False for clusters whose
   * objects come from Kubernetes when checking files alone: absence there proves nothing.
   */
  complete(cluster: string): boolean;
}

export interface ReferenceWarning {
  readonly kind: string;
  /** Object key as used in MeshConfig.origins. */
  readonly key: string;
  readonly name: string;
  readonly path: readonly (string | number)[];
  readonly message: string;
}

/** Runs every cross-reference check; results are in a stable order. */
export function checkReferences(view: ReferenceView): ReferenceWarning[] {
  const out: ReferenceWarning[] = [];
  const servicesByKey = new Map(view.services.map((s) => [objectKey(s), s]));
  const servicesByName = new Map<string, Service[]>();
  for (const s of view.services) {
    const k = `${s.namespace}/${s.name}`;
    const list = servicesByName.get(k) ?? [];
    list.push(s);
    servicesByName.set(k, list);
  }
  const workloadsByScope = new Map<string, Workload[]>();
  const workloadKeys = new Set<string>();
  const serviceAccounts = new Set<string>();
  for (const w of view.workloads) {
    const scope = `${w.cluster}/${w.namespace}`;
    const list = workloadsByScope.get(scope) ?? [];
    list.push(w);
    workloadsByScope.set(scope, list);
    workloadKeys.add(objectKey(w));
    serviceAccounts.add(`${w.cluster}/${w.namespace}/${w.serviceAccount}`);
  }
  const selected = (s: Service) => (workloadsByScope.get(`${s.cluster}/${s.namespace}`) ?? []).filter((w) => selectorMatches(s.selector, w.labels));

  const clusterExists = (c: string) => view.clusters.has(c);
  const networks = new Set([...view.clusters.values()].map((c) => c.network));

  // Topology objects.
  for (const c of [...view.clusters.values()].sort((a, b) => (a.name < b.name ? -1 : 1))) {
    if (!c.gateway && networks.size > 1) {
      const others = [...networks].filter((n) => n !== c.network).sort();
      out.push({ kind: 'Cluster', key: c.name, name: c.name, path: ['spec'], message: `no gateway address: workloads in network${others.length > 1 ? 's' : ''} ${others.join(', ')} cannot reach its endpoints` });
    }
  }
  for (const s of view.services) {
    const key = objectKey(s);
    if (!clusterExists(s.cluster)) out.push({ kind: 'Service', key, name: s.name, path: ['metadata', 'cluster'], message: `no Cluster "${s.cluster}"; this service is ignored` });
    else if (view.clusters.get(s.cluster)!.discovery?.kubernetes) {
      out.push({ kind: 'Service', key, name: s.name, path: ['metadata', 'cluster'], message: `cluster "${s.cluster}" is discovered from Kubernetes; this declaration is ignored` });
    } else if (Object.keys(s.selector).length === 0) out.push({ kind: 'Service', key, name: s.name, path: ['spec', 'selector'], message: 'no selector: the service has no endpoints' });
    else if (view.complete(s.cluster) && selected(s).length === 0) out.push({ kind: 'Service', key, name: s.name, path: ['spec', 'selector'], message: `selects no workloads in ${s.cluster}/${s.namespace}` });
  }
  for (const w of view.workloads) {
    const key = objectKey(w);
    if (!clusterExists(w.cluster)) out.push({ kind: 'Workload', key, name: w.name, path: ['metadata', 'cluster'], message: `no Cluster "${w.cluster}"; this workload is ignored` });
    else if (view.clusters.get(w.cluster)!.discovery?.kubernetes) {
      out.push({ kind: 'Workload', key, name: w.name, path: ['metadata', 'cluster'], message: `cluster "${w.cluster}" is discovered from Kubernetes; this declaration is ignored` });
    }
  }
  for (const g of view.gateways) {
    const key = objectKey(g);
    if (!clusterExists(g.cluster)) {
      out.push({ kind: 'Gateway', key, name: g.name, path: ['metadata', 'cluster'], message: `no Cluster "${g.cluster}"` });
      continue;
    }
    if (view.complete(g.cluster) && !workloadKeys.has(objectKey({ cluster: g.cluster, namespace: g.namespace, name: g.workload }))) {
      out.push({ kind: 'Gateway', key, name: g.name, path: ['spec', 'workload'], message: `no Workload "${g.workload}" in ${g.cluster}/${g.namespace}` });
    }
    g.routes?.forEach((r, i) => {
      // No cluster on a route means the service wherever it runs (the global service).
      checkService(out, 'Gateway', key, g.name, ['spec', 'routes', i, 'service'], r.service, r.service.port, 'cluster');
    });
  }

  function checkService(
    sink: ReferenceWarning[],
    kind: string,
    key: string,
    name: string,
    path: (string | number)[],
    ref: { name: string; namespace: string; cluster?: string | undefined },
    port?: number,
    clusterField = 'clusterName',
  ): Service[] {
    if (ref.cluster !== undefined) {
      if (!clusterExists(ref.cluster)) {
        sink.push({ kind, key, name, path: [...path, clusterField], message: `no Cluster "${ref.cluster}"` });
        return [];
      }
      const s = servicesByKey.get(objectKey({ cluster: ref.cluster, namespace: ref.namespace, name: ref.name }));
      if (!s) {
        if (view.complete(ref.cluster)) sink.push({ kind, key, name, path, message: `no Service ${ref.namespace}/${ref.name} in cluster ${ref.cluster}` });
        return [];
      }
      if (port !== undefined && !s.ports.some((p) => p.port === port)) sink.push({ kind, key, name, path: [...path, 'port'], message: `Service ${objectKey(s)} has no port ${port}` });
      return [s];
    }
    const found = servicesByName.get(`${ref.namespace}/${ref.name}`) ?? [];
    const anyIncomplete = [...view.clusters.keys()].some((c) => !view.complete(c));
    if (found.length === 0 && !anyIncomplete) sink.push({ kind, key, name, path, message: `no Service ${ref.namespace}/${ref.name} in any cluster` });
    if (port !== undefined && found.length && !found.some((s) => s.ports.some((p) => p.port === port))) {
      sink.push({ kind, key, name, path: [...path, 'port'], message: `Service ${ref.namespace}/${ref.name} has no port ${port}` });
    }
    return found;
  }

  function checkSelectors(kind: string, key: string, name: string, selectors: readonly ServiceSelector[]): void {
    selectors.forEach((sel, i) => {
      if (sel.kind === 'refs') {
        sel.services.forEach((r, j) => checkService(out, kind, key, name, ['spec', 'destinationSelector', i, 'kubeServiceRefs', 'services', j], r));
      } else {
        sel.clusters.forEach((c, j) => {
          if (!clusterExists(c)) out.push({ kind, key, name, path: ['spec', 'destinationSelector', i, 'kubeServiceMatcher', 'clusters', j], message: `no Cluster "${c}"` });
        });
      }
    });
  }

  const failovers = new Set(view.policies.failoverServices.map((f) => policyKey(f)));
  const membership = new Map<string, string>();
  for (const vm of view.policies.virtualMeshes) {
    const key = policyKey(vm);
    vm.meshes.forEach((m, i) => {
      if (!clusterExists(m.name)) out.push({ kind: 'VirtualMesh', key, name: vm.name, path: ['spec', 'meshes', i, 'name'], message: `no Cluster "${m.name}" (meshes[].name names a crossmesh Cluster)` });
      const other = membership.get(m.name);
      if (other && other !== key) out.push({ kind: 'VirtualMesh', key, name: vm.name, path: ['spec', 'meshes', i, 'name'], message: `cluster "${m.name}" is already a member of VirtualMesh ${other}` });
      else membership.set(m.name, key);
    });
  }

  for (const tp of view.policies.trafficPolicies) {
    const key = policyKey(tp);
    const K = 'TrafficPolicy';
    checkSelectors(K, key, tp.name, tp.destinationSelector);
    tp.sourceSelector.forEach((s, i) =>
      s.clusters.forEach((c, j) => {
        if (!clusterExists(c)) out.push({ kind: K, key, name: tp.name, path: ['spec', 'sourceSelector', i, 'clusters', j], message: `no Cluster "${c}"` });
      }),
    );
    tp.trafficShift?.destinations.forEach((d, i) => {
      const base = ['spec', 'trafficShift', 'destinations', i];
      if (d.kind === 'failoverService') {
        if (!failovers.has(`${d.namespace}/${d.name}`)) out.push({ kind: K, key, name: tp.name, path: [...base], message: `no FailoverService ${d.namespace}/${d.name}` });
        return;
      }
      const found = checkService(out, K, key, tp.name, [...base, 'kubeService'], d.service, d.port);
      if (Object.keys(d.subset).length === 0) return;
      const complete = found.filter((s) => view.complete(s.cluster));
      if (complete.length && complete.every((s) => !selected(s).some((w) => subsetMatches(d.subset, w.labels)))) {
        const where = d.service.cluster ? ` in cluster ${d.service.cluster}` : '';
        out.push({
          kind: K,
          key,
          name: tp.name,
          path: [...base, 'kubeService', 'subset'],
          message: `no workload of ${d.service.namespace}/${d.service.name}${where} has labels ${Object.entries(d.subset).map(([k, v]) => `${k}=${v}`).join(',')}`,
        });
      }
    });
    if (tp.mirror) checkService(out, K, key, tp.name, ['spec', 'mirror', 'kubeService'], tp.mirror.service, tp.mirror.port);
  }

  for (const ap of view.policies.accessPolicies) {
    const key = policyKey(ap);
    const K = 'AccessPolicy';
    checkSelectors(K, key, ap.name, ap.destinationSelector);
    ap.sourceSelector.forEach((s, i) => {
      if (s.kind === 'matcher') {
        s.clusters.forEach((c, j) => {
          if (!clusterExists(c)) out.push({ kind: K, key, name: ap.name, path: ['spec', 'sourceSelector', i, 'kubeIdentityMatcher', 'clusters', j], message: `no Cluster "${c}"` });
        });
        return;
      }
      s.serviceAccounts.forEach((sa, j) => {
        const path = ['spec', 'sourceSelector', i, 'kubeServiceAccountRefs', 'serviceAccounts', j];
        if (sa.cluster !== undefined && !clusterExists(sa.cluster)) {
          out.push({ kind: K, key, name: ap.name, path: [...path, 'clusterName'], message: `no Cluster "${sa.cluster}"` });
          return;
        }
        const clusters = sa.cluster !== undefined ? [sa.cluster] : [...view.clusters.keys()];
        if (clusters.length && clusters.every((c) => view.complete(c)) && !clusters.some((c) => serviceAccounts.has(`${c}/${sa.namespace}/${sa.name}`))) {
          out.push({ kind: K, key, name: ap.name, path, message: `no workload runs as service account ${sa.namespace}/${sa.name}${sa.cluster ? ` in cluster ${sa.cluster}` : ''}` });
        }
      });
    });
  }

  for (const fs of view.policies.failoverServices) {
    const key = policyKey(fs);
    const K = 'FailoverService';
    fs.meshes.forEach((m, i) => {
      if (!clusterExists(m.name)) out.push({ kind: K, key, name: fs.name, path: ['spec', 'meshes', i, 'name'], message: `no Cluster "${m.name}"` });
    });
    fs.backingServices.forEach((b, i) => checkService(out, K, key, fs.name, ['spec', 'backingServices', i, 'kubeService'], b, fs.port.number));
  }
  return out;
}

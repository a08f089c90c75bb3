/**
 * `/debug/topology`: the mesh as the dashboard's topology view draws it — clusters and networks,
 * gateways, services with their workloads grouped by locality, and the policy relations between
 * services (traffic shifts with weights, access allows, failover order). A pure function of one
 * MeshSnapshot, so the view and its tests see exactly what translation sees.
 */
import type { IdentitySelector, ServiceSelector, WorkloadSelector } from '../model/policies.js';
import { policyKey } from '../model/policies.js';
import type { MeshSnapshot } from '../model/snapshot.js';
import { objectKey, spiffeId, type Service } from '../model/types.js';
import { MeshView } from '../translate/mesh-view.js';
import { selectsIdentity, selectsService } from '../translate/policy-selectors.js';
import type { Topology, TopologyEdge, TopologyGateway, TopologyLocality, TopologyService, TopologyWorkload } from './browser/types.js';

export type { Topology } from './browser/types.js';

const byText = (a: string, b: string): number => (a < b ? -1 : a > b ? 1 : 0);

function labelsText(labels: Readonly<Record<string, string>>): string {
  return Object.keys(labels)
    .sort()
    .map((k) => `${k}=${labels[k]}`)
    .join(',');
}

function workloadSelectorText(selectors: readonly WorkloadSelector[]): string {
  if (selectors.length === 0) return 'every workload';
  return selectors
    .map((s) => {
      const parts: string[] = [];
      if (Object.keys(s.labels).length) parts.push(labelsText(s.labels));
      if (s.namespaces.length) parts.push(`namespaces ${s.namespaces.join(',')}`);
      if (s.clusters.length) parts.push(`clusters ${s.clusters.join(',')}`);
      return parts.length ? parts.join(' in ') : 'every workload';
    })
    .join(' or ');
}

/** Allowed identities in words: exact SPIFFE IDs, or prefixes ending in `*` for namespace/cluster matchers. */
function identitiesText(snapshot: MeshSnapshot, selectors: readonly IdentitySelector[]): string[] {
  const td = (c: string): string => snapshot.clusters.get(c)?.trustDomain ?? c;
  const all = [...snapshot.clusters.keys()].sort(byText);
  const out = new Set<string>();
  if (selectors.length === 0) for (const c of all) out.add(`spiffe://${td(c)}/*`);
  for (const s of selectors) {
    if (s.kind === 'serviceAccounts') {
      for (const a of s.serviceAccounts) for (const c of a.cluster !== undefined ? [a.cluster] : all) out.add(spiffeId(td(c), a.namespace, a.name));
    } else {
      for (const c of s.clusters.length ? s.clusters : all) {
        if (s.namespaces.length === 0) out.add(`spiffe://${td(c)}/*`);
        else for (const ns of s.namespaces) out.add(`spiffe://${td(c)}/ns/${ns}/*`);
      }
    }
  }
  return [...out].sort(byText);
}

function servicesSelected(services: readonly Service[], selectors: readonly ServiceSelector[]): string[] {
  return services.filter((s) => selectsService(selectors, s)).map(objectKey);
}

/** The topology of one snapshot, every list sorted so equal meshes give equal JSON. */
export function meshTopology(snapshot: MeshSnapshot): Topology {
  const view = new MeshView(snapshot);
  const clusterList = [...snapshot.clusters.values()].sort((a, b) => byText(a.name, b.name));
  const trustDomain = (c: string): string => snapshot.clusters.get(c)?.trustDomain ?? c;
  const services = [...snapshot.services.values()].sort((a, b) => byText(objectKey(a), objectKey(b)));

  const gatewayKeyOfWorkload = new Map<string, string>();
  const gateways: TopologyGateway[] = [...snapshot.gateways.values()]
    .sort((a, b) => byText(objectKey(a), objectKey(b)))
    .map((g) => {
      const node = `${g.cluster}/${g.namespace}/${g.workload}`;
      const w = snapshot.workloads.get(node);
      gatewayKeyOfWorkload.set(node, objectKey(g));
      const exported =
        g.type === 'EastWest' ? view.gatewayTargets(g.cluster).map((t) => `${t.service}.${t.namespace}:${t.port}${t.subset ? ` subset ${t.subset}` : ''}`) : [];
      const routes = (g.routes ?? []).map((r) => `${r.pathPrefix} → ${r.service.cluster ? `${r.service.cluster}/` : ''}${r.service.namespace}/${r.service.name}:${r.service.port}`);
      return {
        key: objectKey(g),
        name: g.name,
        namespace: g.namespace,
        cluster: g.cluster,
        type: g.type,
        node,
        address: w?.address ?? '',
        port: g.port,
        identity: w ? spiffeId(trustDomain(g.cluster), w.namespace, w.serviceAccount) : '',
        exported: [...new Set(exported)].sort(byText),
        routes,
      };
    });

  const topoServices: TopologyService[] = services.map((s) => {
    const groups = new Map<string, { region: string; zone: string; workloads: TopologyWorkload[] }>();
    for (const ep of snapshot.endpoints.get(objectKey(s)) ?? []) {
      const k = `${ep.locality.region}\u0000${ep.locality.zone}`;
      let g = groups.get(k);
      if (!g) groups.set(k, (g = { region: ep.locality.region, zone: ep.locality.zone, workloads: [] }));
      g.workloads.push({ node: ep.workload, name: ep.name, address: ep.address, identity: ep.identity, health: ep.health, version: ep.labels.version ?? '' });
    }
    const localities: TopologyLocality[] = [...groups.entries()]
      .sort(([a], [b]) => byText(a, b))
      .map(([, g]) => ({ ...g, workloads: g.workloads.sort((a, b) => byText(a.node, b.node)) }));
    return { key: objectKey(s), name: s.name, namespace: s.namespace, cluster: s.cluster, ports: s.ports.map((p) => p.port).sort((a, b) => a - b), localities };
  });

  const edges: TopologyEdge[] = [];
  const { trafficPolicies, accessPolicies, failoverServices, virtualMeshes } = snapshot.policies;
  for (const tp of trafficPolicies) {
    if (!tp.trafficShift) continue;
    edges.push({
      kind: 'traffic-shift',
      policy: policyKey(tp),
      from: servicesSelected(services, tp.destinationSelector),
      sources: workloadSelectorText(tp.sourceSelector),
      targets: tp.trafficShift.destinations.map((d) => ({
        target: d.kind === 'failoverService' ? `failover:${d.namespace}/${d.name}` : d.service.cluster !== undefined ? `${d.service.cluster}/${d.service.namespace}/${d.service.name}` : `${d.service.namespace}/${d.service.name}`,
        subset: labelsText(d.subset),
        weight: d.weight,
      })),
    });
  }
  for (const ap of accessPolicies) {
    const from = new Set<string>();
    for (const w of snapshot.workloads.values()) {
      // A workload outside the mesh has no identity: no AccessPolicy's source.
      if (w.mesh === false) continue;
      if (!selectsIdentity(ap.sourceSelector, { cluster: w.cluster, namespace: w.namespace, serviceAccount: w.serviceAccount })) continue;
      const key = objectKey(w);
      for (const s of snapshot.workloadServices.get(key) ?? []) from.add(s);
      const gw = gatewayKeyOfWorkload.get(key);
      if (gw !== undefined) from.add(`gateway:${gw}`);
    }
    edges.push({
      kind: 'access',
      policy: policyKey(ap),
      identities: identitiesText(snapshot, ap.sourceSelector),
      from: [...from].sort(byText),
      to: servicesSelected(services, ap.destinationSelector),
    });
  }
  for (const fs of failoverServices) {
    edges.push({ kind: 'failover', policy: policyKey(fs), hostname: fs.hostname, port: fs.port.number, order: fs.backingServices.map((b) => `${b.cluster}/${b.namespace}/${b.name}`) });
  }

  return {
    snapshotVersion: snapshot.version,
    clusters: clusterList.map((c) => ({
      name: c.name,
      network: c.network,
      trustDomain: c.trustDomain,
      region: c.locality.region,
      zone: c.locality.zone,
      gateway: c.gateway ? { address: c.gateway.address, port: c.gateway.port } : null,
      stale: snapshot.staleClusters.get(c.name)?.reason ?? null,
    })),
    gateways,
    services: topoServices,
    edges,
    accessEnforced: virtualMeshes.some((m) => m.globalAccessPolicy === 'ENABLED'),
  };
}

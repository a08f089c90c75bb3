/**
 * The last-known Kubernetes objects of one cluster, with the indexes that say which model objects a
 * change touches (a node relabel → its pods; a slice change → its service and the pods it lists).
 */
import type * as k8s from '@kubernetes/client-node';
import { log } from '../../log.js';
import { selectorMatches } from '../../model/snapshot.js';
import type { Cluster, Service, Workload } from '../../model/types.js';
import type { KubeObject, ResourceKind } from './api-resources.js';
import { externalAddresses, externalWorkloadName, hasHandManagedSlices, mapExternalWorkload } from './external-endpoints.js';
import { mapService } from './service-mapping.js';
import { mapWorkload, type PodSlice } from './workload-mapping.js';

const SERVICE_NAME_LABEL = 'kubernetes.io/service-name';
/** Slices a multi-cluster services implementation imported from elsewhere: their endpoints are not this cluster's. */
const MCS_SERVICE_NAME_LABEL = 'multicluster.kubernetes.io/service-name';

/** `<namespace>/<name>` (nodes: just the name). */
function keyOf(o: KubeObject): string {
  const ns = o.metadata?.namespace;
  const name = o.metadata?.name ?? '';
  return ns ? `${ns}/${name}` : name;
}

function addTo(index: Map<string, Set<string>>, key: string, value: string): void {
  let set = index.get(key);
  if (!set) index.set(key, (set = new Set()));
  set.add(value);
}

function removeFrom(index: Map<string, Set<string>>, key: string, value: string): void {
  const set = index.get(key);
  if (!set) return;
  set.delete(value);
  if (set.size === 0) index.delete(key);
}

/**
 * The service a slice lists endpoints of (`ns/name`), or undefined for slices that list none of
 * this cluster's mesh endpoints: FQDN slices (names, not addresses), slices imported by a
 * multi-cluster services implementation, slices of no service.
 */
function sliceServiceKey(slice: k8s.V1EndpointSlice): string | undefined {
  if (slice.addressType === 'FQDN' || slice.metadata?.labels?.[MCS_SERVICE_NAME_LABEL] !== undefined) return undefined;
  const svc = slice.metadata?.labels?.[SERVICE_NAME_LABEL];
  return svc ? `${slice.metadata?.namespace ?? ''}/${svc}` : undefined;
}

function slicePodKeys(slice: k8s.V1EndpointSlice): string[] {
  if (sliceServiceKey(slice) === undefined) return [];
  const ns = slice.metadata?.namespace ?? '';
  const keys: string[] = [];
  for (const ep of slice.endpoints ?? []) {
    if (ep.targetRef?.kind === 'Pod' && ep.targetRef.name) keys.push(`${ep.targetRef.namespace ?? ns}/${ep.targetRef.name}`);
  }
  return keys;
}

/**
 * Keys (`ns/<service>~<address>`) of the workloads outside the mesh a slice may stand for: its
 * addresses that name no Pod. Whether they become workloads depends on the service (selector-less
 * only), which may arrive after the slice, so they are indexed for every slice and judged later.
 */
function sliceExternalKeys(slice: k8s.V1EndpointSlice): string[] {
  const svcKey = sliceServiceKey(slice);
  if (svcKey === undefined) return [];
  const service = svcKey.slice(svcKey.indexOf('/') + 1);
  const ns = slice.metadata?.namespace ?? '';
  return externalAddresses(slice).map((address) => `${ns}/${externalWorkloadName(service, address)}`);
}

function hasNamedTargetPort(svc: k8s.V1Service): boolean {
  return (svc.spec?.ports ?? []).some((p) => typeof (p.targetPort as unknown) === 'string' && !/^\d+$/.test(p.targetPort as unknown as string));
}

export class ClusterState {
  readonly services = new Map<string, k8s.V1Service>();
  readonly slices = new Map<string, k8s.V1EndpointSlice>();
  readonly pods = new Map<string, k8s.V1Pod>();
  readonly nodes = new Map<string, k8s.V1Node>();

  private readonly podsByNode = new Map<string, Set<string>>();
  private readonly slicesByService = new Map<string, Set<string>>();
  private readonly slicesByPod = new Map<string, Set<string>>();
  /** External workload key (`ns/<service>~<address>`) → slices listing that address without a Pod. */
  private readonly slicesByExternal = new Map<string, Set<string>>();
  /** Namespace → services in it with a named targetPort (a pod change there may change their ports). */
  private readonly namedPortServices = new Map<string, Set<string>>();
  /** Services whose unresolvable named ports were already reported (what was reported). */
  private readonly reportedPorts = new Map<string, string>();

  /** Keys (`ns/name`) whose model object may have changed since the last takeDirty(). */
  private dirtyServices = new Set<string>();
  private dirtyPods = new Set<string>();

  constructor(private readonly cluster: Cluster) {}

  /** Applies one watch event. */
  apply(kind: ResourceKind, type: 'ADDED' | 'MODIFIED' | 'DELETED', object: KubeObject): void {
    if (type === 'DELETED') this.remove(kind, keyOf(object));
    else this.put(kind, object);
  }

  /** Replaces a kind's whole set with a fresh list. */
  replace(kind: ResourceKind, items: readonly KubeObject[]): void {
    const fresh = new Set(items.map(keyOf));
    for (const key of [...this.mapOf(kind).keys()]) if (!fresh.has(key)) this.remove(kind, key);
    for (const item of items) this.put(kind, item);
  }

  /** Takes (and clears) the set of service and pod keys to recompute. */
  takeDirty(): { services: Set<string>; pods: Set<string> } {
    const out = { services: this.dirtyServices, pods: this.dirtyPods };
    this.dirtyServices = new Set();
    this.dirtyPods = new Set();
    return out;
  }

  /** The model Service for `ns/name`, or undefined if it does not exist (or does not map). */
  service(key: string): Service | undefined {
    const svc = this.services.get(key);
    if (!svc) return undefined;
    const mapped = mapService(this.cluster.name, svc, this.slicesOfService(key), () => this.podsSelectedBy(svc));
    if (!mapped) return undefined;
    const unresolved = mapped.unresolvedPorts.join(', ');
    if (unresolved && this.reportedPorts.get(key) !== unresolved) {
      log.warn({ cluster: this.cluster.name, service: key, ports: mapped.unresolvedPorts }, 'service ports left out: their named targetPort is in no EndpointSlice and no selected pod has a container port of that name');
    }
    if (unresolved) this.reportedPorts.set(key, unresolved);
    else this.reportedPorts.delete(key);
    return mapped.service;
  }

  /**
   * The model Workload for pod `ns/name` (or for an address outside the mesh, `ns/<service>~<address>`),
   * or undefined if it does not exist (a pod with no IP; an address no selector-less service lists).
   */
  workload(key: string): Workload | undefined {
    if (this.slicesByExternal.has(key)) return this.externalWorkload(key);
    const pod = this.pods.get(key);
    if (!pod) return undefined;
    const node = pod.spec?.nodeName ? this.nodes.get(pod.spec.nodeName) : undefined;
    const podSlices: PodSlice[] = [];
    for (const sliceKey of [...(this.slicesByPod.get(key) ?? [])].sort()) {
      const slice = this.slices.get(sliceKey);
      if (!slice) continue;
      const svcKey = sliceServiceKey(slice);
      if (!svcKey) continue;
      podSlices.push({ slice, serviceName: svcKey.slice(svcKey.indexOf('/') + 1), service: this.service(svcKey) });
    }
    return mapWorkload(this.cluster, pod, node, podSlices);
  }

  /** Every model Service and Workload of the cluster, for a replaceCluster. */
  all(): { services: Service[]; workloads: Workload[] } {
    const services: Service[] = [];
    for (const key of this.services.keys()) {
      const s = this.service(key);
      if (s) services.push(s);
    }
    const workloads: Workload[] = [];
    for (const key of this.pods.keys()) {
      const w = this.workload(key);
      if (w) workloads.push(w);
    }
    for (const key of this.slicesByExternal.keys()) {
      const w = this.externalWorkload(key);
      if (w) workloads.push(w);
    }
    return { services, workloads };
  }

  /** The workload outside the mesh for `ns/<service>~<address>`: only while the service maps and has no selector. */
  private externalWorkload(key: string): Workload | undefined {
    const slash = key.indexOf('/');
    const tilde = key.indexOf('~', slash);
    const svcKey = key.slice(0, tilde);
    const svc = this.services.get(svcKey);
    if (!svc || !hasHandManagedSlices(svc)) return undefined;
    const service = this.service(svcKey);
    if (!service) return undefined;
    const slices = [...(this.slicesByExternal.get(key) ?? [])].sort().map((k) => this.slices.get(k)).filter((s): s is k8s.V1EndpointSlice => s !== undefined);
    return mapExternalWorkload(this.cluster, service, key.slice(tilde + 1), slices);
  }

  /** Pods in the service's namespace its selector picks (only asked when a named targetPort needs them). */
  private podsSelectedBy(svc: k8s.V1Service): k8s.V1Pod[] {
    const selector = svc.spec?.selector;
    if (!selector || Object.keys(selector).length === 0) return [];
    const ns = svc.metadata?.namespace ?? 'default';
    return [...this.pods.values()].filter((p) => (p.metadata?.namespace ?? 'default') === ns && selectorMatches(selector, p.metadata?.labels ?? {}));
  }

  private slicesOfService(key: string): k8s.V1EndpointSlice[] {
    const out: k8s.V1EndpointSlice[] = [];
    for (const sliceKey of this.slicesByService.get(key) ?? []) {
      const s = this.slices.get(sliceKey);
      if (s) out.push(s);
    }
    return out;
  }

  private mapOf(kind: ResourceKind): Map<string, KubeObject> {
    switch (kind) {
      case 'services':
        return this.services as Map<string, KubeObject>;
      case 'endpointslices':
        return this.slices as Map<string, KubeObject>;
      case 'pods':
        return this.pods as Map<string, KubeObject>;
      case 'nodes':
        return this.nodes as Map<string, KubeObject>;
    }
  }

  private put(kind: ResourceKind, object: KubeObject): void {
    // Server-side apply bookkeeping is often the largest part of an object and nothing here reads it.
    const meta = object.metadata as { managedFields?: unknown } | undefined;
    if (meta?.managedFields !== undefined) delete meta.managedFields;
    const key = keyOf(object);
    const old = this.mapOf(kind).get(key);
    if (old && old.metadata?.resourceVersion && old.metadata.resourceVersion === object.metadata?.resourceVersion) return;
    if (old) this.unindex(kind, key, old);
    this.mapOf(kind).set(key, object);
    this.index(kind, key, object);
  }

  private remove(kind: ResourceKind, key: string): void {
    const old = this.mapOf(kind).get(key);
    if (!old) return;
    this.mapOf(kind).delete(key);
    this.unindex(kind, key, old);
  }

  /** Records an object's index entries and marks what it affects dirty. */
  private index(kind: ResourceKind, key: string, object: KubeObject): void {
    this.touch(kind, key, object);
    if (kind === 'services') {
      if (hasNamedTargetPort(object as k8s.V1Service)) addTo(this.namedPortServices, key.slice(0, key.indexOf('/')), key);
    } else if (kind === 'pods') {
      const node = (object as k8s.V1Pod).spec?.nodeName;
      if (node) addTo(this.podsByNode, node, key);
    } else if (kind === 'endpointslices') {
      const slice = object as k8s.V1EndpointSlice;
      const svcKey = sliceServiceKey(slice);
      if (svcKey) addTo(this.slicesByService, svcKey, key);
      for (const podKey of slicePodKeys(slice)) addTo(this.slicesByPod, podKey, key);
      for (const extKey of sliceExternalKeys(slice)) addTo(this.slicesByExternal, extKey, key);
    }
  }

  private unindex(kind: ResourceKind, key: string, object: KubeObject): void {
    this.touch(kind, key, object);
    if (kind === 'services') {
      removeFrom(this.namedPortServices, key.slice(0, key.indexOf('/')), key);
    } else if (kind === 'pods') {
      const node = (object as k8s.V1Pod).spec?.nodeName;
      if (node) removeFrom(this.podsByNode, node, key);
    } else if (kind === 'endpointslices') {
      const slice = object as k8s.V1EndpointSlice;
      const svcKey = sliceServiceKey(slice);
      if (svcKey) removeFrom(this.slicesByService, svcKey, key);
      for (const podKey of slicePodKeys(slice)) removeFrom(this.slicesByPod, podKey, key);
      for (const extKey of sliceExternalKeys(slice)) removeFrom(this.slicesByExternal, extKey, key);
    }
  }

  private touch(kind: ResourceKind, key: string, object: KubeObject): void {
    switch (kind) {
      case 'services':
        this.dirtyServices.add(key);
        // Workloads carry per-service port overrides; a service gaining or losing its selector
        // makes or drops its workloads outside the mesh.
        for (const sliceKey of this.slicesByService.get(key) ?? []) {
          const slice = this.slices.get(sliceKey);
          if (!slice) continue;
          for (const podKey of slicePodKeys(slice)) this.dirtyPods.add(podKey);
          for (const extKey of sliceExternalKeys(slice)) this.dirtyPods.add(extKey);
        }
        break;
      case 'endpointslices': {
        const slice = object as k8s.V1EndpointSlice;
        const svcKey = sliceServiceKey(slice);
        if (svcKey) this.dirtyServices.add(svcKey);
        for (const podKey of slicePodKeys(slice)) this.dirtyPods.add(podKey);
        for (const extKey of sliceExternalKeys(slice)) this.dirtyPods.add(extKey);
        break;
      }
      case 'pods': {
        this.dirtyPods.add(key);
        // A named targetPort may be resolved from the pods' container ports.
        for (const svcKey of this.namedPortServices.get(key.slice(0, key.indexOf('/'))) ?? []) this.dirtyServices.add(svcKey);
        break;
      }
      case 'nodes':
        for (const podKey of this.podsByNode.get(key) ?? []) this.dirtyPods.add(podKey);
        break;
    }
  }
}

/**
 * The model store's private, mutable lookup tables: which workloads carry a label in a
 * cluster/namespace, which services select on a label, which services sit in a cluster, and
 * who selects whom. They let one workload change find its few affected services without
 * scanning the mesh. Never exposed: snapshots carry immutable copies of what others need.
 */
import { selectorMatches } from './snapshot.js';
import type { ObjectKey, Service, Workload } from './types.js';

type Labels = Readonly<Record<string, string>>;

function scopeOf(o: { cluster: string; namespace: string }): string {
  return `${o.cluster}/${o.namespace}`;
}

function labelKey(k: string, v: string): string {
  return `${k}\u0000${v}`;
}

function addTo<K, V>(m: Map<K, Set<V>>, k: K, v: V): void {
  let s = m.get(k);
  if (!s) m.set(k, (s = new Set()));
  s.add(v);
}

function removeFrom<K, V>(m: Map<K, Set<V>>, k: K, v: V): void {
  const s = m.get(k);
  if (!s) return;
  s.delete(v);
  if (s.size === 0) m.delete(k);
}

const NO_KEYS: ReadonlySet<ObjectKey> = new Set();

/** Key of the service `name` in the cluster and namespace of `o`. */
function listedKey(o: { cluster: string; namespace: string }, name: string): ObjectKey {
  return `${o.cluster}/${o.namespace}/${name}`;
}

export class TopologyIndex {
  /** scope → label pair → workload keys carrying it. */
  private readonly workloadLabels = new Map<string, Map<string, Set<ObjectKey>>>();
  /** scope → selector pair → service keys whose selector contains it. */
  private readonly serviceSelectors = new Map<string, Map<string, Set<ObjectKey>>>();
  private readonly servicesByCluster = new Map<string, Set<ObjectKey>>();
  private readonly workloadsByCluster = new Map<string, Set<ObjectKey>>();
  /** service → selected workloads. */
  private readonly members = new Map<ObjectKey, Set<ObjectKey>>();
  /** workload → services selecting it. */
  private readonly selectedBy = new Map<ObjectKey, Set<ObjectKey>>();
  /** `listed` service key → workloads naming it in memberOf (whether or not the service exists yet). */
  private readonly listedMembers = new Map<ObjectKey, Set<ObjectKey>>();

  /** Records a workload (call removeWorkload first when replacing one). */
  addWorkload(key: ObjectKey, w: Workload): void {
    const scope = scopeOf(w);
    let byLabel = this.workloadLabels.get(scope);
    if (!byLabel) this.workloadLabels.set(scope, (byLabel = new Map()));
    for (const k in w.labels) addTo(byLabel, labelKey(k, w.labels[k]!), key);
    for (const name of w.memberOf ?? []) addTo(this.listedMembers, listedKey(w, name), key);
    addTo(this.workloadsByCluster, w.cluster, key);
  }

  /** Forgets a workload's labels (its memberships are fixed up by recomputing services). */
  removeWorkload(key: ObjectKey, w: Workload): void {
    const scope = scopeOf(w);
    const byLabel = this.workloadLabels.get(scope);
    if (byLabel) {
      for (const k in w.labels) removeFrom(byLabel, labelKey(k, w.labels[k]!), key);
      if (byLabel.size === 0) this.workloadLabels.delete(scope);
    }
    for (const name of w.memberOf ?? []) removeFrom(this.listedMembers, listedKey(w, name), key);
    removeFrom(this.workloadsByCluster, w.cluster, key);
  }

  /** Records a service (call removeService first when replacing one). */
  addService(key: ObjectKey, s: Service): void {
    addTo(this.servicesByCluster, s.cluster, key);
    // A listed service's selector does not choose its workloads: not indexed.
    if (s.membership === 'listed') return;
    const scope = scopeOf(s);
    let bySel = this.serviceSelectors.get(scope);
    if (!bySel) this.serviceSelectors.set(scope, (bySel = new Map()));
    for (const k in s.selector) addTo(bySel, labelKey(k, s.selector[k]!), key);
  }

  /** Forgets a service's selector. */
  removeService(key: ObjectKey, s: Service): void {
    removeFrom(this.servicesByCluster, s.cluster, key);
    if (s.membership === 'listed') return;
    const scope = scopeOf(s);
    const bySel = this.serviceSelectors.get(scope);
    if (bySel) {
      for (const k in s.selector) removeFrom(bySel, labelKey(k, s.selector[k]!), key);
      if (bySel.size === 0) this.serviceSelectors.delete(scope);
    }
  }

  /** Services (by current index) whose selector matches this workload's labels, and the listed services it names. */
  servicesSelecting(w: Workload, lookup: (key: ObjectKey) => Service | undefined): ObjectKey[] {
    const seen = new Set<ObjectKey>();
    for (const name of w.memberOf ?? []) {
      const sk = listedKey(w, name);
      if (lookup(sk)?.membership === 'listed') seen.add(sk);
    }
    const bySel = this.serviceSelectors.get(scopeOf(w));
    if (!bySel) return [...seen];
    for (const k in w.labels) {
      const cands = bySel.get(labelKey(k, w.labels[k]!));
      if (!cands) continue;
      for (const sk of cands) {
        if (seen.has(sk)) continue;
        const s = lookup(sk);
        if (s && s.membership !== 'listed' && selectorMatches(s.selector, w.labels)) seen.add(sk);
      }
    }
    return [...seen];
  }

  /** Workloads in the service's cluster/namespace that its selector picks, via the smallest label set. */
  selectWorkloads(s: Service, lookup: (key: ObjectKey) => Workload | undefined): Set<ObjectKey> {
    const out = new Set<ObjectKey>();
    if (s.membership === 'listed') {
      for (const wk of this.listedMembers.get(listedKey(s, s.name)) ?? NO_KEYS) if (lookup(wk)) out.add(wk);
      return out;
    }
    const byLabel = this.workloadLabels.get(scopeOf(s));
    if (!byLabel) return out;
    let smallest: Set<ObjectKey> | undefined;
    let any = false;
    for (const k in s.selector) {
      any = true;
      const set = byLabel.get(labelKey(k, s.selector[k]!));
      if (!set) return out;
      if (!smallest || set.size < smallest.size) smallest = set;
    }
    if (!any || !smallest) return out;
    for (const wk of smallest) {
      const w = lookup(wk);
      if (w && selectorMatches(s.selector, w.labels)) out.add(wk);
    }
    return out;
  }

  /** Current members of a service. */
  membersOf(serviceKey: ObjectKey): ReadonlySet<ObjectKey> {
    return this.members.get(serviceKey) ?? NO_KEYS;
  }

  /** Services currently selecting a workload. */
  servicesOf(workloadKey: ObjectKey): ReadonlySet<ObjectKey> {
    return this.selectedBy.get(workloadKey) ?? NO_KEYS;
  }

  /**
   * Replaces a service's member set; returns the workloads whose set of selecting services changed.
   * Pass an empty set when the service is gone.
   */
  setMembers(serviceKey: ObjectKey, next: Set<ObjectKey>): ObjectKey[] {
    const prev = this.members.get(serviceKey) ?? NO_KEYS;
    const touched: ObjectKey[] = [];
    for (const wk of prev) {
      if (!next.has(wk)) {
        removeFrom(this.selectedBy, wk, serviceKey);
        touched.push(wk);
      }
    }
    for (const wk of next) {
      if (!prev.has(wk)) {
        addTo(this.selectedBy, wk, serviceKey);
        touched.push(wk);
      }
    }
    if (next.size === 0) this.members.delete(serviceKey);
    else this.members.set(serviceKey, next);
    return touched;
  }

  /** Keys of the services in a cluster. */
  servicesInCluster(cluster: string): ReadonlySet<ObjectKey> {
    return this.servicesByCluster.get(cluster) ?? NO_KEYS;
  }

  /** Keys of the workloads in a cluster. */
  workloadsInCluster(cluster: string): ReadonlySet<ObjectKey> {
    return this.workloadsByCluster.get(cluster) ?? NO_KEYS;
  }
}

/** Whether two flat maps (labels, port overrides) hold the same entries. */
export function sameEntries<V>(a: Readonly<Record<string, V>>, b: Readonly<Record<string, V>>): boolean {
  if (a === b) return true;
  let n = 0;
  for (const k in a) {
    n++;
    if (a[k] !== b[k]) return false;
  }
  for (const _ in b) n--;
  return n === 0;
}

/**
 * The guard: Envoy's semantic rules that protoc-gen-validate cannot express, plus the PGV rules
 * themselves (validate.ts), applied to a proxy's resources before they are offered. A resource that
 * breaks a rule is rejected: it is not pushed, and the proxy keeps the last good resource of that
 * name. Rules checked here (each one Envoy enforces by NACKing or failing the update):
 *
 * - the resource's own name matches the name it is published under;
 * - router is the last HTTP filter, tcp_proxy / the HTTP connection manager the last network filter;
 * - filter chains of a listener have unique matches (per server name), and a listener has a chain;
 * - two listeners do not bind the same address and port;
 * - EDS clusters carry an EDS config;
 * - clusters named by routes, tcp_proxy and aggregate clusters exist in the proxy's CDS;
 * - route configurations named by listeners (RDS) exist; virtual host names and domains are unique;
 * - ClusterLoadAssignment names match an EDS cluster of the proxy;
 * - every SDS secret referenced is `default` or `ROOTCA`.
 *
 * Pure. Resources are the keepCase JSON objects translators emit (nested Any as `{'@type': ...}`).
 */
import { formatViolations, isSdsField, validateAndCollect } from './validate.js';
import { HCM_NAME, HCM_TYPE, ROUTER_NAME, ROUTER_TYPE, TCP_PROXY_NAME, TCP_PROXY_TYPE } from './filters.js';
import { DEFAULT_SECRET, INGRESS_TLS_SECRET_PREFIX, isIngressTlsSecretName, ROOTCA_SECRET } from './secrets.js';
import { partMemo } from './shared-part.js';
import { MESSAGE_OF_KIND, RESOURCE_KINDS, emptyResources, resourceName, sortedMap, type ProxyResources, type Resource, type ResourceKind, type ResourceMap } from './resources.js';

/** A resource the guard refused, with every reason. */
export interface Rejection {
  readonly kind: ResourceKind;
  readonly name: string;
  readonly errors: readonly string[];
}

export interface GuardResult {
  /** What may be published: the candidates that passed, plus the previous version of each rejected name that had one. */
  readonly accepted: ProxyResources;
  readonly rejected: readonly Rejection[];
}

export interface GuardOptions {
  /** The last good resources; a rejected name keeps its version from here. */
  readonly previous?: ProxyResources;
  /** Kinds to judge (default all); the others are taken as given and only serve as reference targets. */
  readonly kinds?: readonly ResourceKind[];
}

type Obj = Record<string, unknown>;

const ALLOWED_SECRETS = new Set([DEFAULT_SECRET, ROOTCA_SECRET]);

function isObj(v: unknown): v is Obj {
  return typeof v === 'object' && v !== null && !Array.isArray(v) && !ArrayBuffer.isView(v);
}

function arr(v: unknown): unknown[] {
  return Array.isArray(v) ? v : [];
}

function typeOf(filter: Obj): string | undefined {
  const tc = filter.typed_config;
  return isObj(tc) && typeof tc['@type'] === 'string' ? tc['@type'] : undefined;
}

function isFilter(filter: Obj, name: string, type: string): boolean {
  return filter.name === name || typeOf(filter) === type;
}

/** Canonical JSON (object keys sorted) so equal matches compare equal. */
function canonical(v: unknown): string {
  if (Array.isArray(v)) return `[${v.map(canonical).join(',')}]`;
  if (isObj(v)) return `{${Object.keys(v).sort().map((k) => `${JSON.stringify(k)}:${canonical(v[k])}`).join(',')}}`;
  return JSON.stringify(v);
}

/**
 * Secret names referenced anywhere in a resource (`*_sds_secret_config(s)` fields). The guard
 * collects them in its PGV walk instead (validate.ts); this untyped walk serves other callers.
 */
export function referencedSecrets(r: unknown, out: Set<string> = new Set()): Set<string> {
  if (Array.isArray(r)) {
    for (let i = 0; i < r.length; i++) {
      const x: unknown = r[i];
      if (typeof x === 'object' && x !== null) referencedSecrets(x, out);
    }
  } else if (isObj(r)) {
    for (const k in r) {
      const v = r[k];
      if (typeof v !== 'object' || v === null) continue;
      if (isSdsField(k)) for (const c of Array.isArray(v) ? v : [v]) if (isObj(c)) out.add(String(c.name ?? ''));
      referencedSecrets(v, out);
    }
  }
  return out;
}

function secretErrors(secrets: readonly string[]): string[] {
  const errors: string[] = [];
  if (secrets.length === 0) return errors;
  const seen = new Set<string>();
  for (const n of secrets) {
    if (ALLOWED_SECRETS.has(n) || isIngressTlsSecretName(n) || seen.has(n)) continue;
    seen.add(n);
    errors.push(`references SDS secret "${n}"; only "${DEFAULT_SECRET}", "${ROOTCA_SECRET}" and ingress gateways' "${INGRESS_TLS_SECRET_PREFIX}<ns>~<name>" are served`);
  }
  return errors;
}

/** Clusters named by a route action, tcp_proxy or weighted cluster list. */
function clustersOfAction(action: Obj): string[] {
  const out: string[] = [];
  if (typeof action.cluster === 'string') out.push(action.cluster);
  const wc = action.weighted_clusters;
  if (isObj(wc)) for (const c of arr(wc.clusters)) if (isObj(c) && typeof c.name === 'string') out.push(c.name);
  for (const m of arr(action.request_mirror_policies)) if (isObj(m) && typeof m.cluster === 'string') out.push(m.cluster);
  return out;
}

/** What a route configuration says about itself, in order: its own errors and the clusters it routes to. */
type RouteConfigFact = { readonly error: string } | { readonly vhost: string; readonly cluster: string };

/** Facts per route configuration object (one configuration is often shared by many groups). */
const routeConfigFacts = new WeakMap<object, readonly RouteConfigFact[]>();

function routeConfigFactsOf(rc: Obj): readonly RouteConfigFact[] {
  let facts = routeConfigFacts.get(rc);
  if (facts) return facts;
  const out: RouteConfigFact[] = [];
  const names = new Set<string>();
  const domains = new Map<string, string>();
  for (const vh of arr(rc.virtual_hosts)) {
    if (!isObj(vh)) continue;
    const vname = String(vh.name ?? '');
    if (names.has(vname)) out.push({ error: `virtual host name "${vname}" is used twice` });
    names.add(vname);
    for (const d of arr(vh.domains)) {
      const dom = String(d).toLowerCase();
      const other = domains.get(dom);
      if (other !== undefined) out.push({ error: `domain "${dom}" is in virtual hosts "${other}" and "${vname}"` });
      else domains.set(dom, vname);
    }
    for (const r of arr(vh.routes)) {
      if (!isObj(r) || !isObj(r.route)) continue;
      for (const c of clustersOfAction(r.route)) out.push({ vhost: vname, cluster: c });
    }
  }
  facts = out;
  routeConfigFacts.set(rc, facts);
  return facts;
}

function routeConfigErrors(rc: Obj, clusters: ResourceMap, where: string): string[] {
  const errors: string[] = [];
  for (const f of routeConfigFactsOf(rc)) {
    if ('error' in f) errors.push(`${where}${f.error}`);
    else if (!clusters.has(f.cluster)) errors.push(`${where}virtual host "${f.vhost}" routes to cluster "${f.cluster}", which is not in the proxy's CDS`);
  }
  return errors;
}

function listenerErrors(l: Obj, clusters: ResourceMap, routes: ResourceMap): string[] {
  const errors: string[] = [];
  const chains: [string, Obj][] = arr(l.filter_chains).filter(isObj).map((c, i) => [`filter_chains[${i}]`, c]);
  if (isObj(l.default_filter_chain)) chains.push(['default_filter_chain', l.default_filter_chain]);
  // A proxyless gRPC client listener carries its HTTP connection manager in api_listener, not in a chain.
  const api = isObj(l.api_listener) && isObj(l.api_listener.api_listener) ? l.api_listener.api_listener : undefined;
  if (api) chains.push(['api_listener', { filters: [{ name: HCM_NAME, typed_config: api }] }]);
  if (chains.length === 0) errors.push('has no filter chain (Envoy rejects such a listener)');
  const matches = new Map<string, string>();
  for (const [where, chain] of chains) {
    if (where !== 'default_filter_chain') {
      const { server_names: sn, ...rest } = isObj(chain.filter_chain_match) ? chain.filter_chain_match : ({} as Obj);
      const base = canonical(rest);
      const names = arr(sn).length ? arr(sn).map(String) : [''];
      for (const n of names) {
        const key = `${base}|${n}`;
        const other = matches.get(key);
        if (other !== undefined) errors.push(`${where} has the same match as ${other}${n ? ` (server name "${n}")` : ''}`);
        else matches.set(key, where);
      }
    }
    const filters = arr(chain.filters).filter(isObj);
    filters.forEach((f, i) => {
      const terminal = isFilter(f, TCP_PROXY_NAME, TCP_PROXY_TYPE) || isFilter(f, HCM_NAME, HCM_TYPE);
      const last = i === filters.length - 1;
      if (terminal && !last) errors.push(`${where}.filters[${i}] (${String(f.name)}) is terminal but not the last network filter`);
      if (!terminal && last) errors.push(`${where}: the last network filter ${String(f.name)} is not terminal (tcp_proxy or http_connection_manager)`);
      const tc = f.typed_config;
      if (!isObj(tc)) return;
      if (isFilter(f, TCP_PROXY_NAME, TCP_PROXY_TYPE)) {
        for (const c of clustersOfAction(tc)) if (!clusters.has(c)) errors.push(`${where}.filters[${i}] tcp_proxy targets cluster "${c}", which is not in the proxy's CDS`);
      }
      if (isFilter(f, HCM_NAME, HCM_TYPE)) {
        const http = arr(tc.http_filters).filter(isObj);
        http.forEach((h, j) => {
          const router = isFilter(h, ROUTER_NAME, ROUTER_TYPE);
          if (router && j !== http.length - 1) errors.push(`${where}.filters[${i}].http_filters[${j}]: the router must be the last HTTP filter`);
        });
        const lastHttp = http[http.length - 1];
        if (!lastHttp || !isFilter(lastHttp, ROUTER_NAME, ROUTER_TYPE)) errors.push(`${where}.filters[${i}]: the last HTTP filter must be the router`);
        if (isObj(tc.rds)) {
          const name = String(tc.rds.route_config_name ?? '');
          if (!routes.has(name)) errors.push(`${where}.filters[${i}] loads route configuration "${name}" over RDS, which the proxy is not given`);
        }
        if (isObj(tc.route_config)) errors.push(...routeConfigErrors(tc.route_config, clusters, `${where}.filters[${i}].route_config: `));
      }
    });
  }
  return errors;
}

function clusterErrors(c: Obj): string[] {
  const errors: string[] = [];
  if (c.type === 'EDS' && !(isObj(c.eds_cluster_config) && isObj(c.eds_cluster_config.eds_config))) errors.push('is of type EDS but has no eds_cluster_config.eds_config');
  return errors;
}

function aggregateChildren(c: Obj): string[] {
  const ct = c.cluster_type;
  return isObj(ct) && isObj(ct.typed_config) ? arr(ct.typed_config.clusters).map(String) : [];
}

function isAggregate(c: Obj): boolean {
  return isObj(c.cluster_type) && c.cluster_type.name === 'envoy.clusters.aggregate';
}

// Envoy accepts an aggregate child that is itself an aggregate but balances nothing through it (it
// linearizes the children's own hosts, and an aggregate has none); a chain that comes back is a cycle.
function nestedAggregateError(name: string, child: string, clusters: ResourceMap): string {
  const path: string[] = [name];
  const seen = new Set<string>();
  const reachesBack = (n: string): boolean => {
    if (n === name) return true;
    const c = clusters.get(n);
    if (seen.has(n) || !c || !isAggregate(c)) return false;
    seen.add(n);
    path.push(n);
    if (aggregateChildren(c).some(reachesBack)) return true;
    path.pop();
    return false;
  };
  if (reachesBack(child)) return `aggregate clusters form a cycle: ${[...path, name].join(' -> ')}`;
  return `aggregate cluster names "${child}", itself an aggregate cluster: nested aggregates carry no traffic`;
}

function aggregateErrors(name: string, c: Obj, clusters: ResourceMap): string[] {
  const ct = c.cluster_type;
  if (!isObj(ct) || !isObj(ct.typed_config)) return [];
  const errors: string[] = [];
  for (const child of arr(ct.typed_config.clusters).map(String)) {
    if (child === name) errors.push(`aggregate cluster contains itself`);
    else if (!clusters.has(child)) errors.push(`aggregate cluster names "${child}", which is not in the proxy's CDS`);
    else if (isAggregate(clusters.get(child)!)) errors.push(nestedAggregateError(name, child, clusters));
  }
  return errors;
}

/** The EDS resource name a cluster loads, or undefined if it is not an EDS cluster. */
export function edsNameOf(c: Resource): string | undefined {
  if (c.type !== 'EDS') return undefined;
  const cfg = c.eds_cluster_config;
  const svc = isObj(cfg) && typeof cfg.service_name === 'string' && cfg.service_name !== '' ? cfg.service_name : undefined;
  return svc ?? String(c.name);
}

/** A resource's PGV violations (without the name prefix) and the secret names it references, from one walk. */
function factsOf(kind: ResourceKind, name: string, r: Resource): { readonly pgv: readonly string[]; readonly secrets: readonly string[] } {
  const { violations, secrets } = validateAndCollect(MESSAGE_OF_KIND[kind], r);
  return { pgv: violations.length ? formatViolations(name, violations).map((line) => line.slice(name.length + 2)) : [], secrets };
}

const NO_ERRORS: readonly string[] = Object.freeze([]);

/** What was judged of a resource object from itself alone, under one name. */
interface Judged {
  readonly kind: ResourceKind;
  readonly name: string;
  readonly errors: readonly string[];
}

const localMemo: Record<ResourceKind, WeakMap<object, Judged>> = {
  clusters: new WeakMap(),
  endpoints: new WeakMap(),
  listeners: new WeakMap(),
  routes: new WeakMap(),
};

/**
 * What can be judged from the resource alone (its name, PGV rules, secrets, EDS config), once per
 * object and name: an object shared by many groups (an assignment several placements rank the
 * same, a cluster every group of a cluster gets) is judged once.
 */
function localErrors(kind: ResourceKind, name: string, r: Resource): readonly string[] {
  // A shared part keeps its judgement in its own memo slot; other objects in a WeakMap per kind.
  const slot = partMemo(r);
  const hit = slot ? (slot.judged as Judged | undefined) : localMemo[kind].get(r);
  if (hit && hit.name === name && hit.kind === kind) return hit.errors;
  const errors: string[] = [];
  const own = resourceName(kind, r);
  if (own !== name) errors.push(`is published as "${name}" but names itself "${String(own)}"`);
  const facts = factsOf(kind, name, r);
  errors.push(...facts.pgv, ...secretErrors(facts.secrets));
  if (kind === 'clusters') errors.push(...clusterErrors(r));
  const judged: Judged = { kind, name, errors: errors.length ? errors : NO_ERRORS };
  if (slot && slot.judged === undefined) slot.judged = judged;
  else localMemo[kind].set(r, judged);
  return judged.errors;
}

function addressOf(l: Obj): string | undefined {
  const sa = isObj(l.address) && isObj(l.address.socket_address) ? l.address.socket_address : undefined;
  return sa ? `${String(sa.address)}:${String(sa.port_value ?? 0)}` : undefined;
}

/** `a` followed by `b`; `a` itself (possibly a memoized, shared list) when `b` adds nothing. */
function joined(a: readonly string[], b: readonly string[]): readonly string[] {
  return b.length === 0 ? a : [...a, ...b];
}

/** Whether a map's keys are in ascending order (translators emit sorted maps; re-sorting 8,000 names per group is waste). */
function isSorted(m: ReadonlyMap<string, unknown>): boolean {
  let prev: string | undefined;
  for (const k of m.keys()) {
    if (prev !== undefined && !(prev < k)) return false;
    prev = k;
  }
  return true;
}

/**
 * Judges a proxy's resources. Kinds are judged in reference order (clusters, endpoints, routes,
 * listeners), each against what is accepted so far, so a route naming a cluster that was rejected
 * (and has no previous version) is rejected too.
 */
export function guardResources(candidate: ProxyResources, options: GuardOptions = {}): GuardResult {
  const judged = new Set(options.kinds ?? RESOURCE_KINDS);
  const previous = options.previous ?? emptyResources();
  const accepted: Record<ResourceKind, ResourceMap> = { ...candidate };
  const rejected: Rejection[] = [];

  for (const kind of RESOURCE_KINDS) {
    if (!judged.has(kind)) continue;
    const cand = candidate[kind];
    const out = new Map<string, Resource>();
    // Aggregate clusters are checked against the clusters accepted so far (built only when one is present).
    let sameKindUniverse: Map<string, Resource> | undefined;
    if (kind === 'clusters' && [...cand.values()].some((c) => isObj(c.cluster_type))) {
      sameKindUniverse = new Map([...cand].filter(([n, r]) => localErrors(kind, n, r).length === 0));
      for (const [n, r] of previous[kind]) if (!sameKindUniverse.has(n) && cand.has(n)) sameKindUniverse.set(n, r);
    }
    const bound = new Map<string, string>();
    for (const [name, r] of cand) {
      // Shared with the memo: copied before anything is added.
      let errors = localErrors(kind, name, r);
      if (sameKindUniverse) errors = joined(errors, aggregateErrors(name, r, sameKindUniverse));
      if (kind === 'endpoints') {
        const c = accepted.clusters.get(name);
        if (!c) errors = joined(errors, [`has no cluster named "${name}" in the proxy's CDS`]);
        else if (edsNameOf(c) !== name) errors = joined(errors, [`cluster "${name}" does not load this assignment over EDS`]);
      }
      if (kind === 'routes') errors = joined(errors, routeConfigErrors(r, accepted.clusters, ''));
      if (kind === 'listeners') {
        errors = joined(errors, listenerErrors(r, accepted.clusters, accepted.routes));
        const addr = addressOf(r);
        if (addr !== undefined && errors.length === 0) {
          const other = bound.get(addr);
          if (other !== undefined) errors = joined(errors, [`binds ${addr}, already bound by listener "${other}"`]);
          else bound.set(addr, name);
        }
      }
      if (errors.length === 0) out.set(name, r);
      else {
        rejected.push({ kind, name, errors: [...errors] });
        const prev = previous[kind].get(name);
        if (prev) out.set(name, prev);
      }
    }
    accepted[kind] = isSorted(out) ? out : sortedMap(out);
  }
  return { accepted, rejected };
}

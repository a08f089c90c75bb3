/**
 * Policy objects as the API server returns them, and the configuration document each stands
 * for: the object the user applied, minus what the server adds (uid, resourceVersion,
 * generation, managedFields, status, ...), as YAML text the loader checks exactly as it checks a
 * file. Also how the four kinds are listed and watched.
 */
import type * as k8s from '@kubernetes/client-node';
import { stringify } from 'yaml';
import type { ListPage, ResourceApi } from '../../discovery/kubernetes/api-resources.js';
import { kubeRequest, kubeStatusMessage } from '../../discovery/kubernetes/kube-request.js';
import { KubeApiError } from '../../discovery/kubernetes/watch-stream.js';
import type { InlineDocument } from '../loader.js';
import { POLICY_GROUP, POLICY_RESOURCES, POLICY_VERSION, type PolicyKind } from './crds.js';

/** A Condition as crossmesh writes it (metav1.Condition). */
export interface PolicyCondition {
  type: string;
  status: 'True' | 'False' | 'Unknown';
  reason: string;
  message: string;
  observedGeneration?: number;
  lastTransitionTime: string;
}

export interface PolicyStatus {
  observedGeneration?: number;
  conditions?: PolicyCondition[];
}

/** A policy custom resource as listed or watched. */
export interface PolicyObject {
  apiVersion?: string;
  kind?: string;
  metadata?: {
    name?: string;
    namespace?: string;
    uid?: string;
    generation?: number;
    resourceVersion?: string;
    labels?: Record<string, string>;
    annotations?: Record<string, string>;
  };
  spec?: unknown;
  status?: PolicyStatus;
}

/** kubectl's copy of the applied object: bookkeeping, not policy (and it ends in a newline, a control character the loader refuses in annotations). */
const LAST_APPLIED = 'kubectl.kubernetes.io/last-applied-configuration';

/** `<Kind>/<namespace>/<name>`: one object, across kinds. */
export function policyObjectKey(kind: PolicyKind, obj: PolicyObject): string {
  return `${kind}/${obj.metadata?.namespace ?? ''}/${obj.metadata?.name ?? ''}`;
}

/** What stands where a file name would for this object (errors, `/debug/config`, the version hash). */
export function policySourceName(key: string): string {
  return `kubernetes:${key}`;
}

/** The configuration document of an object: apiVersion, kind, name, namespace, labels, annotations and spec as the user wrote them. */
export function policyDocument(kind: PolicyKind, obj: PolicyObject): InlineDocument {
  const m = obj.metadata ?? {};
  const annotations = Object.fromEntries(Object.entries(m.annotations ?? {}).filter(([k]) => k !== LAST_APPLIED));
  const metadata = {
    ...(m.name !== undefined ? { name: m.name } : {}),
    ...(m.namespace !== undefined ? { namespace: m.namespace } : {}),
    ...(m.labels && Object.keys(m.labels).length ? { labels: m.labels } : {}),
    ...(Object.keys(annotations).length ? { annotations } : {}),
  };
  const doc = { apiVersion: obj.apiVersion ?? `${POLICY_GROUP}/${POLICY_VERSION}`, kind, metadata, ...(obj.spec !== undefined ? { spec: obj.spec } : {}) };
  return { source: policySourceName(policyObjectKey(kind, obj)), text: stringify(doc, { lineWidth: 0 }) };
}

/** Collection path of a kind across all namespaces. */
export function policyCollectionPath(kind: PolicyKind): string {
  return `/apis/${POLICY_GROUP}/${POLICY_VERSION}/${POLICY_RESOURCES[kind].plural}`;
}

/** Path of one object's status subresource. */
export function policyStatusPath(kind: PolicyKind, namespace: string, name: string): string {
  return `/apis/${POLICY_GROUP}/${POLICY_VERSION}/namespaces/${encodeURIComponent(namespace)}/${POLICY_RESOURCES[kind].plural}/${encodeURIComponent(name)}/status`;
}

/** List (paged) and watch access to one policy kind in every namespace, for the discovery Reflector. */
export function policyResourceApi(kc: k8s.KubeConfig, kind: PolicyKind): ResourceApi<PolicyObject, PolicyKind> {
  const path = policyCollectionPath(kind);
  return {
    kind,
    watchPath: path,
    async list(r): Promise<ListPage<PolicyObject>> {
      const q = new URLSearchParams({ limit: String(r.limit) });
      if (r.continueToken) q.set('continue', r.continueToken);
      // As client-go's reflector: the list is served from the API server's watch cache, so the
      // watch that follows starts from a resourceVersion the cache has. A list from etcd returns
      // etcd's newest revision, and a watch from there waits (seconds, for a quiet resource such
      // as a new CRD) until the cache has caught up, holding back the first events.
      else q.set('resourceVersion', '0');
      // The reflector bounds the list with its own signal (stop, request timeout); this bound only backs it up.
      const res = await kubeRequest<{ items?: PolicyObject[]; metadata?: { resourceVersion?: string; continue?: string } }>(kc, {
        method: 'GET',
        path: `${path}?${q}`,
        timeoutMs: 5 * 60_000,
        signal: r.signal,
      });
      if (res.status !== 200) {
        const hint = res.status === 404 ? ` (is the ${POLICY_RESOURCES[kind].plural}.${POLICY_GROUP} CRD installed? \`crossmesh crds | kubectl apply -f -\`)` : '';
        throw new KubeApiError(`list ${path}: HTTP ${res.status}: ${kubeStatusMessage(res.body)}${hint}`, res.status);
      }
      const cont = res.body?.metadata?.continue;
      return { items: res.body?.items ?? [], resourceVersion: res.body?.metadata?.resourceVersion ?? '', ...(cont ? { continueToken: cont } : {}) };
    },
  };
}

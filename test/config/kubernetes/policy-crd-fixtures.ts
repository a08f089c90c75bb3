/**
 * Helpers for the policy-CRD tests on a real API server: install the CRDs crossmesh generates,
 * create and update policy objects as `kubectl apply` would (one POST or PUT each, the server's
 * validation and pruning applied), read their status, and wait for a condition.
 */
import { POLICY_KINDS, POLICY_RESOURCES, policyCrd, type PolicyKind } from '../../../src/config/kubernetes/crds.js';
import type { KubeApiServer } from '../../support/kube-apiserver.js';
import { ensureNamespace, grant } from '../../discovery/kubernetes/real-kube-fixtures.js';

const GROUP_VERSION = '/apis/networking.smh.solo.io/v1alpha2';

/** Collection path of a kind in a namespace. */
export function objectsPath(kind: PolicyKind, namespace: string): string {
  return `${GROUP_VERSION}/namespaces/${namespace}/${POLICY_RESOURCES[kind].plural}`;
}

/** Polls `check` every 25 ms until it returns a value other than undefined/false, or fails after `timeoutMs` naming `what`. */
export async function waitFor<T>(what: string, check: () => T | undefined | false | Promise<T | undefined | false>, timeoutMs = 10_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const v = await check();
      if (v !== undefined && v !== false) return v;
    } catch (err) {
      last = err;
    }
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${last ? ` (last error: ${(last as Error).message})` : ''}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

/** Creates the four CRDs and waits until the server serves each kind. */
export async function installPolicyCrds(api: KubeApiServer): Promise<void> {
  for (const kind of POLICY_KINDS) {
    const r = await api.rawRequest('POST', '/apis/apiextensions.k8s.io/v1/customresourcedefinitions', policyCrd(kind));
    if (r.status !== 201 && r.status !== 409) throw new Error(`create CRD for ${kind}: HTTP ${r.status}: ${r.body?.message}`);
  }
  for (const kind of POLICY_KINDS) {
    const name = `${POLICY_RESOURCES[kind].plural}.networking.smh.solo.io`;
    await waitFor(`CRD ${name} established`, async () => {
      const crd = await api.request('GET', `/apis/apiextensions.k8s.io/v1/customresourcedefinitions/${name}`);
      return (crd.body.status?.conditions ?? []).some((c: { type: string; status: string }) => c.type === 'Established' && c.status === 'True');
    }, 30_000);
    await waitFor(`${kind} served`, async () => (await api.rawRequest('GET', `${GROUP_VERSION}/${POLICY_RESOURCES[kind].plural}`)).status === 200, 30_000);
  }
}

/** A policy document (parsed YAML) with its namespace defaulted, as kubectl sends it. */
export interface PolicyDoc {
  apiVersion: string;
  kind: PolicyKind;
  metadata: { name: string; namespace?: string; [k: string]: unknown };
  spec: unknown;
}

/** Creates the object (its namespace too); returns the server's copy. */
export async function createPolicy(api: KubeApiServer, doc: PolicyDoc): Promise<any> {
  const ns = doc.metadata.namespace ?? 'default';
  await ensureNamespace(api, ns);
  return (await api.request('POST', objectsPath(doc.kind, ns), { ...doc, metadata: { ...doc.metadata, namespace: ns } })).body;
}

/** Replaces the spec of an existing object (a PUT on the main resource: generation goes up); returns the server's copy. */
export async function updatePolicySpec(api: KubeApiServer, kind: PolicyKind, namespace: string, name: string, spec: unknown): Promise<any> {
  const path = `${objectsPath(kind, namespace)}/${name}`;
  const current = (await api.request('GET', path)).body;
  return (await api.request('PUT', path, { ...current, spec })).body;
}

/** The object as the server has it now. */
export async function getPolicy(api: KubeApiServer, kind: PolicyKind, namespace: string, name: string): Promise<any> {
  return (await api.request('GET', `${objectsPath(kind, namespace)}/${name}`)).body;
}

/** The Accepted condition on an object, if any. */
export function acceptedOf(obj: any): { status: string; reason: string; message: string; observedGeneration?: number; lastTransitionTime: string } | undefined {
  return (obj?.status?.conditions ?? []).find((c: { type: string }) => c.type === 'Accepted');
}

/** The ClusterRole rules docs/kubernetes.md gives crossmesh for policies: read the four kinds, write their status. */
export const POLICY_RULES = [
  { apiGroups: ['networking.smh.solo.io'], resources: ['virtualmeshes', 'trafficpolicies', 'accesspolicies', 'failoverservices'], verbs: ['get', 'list', 'watch'] },
  { apiGroups: ['networking.smh.solo.io'], resources: ['virtualmeshes/status', 'trafficpolicies/status', 'accesspolicies/status', 'failoverservices/status'], verbs: ['get', 'patch', 'update'] },
];

/** The Role docs/kubernetes.md gives crossmesh in its own namespace: the status-writer Lease. */
export const LEASE_RULES = [{ apiGroups: ['coordination.k8s.io'], resources: ['leases'], verbs: ['get', 'create', 'update'] }];

/** Grants `user` exactly the documented rules (ClusterRole for policies, Role for the Lease in `namespace`); returns a kubeconfig for it. */
export async function leastPrivilegeKubeconfig(api: KubeApiServer, user: string, namespace: string): Promise<string> {
  await grant(api, 'crossmesh-policies', POLICY_RULES, { kind: 'User', name: user });
  await ensureNamespace(api, namespace);
  await api.request('POST', `/apis/rbac.authorization.k8s.io/v1/namespaces/${namespace}/roles`, { apiVersion: 'rbac.authorization.k8s.io/v1', kind: 'Role', metadata: { name: 'crossmesh-leader-election' }, rules: LEASE_RULES });
  await api.request('POST', `/apis/rbac.authorization.k8s.io/v1/namespaces/${namespace}/rolebindings`, {
    apiVersion: 'rbac.authorization.k8s.io/v1',
    kind: 'RoleBinding',
    metadata: { name: 'crossmesh-leader-election' },
    roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'Role', name: 'crossmesh-leader-election' },
    subjects: [{ kind: 'User', apiGroup: 'rbac.authorization.k8s.io', name: user }],
  });
  return api.clientCertKubeconfig(user);
}

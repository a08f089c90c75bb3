/**
 * Objects for the real-API-server discovery tests, written with the admin certificate. With no
 * scheduler, kubelet or controller manager, what they would do is done here by hand: pods are
 * bound to a node at creation and their status (IP, Ready) is written through the status
 * subresource; EndpointSlices are created like the EndpointSlice controller would.
 */
import type { KubeApiServer } from '../../support/kube-apiserver.js';
import { endpointSlice, node, pod, service, type PodSpec, type ServicePortSpec, type SliceEndpoint } from '../../support/kube-objects.js';

/** The ClusterRole docs/kubernetes.md tells users to grant: read-only, cluster-wide, the four kinds. */
export const DISCOVERY_RULES = [
  { apiGroups: [''], resources: ['services', 'pods', 'nodes'], verbs: ['get', 'list', 'watch'] },
  { apiGroups: ['discovery.k8s.io'], resources: ['endpointslices'], verbs: ['get', 'list', 'watch'] },
];

/** Who a ClusterRoleBinding names. */
export type RbacSubject = { kind: 'User'; name: string } | { kind: 'ServiceAccount'; name: string; namespace: string };

/** Creates (or replaces the rules of) ClusterRole `role` and binds it to `subject` under the binding name `binding`. */
export async function grant(api: KubeApiServer, role: string, rules: readonly object[], subject: RbacSubject, binding = `${role}-${subject.name}`): Promise<void> {
  const roleBody = { apiVersion: 'rbac.authorization.k8s.io/v1', kind: 'ClusterRole', metadata: { name: role }, rules };
  const created = await api.rawRequest('POST', '/apis/rbac.authorization.k8s.io/v1/clusterroles', roleBody);
  if (created.status === 409) await api.request('PUT', `/apis/rbac.authorization.k8s.io/v1/clusterroles/${role}`, roleBody);
  else if (created.status !== 201) throw new Error(`create ClusterRole ${role}: HTTP ${created.status}: ${created.body?.message}`);
  const subjects = [subject.kind === 'User' ? { kind: 'User', apiGroup: 'rbac.authorization.k8s.io', name: subject.name } : subject];
  await api.request('POST', '/apis/rbac.authorization.k8s.io/v1/clusterrolebindings', {
    apiVersion: 'rbac.authorization.k8s.io/v1',
    kind: 'ClusterRoleBinding',
    metadata: { name: binding },
    roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: role },
    subjects,
  });
}

/** Creates a namespace unless it exists. */
export async function ensureNamespace(api: KubeApiServer, name: string): Promise<void> {
  const r = await api.rawRequest('POST', '/api/v1/namespaces', { apiVersion: 'v1', kind: 'Namespace', metadata: { name } });
  if (r.status !== 201 && r.status !== 409) throw new Error(`create namespace ${name}: HTTP ${r.status}: ${r.body?.message}`);
}

/** Creates a ServiceAccount unless it exists (the ServiceAccount admission plugin refuses pods naming a missing one). */
export async function ensureServiceAccount(api: KubeApiServer, namespace: string, name: string): Promise<void> {
  const r = await api.rawRequest('POST', `/api/v1/namespaces/${namespace}/serviceaccounts`, { apiVersion: 'v1', kind: 'ServiceAccount', metadata: { name } });
  if (r.status !== 201 && r.status !== 409) throw new Error(`create serviceaccount ${namespace}/${name}: HTTP ${r.status}: ${r.body?.message}`);
}

/** Creates a Node with labels; returns its resourceVersion. */
export async function createNode(api: KubeApiServer, name: string, labels: Record<string, string> = {}): Promise<string> {
  return (await api.request('POST', '/api/v1/nodes', node(name, labels))).body.metadata.resourceVersion;
}

/** Creates a Service; returns its resourceVersion. */
export async function createService(
  api: KubeApiServer,
  s: { name: string; namespace?: string; selector?: Record<string, string>; ports: ServicePortSpec[]; labels?: Record<string, string> },
): Promise<string> {
  const ns = s.namespace ?? 'default';
  await ensureNamespace(api, ns);
  return (await api.request('POST', `/api/v1/namespaces/${ns}/services`, service(s))).body.metadata.resourceVersion;
}

/** Creates a Pod bound to its node, then writes the status a kubelet would (phase, IP, Ready); returns the last resourceVersion. */
export async function createPod(api: KubeApiServer, p: PodSpec): Promise<string> {
  const ns = p.namespace ?? 'default';
  await ensureNamespace(api, ns);
  await ensureServiceAccount(api, ns, p.serviceAccount ?? 'default');
  const { status, ...object } = pod({ ...p, serviceAccount: p.serviceAccount ?? 'default' });
  const created = await api.request('POST', `/api/v1/namespaces/${ns}/pods`, object);
  const withStatus = { ...created.body, status: { ...(status as object), ...(p.ip ? { hostIP: '192.0.2.1', hostIPs: [{ ip: '192.0.2.1' }] } : {}) } };
  return (await api.request('PUT', `/api/v1/namespaces/${ns}/pods/${p.name}/status`, withStatus)).body.metadata.resourceVersion;
}

/** Creates an EndpointSlice for a Service, endpoints pointing at pods. */
export async function createEndpointSlice(
  api: KubeApiServer,
  s: { name: string; namespace?: string; service: string; ports: { name?: string; port: number }[]; endpoints: SliceEndpoint[] },
): Promise<string> {
  const ns = s.namespace ?? 'default';
  return (await api.request('POST', `/apis/discovery.k8s.io/v1/namespaces/${ns}/endpointslices`, endpointSlice(s))).body.metadata.resourceVersion;
}

/** Deletes a namespaced object by its collection path, e.g. `/api/v1/namespaces/default/pods`. */
export async function deleteObject(api: KubeApiServer, collection: string, name: string): Promise<void> {
  // Zero grace: there is no kubelet to confirm a pod's shutdown, so a graceful delete would never finish.
  await api.request('DELETE', `${collection}/${name}`, { apiVersion: 'v1', kind: 'DeleteOptions', gracePeriodSeconds: 0 });
}

/** Reads the object at `path`, lets `change` edit it, and writes it back (PUT, optimistic on its resourceVersion); `path` may end in /status. */
export async function update(api: KubeApiServer, path: string, change: (object: any) => void): Promise<string> {
  const object = (await api.request('GET', path.replace(/\/status$/, ''))).body;
  change(object);
  return (await api.request('PUT', path, object)).body.metadata.resourceVersion;
}

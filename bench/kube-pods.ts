/**
 * Pods as a Kubernetes API server serves them (JSON text, with the server-side apply bookkeeping
 * real clusters carry in `metadata.managedFields`), for measuring what discovery keeps per pod.
 */

/** A realistic managedFields list: what kubelet and a deployment controller record on a pod. */
function managedFields(i: number): unknown[] {
  const fields = (prefix: string, n: number) => Object.fromEntries(Array.from({ length: n }, (_, k) => [`f:${prefix}${k}`, {}]));
  return [
    { manager: 'kube-controller-manager', operation: 'Update', apiVersion: 'v1', time: '2026-12-01T00:00:00Z', fieldsType: 'FieldsV1', fieldsV1: { 'f:metadata': { 'f:generateName': {}, 'f:labels': fields('label', 6), 'f:ownerReferences': { [`k:{"uid":"${i}"}`]: {} } }, 'f:spec': { 'f:containers': { 'k:{"name":"app"}': fields('c', 14) }, ...fields('s', 12) } } },
    { manager: 'kubelet', operation: 'Update', apiVersion: 'v1', time: '2026-12-01T00:00:05Z', fieldsType: 'FieldsV1', subresource: 'status', fieldsV1: { 'f:status': { 'f:conditions': fields('cond', 10), 'f:containerStatuses': {}, 'f:hostIP': {}, 'f:phase': {}, 'f:podIP': {}, 'f:podIPs': {}, 'f:startTime': {} } } },
  ];
}

/** JSON text of pod `i` of `n` (namespace `ns<i % 20>`, app `svc<i % 500>`), as a list would return it. */
export function podJson(i: number): string {
  const ns = `ns${i % 20}`;
  const app = `svc${i % 500}`;
  return JSON.stringify({
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: {
      name: `${app}-${i}`,
      namespace: ns,
      uid: `00000000-0000-0000-0000-${String(i).padStart(12, '0')}`,
      resourceVersion: String(1000 + i),
      labels: { app, version: `v${i % 3}`, 'pod-template-hash': '7d9f8c6b5' },
      annotations: { 'kubectl.kubernetes.io/restartedAt': '2026-12-01T00:00:00Z' },
      ownerReferences: [{ apiVersion: 'apps/v1', kind: 'ReplicaSet', name: `${app}-7d9f8c6b5`, uid: `rs-${i % 500}`, controller: true }],
      managedFields: managedFields(i),
    },
    spec: {
      nodeName: `node-${i % 50}`,
      serviceAccountName: app,
      containers: [{ name: 'app', image: `registry.example/${app}:1.0`, ports: [{ name: 'http', containerPort: 8080, protocol: 'TCP' }], resources: { requests: { cpu: '100m', memory: '128Mi' } } }],
    },
    status: {
      phase: 'Running',
      podIP: `10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}`,
      podIPs: [{ ip: `10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}` }],
      conditions: [{ type: 'Ready', status: 'True', lastTransitionTime: '2026-12-01T00:00:05Z' }],
    },
  });
}

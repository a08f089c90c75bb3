import { afterEach, beforeEach, describe, expect, test } from 'vitest';
import { formatDiagnostic } from '../../src/config/diagnostics.js';
import { loadConfig } from '../../src/config/loader.js';
import { BASE_TOPOLOGY, tempDir, type TempDir } from './helpers.js';

let tmp: TempDir;
beforeEach(() => {
  tmp = tempDir();
});
afterEach(() => tmp.remove());

async function warningsOf(text: string): Promise<string[]> {
  const r = await loadConfig([tmp.write('mesh.yaml', text)]);
  expect(r.errors.map(formatDiagnostic)).toEqual([]);
  expect(r.config).toBeDefined();
  return r.warnings.map((w) => formatDiagnostic(w).replace(tmp.dir + '/', ''));
}

describe('dangling references are warnings, with file and line', () => {
  test('a clean topology has none', async () => {
    expect(await warningsOf(BASE_TOPOLOGY)).toEqual([]);
  });

  test('traffic policy naming a missing service, cluster and subset', async () => {
    const warnings = await warningsOf(`${BASE_TOPOLOGY}---
apiVersion: networking.smh.solo.io/v1alpha2
kind: TrafficPolicy
metadata:
  name: shift
  namespace: default
spec:
  destinationSelector:
  - kubeServiceRefs:
      services:
      - {name: reviewz, namespace: default, clusterName: c1}
  trafficShift:
    destinations:
    - kubeService: {name: reviews, namespace: default, clusterName: c1, subset: {version: v9}}
      weight: 50
    - kubeService: {name: reviews, namespace: default, clusterName: c7}
      weight: 50
`);
    expect(warnings).toEqual([
      'mesh.yaml:46: TrafficPolicy shift: spec.destinationSelector[0].kubeServiceRefs.services[0]: no Service default/reviewz in cluster c1',
      'mesh.yaml:49: TrafficPolicy shift: spec.trafficShift.destinations[0].kubeService.subset: no workload of default/reviews in cluster c1 has labels version=v9',
      'mesh.yaml:51: TrafficPolicy shift: spec.trafficShift.destinations[1].kubeService.clusterName: no Cluster "c7"',
    ]);
  });

  test('virtual mesh member that is not a cluster; access policy naming an unknown service account', async () => {
    const warnings = await warningsOf(`${BASE_TOPOLOGY}---
apiVersion: networking.smh.solo.io/v1alpha2
kind: VirtualMesh
metadata: {name: vm, namespace: mesh}
spec:
  meshes:
  - name: c1
  - name: istiod-istio-system-kind2
---
apiVersion: networking.smh.solo.io/v1alpha2
kind: AccessPolicy
metadata: {name: ap, namespace: mesh}
spec:
  sourceSelector:
  - kubeServiceAccountRefs:
      serviceAccounts:
      - {name: bookinfo-reviews, namespace: default, clusterName: c1}
      - {name: nobody, namespace: default, clusterName: c1}
`);
    expect(warnings).toEqual([
      'mesh.yaml:43: VirtualMesh vm: spec.meshes[1].name: no Cluster "istiod-istio-system-kind2" (meshes[].name names a crossmesh Cluster)',
      'mesh.yaml:53: AccessPolicy ap: spec.sourceSelector[0].kubeServiceAccountRefs.serviceAccounts[1]: no workload runs as service account default/nobody in cluster c1',
    ]);
  });

  test('workload in an unknown cluster; gateway whose workload is missing; service selecting nothing', async () => {
    const warnings = await warningsOf(`${BASE_TOPOLOGY}---
apiVersion: crossmesh.io/v1alpha1
kind: Workload
metadata: {name: stray, cluster: c9}
spec: {address: 127.0.9.1}
---
apiVersion: crossmesh.io/v1alpha1
kind: Gateway
metadata: {name: ew, namespace: crossmesh-system, cluster: c1}
spec: {type: EastWest, workload: ew-0}
---
apiVersion: crossmesh.io/v1alpha1
kind: Service
metadata: {name: ghost, cluster: c1}
spec:
  selector: {app: ghost}
  ports: [{name: http, port: 80}]
`);
    expect(warnings).toEqual([
      'mesh.yaml:51: Service ghost: spec.selector: selects no workloads in c1/default',
      'mesh.yaml:39: Workload stray: metadata.cluster: no Cluster "c9"; this workload is ignored',
      'mesh.yaml:45: Gateway ew: spec.workload: no Workload "ew-0" in c1/crossmesh-system',
    ]);
  });

  test('missing failover service, and a cluster unreachable from another network', async () => {
    const warnings = await warningsOf(`${BASE_TOPOLOGY}---
apiVersion: crossmesh.io/v1alpha1
kind: Cluster
metadata: {name: c2}
spec: {network: n2, gateway: {address: 127.0.2.100}}
---
apiVersion: networking.smh.solo.io/v1alpha2
kind: TrafficPolicy
metadata: {name: to-failover, namespace: default}
spec:
  trafficShift:
    destinations:
    - failoverServiceRef: {name: nope, namespace: default}
`);
    expect(warnings).toEqual([
      'mesh.yaml:5: Cluster c1: spec: no gateway address: workloads in network n2 cannot reach its endpoints',
      'mesh.yaml:48: TrafficPolicy to-failover: spec.trafficShift.destinations[0]: no FailoverService default/nope',
    ]);
  });

  test('references into a Kubernetes-discovered cluster are not judged from files alone', async () => {
    const warnings = await warningsOf(`apiVersion: crossmesh.io/v1alpha1
kind: Cluster
metadata: {name: k1}
spec:
  discovery: {kubernetes: {context: kind-k1}}
---
apiVersion: networking.smh.solo.io/v1alpha2
kind: FailoverService
metadata: {name: fo, namespace: default}
spec:
  hostname: fo.default.global
  port: {number: 9080, protocol: http}
  backingServices:
  - kubeService: {name: reviews, namespace: default, clusterName: k1}
`);
    expect(warnings).toEqual([]);
  });
});

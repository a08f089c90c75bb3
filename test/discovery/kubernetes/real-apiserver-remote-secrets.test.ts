/**
 * Remote clusters registered by Secrets (Istio's remote-secret pattern) on two real API servers:
 * the management one holds, in crossmesh's namespace, a Secret labelled
 * `crossmesh.io/remote-cluster: "true"` whose key `remote1` is the other server's kubeconfig (a
 * ServiceAccount token bound to the documented discovery ClusterRole). `crossmesh serve`'s
 * control plane (policies and Secrets from the management cluster) shows the remote cluster's
 * service on a real ADS stream once the Secret is created, keeps it while the Secret's kubeconfig
 * changes to an allow-listed exec plugin, refuses a Secret whose exec plugin is not allow-listed
 * (naming the Secret and key, never running it), reports a second Secret naming the same cluster
 * as a duplicate, and drops the service when the Secret is deleted.
 * The tests share the servers and run in order.
 */
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { meshLoader } from '../../../src/cli/mesh-loader.js';
import { startControlPlane, type ControlPlane } from '../../../src/cli/serve.js';
import { REMOTE_SECRET_LABEL } from '../../../src/discovery/kubernetes/remote-secrets.js';
import { CLUSTER_TYPE } from '../../../src/xds/types.js';
import { kubeApiServerSuite, startKubeApiServer, type KubeApiServer } from '../../support/kube-apiserver.js';
import { testNode, XdsTestClient, type SotwResponse, type SotwTestStream } from '../../support/xds-client.js';
import { installPolicyCrds } from '../../config/kubernetes/policy-crd-fixtures.js';
import { createEndpointSlice, createNode, createPod, createService, DISCOVERY_RULES, ensureNamespace, grant } from './real-kube-fixtures.js';

const NAMESPACE = 'crossmesh-system';
const NODE = 'local/default/client-0';
const RATINGS = 'outbound|9080||ratings.default.svc.cluster.local';
/** A Secret change → the remote cluster's services on (or off) the ADS stream: list/watch, a relist of four kinds, translation, push. */
const BOUND_MS = 10_000;

const MESH = `apiVersion: crossmesh.io/v1alpha1
kind: Cluster
metadata: {name: local}
spec: {network: net1, locality: {region: r1, zone: r1-a}}
---
apiVersion: crossmesh.io/v1alpha1
kind: Cluster
metadata: {name: remote1}
spec: {network: net1, locality: {region: r2, zone: r2-a}}
---
apiVersion: crossmesh.io/v1alpha1
kind: Workload
metadata: {name: client-0, namespace: default, cluster: local}
spec: {address: 10.1.0.5, labels: {app: client}, serviceAccount: client}
---
apiVersion: networking.smh.solo.io/v1alpha2
kind: VirtualMesh
metadata: {name: mesh, namespace: crossmesh-system}
spec:
  meshes: [{name: local}, {name: remote1}]
`;

function secret(name: string, data: Record<string, string>): object {
  return {
    apiVersion: 'v1',
    kind: 'Secret',
    metadata: { name, namespace: NAMESPACE, labels: { [REMOTE_SECRET_LABEL]: 'true' } },
    type: 'Opaque',
    data: Object.fromEntries(Object.entries(data).map(([k, v]) => [k, Buffer.from(v).toString('base64')])),
  };
}

interface DiscoveryDebug {
  kubernetes: { cluster: string; connected?: boolean; registeredBy?: string; counts?: { services: number; pods: number }; error?: string }[];
  remoteSecrets: { synced: boolean; keys: { secret: string; key: string; cluster: string; state: string; error?: string; server?: string }[] };
}

kubeApiServerSuite('remote clusters registered by Secrets on a real management API server', () => {
  let mgmt: KubeApiServer;
  let remote: KubeApiServer;
  let plane: ControlPlane;
  let client: XdsTestClient;
  let stream: SotwTestStream;
  let latest: SotwResponse;
  let remoteKubeconfig: string;
  let token: string;
  const dir = mkdtempSync(join(tmpdir(), 'crossmesh-remote-secrets-'));
  const execLog = join(dir, 'exec-plugin.log');
  const execPlugin = join(dir, 'token-plugin.sh');
  const forbiddenMarker = join(dir, 'forbidden-ran');

  const clusterNames = (r: SotwResponse): string[] => r.resources.map((x) => x.name);
  const debug = async (): Promise<DiscoveryDebug> => (await (await fetch(`${plane.adminUrl}/debug/discovery`)).json()) as DiscoveryDebug;

  /** Reads CDS responses (ACKing each) until one satisfies `ok`; returns the time it took. */
  async function clustersUntil(what: string, ok: (names: string[]) => boolean): Promise<number> {
    const started = performance.now();
    const deadline = Date.now() + BOUND_MS;
    while (!ok(clusterNames(latest))) {
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`no CDS response with ${what} within ${BOUND_MS} ms (last: ${clusterNames(latest).join(', ')})`);
      latest = await stream.next(left);
      stream.ack(latest, []);
    }
    return performance.now() - started;
  }

  beforeAll(async () => {
    [mgmt, remote] = await Promise.all([startKubeApiServer(), startKubeApiServer()]);
    await installPolicyCrds(mgmt);
    await ensureNamespace(mgmt, NAMESPACE);

    // The remote cluster: one service backed by one ready pod, read by a token with exactly the discovery role.
    await createNode(remote, 'node-a', { 'topology.kubernetes.io/region': 'r2', 'topology.kubernetes.io/zone': 'r2-a' });
    await createService(remote, { name: 'ratings', selector: { app: 'ratings' }, ports: [{ name: 'http', port: 9080 }] });
    await createPod(remote, { name: 'ratings-0', ip: '10.2.0.7', labels: { app: 'ratings' }, node: 'node-a', ready: true });
    await createEndpointSlice(remote, { name: 'ratings-abc', service: 'ratings', ports: [{ name: 'http', port: 9080 }], endpoints: [{ pod: 'ratings-0', ip: '10.2.0.7', ready: true, node: 'node-a' }] });
    token = await remote.serviceAccountToken(NAMESPACE, 'crossmesh-remote');
    await grant(remote, 'crossmesh-discovery', DISCOVERY_RULES, { kind: 'ServiceAccount', name: 'crossmesh-remote', namespace: NAMESPACE });
    remoteKubeconfig = readFileSync(remote.tokenKubeconfig(token, 'remote1'), 'utf8');

    // An exec plugin the operator allow-lists: prints the same token as an ExecCredential, logging each run.
    writeFileSync(
      execPlugin,
      `#!/bin/sh\necho run >> ${JSON.stringify(execLog)}\nprintf '%s' '{"apiVersion":"client.authentication.k8s.io/v1","kind":"ExecCredential","status":{"token":"${token}"}}'\n`,
    );
    chmodSync(execPlugin, 0o755);

    const configDir = join(dir, 'config');
    mkdirSync(configDir);
    writeFileSync(join(configDir, 'mesh.yaml'), MESH);
    plane = await startControlPlane({
      xdsPort: 0,
      adminPort: 0,
      debounceMs: 10,
      configPaths: [configDir],
      loadMesh: meshLoader({
        reloadDebounceMs: 50,
        discovery: { kubeconfigCheckMs: 0, kubernetes: { backoff: { initialMs: 50, maxMs: 1000 }, requestTimeoutMs: 10_000, initialWaitMs: 10_000 } },
      }),
      policyCluster: {
        kubeconfig: mgmt.adminKubeconfig,
        leaseNamespace: NAMESPACE,
        identity: 'replica-a',
        watch: { backoff: { initialMs: 50, maxMs: 500 } },
        remoteSecrets: { allow: { execCommands: [execPlugin] }, watch: { backoff: { initialMs: 50, maxMs: 500 } } },
      },
    });
    client = new XdsTestClient(plane.xdsAddress);
    stream = client.sotw();
    stream.send({ typeUrl: CLUSTER_TYPE, node: testNode(NODE), names: [] });
    latest = await stream.next(10_000);
    stream.ack(latest, []);
  }, 150_000);

  afterAll(async () => {
    stream?.close();
    client?.close();
    await plane?.close();
    await Promise.all([mgmt?.close(), remote?.close()]);
    rmSync(dir, { recursive: true, force: true });
  }, 60_000);

  it('before any Secret: the remote cluster has no services and the Secrets are listed', async () => {
    expect(clusterNames(latest)).not.toContain(RATINGS);
    const d = await debug();
    expect(d.remoteSecrets).toMatchObject({ synced: true, keys: [] });
    expect(d.kubernetes).toEqual([]);
  });

  it('creating the Secret makes the remote cluster\'s service appear on the ADS stream', async () => {
    const written = performance.now();
    await mgmt.request('POST', `/api/v1/namespaces/${NAMESPACE}/secrets`, secret('remote-cluster1', { remote1: remoteKubeconfig }));
    const answered = performance.now() - written;
    const ms = await clustersUntil(RATINGS, (names) => names.includes(RATINGS));
    console.log(`Secret created (API server answered in ${answered.toFixed(0)} ms) → ${RATINGS} on the ADS stream ${ms.toFixed(0)} ms later`);
    const d = await debug();
    expect(d.remoteSecrets.keys).toEqual([{ secret: `${NAMESPACE}/remote-cluster1`, key: 'remote1', cluster: 'remote1', state: 'registered', server: remote.url }]);
    expect(d.kubernetes).toMatchObject([{ cluster: 'remote1', connected: true, registeredBy: `Secret ${NAMESPACE}/remote-cluster1, key remote1`, counts: { pods: 1 } }]);
  });

  it('a Secret whose exec plugin is not allow-listed is refused, naming Secret and key, never run; the other cluster keeps working', async () => {
    const forbidden = remoteKubeconfig.replace(
      /user:\n(\s+)token: .*\n/,
      (_m, indent: string) => `user:\n${indent}exec:\n${indent}  apiVersion: client.authentication.k8s.io/v1\n${indent}  command: /bin/sh\n${indent}  args: ["-c", "touch ${forbiddenMarker}"]\n`,
    );
    expect(forbidden).toContain('command: /bin/sh');
    await mgmt.request('POST', `/api/v1/namespaces/${NAMESPACE}/secrets`, secret('remote-cluster2', { remote2: forbidden }));
    const deadline = Date.now() + BOUND_MS;
    let refused: DiscoveryDebug['remoteSecrets']['keys'][number] | undefined;
    while (!refused) {
      if (Date.now() > deadline) throw new Error('the exec-plugin Secret was not reported within the bound');
      refused = (await debug()).remoteSecrets.keys.find((k) => k.key === 'remote2');
      if (!refused) await new Promise((r) => setTimeout(r, 50));
    }
    expect(refused).toEqual({
      secret: `${NAMESPACE}/remote-cluster2`,
      key: 'remote2',
      cluster: 'remote2',
      state: 'refused',
      error: `Secret ${NAMESPACE}/remote-cluster2, key remote2: kubeconfig refused: users[0] (remote1): exec plugin "/bin/sh" is not allowed (it would run as crossmesh; allow it with --remote-secret-allow-exec /bin/sh, or put a token or client certificate in the kubeconfig)`,
    });
    const d = await debug();
    expect(d.kubernetes.map((k) => k.cluster)).toEqual(['remote1']);
    expect(d.kubernetes[0]).toMatchObject({ connected: true });
    expect(existsSync(forbiddenMarker)).toBe(false);
    expect(clusterNames(latest)).toContain(RATINGS);
    await mgmt.request('DELETE', `/api/v1/namespaces/${NAMESPACE}/secrets/remote-cluster2`);
  });

  it('a second Secret naming the same cluster is reported as a duplicate; the first registration keeps serving', async () => {
    await mgmt.request('POST', `/api/v1/namespaces/${NAMESPACE}/secrets`, secret('remote-cluster3', { remote1: remoteKubeconfig }));
    const deadline = Date.now() + BOUND_MS;
    let duplicate: DiscoveryDebug['remoteSecrets']['keys'][number] | undefined;
    while (!duplicate) {
      if (Date.now() > deadline) throw new Error('the duplicate Secret was not reported within the bound');
      duplicate = (await debug()).remoteSecrets.keys.find((k) => k.secret === `${NAMESPACE}/remote-cluster3`);
      if (!duplicate) await new Promise((r) => setTimeout(r, 50));
    }
    expect(duplicate).toEqual({
      secret: `${NAMESPACE}/remote-cluster3`,
      key: 'remote1',
      cluster: 'remote1',
      state: 'duplicate',
      error: `Secret ${NAMESPACE}/remote-cluster3, key remote1: cluster remote1 is already registered by Secret ${NAMESPACE}/remote-cluster1, key remote1; this key is ignored`,
    });
    expect((await debug()).kubernetes).toMatchObject([{ cluster: 'remote1', connected: true, registeredBy: `Secret ${NAMESPACE}/remote-cluster1, key remote1` }]);
    await mgmt.request('DELETE', `/api/v1/namespaces/${NAMESPACE}/secrets/remote-cluster3`);
  });

  it('changing the Secret to an allow-listed exec plugin restarts the cluster\'s discovery with it; the service stays', async () => {
    const viaExec = remoteKubeconfig.replace(
      /user:\n(\s+)token: .*\n/,
      (_m, indent: string) => `user:\n${indent}exec:\n${indent}  apiVersion: client.authentication.k8s.io/v1\n${indent}  command: ${execPlugin}\n${indent}  interactiveMode: Never\n`,
    );
    const current = (await mgmt.request('GET', `/api/v1/namespaces/${NAMESPACE}/secrets/remote-cluster1`)).body;
    current.data = { remote1: Buffer.from(viaExec).toString('base64') };
    await mgmt.request('PUT', `/api/v1/namespaces/${NAMESPACE}/secrets/remote-cluster1`, current);
    const deadline = Date.now() + BOUND_MS;
    while (!(existsSync(execLog) && (await debug()).kubernetes.some((k) => k.cluster === 'remote1' && k.connected))) {
      if (Date.now() > deadline) throw new Error('discovery of remote1 did not reconnect through the exec plugin within the bound');
      await new Promise((r) => setTimeout(r, 50));
    }
    expect(readFileSync(execLog, 'utf8')).toMatch(/^run\n/);
    expect((await debug()).kubernetes).toMatchObject([{ cluster: 'remote1', connected: true, counts: { pods: 1 } }]);
    expect(clusterNames(latest)).toContain(RATINGS);
  });

  it('deleting the Secret removes the remote cluster\'s service', async () => {
    const written = performance.now();
    await mgmt.request('DELETE', `/api/v1/namespaces/${NAMESPACE}/secrets/remote-cluster1`);
    const answered = performance.now() - written;
    const ms = await clustersUntil(`no ${RATINGS}`, (names) => !names.includes(RATINGS));
    console.log(`Secret deleted (API server answered in ${answered.toFixed(0)} ms) → ${RATINGS} gone from the ADS stream ${ms.toFixed(0)} ms later`);
    const d = await debug();
    expect(d.kubernetes).toEqual([]);
    expect(d.remoteSecrets.keys).toEqual([]);
  });
});

/** Registering a cluster by kubeconfig and context: what works, and the errors for what does not. */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { startKubernetesDiscovery, type KubernetesDiscovery } from '../../../src/discovery/kubernetes/index.js';
import type { FakeKubeApiServer } from '../../support/fake-kube-apiserver.js';
import { pod } from '../../support/kube-objects.js';
import { TopologyRecorder } from '../../support/kube-topology-recorder.js';
import { FAST, fakeApiServer, kubeCluster } from './kube-test-cluster.js';

let dir: string;
let server: FakeKubeApiServer;
let cleanup: () => Promise<void>;
let discovery: KubernetesDiscovery | undefined;
const savedHome = process.env.HOME;

beforeEach(async () => {
  dir = mkdtempSync(join(tmpdir(), 'crossmesh-kcfg-'));
  ({ server, cleanup } = await fakeApiServer());
  server.apply('pods', pod({ name: 'p0', ip: '10.3.0.1', ready: true }));
});

afterEach(async () => {
  process.env.HOME = savedHome;
  await discovery?.stop();
  discovery = undefined;
  await cleanup();
  rmSync(dir, { recursive: true, force: true });
});

/** A kubeconfig with a dead context (current) and a live one pointing at the fake server. */
function twoContexts(file: string): string {
  writeFileSync(
    file,
    `apiVersion: v1
kind: Config
clusters:
- name: dead
  cluster: {server: "http://127.0.0.1:1", insecure-skip-tls-verify: true}
- name: live
  cluster: {server: "${server.url}", insecure-skip-tls-verify: true}
users:
- name: u
  user: {token: ${server.token}}
contexts:
- name: kind-dead
  context: {cluster: dead, user: u}
- name: kind-live
  context: {cluster: live, user: u}
current-context: kind-dead
`,
  );
  return file;
}

describe('kubeconfig loading', () => {
  it('selects the named context and syncs from its server', async () => {
    const file = twoContexts(join(dir, 'config'));
    const rec = new TopologyRecorder();
    discovery = await startKubernetesDiscovery(kubeCluster('ctx', file, 'kind-live'), rec.sink, FAST);
    await rec.waitFor('synced', () => rec.workloads.has('ctx/default/p0'));
    expect(discovery.status()).toMatchObject({ context: 'kind-live', server: server.url, connected: true });
  });

  it('expands ~ in the kubeconfig path', async () => {
    process.env.HOME = dir;
    server.writeKubeconfig({ dir, fileName: 'kc.yaml' });
    const rec = new TopologyRecorder();
    discovery = await startKubernetesDiscovery(kubeCluster('tilde', '~/kc.yaml'), rec.sink, FAST);
    await rec.waitFor('synced', () => rec.workloads.has('tilde/default/p0'));
  });

  it('a missing file is an error naming the cluster and the file', async () => {
    const missing = join(dir, 'nope', 'config');
    await expect(startKubernetesDiscovery(kubeCluster('c1', missing), () => undefined, FAST)).rejects.toThrow(
      `cluster c1: kubeconfig file ${missing} does not exist (discovery.kubernetes.kubeconfig: ${missing})`,
    );
    process.env.HOME = dir;
    await expect(startKubernetesDiscovery(kubeCluster('c1', '~/absent.yaml'), () => undefined, FAST)).rejects.toThrow(
      `kubeconfig file ${join(dir, 'absent.yaml')} does not exist (discovery.kubernetes.kubeconfig: ~/absent.yaml)`,
    );
  });

  it('an unknown context is an error listing the contexts the file has', async () => {
    const file = twoContexts(join(dir, 'config'));
    await expect(startKubernetesDiscovery(kubeCluster('c2', file, 'kind-typo'), () => undefined, FAST)).rejects.toThrow(
      `cluster c2: context "kind-typo" not found in kubeconfig ${file} (available: kind-dead, kind-live)`,
    );
  });

  it('rejects unparseable files, contexts naming undefined clusters, missing current-context and plain http without skip-verify', async () => {
    const bad = join(dir, 'bad');
    writeFileSync(bad, 'clusters: [unclosed');
    await expect(startKubernetesDiscovery(kubeCluster('c3', bad), () => undefined, FAST)).rejects.toThrow(`cluster c3: kubeconfig ${bad} cannot be loaded`);

    const dangling = join(dir, 'dangling');
    writeFileSync(
      dangling,
      `apiVersion: v1
kind: Config
clusters: []
users: []
contexts:
- name: kind-ghost
  context: {cluster: ghost, user: u}
current-context: kind-ghost
`,
    );
    await expect(startKubernetesDiscovery(kubeCluster('c4', dangling), () => undefined, FAST)).rejects.toThrow(
      `cluster c4: context "kind-ghost" in kubeconfig ${dangling} names cluster "ghost", which is not defined there`,
    );

    const noCurrent = join(dir, 'nocurrent');
    writeFileSync(noCurrent, `apiVersion: v1\nkind: Config\nclusters: []\nusers: []\ncontexts:\n- name: a\n  context: {cluster: x}\n`);
    await expect(startKubernetesDiscovery(kubeCluster('c5', noCurrent), () => undefined, FAST)).rejects.toThrow(
      `cluster c5: kubeconfig ${noCurrent} has no usable current-context; set discovery.kubernetes.context (available: a)`,
    );

    const plain = join(dir, 'plain');
    writeFileSync(
      plain,
      `apiVersion: v1\nkind: Config\nclusters:\n- name: x\n  cluster: {server: "${server.url}"}\nusers: []\ncontexts:\n- name: a\n  context: {cluster: x}\ncurrent-context: a\n`,
    );
    await expect(startKubernetesDiscovery(kubeCluster('c6', plain), () => undefined, FAST)).rejects.toThrow(
      /cluster c6: cluster "x" in kubeconfig .* uses plain http .*insecure-skip-tls-verify: true/,
    );
  });

  it('wrong credentials: the 401 marks the cluster stale with the status in the reason', async () => {
    const file = server.writeKubeconfig({ dir, token: 'wrong-token' });
    const rec = new TopologyRecorder();
    discovery = await startKubernetesDiscovery(kubeCluster('auth', file), rec.sink, FAST);
    await rec.waitFor('stale', () => rec.stale.get('auth') === true);
    expect(rec.ofKind('clusterStale')[0]?.reason).toMatch(/HTTP 401/);
    expect(server.requests[0]?.authorization).toBe('Bearer wrong-token');
    expect(rec.ofKind('replaceCluster')).toEqual([]);
  });
});

/**
 * Sidecar injection through a real kube-apiserver: the built `crossmesh serve --inject-port`
 * serves the webhook over TLS with a certificate from its CA; a MutatingWebhookConfiguration
 * (caBundle = the mesh root) points the API server at it; pods created in a labelled namespace
 * come back with the sidecar, as the API server stored them (its own defaults and the
 * ServiceAccount admission's volume included). Opted-out pods and other namespaces are left
 * alone, a pod the sidecar cannot join is refused with crossmesh's reason, and a token minted the
 * way the kubelet fills the injected projected volume (audience crossmesh) passes crossmesh's
 * TokenReview as the pod's service account.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { CertificateAuthority } from '../../src/ca/index.js';
import { KubernetesTokenReviewer } from '../../src/xds/auth/token-review.js';
import { kubeApiServerSuite, useKubeApiServer, type KubeApiServer } from '../support/kube-apiserver.js';

const CLI = join(process.cwd(), 'dist/src/cli/main.js');
const WEBHOOKS = '/apis/admissionregistration.k8s.io/v1/mutatingwebhookconfigurations';

type Container = { name: string; image: string; restartPolicy?: string; securityContext?: Record<string, unknown>; args?: string[] };
type StoredPod = { metadata: { name: string; annotations?: Record<string, string> }; spec: { initContainers?: Container[]; containers: Container[]; volumes: { name: string; projected?: { sources: Record<string, unknown>[] } }[] } };

kubeApiServerSuite('sidecar injection webhook on a real API server', () => {
  const server = useKubeApiServer();
  let dir: string;
  let proc: ChildProcess | undefined;
  let stderr = '';
  let webhookUrl = '';
  let rootPem = '';

  beforeAll(async () => {
    const api = server();
    dir = mkdtempSync(join(tmpdir(), 'crossmesh-inject-kube-'));
    // The CA first, so the test knows the root the webhook's certificate chains to (the caBundle).
    const ca = await CertificateAuthority.open({ directory: join(dir, 'ca') });
    rootPem = ca.trustBundle().pem;
    ca.close();
    writeFileSync(
      join(dir, 'mesh.yaml'),
      `apiVersion: crossmesh.io/v1alpha1\nkind: Cluster\nmetadata: {name: cluster1}\nspec:\n  network: net1\n  discovery: {kubernetes: {kubeconfig: ${api.adminKubeconfig}}}\n`,
    );
    proc = spawn(process.execPath, [CLI, 'serve', '--config', join(dir, 'mesh.yaml'), '--ca-dir', join(dir, 'ca'), '--xds-port', '0', '--admin-port', '0', '--inject-port', '0', '--inject-proxy-image', 'envoyproxy/envoy:v1.40.0', '--inject-crossmesh-image', 'crossmesh:test'], {
      env: { ...process.env, CROSSMESH_LOG_LEVEL: 'warn' },
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`serve did not start:\n${stderr}`)), 40_000);
      proc!.stderr!.on('data', (d: Buffer) => {
        stderr += d.toString();
        const m = /sidecar injection webhook on (https:\/\/\S+)\/inject\/<cluster>/.exec(stderr);
        if (m) {
          clearTimeout(timer);
          webhookUrl = m[1]!;
          resolve();
        }
      });
      proc!.on('exit', (code) => reject(new Error(`serve exited with ${code}:\n${stderr}`)));
    });
    await registerWebhook(api, `${webhookUrl}/inject/cluster1`, rootPem);
    await api.request('POST', '/api/v1/namespaces', { apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'shop', labels: { 'crossmesh.io/injection': 'enabled' } } });
    await api.request('POST', '/api/v1/namespaces', { apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'plain' } });
    // No controller manager here: the ServiceAccount admission plugin needs the accounts to exist.
    for (const ns of ['shop', 'plain']) {
      await api.request('POST', `/api/v1/namespaces/${ns}/serviceaccounts`, { apiVersion: 'v1', kind: 'ServiceAccount', metadata: { name: 'web' } });
      await api.request('POST', `/api/v1/namespaces/${ns}/serviceaccounts`, { apiVersion: 'v1', kind: 'ServiceAccount', metadata: { name: 'default' } });
    }
    await untilWebhookActive(api);
  }, 110_000);

  afterAll(() => {
    if (proc && proc.exitCode === null) proc.kill('SIGKILL');
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('a pod created in a labelled namespace is stored with the sidecar: capture init container, agent, Envoy, projected token', async () => {
    const api = server();
    const r = await api.request('POST', '/api/v1/namespaces/shop/pods', pod({ generateName: 'web-' }));
    const name = (r.body as StoredPod).metadata.name;
    expect(name).toMatch(/^web-/);
    const stored = (await api.request('GET', `/api/v1/namespaces/shop/pods/${name}`)).body as StoredPod;
    expect(stored.metadata.annotations?.['crossmesh.io/injected']).toBe('envoyproxy/envoy:v1.40.0');
    expect(stored.spec.initContainers!.map((c) => c.name)).toEqual(['crossmesh-init', 'crossmesh-agent']);
    expect(stored.spec.initContainers![0]!.securityContext).toMatchObject({ runAsUser: 0, capabilities: { add: ['NET_ADMIN', 'NET_RAW'], drop: ['ALL'] } });
    expect(stored.spec.initContainers![1]!.restartPolicy).toBe('Always');
    expect(stored.spec.containers.map((c) => c.name)).toEqual(['crossmesh-proxy', 'web']);
    expect(stored.spec.containers[0]!.securityContext).toMatchObject({ runAsUser: 1337, runAsNonRoot: true });
    expect(stored.spec.containers[0]!.args![1]).toContain('id: $(CROSSMESH_NODE_ID)');
    const token = stored.spec.volumes.find((v) => v.name === 'crossmesh-token');
    expect(token?.projected?.sources).toEqual([{ serviceAccountToken: { audience: 'crossmesh', expirationSeconds: 3600, path: 'token' } }]);
    // The API server's own ServiceAccount admission still adds its token volume beside ours.
    expect(stored.spec.volumes.some((v) => v.name.startsWith('kube-api-access-'))).toBe(true);
  });

  it('leaves pods that opt out, and pods of namespaces without the label, as they were', async () => {
    const api = server();
    const optedOut = (await api.request('POST', '/api/v1/namespaces/shop/pods', pod({ name: 'batch', labels: { 'crossmesh.io/inject': 'false' } }))).body as StoredPod;
    expect(optedOut.spec.containers.map((c) => c.name)).toEqual(['web']);
    expect(optedOut.spec.initContainers).toBeUndefined();
    const plain = (await api.request('POST', '/api/v1/namespaces/plain/pods', pod({ name: 'web' }))).body as StoredPod;
    expect(plain.spec.containers.map((c) => c.name)).toEqual(['web']);
  });

  it('refuses a pod whose port the sidecar needs, with crossmesh\'s reason in the API server\'s answer', async () => {
    const api = server();
    const r = await api.rawRequest('POST', '/api/v1/namespaces/shop/pods', pod({ name: 'clash', port: 15001 }));
    expect(r.status).toBe(400);
    expect(String((r.body as { message: string }).message)).toContain('admission webhook "inject.crossmesh.io" denied the request: crossmesh sidecar injection: pod shop/clash: container "web" uses port 15001');
  });

  it('the injected token volume\'s kind of token (audience crossmesh, for the pod\'s account) passes crossmesh\'s TokenReview', async () => {
    const api = server();
    const token = await api.serviceAccountToken('shop', 'web', { audiences: ['crossmesh'], expirationSeconds: 3600 });
    const reviewer = new KubernetesTokenReviewer({ cacheTtlMs: 0 });
    const cluster = { name: 'cluster1', network: 'net1', trustDomain: 'cluster1', locality: { region: '', zone: '', subzone: '' }, discovery: { kubernetes: { kubeconfig: api.adminKubeconfig } } };
    expect(await reviewer.review(cluster, token)).toMatchObject({ authenticated: true, namespace: 'shop', serviceAccount: 'web' });
    // A token for the API server's own audience is not one crossmesh accepts.
    const wrong = await api.serviceAccountToken('shop', 'web', { expirationSeconds: 3600 });
    expect(await reviewer.review(cluster, wrong)).toMatchObject({ authenticated: false, reason: 'rejected' });
  });
});

function pod(o: { name?: string; generateName?: string; labels?: Record<string, string>; port?: number }): unknown {
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { ...(o.name ? { name: o.name } : { generateName: o.generateName }), labels: { app: 'web', ...o.labels } },
    spec: { serviceAccountName: 'web', nodeName: 'node-a', containers: [{ name: 'web', image: 'web:1', ports: [{ containerPort: o.port ?? 8080 }] }] },
  };
}

/** The MutatingWebhookConfiguration docs/kubernetes.md tells users to apply, with a loopback URL instead of the Service. */
async function registerWebhook(api: KubeApiServer, url: string, caPem: string): Promise<void> {
  await api.request('POST', WEBHOOKS, {
    apiVersion: 'admissionregistration.k8s.io/v1',
    kind: 'MutatingWebhookConfiguration',
    metadata: { name: 'crossmesh-sidecar-injector' },
    webhooks: [
      {
        name: 'inject.crossmesh.io',
        clientConfig: { url, caBundle: Buffer.from(caPem).toString('base64') },
        rules: [{ operations: ['CREATE'], apiGroups: [''], apiVersions: ['v1'], resources: ['pods'], scope: 'Namespaced' }],
        namespaceSelector: { matchLabels: { 'crossmesh.io/injection': 'enabled' } },
        objectSelector: { matchExpressions: [{ key: 'crossmesh.io/inject', operator: 'NotIn', values: ['false'] }] },
        admissionReviewVersions: ['v1'],
        sideEffects: 'None',
        failurePolicy: 'Fail',
        timeoutSeconds: 10,
      },
    ],
  });
}

/** The API server picks up a new webhook configuration within a second or so: dry-run a pod until it comes back injected. */
async function untilWebhookActive(api: KubeApiServer): Promise<void> {
  const deadline = Date.now() + 30_000;
  let last = '';
  while (Date.now() < deadline) {
    const r = await api.rawRequest('POST', '/api/v1/namespaces/shop/pods?dryRun=All', pod({ name: 'probe' }));
    if (r.status === 201 && (r.body as StoredPod).spec.containers.some((c) => c.name === 'crossmesh-proxy')) return;
    last = `${r.status} ${JSON.stringify(r.body).slice(0, 300)}`;
    await new Promise((res) => setTimeout(res, 300));
  }
  throw new Error(`the API server never called the webhook; last answer: ${last}\n${api.logTail()}`);
}

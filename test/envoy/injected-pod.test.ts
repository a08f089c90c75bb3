/**
 * An injected pod, end to end: the pod is created through the real kube-apiserver, whose call to
 * `crossmesh serve`'s webhook injects it; then the pod spec the API server stored is run the way
 * a kubelet would, in a network namespace (netsim): the `crossmesh-init` container's command
 * (capture rules), the `crossmesh-agent` native sidecar with a TokenRequest token of the
 * projected volume's audience and lifetime, its startup probe, then the `crossmesh-proxy`
 * container: real Envoy with the bootstrap from its arguments, the node id expanded from the
 * downward API. The pod joins the mesh: crossmesh's `/debug/proxies` shows the agent's stream as
 * `k8s:spiffe://cluster1/ns/shop/sa/web` (authenticated by the API server's TokenReview) and
 * Envoy's as `cert:spiffe://...` (mTLS with the certificate the agent fetched), with CDS and LDS
 * ACKed, and Envoy reports LIVE. Then the pod backs a Service and a call to it from inside the
 * pod goes through Envoy over mesh mTLS (a self-call through the inbound listener) and reaches the
 * app with the pod's SPIFFE ID as the caller.
 *
 * What stands in for Kubernetes: volume mounts are host directories substituted for the mount
 * paths (test/support/kubelet-lite.ts), and the pod reaches crossmesh's xDS port through a TCP
 * relay on the pod's 127.0.0.1:18000 to crossmesh's unix socket (the harness's pod networks have
 * no route to the host). Needs root, Envoy, iptables and the kube binaries.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { chownSync, mkdirSync, mkdtempSync, rmSync, writeFileSync, chmodSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, expect, it } from 'vitest';
import { CertificateAuthority } from '../../src/ca/index.js';
import { findEnvoy } from '../../src/envoy/binary.js';
import { startSimulation, type NsProcess, type Simulation } from '../../src/netsim/index.js';
import { envoySuite } from './support.js';
import { findKubeBinaries, kubeApiServerSuite, useKubeApiServer, type KubeApiServer } from '../support/kube-apiserver.js';
import { containerProcess, type PodContainer } from '../support/kubelet-lite.js';
import { createEndpointSlice, createService } from '../discovery/kubernetes/real-kube-fixtures.js';

const CLI = join(process.cwd(), 'dist/src/cli/main.js');
const UID = 1337;
const POD = { name: 'web-0', namespace: 'shop' };
const POD_IP = '10.61.0.10';
const NODE_ID = `cluster1/${POD.namespace}/${POD.name}`;

type StoredPod = { spec: { initContainers: (PodContainer & { startupProbe?: { exec: { command: string[] } } })[]; containers: PodContainer[]; volumes: { name: string; projected?: { sources: { serviceAccountToken?: { audience: string; expirationSeconds: number; path: string } }[] } }[] } };
type Proxy = { nodeId: string; identity: string | null; types: Record<string, { ackedVersion: string; lastNack: unknown }> };

// Envoy's suite rule (root, Envoy; CI fails without them) when the kube binaries are there; the kube rule otherwise.
const suite = findKubeBinaries() ? envoySuite : kubeApiServerSuite;

suite('an injected pod runs in a network namespace and joins the mesh', () => {
  const server = useKubeApiServer();
  const dir = mkdtempSync(join(tmpdir(), 'crossmesh-injected-pod-'));
  chmodSync(dir, 0o755); // uid 1337 reaches the volume directories inside (the CA directory stays 0700)
  let serve: ChildProcess | undefined;
  let sim: Simulation | undefined;
  let stderr = '';

  afterAll(async () => {
    await sim?.close();
    if (serve && serve.exitCode === null) serve.kill('SIGKILL');
    rmSync(dir, { recursive: true, force: true });
  }, 30_000);

  it('webhook-injected spec → capture, agent (k8s token), Envoy (mTLS xDS): on /debug/proxies, LIVE, and a call over mesh mTLS reaches the app', async () => {
    const api = server();
    const ca = await CertificateAuthority.open({ directory: join(dir, 'ca') });
    const rootPem = ca.trustBundle().pem;
    ca.close();
    writeFileSync(join(dir, 'mesh.yaml'), `apiVersion: crossmesh.io/v1alpha1\nkind: Cluster\nmetadata: {name: cluster1}\nspec:\n  network: net1\n  trustDomain: cluster1\n  discovery: {kubernetes: {kubeconfig: ${api.adminKubeconfig}}}\n`);
    const socket = join(dir, 'xds.sock');
    serve = spawn(process.execPath, [CLI, 'serve', '--config', join(dir, 'mesh.yaml'), '--ca-dir', join(dir, 'ca'), '--xds-port', '0', '--admin-port', '0', '--xds-socket', socket, '--inject-port', '0', '--inject-xds-address', '127.0.0.1:18000'], {
      env: { ...process.env, CROSSMESH_LOG_LEVEL: 'warn' },
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    const { webhookUrl, adminUrl } = await started(serve, (t) => (stderr = t));

    await registerWebhook(api, `${webhookUrl}/inject/cluster1`, rootPem);
    await api.request('POST', '/api/v1/namespaces', { apiVersion: 'v1', kind: 'Namespace', metadata: { name: POD.namespace, labels: { 'crossmesh.io/injection': 'enabled' } } });
    await api.request('POST', `/api/v1/namespaces/${POD.namespace}/serviceaccounts`, { apiVersion: 'v1', kind: 'ServiceAccount', metadata: { name: 'web' } });
    const stored = await createInjectedPod(api);

    // The kubelet's part: the pod is running at its address (what discovery turns into the workload).
    const live = (await api.request('GET', `/api/v1/namespaces/${POD.namespace}/pods/${POD.name}`)).body;
    live.status = { phase: 'Running', podIP: POD_IP, podIPs: [{ ip: POD_IP }], hostIP: '192.0.2.1', conditions: [{ type: 'Ready', status: 'True' }] };
    await api.request('PUT', `/api/v1/namespaces/${POD.namespace}/pods/${POD.name}/status`, live);

    sim = await startSimulation({ networks: [{ name: 'net1', subnet: '10.61.0.0/24' }], pods: [{ name: 'web', network: 'net1', address: POD_IP }] });
    await startRelay(sim, socket);

    // Volumes: the projected token as the kubelet would write it (TokenRequest with the volume's audience and lifetime), the emptyDir.
    const tokenSource = stored.spec.volumes.find((v) => v.name === 'crossmesh-token')!.projected!.sources[0]!.serviceAccountToken!;
    const hostDirs: Record<string, string> = { 'crossmesh-token': join(dir, 'vol-token'), 'crossmesh-xds': join(dir, 'vol-xds') };
    // The API server's ServiceAccount admission mounts its own token volume into every container; nothing here reads it.
    for (const v of stored.spec.volumes) if (v.name.startsWith('kube-api-access-')) hostDirs[v.name] = join(dir, 'vol-kube-api-access');
    for (const d of new Set(Object.values(hostDirs))) mkdirSync(d);
    chmodSync(hostDirs['crossmesh-xds']!, 0o777); // an emptyDir is world-writable
    const token = await api.serviceAccountToken(POD.namespace, 'web', { audiences: [tokenSource.audience], expirationSeconds: tokenSource.expirationSeconds });
    writeFileSync(join(hostDirs['crossmesh-token']!, tokenSource.path), token, { mode: 0o644 });

    const [init, agent] = stored.spec.initContainers;
    expect(init!.name).toBe('crossmesh-init');
    const capture = run(sim, init!, hostDirs, 0);
    const captureExit = await capture.exited;
    expect(captureExit.code, capture.logTail()).toBe(0);

    expect(agent!.name).toBe('crossmesh-agent');
    const agentProc = run(sim, agent!, hostDirs, UID);
    await until('the agent\'s startup probe passes', 30_000, () => {
      if (agentProc.exitStatus()) throw new Error(`agent exited: ${agentProc.describeExit()}\n${agentProc.logTail()}`);
      const probe = containerProcess({ name: 'probe', command: agent!.startupProbe!.exec.command, volumeMounts: agent!.volumeMounts ?? [] }, POD, hostDirs).argv;
      return spawnSync(probe[0]!, probe.slice(1)).status === 0;
    }, () => `${agentProc.logTail()}\n--- crossmesh ---\n${stderr.slice(-3000)}`);

    const proxy = stored.spec.containers[0]!;
    expect(proxy.name).toBe('crossmesh-proxy');
    const envoy = run(sim, proxy, hostDirs, UID);

    let proxies: Proxy[] = [];
    await until('the agent and Envoy are on /debug/proxies with everything ACKed', 45_000, async () => {
      if (envoy.exitStatus()) throw new Error(`Envoy exited: ${envoy.describeExit()}\n${envoy.logTail()}`);
      proxies = ((await (await fetch(`${adminUrl}/debug/proxies`)).json()) as { proxies: Proxy[] }).proxies.filter((p) => p.nodeId === NODE_ID);
      const envoyStream = proxies.find((p) => p.identity?.startsWith('cert:'));
      return !!envoyStream && ['cds', 'lds'].every((t) => (envoyStream.types[t]?.ackedVersion ?? '') !== '');
    }, () => `${JSON.stringify(proxies, null, 1).slice(0, 3000)}\n--- envoy ---\n${envoy.logTail()}\n--- agent ---\n${agentProc.logTail()}\n--- crossmesh ---\n${stderr.slice(-3000)}`);

    expect(proxies.map((p) => p.identity).sort()).toEqual(['cert:spiffe://cluster1/ns/shop/sa/web', 'k8s:spiffe://cluster1/ns/shop/sa/web']);
    for (const p of proxies) for (const s of Object.values(p.types)) expect(s.lastNack).toBeNull();
    // Envoy's admin, from inside the pod.
    const driver = await sim.driver('web');
    const ready = await driver.request('http://127.0.0.1:15000/ready', { timeoutMs: 3000 });
    expect(ready.status).toBe(200);
    expect(ready.body?.trim()).toBe('LIVE');

    // Traffic over mesh mTLS: the pod backs a Service; the app (standing in for the image) answers
    // on 127.0.0.1:8080, and a call from inside the pod to the service is captured into Envoy,
    // sent over mTLS to the pod's own inbound listener (a self-call) and reaches the app with the
    // caller's SPIFFE ID in x-forwarded-client-cert, which the demo app echoes.
    await createService(api, { name: 'web', namespace: POD.namespace, selector: { app: 'web' }, ports: [{ name: 'http', port: 8080 }] });
    await createEndpointSlice(api, { name: 'web-1', namespace: POD.namespace, service: 'web', ports: [{ name: 'http', port: 8080 }], endpoints: [{ pod: POD.name, ip: POD_IP, ready: true }] });
    const app = sim.run('web', process.execPath, [CLI, 'demo-app', '--name', 'web', '--version', 'v1', '--cluster', 'cluster1', '--pod', POD.name, '--namespace', POD.namespace, '--listen', '127.0.0.1', '--port', '8080'], { uid: 1000, gid: 1000 });
    let answer: { status?: number; body?: string } = {};
    await until('a call to web.shop through the sidecar is answered', 45_000, async () => {
      if (app.exitStatus()) throw new Error(`app exited: ${app.describeExit()}\n${app.logTail()}`);
      answer = await driver.request(`http://${POD_IP}:8080/`, { timeoutMs: 2000, headers: { host: 'web.shop.svc.cluster.local' } });
      return answer.status === 200;
    }, () => `${JSON.stringify(answer)}\n--- envoy ---\n${envoy.logTail()}\n--- app ---\n${app.logTail()}`);
    const body = JSON.parse(answer.body!) as { pod: string; caller: string | null };
    expect(body.pod).toBe(POD.name);
    expect(body.caller).toBe('spiffe://cluster1/ns/shop/sa/web');
    // The upstream side of that call was a TLS handshake (Envoy's own count, not only the header).
    const stats = await driver.request('http://127.0.0.1:15000/stats?filter=ssl%5C.handshake%24', { timeoutMs: 3000 });
    const handshakes = /^cluster\.outbound\|8080\|\|web\.shop\.svc\.cluster\.local\.ssl\.handshake: (\d+)$/m.exec(stats.body ?? '');
    expect(Number(handshakes?.[1] ?? 0), stats.body).toBeGreaterThan(0);
  }, 150_000);
});

/** Starts a container of the stored spec in the pod's namespace: `crossmesh` is the built CLI, `envoy` the test Envoy. */
function run(sim: Simulation, c: PodContainer, hostDirs: Record<string, string>, uid: number): NsProcess {
  const { argv, env } = containerProcess(c, POD, hostDirs);
  const binary = argv[0] === 'crossmesh' ? [process.execPath, CLI] : argv[0] === 'envoy' ? [findEnvoy()!.path] : undefined;
  if (!binary) throw new Error(`container ${c.name}: unexpected command ${argv[0]}`);
  // The emptyDir's files belong to the container's uid, as a fresh pod's would.
  if (uid !== 0) chownSync(hostDirs['crossmesh-xds']!, uid, uid);
  return sim.run('web', binary[0]!, [...binary.slice(1), ...argv.slice(1)], { uid, gid: uid, env: { ...process.env, ...env } });
}

/** A TCP relay on the pod's 127.0.0.1:18000 to crossmesh's xDS unix socket (TLS passes through it untouched). */
async function startRelay(sim: Simulation, socket: string): Promise<void> {
  const script = `const net = require('node:net');
net.createServer((c) => { const u = net.connect(process.argv[1]); c.pipe(u); u.pipe(c); c.on('error', () => u.destroy()); u.on('error', () => c.destroy()); })
  .listen(18000, '127.0.0.1', () => console.log('relay ready'));`;
  const relay = sim.run('web', process.execPath, ['-e', script, socket]);
  await until('the xDS relay listens', 15_000, () => {
    if (relay.exitStatus()) throw new Error(`relay exited: ${relay.describeExit()}\n${relay.logTail()}`);
    return relay.logTail().includes('relay ready');
  }, () => relay.logTail());
}

/** Waits for serve's webhook and admin lines on stderr. */
function started(proc: ChildProcess, onText: (t: string) => void): Promise<{ webhookUrl: string; adminUrl: string }> {
  let text = '';
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`serve did not start:\n${text}`)), 40_000);
    proc.stderr!.on('data', (d: Buffer) => {
      text += d.toString();
      onText(text);
      const w = /sidecar injection webhook on (https:\/\/\S+)\/inject\/<cluster>/.exec(text);
      const a = /admin on (http:\/\/\S+)/.exec(text);
      if (w && a) {
        clearTimeout(timer);
        resolve({ webhookUrl: w[1]!, adminUrl: a[1]! });
      }
    });
    proc.on('exit', (code) => reject(new Error(`serve exited with ${code}:\n${text}`)));
  });
}

async function registerWebhook(api: KubeApiServer, url: string, caPem: string): Promise<void> {
  await api.request('POST', '/apis/admissionregistration.k8s.io/v1/mutatingwebhookconfigurations', {
    apiVersion: 'admissionregistration.k8s.io/v1',
    kind: 'MutatingWebhookConfiguration',
    metadata: { name: 'crossmesh-sidecar-injector' },
    webhooks: [
      {
        name: 'inject.crossmesh.io',
        clientConfig: { url, caBundle: Buffer.from(caPem).toString('base64') },
        rules: [{ operations: ['CREATE'], apiGroups: [''], apiVersions: ['v1'], resources: ['pods'], scope: 'Namespaced' }],
        namespaceSelector: { matchLabels: { 'crossmesh.io/injection': 'enabled' } },
        admissionReviewVersions: ['v1'],
        sideEffects: 'None',
        failurePolicy: 'Fail',
        timeoutSeconds: 10,
      },
    ],
  });
}

/** Creates the pod once the API server calls the webhook (it picks up a new configuration within a second or so). */
async function createInjectedPod(api: KubeApiServer): Promise<StoredPod> {
  const pod = { apiVersion: 'v1', kind: 'Pod', metadata: { name: POD.name, labels: { app: 'web' } }, spec: { serviceAccountName: 'web', nodeName: 'node-a', containers: [{ name: 'app', image: 'web:1', ports: [{ containerPort: 8080 }] }] } };
  await until('the API server calls the webhook', 30_000, async () => {
    const r = await api.rawRequest('POST', `/api/v1/namespaces/${POD.namespace}/pods?dryRun=All`, pod);
    return r.status === 201 && (r.body as StoredPod).spec.containers.some((c) => c.name === 'crossmesh-proxy');
  }, () => api.logTail());
  return (await api.request('POST', `/api/v1/namespaces/${POD.namespace}/pods`, pod)).body as StoredPod;
}

/** Polls `check` every 200 ms until it is true; throws with `detail()` after `ms`. */
async function until(what: string, ms: number, check: () => boolean | Promise<boolean>, detail: () => string): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`${what}: not within ${ms} ms\n${detail()}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

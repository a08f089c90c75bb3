/**
 * deploy/base, the install base (`kubectl apply -k deploy/base`): its objects as crossmesh and
 * DESIGN.md expect them (ports 18000/18080, probes on the admin server's real paths, 2 replicas, a
 * PodDisruptionBudget over them, flags `serve` knows, a mesh `validate` accepts), then applied to
 * a real kube-apiserver with strict field validation, and the ServiceAccount's RBAC checked with
 * SubjectAccessReviews against that server: exactly the reads discovery makes, TokenReview, and
 * the one root CA Secret — nothing else — and enough for discovery and TokenReview to work with
 * the ServiceAccount's own token. The root CA Secret: one create wins among concurrent replicas,
 * every replica reads the winner's root, bad content is refused naming the Secret and key, and
 * `crossmesh validate` fails clearly without a management cluster.
 */
import { X509Certificate } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { Command } from 'commander';
import { afterAll, describe, expect, it } from 'vitest';
import { registerCommands } from '../../src/cli/commands.js';
import { runValidate } from '../../src/cli/validate.js';
import { loadConfig } from '../../src/config/loader.js';
import { RESOURCE_KINDS } from '../../src/discovery/kubernetes/api-resources.js';
import { startKubernetesDiscovery } from '../../src/discovery/kubernetes/index.js';
import { createRoot } from '../../src/ca/root.js';
import { issueServerCertificate } from '../../src/ca/server-certificate.js';
import { ensureRootSecret, loadManagementCluster, readRootSecret } from '../../src/ca/root-secret.js';
import { KubernetesTokenReviewer } from '../../src/xds/auth/token-review.js';
import { tempDir } from '../config/helpers.js';
import { kubeApiServerSuite, useKubeApiServer } from '../support/kube-apiserver.js';
import { TopologyRecorder } from '../support/kube-topology-recorder.js';
import { kubeCluster } from '../discovery/kubernetes/kube-test-cluster.js';
import { collectionPath, one, renderBase, type KubeManifest } from './install-base.js';

const NS = 'crossmesh-system';
const SA_USER = `system:serviceaccount:${NS}:crossmesh`;
const SA_GROUPS = ['system:serviceaccounts', `system:serviceaccounts:${NS}`, 'system:authenticated'];
const ROOT_SECRET = 'crossmesh-root-ca';
/** The API group of each kind discovery watches (src/discovery/kubernetes/api-resources.ts). */
const GROUP_OF: Record<string, string> = { services: '', pods: '', nodes: '', endpointslices: 'discovery.k8s.io' };
/** The policy kinds read from the management cluster (deploy/crds) and their group. */
const POLICY_GROUP = 'networking.smh.solo.io';
const POLICY_KINDS = ['virtualmeshes', 'trafficpolicies', 'accesspolicies', 'failoverservices'];

const objects = renderBase();
const deployment = one(objects, 'Deployment', 'crossmesh');
const container = deployment.spec.template.spec.containers[0];
const meshYaml = one(objects, 'ConfigMap', 'crossmesh-config').data['mesh.yaml'] as string;

describe('deploy/base as crossmesh expects it', () => {
  it('lists exactly the install objects, the policy CRDs first, the rest in crossmesh-system', () => {
    expect(objects.map((o) => `${o.kind}/${o.metadata.name}`)).toEqual([
      'CustomResourceDefinition/accesspolicies.networking.smh.solo.io',
      'CustomResourceDefinition/failoverservices.networking.smh.solo.io',
      'CustomResourceDefinition/trafficpolicies.networking.smh.solo.io',
      'CustomResourceDefinition/virtualmeshes.networking.smh.solo.io',
      'Namespace/crossmesh-system',
      'ServiceAccount/crossmesh',
      'ClusterRole/crossmesh',
      'ClusterRoleBinding/crossmesh',
      'Role/crossmesh-root-ca',
      'RoleBinding/crossmesh-root-ca',
      'Role/crossmesh-leader-election',
      'RoleBinding/crossmesh-leader-election',
      'ConfigMap/crossmesh-config',
      'Deployment/crossmesh',
      'PodDisruptionBudget/crossmesh',
      'Service/crossmesh',
    ]);
    for (const o of objects) if (!['CustomResourceDefinition', 'Namespace', 'ClusterRole', 'ClusterRoleBinding'].includes(o.kind)) expect(o.metadata.namespace, `${o.kind} ${o.metadata.name}`).toBe(NS);
  });

  it('runs 2 replicas on ports 18000/18080 behind the Service, probed on /healthz and /readyz, with a PodDisruptionBudget', () => {
    expect(deployment.spec.replicas).toBe(2);
    expect(deployment.spec.template.spec.serviceAccountName).toBe('crossmesh');
    const ports = Object.fromEntries((container.ports as { name: string; containerPort: number }[]).map((p) => [p.name, p.containerPort]));
    expect(ports).toEqual({ xds: 18000, admin: 18080 });
    const service = one(objects, 'Service', 'crossmesh');
    expect(service.spec.selector).toEqual(deployment.spec.template.metadata.labels);
    expect((service.spec.ports as { port: number; targetPort: string }[]).map((p) => [p.port, ports[p.targetPort]])).toEqual([
      [18000, 18000],
      [18080, 18080],
    ]);
    expect(container.livenessProbe.httpGet).toEqual({ path: '/healthz', port: 'admin' });
    expect(container.startupProbe.httpGet).toEqual({ path: '/healthz', port: 'admin' });
    expect(container.readinessProbe.httpGet).toEqual({ path: '/readyz', port: 'admin' });
    const pdb = one(objects, 'PodDisruptionBudget', 'crossmesh');
    expect(pdb.spec.minAvailable).toBe(1);
    expect(pdb.spec.selector.matchLabels).toEqual(deployment.spec.template.metadata.labels);
    // Every mounted volume exists; the CA directory is writable (emptyDir), the root filesystem is not.
    const volumes = new Set((deployment.spec.template.spec.volumes as { name: string }[]).map((v) => v.name));
    for (const m of container.volumeMounts as { name: string }[]) expect(volumes.has(m.name), m.name).toBe(true);
    expect(container.securityContext.readOnlyRootFilesystem).toBe(true);
  });

  it('passes `serve` only flags it has, and a mesh `validate` accepts whose root CA is the Secret the Role names', async () => {
    const program = new Command();
    await registerCommands(program);
    const serve = program.commands.find((c) => c.name() === 'serve')!;
    const known = new Set(serve.options.map((o) => o.long));
    known.add('--log-format'); // added to every command by main.ts
    const args = container.args as string[];
    expect(args[0]).toBe('serve');
    for (const a of args.slice(1)) expect(known.has(a.split('=')[0]), a).toBe(true);
    expect(args).toContain('--management-kubeconfig=in-cluster');
    expect(args).toContain('--policies-kubeconfig=in-cluster');
    expect(args).toContain('--config=/etc/crossmesh/config/mesh.yaml');

    const dir = tempDir('crossmesh-deploy-');
    try {
      const loaded = await loadConfig([dir.write('mesh.yaml', meshYaml)]);
      expect(loaded.errors).toEqual([]);
      const vm = loaded.config!.policies.virtualMeshes[0]!;
      expect(vm.mtls.rootCertificateAuthority).toEqual({ kind: 'secret', name: ROOT_SECRET, namespace: NS });
      const role = one(objects, 'Role', 'crossmesh-root-ca');
      expect(role.rules[0]).toEqual({ apiGroups: [''], resources: ['secrets'], resourceNames: [ROOT_SECRET], verbs: ['get'] });
    } finally {
      dir.remove();
    }
  });

  it('grants list and watch on exactly the kinds discovery and the policy source watch, policy status writes, plus tokenreviews create', () => {
    const rules = one(objects, 'ClusterRole', 'crossmesh').rules as { apiGroups: string[]; resources: string[]; verbs: string[] }[];
    const granted = new Set<string>();
    for (const r of rules) for (const g of r.apiGroups) for (const res of r.resources) for (const v of r.verbs) granted.add(`${v} ${g}/${res}`);
    const policies = POLICY_KINDS.flatMap((k) => [`list ${POLICY_GROUP}/${k}`, `watch ${POLICY_GROUP}/${k}`, ...['get', 'patch', 'update'].map((v) => `${v} ${POLICY_GROUP}/${k}/status`)]);
    const needed = new Set([...RESOURCE_KINDS.flatMap((k) => [`list ${GROUP_OF[k]}/${k}`, `watch ${GROUP_OF[k]}/${k}`]), ...policies, 'create authentication.k8s.io/tokenreviews']);
    expect([...granted].sort()).toEqual([...needed].sort());
  });
});

kubeApiServerSuite('deploy/base on a real API server', () => {
  const api = useKubeApiServer();
  const dirs: { remove(): void }[] = [];
  afterAll(() => {
    for (const d of dirs) d.remove();
  });

  async function can(verb: string, resource: string, o: { group?: string; namespace?: string; name?: string; subresource?: string } = {}): Promise<boolean> {
    const r = await api().request('POST', '/apis/authorization.k8s.io/v1/subjectaccessreviews', {
      apiVersion: 'authorization.k8s.io/v1',
      kind: 'SubjectAccessReview',
      spec: {
        user: SA_USER,
        groups: SA_GROUPS,
        resourceAttributes: { verb, resource, group: o.group ?? '', ...(o.namespace ? { namespace: o.namespace } : {}), ...(o.name ? { name: o.name } : {}), ...(o.subresource ? { subresource: o.subresource } : {}) },
      },
    });
    return r.body.status.allowed === true;
  }

  /** A kubeconfig for the crossmesh ServiceAccount (a TokenRequest token), as the pod would use in-cluster. */
  async function serviceAccountKubeconfig(): Promise<string> {
    const token = await api().serviceAccountToken(NS, 'crossmesh');
    return api().tokenKubeconfig(token, 'crossmesh-sa');
  }

  it('accepts every object with strict field validation', async () => {
    for (const o of objects) {
      const r = await api().rawRequest('POST', `${collectionPath(o)}?fieldValidation=Strict`, o);
      expect(r.status, `${o.kind} ${o.metadata.name}: ${r.body?.message}`).toBe(201);
    }
    const d = await api().request('GET', `${collectionPath(deployment)}/crossmesh`);
    expect(d.body.spec.replicas).toBe(2);
    expect(d.body.spec.template.spec.containers[0].readinessProbe.httpGet.path).toBe('/readyz');
    // A typo'd field is refused rather than dropped: the validation above is real.
    const bad: KubeManifest = { ...one(objects, 'Service', 'crossmesh'), metadata: { name: 'typo', namespace: NS } };
    bad.spec = { ...bad.spec, prots: [] };
    const refused = await api().rawRequest('POST', `${collectionPath(bad)}?fieldValidation=Strict`, bad);
    expect(refused.status).toBe(400);
    expect(refused.body.message).toContain('prots');
  });

  it('lets the ServiceAccount do what crossmesh does, and nothing else', async () => {
    for (const kind of RESOURCE_KINDS) {
      for (const verb of ['list', 'watch']) expect(await can(verb, kind, { group: GROUP_OF[kind]! }), `${verb} ${kind}`).toBe(true);
      for (const verb of ['get', 'create', 'update', 'patch', 'delete']) expect(await can(verb, kind, { group: GROUP_OF[kind]!, namespace: 'default', name: 'x' }), `${verb} ${kind}`).toBe(false);
    }
    expect(await can('create', 'tokenreviews', { group: 'authentication.k8s.io' })).toBe(true);
    // Policies: read everywhere, only their status written; the status Lease in crossmesh's namespace only.
    for (const kind of POLICY_KINDS) {
      for (const verb of ['list', 'watch']) expect(await can(verb, kind, { group: POLICY_GROUP }), `${verb} ${kind}`).toBe(true);
      expect(await can('update', kind, { group: POLICY_GROUP, namespace: 'default', name: 'x', subresource: 'status' }), `update ${kind}/status`).toBe(true);
      for (const verb of ['create', 'update', 'patch', 'delete']) expect(await can(verb, kind, { group: POLICY_GROUP, namespace: 'default', name: 'x' }), `${verb} ${kind}`).toBe(false);
    }
    for (const verb of ['get', 'create', 'update']) expect(await can(verb, 'leases', { group: 'coordination.k8s.io', namespace: NS, name: 'crossmesh-policy-status' }), `${verb} lease`).toBe(true);
    expect(await can('delete', 'leases', { group: 'coordination.k8s.io', namespace: NS, name: 'crossmesh-policy-status' })).toBe(false);
    expect(await can('update', 'leases', { group: 'coordination.k8s.io', namespace: 'kube-system', name: 'kube-controller-manager' })).toBe(false);
    // The root CA Secret: read by name, created in crossmesh's namespace, never changed or deleted.
    expect(await can('get', 'secrets', { namespace: NS, name: ROOT_SECRET })).toBe(true);
    expect(await can('create', 'secrets', { namespace: NS })).toBe(true);
    for (const verb of ['update', 'patch', 'delete']) expect(await can(verb, 'secrets', { namespace: NS, name: ROOT_SECRET }), `${verb} the root secret`).toBe(false);
    // Nothing else about Secrets, here or anywhere.
    expect(await can('get', 'secrets', { namespace: NS, name: 'another' })).toBe(false);
    expect(await can('list', 'secrets', { namespace: NS })).toBe(false);
    expect(await can('watch', 'secrets', { namespace: NS })).toBe(false);
    expect(await can('list', 'secrets')).toBe(false);
    expect(await can('get', 'secrets', { namespace: 'kube-system', name: ROOT_SECRET })).toBe(false);
    expect(await can('create', 'secrets', { namespace: 'default' })).toBe(false);
    // Nor anything crossmesh never asks for.
    expect(await can('list', 'namespaces')).toBe(false);
    expect(await can('list', 'configmaps', { namespace: NS })).toBe(false);
    expect(await can('create', 'subjectaccessreviews', { group: 'authorization.k8s.io' })).toBe(false);
    expect(await can('create', 'serviceaccounts', { namespace: NS, name: 'crossmesh', subresource: 'token' })).toBe(false);
    expect(await can('create', 'pods', { namespace: 'default', name: 'x', subresource: 'exec' })).toBe(false);
    expect(await can('create', 'leases', { group: 'coordination.k8s.io', namespace: 'default' })).toBe(false);
    // And the real server agrees when the ServiceAccount itself asks.
    const token = await api().serviceAccountToken(NS, 'crossmesh');
    expect((await api().rawRequest('GET', '/api/v1/secrets', undefined, { token })).status).toBe(403);
    expect((await api().rawRequest('GET', '/api/v1/pods', undefined, { token })).status).toBe(200);
  });

  it('is enough for discovery and TokenReview with the ServiceAccount token alone', async () => {
    const kubeconfig = await serviceAccountKubeconfig();
    const cluster = kubeCluster('cluster1', kubeconfig);
    const recorder = new TopologyRecorder();
    const discovery = await startKubernetesDiscovery(cluster, recorder.sink, { requestTimeoutMs: 10_000 });
    try {
      const deadline = Date.now() + 20_000;
      while (!(discovery.status().connected && !discovery.status().stale)) {
        if (Date.now() > deadline) throw new Error(`discovery did not sync with the ServiceAccount: ${JSON.stringify(discovery.status())}`);
        await new Promise((r) => setTimeout(r, 50));
      }
      expect(discovery.status().lastError ?? '').toBe('');
    } finally {
      await discovery.stop();
    }
    const workloadToken = await api().serviceAccountToken('bookinfo', 'reviews', { audiences: ['crossmesh'] });
    const review = await new KubernetesTokenReviewer({ cacheTtlMs: 0 }).review(cluster, workloadToken);
    expect(review).toMatchObject({ authenticated: true, namespace: 'bookinfo', serviceAccount: 'reviews' });
  });

  it('creates the root CA Secret once among concurrent replicas, and every replica reads the same root', async () => {
    const management = loadManagementCluster(await serviceAccountKubeconfig());
    const ref = { namespace: NS, name: ROOT_SECRET };
    const results = await Promise.all([1, 2, 3, 4].map(() => ensureRootSecret(management, ref, { keyAlgorithm: 'ECDSA_P256', lifetimeMs: 365 * 86_400_000 })));
    expect(results.filter((r) => r.created)).toHaveLength(1);
    expect(new Set(results.map((r) => r.rootId)).size).toBe(1);
    expect(new Set(results.map((r) => r.root.certPem)).size).toBe(1);
    const stored = (await api().request('GET', `/api/v1/namespaces/${NS}/secrets/${ROOT_SECRET}`)).body;
    expect(stored.type).toBe('kubernetes.io/tls');
    expect(Buffer.from(stored.data['tls.crt'], 'base64').toString()).toBe(results[0]!.root.certPem);
    const cert = new X509Certificate(results[0]!.root.certPem);
    expect(cert.ca).toBe(true);
    // A later start reads it and creates nothing.
    const again = await ensureRootSecret(management, ref, { keyAlgorithm: 'ECDSA_P256', lifetimeMs: 365 * 86_400_000 });
    expect(again).toMatchObject({ created: false, rootId: results[0]!.rootId });
  });

  it('refuses a Secret it cannot use, naming the Secret and the key, and never overwrites it', async () => {
    const admin = loadManagementCluster(api().adminKubeconfig);
    const { root, keyPem } = await createRoot('ECDSA_P256', 86_400_000, Date.now());
    const other = await createRoot('ECDSA_P256', 86_400_000, Date.now());
    const b64 = (s: string): string => Buffer.from(s).toString('base64');
    const cases: { name: string; data: Record<string, string>; error: string }[] = [
      { name: 'no-key', data: { 'tls.crt': b64(root.certPem) }, error: `secret ${NS}/no-key: no key tls.key (it has: tls.crt)` },
      { name: 'not-pem', data: { 'tls.crt': b64('hello'), 'tls.key': b64(keyPem) }, error: `secret ${NS}/not-pem key tls.crt: no PEM CERTIFICATE block found` },
      { name: 'mismatch', data: { 'tls.crt': b64(root.certPem), 'tls.key': b64(other.keyPem) }, error: `secret ${NS}/mismatch key tls.key (for secret ${NS}/mismatch key tls.crt): the private key does not match` },
      { name: 'bad-key', data: { 'tls.crt': b64(root.certPem), 'tls.key': b64('-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n') }, error: `secret ${NS}/bad-key key tls.key: not a readable unencrypted PEM private key` },
    ];
    // ca.crt, the optional additional trust anchors, is checked too.
    cases.push({ name: 'bad-trust', data: { 'tls.crt': b64(root.certPem), 'tls.key': b64(keyPem), 'ca.crt': b64('not a certificate') }, error: `secret ${NS}/bad-trust key ca.crt: no PEM CERTIFICATE block found` });
    // Not a CA: the xDS server certificate crossmesh issues is a leaf.
    const leaf = await issueServerCertificate(root, { dnsNames: ['x.example'], ipAddresses: [], lifetimeMs: 3_600_000, keyAlgorithm: 'ECDSA_P256', backdateMs: 0 }, Date.now());
    cases.push({ name: 'not-ca', data: { 'tls.crt': b64(leaf.certificatePem), 'tls.key': b64(leaf.privateKey) }, error: `secret ${NS}/not-ca key tls.crt: certificate "O=crossmesh, CN=x.example" is not a CA (basicConstraints CA:TRUE is required)` });
    for (const c of cases) {
      await api().request('POST', `/api/v1/namespaces/${NS}/secrets`, { apiVersion: 'v1', kind: 'Secret', metadata: { name: c.name, namespace: NS }, data: c.data });
      const before = (await api().request('GET', `/api/v1/namespaces/${NS}/secrets/${c.name}`)).body.metadata.resourceVersion;
      await expect(ensureRootSecret(admin, { namespace: NS, name: c.name }, { keyAlgorithm: 'ECDSA_P256', lifetimeMs: 86_400_000 }), c.name).rejects.toThrow(c.error);
      expect((await api().request('GET', `/api/v1/namespaces/${NS}/secrets/${c.name}`)).body.metadata.resourceVersion, `${c.name} untouched`).toBe(before);
    }
    // An unreachable management cluster is named with the Secret (nothing listens on port 1).
    const dir = tempDir('crossmesh-deploy-');
    dirs.push(dir);
    const unreachable = dir.write('unreachable.kubeconfig', readFileSync(api().adminKubeconfig, 'utf8').replace(api().url, 'https://127.0.0.1:1'));
    await expect(ensureRootSecret(loadManagementCluster(unreachable), { namespace: NS, name: ROOT_SECRET }, { keyAlgorithm: 'ECDSA_P256', lifetimeMs: 86_400_000 })).rejects.toThrow(
      `secret ${NS}/${ROOT_SECRET}: cannot reach the management cluster (${unreachable}): GET https://127.0.0.1:1/api/v1/namespaces/${NS}/secrets/${ROOT_SECRET}: connect ECONNREFUSED`,
    );
    // Missing read permission is named too (the ServiceAccount may get only crossmesh-root-ca).
    const sa = loadManagementCluster(await serviceAccountKubeconfig());
    await expect(readRootSecret(sa, { namespace: NS, name: 'no-key' })).rejects.toThrow(`secret ${NS}/no-key: cannot read it from ${api().url}: HTTP 403`);
  });

  it('`crossmesh validate` fails clearly without a management cluster, and checks the Secret with one', async () => {
    const dir = tempDir('crossmesh-deploy-');
    dirs.push(dir);
    const file = dir.write('mesh.yaml', meshYaml);
    const run = async (management?: string): Promise<{ code: number; out: string[]; err: string[] }> => {
      const out: string[] = [];
      const err: string[] = [];
      const code = await runValidate([file], { out: (l) => out.push(l), err: (l) => err.push(l) }, management ? { management: loadManagementCluster(management) } : {});
      return { code, out, err };
    };
    const without = await run();
    expect(without.code).toBe(1);
    expect(without.err).toEqual([
      `${file}:9: VirtualMesh crossmesh-system/virtual-mesh: spec.mtlsConfig.shared.rootCertificateAuthority.secret (crossmesh-system/crossmesh-root-ca) is read from a Kubernetes management cluster, and none was given: add --management-kubeconfig <kubeconfig file|in-cluster>`,
    ]);
    const withIt = await run(await serviceAccountKubeconfig());
    expect(withIt.err).toEqual([]);
    expect(withIt.code).toBe(0);
    expect(withIt.out[0]).toMatch(/^root CA: secret crossmesh-system\/crossmesh-root-ca holds root [0-9a-f]{16}$/);
    const broken = dir.write('broken.yaml', meshYaml.replace('name: crossmesh-root-ca', 'name: mismatch'));
    const out: string[] = [];
    const err: string[] = [];
    expect(await runValidate([broken], { out: (l) => out.push(l), err: (l) => err.push(l) }, { management: loadManagementCluster(api().adminKubeconfig) })).toBe(1);
    expect(err[0]).toContain(`${broken}:9: VirtualMesh crossmesh-system/virtual-mesh: spec.mtlsConfig.shared.rootCertificateAuthority.secret: secret crossmesh-system/mismatch key tls.key`);
  });
});

/**
 * The pure injection: what an injected pod holds (capture init container with NET_ADMIN/NET_RAW
 * only, the certificate agent as a native sidecar, Envoy as uid 1337 with a bootstrap Envoy's
 * protos accept, the projected token), that injecting twice changes nothing, the opt-out, the
 * workload kinds, and errors that name what is wrong and where.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse, parseAllDocuments } from 'yaml';
import { CertificateAuthority } from '../../src/ca/index.js';
import { injectObject, injectYaml } from '../../src/inject/manifest.js';
import { checkInjectOptions, INJECT_DEFAULTS, type InjectOptions } from '../../src/inject/options.js';
import { AGENT_CONTAINER, INIT_CONTAINER, injectPodSpec, PROXY_CONTAINER, TOKEN_FILE, XDS_DIR } from '../../src/inject/sidecar.js';
import { validateEncoded } from '../../src/translate/validate.js';
import { fromProtoJson } from '../../src/xds/proto-json.js';
import { messageType } from '../../src/xds/protos.js';

const dir = mkdtempSync(join(tmpdir(), 'crossmesh-inject-'));
let ca: CertificateAuthority;
let options: InjectOptions;

beforeAll(async () => {
  ca = await CertificateAuthority.open({ directory: join(dir, 'ca') });
  options = checkInjectOptions({
    cluster: 'cluster1',
    xdsAddress: 'crossmesh.crossmesh-system.svc:18000',
    xdsServerName: 'crossmesh.crossmesh-system.svc',
    rootCaPem: ca.trustBundle().pem,
    proxyImage: INJECT_DEFAULTS.proxyImage,
    crossmeshImage: 'registry.example/crossmesh:0.1.0',
    tokenExpirationSeconds: 3600,
  });
});
afterAll(() => {
  ca?.close();
  rmSync(dir, { recursive: true, force: true });
});

type Container = { name: string; image: string; command?: string[]; args: string[]; env?: { name: string; value?: string; valueFrom?: unknown }[]; securityContext: Record<string, unknown>; volumeMounts?: { name: string; mountPath: string; readOnly?: boolean }[]; restartPolicy?: string; startupProbe?: { exec: { command: string[] } } };
type Spec = { containers: Container[]; initContainers: Container[]; volumes: Record<string, unknown>[] };

function pod(extra: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name: 'reviews-v1-0', namespace: 'bookinfo', labels: { app: 'reviews' } },
    spec: { serviceAccountName: 'bookinfo-reviews', initContainers: [{ name: 'migrate', image: 'migrate:1' }], containers: [{ name: 'app', image: 'reviews:1', ports: [{ containerPort: 9080 }] }], volumes: [{ name: 'data', emptyDir: {} }], ...extra },
  };
}

function injectedSpec(obj: unknown): Spec {
  return (injectObject(obj, options, 'test').object as { spec: Spec }).spec;
}

describe('sidecar injection of a pod', () => {
  it('adds the capture init container (root, NET_ADMIN and NET_RAW only) first, then the agent, then the app\'s own init containers', () => {
    const spec = injectedSpec(pod());
    expect(spec.initContainers.map((c) => c.name)).toEqual([INIT_CONTAINER, AGENT_CONTAINER, 'migrate']);
    const init = spec.initContainers[0]!;
    expect([...init.command!, ...init.args]).toEqual(['crossmesh', 'capture', '--apply', '--proxy-uid', '1337']);
    expect(init.image).toBe('registry.example/crossmesh:0.1.0');
    expect(init.securityContext).toMatchObject({ runAsUser: 0, allowPrivilegeEscalation: false, capabilities: { add: ['NET_ADMIN', 'NET_RAW'], drop: ['ALL'] } });
  });

  it('adds Envoy as the first container, uid 1337, with the node id from the downward API', () => {
    const spec = injectedSpec(pod());
    expect(spec.containers.map((c) => c.name)).toEqual([PROXY_CONTAINER, 'app']);
    const proxy = spec.containers[0]!;
    expect(proxy.image).toBe(INJECT_DEFAULTS.proxyImage);
    expect(proxy.securityContext).toMatchObject({ runAsUser: 1337, runAsGroup: 1337, runAsNonRoot: true, allowPrivilegeEscalation: false, readOnlyRootFilesystem: true, capabilities: { drop: ['ALL'] } });
    expect(proxy.env).toEqual([
      { name: 'POD_NAME', valueFrom: { fieldRef: { fieldPath: 'metadata.name' } } },
      { name: 'POD_NAMESPACE', valueFrom: { fieldRef: { fieldPath: 'metadata.namespace' } } },
      { name: 'CROSSMESH_NODE_ID', value: 'cluster1/$(POD_NAMESPACE)/$(POD_NAME)' },
    ]);
    expect(proxy.volumeMounts).toEqual([{ name: 'crossmesh-xds', mountPath: XDS_DIR, readOnly: true }]);
  });

  it('gives Envoy a bootstrap Envoy\'s protos and validation rules accept once the kubelet has expanded the node id', () => {
    const proxy = injectedSpec(pod()).containers[0]!;
    const i = proxy.args.indexOf('--config-yaml');
    expect(i).toBeGreaterThanOrEqual(0);
    const text = proxy.args[i + 1]!;
    expect(text).toContain('id: $(CROSSMESH_NODE_ID)');
    const expanded = parse(text.replace('$(CROSSMESH_NODE_ID)', 'cluster1/bookinfo/reviews-v1-0')) as Record<string, unknown>;
    const T = messageType('envoy.config.bootstrap.v3.Bootstrap');
    const bytes = T.encode(fromProtoJson('envoy.config.bootstrap.v3.Bootstrap', expanded)).finish();
    expect(validateEncoded('envoy.config.bootstrap.v3.Bootstrap', bytes)).toEqual([]);
    const b = T.toObject(T.decode(bytes), { enums: String }) as { node: { id: string; cluster: string; metadata: { fields: { role: { string_value: string } } } }; static_resources: { clusters: { transport_socket: { typed_config: { type_url: string } } }[] } };
    expect(b.node.id).toBe('cluster1/bookinfo/reviews-v1-0');
    expect(b.node.cluster).toBe('cluster1');
    // No token in the bootstrap: the xDS connection presents the agent's certificate (file-based SDS).
    expect(text).not.toContain('authorization');
    expect(text).toContain(`${XDS_DIR}/xds-client-cert.json`);
    expect(text).toContain(`filename: ${XDS_DIR}/ca.pem`);
  });

  it('runs the agent as a native sidecar with the projected token (audience crossmesh, short-lived) read from a read-only file', () => {
    const spec = injectedSpec(pod());
    const agent = spec.initContainers[1]!;
    expect(agent.restartPolicy).toBe('Always');
    expect(agent.securityContext).toMatchObject({ runAsUser: 1337, runAsNonRoot: true, capabilities: { drop: ['ALL'] } });
    expect(agent.args).toEqual(expect.arrayContaining(['--node', '$(CROSSMESH_NODE_ID)', '--token', `@${TOKEN_FILE}`, '--envoy-sds', '--out', XDS_DIR, '--xds-address', 'crossmesh.crossmesh-system.svc:18000']));
    expect(agent.env!.find((e) => e.name === 'CROSSMESH_ROOT_CA')!.value).toBe(ca.trustBundle().pem);
    expect(agent.startupProbe!.exec.command).toEqual(['test', '-s', `${XDS_DIR}/xds-client-cert.json`]);
    expect(agent.volumeMounts).toContainEqual({ name: 'crossmesh-token', mountPath: '/var/run/secrets/crossmesh', readOnly: true });
    expect(spec.volumes).toEqual([
      { name: 'data', emptyDir: {} },
      { name: 'crossmesh-token', projected: { sources: [{ serviceAccountToken: { audience: 'crossmesh', expirationSeconds: 3600, path: 'token' } }] } },
      { name: 'crossmesh-xds', emptyDir: { medium: 'Memory' } },
    ]);
  });

  it('keeps everything else of the pod and does not modify its input', () => {
    const input = pod();
    const before = JSON.stringify(input);
    const out = injectObject(input, options, 'test').object as { metadata: { labels: unknown; annotations: Record<string, string> }; spec: { serviceAccountName: string; containers: Container[] } };
    expect(JSON.stringify(input)).toBe(before);
    expect(out.metadata.labels).toEqual({ app: 'reviews' });
    expect(out.metadata.annotations['crossmesh.io/injected']).toBe(INJECT_DEFAULTS.proxyImage);
    expect(out.spec.serviceAccountName).toBe('bookinfo-reviews');
    expect(out.spec.containers[1]).toEqual({ name: 'app', image: 'reviews:1', ports: [{ containerPort: 9080 }] });
  });

  it('is idempotent: injecting an injected pod changes nothing', () => {
    const once = injectObject(pod(), options, 'test');
    const twice = injectObject(once.object, options, 'test');
    expect(twice.object).toEqual(once.object);
    expect(twice.notes).toEqual(['test (Pod reviews-v1-0): skipped (already injected)']);
  });

  it('honours the opt-out label or annotation crossmesh.io/inject: "false", and refuses other values', () => {
    for (const where of ['labels', 'annotations']) {
      const p = pod();
      (p.metadata as Record<string, unknown>)[where] = { 'crossmesh.io/inject': 'false' };
      const r = injectObject(p, options, 'test');
      expect(r.object).toBe(p);
      expect(r.notes[0]).toContain('skipped (crossmesh.io/inject: "false")');
    }
    const bad = pod();
    (bad.metadata as Record<string, unknown>).annotations = { 'crossmesh.io/inject': 'no' };
    expect(() => injectObject(bad, options, 'pod.yaml')).toThrow('pod.yaml (Pod reviews-v1-0): crossmesh.io/inject must be "true" or "false", got "no"');
  });

  it('leaves host-network pods alone (capture would rewrite the node\'s own rules)', () => {
    const r = injectObject(pod({ hostNetwork: true }), options, 'test');
    expect(r.notes[0]).toMatch(/skipped \(hostNetwork pods share the node's network namespace/);
  });

  it('names what is wrong and where', () => {
    expect(() => injectObject(pod({ containers: [] }), options, 'pod.yaml')).toThrow('pod.yaml (Pod reviews-v1-0): spec.containers must list at least one container');
    expect(() => injectObject(pod({ containers: 'app' }), options, 'pod.yaml')).toThrow('spec.containers must be a list of objects');
    expect(() => injectObject(pod({ containers: [{ name: 'app', image: 'a', ports: [{ containerPort: 15001 }] }] }), options, 'pod.yaml')).toThrow('container "app" uses port 15001, which the sidecar needs');
    expect(() => injectObject(pod({ volumes: [{ name: 'crossmesh-xds', emptyDir: {} }] }), options, 'pod.yaml')).toThrow('volume "crossmesh-xds" already exists');
    expect(() => injectObject(pod({ containers: [{ name: 'app', image: 'a' }, { name: 'crossmesh-agent', image: 'b' }] }), options, 'pod.yaml')).toThrow('container "crossmesh-agent" already exists but crossmesh-proxy does not');
    expect(() => injectObject(pod({ containers: [{ image: 'a' }] }), options, 'pod.yaml')).toThrow('pod.yaml (Pod reviews-v1-0): spec.containers[0] has no name');
    expect(() => injectObject([1], options, 'pod.yaml')).toThrow('pod.yaml: expected a Kubernetes object (a mapping with kind), got a list');
    expect(() => injectObject({ apiVersion: 'v1' }, options, 'pod.yaml')).toThrow('pod.yaml: the object has no kind');
    expect(() => injectPodSpec({}, 'x', options, { where: 'w' })).toThrow('w: spec must be an object');
  });
});

describe('injection of workloads and files', () => {
  it('injects the pod templates of Deployments and CronJobs, and the items of a List; other kinds pass through', () => {
    const template = { metadata: { labels: { app: 'web' } }, spec: { containers: [{ name: 'web', image: 'web:1' }] } };
    const deployment = { apiVersion: 'apps/v1', kind: 'Deployment', metadata: { name: 'web' }, spec: { replicas: 2, template } };
    const d = injectObject(deployment, options, 'f') as { object: { spec: { replicas: number; template: { spec: Spec } } }; notes: string[] };
    expect(d.object.spec.replicas).toBe(2);
    expect(d.object.spec.template.spec.containers.map((c) => c.name)).toEqual([PROXY_CONTAINER, 'web']);
    expect(d.notes).toEqual(['f (Deployment web) spec.template: injected']);
    const cron = { apiVersion: 'batch/v1', kind: 'CronJob', metadata: { name: 'c' }, spec: { schedule: '* * * * *', jobTemplate: { spec: { template } } } };
    const c = injectObject(cron, options, 'f').object as { spec: { jobTemplate: { spec: { template: { spec: Spec } } } } };
    expect(c.spec.jobTemplate.spec.template.spec.initContainers.map((x) => x.name)).toEqual([INIT_CONTAINER, AGENT_CONTAINER]);
    const service = { apiVersion: 'v1', kind: 'Service', metadata: { name: 's' }, spec: { ports: [{ port: 80 }] } };
    const list = injectObject({ apiVersion: 'v1', kind: 'List', items: [service, pod()] }, options, 'f') as { object: { items: unknown[] }; notes: string[] };
    expect(list.object.items[0]).toBe(service);
    expect(list.notes).toEqual(['f item 2 (Pod reviews-v1-0): injected']);
    expect(() => injectObject({ kind: 'Deployment', metadata: { name: 'x' }, spec: {} }, options, 'f')).toThrow('f (Deployment x) spec.template: the pod template must be an object');
  });

  it('rewrites a multi-document YAML file document by document, and reports YAML errors with file and line', () => {
    const text = 'apiVersion: v1\nkind: Service\nmetadata: {name: s}\n---\napiVersion: v1\nkind: Pod\nmetadata: {name: p}\nspec:\n  containers: [{name: app, image: a}]\n---\n';
    const r = injectYaml(text, options, 'app.yaml');
    const docs = parseAllDocuments(r.text).map((d) => d.toJS() as { kind: string; spec: Spec });
    expect(docs.map((d) => d.kind)).toEqual(['Service', 'Pod']);
    expect(docs[1]!.spec.containers[0]!.name).toBe(PROXY_CONTAINER);
    expect(r.notes).toEqual(['app.yaml: document 2 (Pod p): injected']);
    expect(() => injectYaml('kind: Pod\nspec: [\n', options, 'bad.yaml')).toThrow(/^bad\.yaml:\d+: /);
    expect(() => injectYaml('', options, 'empty.yaml')).toThrow('empty.yaml: no Kubernetes object in the input');
  });

  it('checks its options and names the flag', () => {
    const flag = (f: string): string => `--inject-${f}`;
    expect(() => checkInjectOptions({ ...options, cluster: 'Cluster_1' }, flag)).toThrow('--inject-cluster: cluster name "Cluster_1" must be a lowercase DNS label');
    expect(() => checkInjectOptions({ ...options, xdsAddress: 'unix:/x.sock' }, flag)).toThrow('--inject-xdsAddress: pods reach crossmesh over the network');
    expect(() => checkInjectOptions({ ...options, proxyImage: 'envoy $(X)' }, flag)).toThrow('"envoy $(X)" is not an image reference');
    expect(() => checkInjectOptions({ ...options, tokenExpirationSeconds: 60 }, flag)).toThrow('token lifetime must be 600-86400 seconds');
    expect(() => checkInjectOptions({ ...options, rootCaPem: 'nope' }, flag)).toThrow('no PEM certificate in the mesh root bundle');
  });
});

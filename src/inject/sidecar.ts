/**
 * Sidecar injection as a pure function: a Pod (or a pod template) in, the same object with the
 * mesh's pieces added out. Nothing here talks to an API server or reads files, so the webhook,
 * `crossmesh inject` and the tests all get the same bytes for the same input.
 *
 * What a pod gets, and why:
 * - `crossmesh-init` (init container, first): `crossmesh capture --apply` installs the iptables
 *   rules of docs/capture.md in the pod's network namespace. It needs root and NET_ADMIN/NET_RAW
 *   for that and nothing else (every other capability dropped).
 * - `crossmesh-agent` (a native sidecar: an init container with `restartPolicy: Always`, so it is
 *   running before the app's containers and keeps running): authenticates to crossmesh with the
 *   pod's projected service-account token (audience `crossmesh`, read from a file, so the
 *   kubelet's rotation is picked up) and keeps the workload certificate in a memory-backed
 *   emptyDir, including the file-based SDS secret Envoy presents on its xDS connection. A token
 *   Envoy cannot re-read would stop working when it expires; the certificate is renewed.
 *   Its startup probe holds the app's containers back until that file exists.
 * - `crossmesh-proxy` (first container): Envoy as uid 1337 (the uid the capture rules let
 *   through), with a bootstrap inlined in its arguments. The node id comes from the downward API
 *   (`<cluster>/$(POD_NAMESPACE)/$(POD_NAME)`), expanded by the kubelet, because a pod made from
 *   a template has no name when it is admitted.
 */
import { stringify } from 'yaml';
import { buildEnvoyBootstrap } from '../translate/bootstrap.js';
import { TOKEN_AUDIENCE } from '../xds/auth/tokens.js';
import type { InjectOptions } from './options.js';

/** Label or annotation that turns injection off for a pod (`"false"`), or asks for it (`"true"`). */
export const INJECT_KEY = 'crossmesh.io/inject';
/** Annotation recording that crossmesh injected the pod (and with which proxy image). */
export const INJECTED_ANNOTATION = 'crossmesh.io/injected';
/** Envoy's uid: the capture rules return its traffic untouched (docs/capture.md, rule 3). */
export const PROXY_UID = 1337;

export const PROXY_CONTAINER = 'crossmesh-proxy';
export const INIT_CONTAINER = 'crossmesh-init';
export const AGENT_CONTAINER = 'crossmesh-agent';
export const TOKEN_VOLUME = 'crossmesh-token';
export const XDS_VOLUME = 'crossmesh-xds';
/** Where the projected token is mounted, and its file name. */
export const TOKEN_DIR = '/var/run/secrets/crossmesh';
export const TOKEN_FILE = `${TOKEN_DIR}/token`;
/** The agent's output: cert.pem, key.pem, ca.pem and xds-client-cert.json. */
export const XDS_DIR = '/var/run/crossmesh/xds';
/** Environment variable carrying the mesh root to the agent (it has no file to read it from). */
export const ROOT_CA_ENV = 'CROSSMESH_ROOT_CA';
/** Ports the sidecar owns in the pod's network namespace; an app container claiming one would collide. */
const RESERVED_PORTS = [15000, 15001, 15006];
const OWN_CONTAINERS = [PROXY_CONTAINER, INIT_CONTAINER, AGENT_CONTAINER];
const OWN_VOLUMES = [TOKEN_VOLUME, XDS_VOLUME];

/** A JSON object as Kubernetes manifests hold them. */
export type JsonObject = Record<string, unknown>;

/** Reasons to leave a pod alone that the user chose or caused on purpose: not worth a warning. */
export const SKIP_OPTED_OUT = `${INJECT_KEY}: "false"`;
export const SKIP_ALREADY_INJECTED = 'already injected';

/** The outcome for one pod: its (new or unchanged) metadata and spec, and why nothing was done when nothing was. */
export interface PodInjection {
  readonly injected: boolean;
  /** Set when `injected` is false. */
  readonly reason?: string;
  readonly metadata: JsonObject;
  readonly spec: JsonObject;
}

/** Where a pod spec sits, for error messages (e.g. `pod.yaml: document 2 (Deployment web)`). */
export interface PodLocation {
  readonly where: string;
}

function isObject(v: unknown): v is JsonObject {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** The `metadata.labels`/`annotations` value of INJECT_KEY, annotation first (as Istio reads them). */
function injectSetting(metadata: JsonObject): string | undefined {
  const ann = isObject(metadata.annotations) ? metadata.annotations[INJECT_KEY] : undefined;
  const label = isObject(metadata.labels) ? metadata.labels[INJECT_KEY] : undefined;
  const v = ann ?? label;
  return typeof v === 'string' ? v : undefined;
}

/** A list field of the spec (absent = empty); an error names the path when it is not a list of objects. */
function listOf(spec: JsonObject, field: string, where: string): JsonObject[] {
  const v = spec[field];
  if (v === undefined || v === null) return [];
  if (!Array.isArray(v) || !v.every(isObject)) throw new Error(`${where}: spec.${field} must be a list of objects`);
  return v;
}

/**
 * Injects the sidecar into one pod `metadata` + `spec` pair (a Pod, or a template's
 * `template.metadata`/`template.spec`). Returns new objects that share the unchanged parts
 * with the input; the input is never modified.
 */
export function injectPodSpec(metadataIn: unknown, specIn: unknown, o: InjectOptions, loc: PodLocation): PodInjection {
  const metadata: JsonObject = metadataIn === undefined || metadataIn === null ? {} : (metadataIn as JsonObject);
  if (!isObject(metadata)) throw new Error(`${loc.where}: metadata must be an object`);
  if (!isObject(specIn)) throw new Error(`${loc.where}: spec must be an object`);
  const spec = specIn;
  const unchanged = (reason: string): PodInjection => ({ injected: false, reason, metadata, spec });
  const containers = listOf(spec, 'containers', loc.where);
  if (containers.length === 0) throw new Error(`${loc.where}: spec.containers must list at least one container`);
  const initContainers = listOf(spec, 'initContainers', loc.where);
  const volumes = listOf(spec, 'volumes', loc.where);

  const setting = injectSetting(metadata);
  if (setting === 'false') return unchanged(SKIP_OPTED_OUT);
  if (setting !== undefined && setting !== 'true') throw new Error(`${loc.where}: ${INJECT_KEY} must be "true" or "false", got "${setting}"`);
  // Idempotence: a pod that already has the proxy is left exactly as it is.
  if (containers.some((c) => c.name === PROXY_CONTAINER)) return unchanged(SKIP_ALREADY_INJECTED);
  // The capture rules would rewrite the node's own iptables on a host-network pod.
  if (spec.hostNetwork === true) return unchanged('hostNetwork pods share the node\'s network namespace; capture there would redirect the node\'s traffic');

  const all = [...initContainers.map((c, i) => ({ c, path: `spec.initContainers[${i}]` })), ...containers.map((c, i) => ({ c, path: `spec.containers[${i}]` }))];
  for (const { c, path } of all) {
    if (typeof c.name !== 'string' || c.name === '') throw new Error(`${loc.where}: ${path} has no name`);
    if (OWN_CONTAINERS.includes(c.name)) throw new Error(`${loc.where}: container "${c.name}" already exists but ${PROXY_CONTAINER} does not; remove it or set ${INJECT_KEY}: "false"`);
    for (const p of Array.isArray(c.ports) ? c.ports : []) {
      const port = isObject(p) ? p.containerPort : undefined;
      if (typeof port === 'number' && RESERVED_PORTS.includes(port)) throw new Error(`${loc.where}: container "${c.name}" uses port ${port}, which the sidecar needs (${RESERVED_PORTS.join(', ')})`);
    }
  }
  for (const v of volumes) {
    if (typeof v.name === 'string' && OWN_VOLUMES.includes(v.name)) throw new Error(`${loc.where}: volume "${v.name}" already exists; crossmesh needs that name`);
  }

  const annotations = isObject(metadata.annotations) ? metadata.annotations : {};
  return {
    injected: true,
    metadata: { ...metadata, annotations: { ...annotations, [INJECTED_ANNOTATION]: o.proxyImage } },
    spec: {
      ...spec,
      initContainers: [captureContainer(o), agentContainer(o), ...initContainers],
      containers: [proxyContainer(o), ...containers],
      volumes: [...volumes, ...sidecarVolumes(o)],
    },
  };
}

/** POD_NAME, POD_NAMESPACE from the downward API, and the node id made of them (kubelet `$(VAR)` expansion). */
function identityEnv(o: InjectOptions): JsonObject[] {
  return [
    { name: 'POD_NAME', valueFrom: { fieldRef: { fieldPath: 'metadata.name' } } },
    { name: 'POD_NAMESPACE', valueFrom: { fieldRef: { fieldPath: 'metadata.namespace' } } },
    { name: 'CROSSMESH_NODE_ID', value: `${o.cluster}/$(POD_NAMESPACE)/$(POD_NAME)` },
  ];
}

/** Drop every capability, no privilege escalation, read-only root: what the containers start from. */
function locked(extra: JsonObject): JsonObject {
  return { allowPrivilegeEscalation: false, capabilities: { drop: ['ALL'] }, readOnlyRootFilesystem: true, ...extra };
}

function captureContainer(o: InjectOptions): JsonObject {
  return {
    name: INIT_CONTAINER,
    image: o.crossmeshImage,
    command: ['crossmesh'],
    args: ['capture', '--apply', '--proxy-uid', String(PROXY_UID)],
    // iptables needs uid 0 with NET_ADMIN (rules) and NET_RAW (its sockets); it writes its lock
    // file under /run, so the root file system stays writable for this short-lived container.
    securityContext: { ...locked({ runAsUser: 0, runAsGroup: 0, runAsNonRoot: false, readOnlyRootFilesystem: false }), capabilities: { add: ['NET_ADMIN', 'NET_RAW'], drop: ['ALL'] } },
  };
}

function agentContainer(o: InjectOptions): JsonObject {
  return {
    name: AGENT_CONTAINER,
    image: o.crossmeshImage,
    restartPolicy: 'Always',
    command: ['crossmesh'],
    args: ['agent', '--node', '$(CROSSMESH_NODE_ID)', '--role', 'sidecar', '--xds-address', o.xdsAddress, '--server-name', o.xdsServerName, '--token', `@${TOKEN_FILE}`, '--ca-env', ROOT_CA_ENV, '--out', XDS_DIR, '--envoy-sds'],
    env: [...identityEnv(o), { name: ROOT_CA_ENV, value: o.rootCaPem }],
    // The app's containers start only once Envoy's xDS client certificate is on disk.
    startupProbe: { exec: { command: ['test', '-s', `${XDS_DIR}/xds-client-cert.json`] }, periodSeconds: 1, failureThreshold: 300 },
    securityContext: locked({ runAsUser: PROXY_UID, runAsGroup: PROXY_UID, runAsNonRoot: true }),
    volumeMounts: [
      { name: TOKEN_VOLUME, mountPath: TOKEN_DIR, readOnly: true },
      { name: XDS_VOLUME, mountPath: XDS_DIR },
    ],
  };
}

/** The Envoy bootstrap of an injected pod, as the YAML text passed to `--config-yaml`. */
export function injectedBootstrap(o: InjectOptions): string {
  const bootstrap = buildEnvoyBootstrap({
    // A valid id to build with; replaced below by the kubelet-expanded one.
    nodeId: `${o.cluster}/placeholder/placeholder`,
    role: 'sidecar',
    xdsAddress: o.xdsAddress,
    adminAddress: '127.0.0.1:15000',
    adsApi: o.adsApi ?? 'sotw',
    // ca.pem is the bundle the agent fetched over SDS and rewrites on a root rotation.
    xdsCaFile: `${XDS_DIR}/ca.pem`,
    xdsServerName: o.xdsServerName,
    xdsClientCertDir: XDS_DIR,
  });
  (bootstrap.node as JsonObject).id = '$(CROSSMESH_NODE_ID)';
  return stringify(bootstrap, { lineWidth: 0 });
}

function proxyContainer(o: InjectOptions): JsonObject {
  return {
    name: PROXY_CONTAINER,
    image: o.proxyImage,
    command: ['envoy'],
    // Short drain: listener changes (e.g. new RBAC) reach open connections within 5 s (docs/capture.md).
    // No hot restart: a restarted container is a new process, nothing hands over through shared
    // memory, so Envoy need not create the shared-memory region at all.
    args: ['--config-yaml', injectedBootstrap(o), '--drain-time-s', '5', '--drain-strategy', 'immediate', '--disable-hot-restart', '--log-level', 'warning'],
    env: identityEnv(o),
    securityContext: locked({ runAsUser: PROXY_UID, runAsGroup: PROXY_UID, runAsNonRoot: true }),
    volumeMounts: [{ name: XDS_VOLUME, mountPath: XDS_DIR, readOnly: true }],
  };
}

function sidecarVolumes(o: InjectOptions): JsonObject[] {
  return [
    { name: TOKEN_VOLUME, projected: { sources: [{ serviceAccountToken: { audience: TOKEN_AUDIENCE, expirationSeconds: o.tokenExpirationSeconds, path: 'token' } }] } },
    // Key material stays in memory (tmpfs), never on the node's disk.
    { name: XDS_VOLUME, emptyDir: { medium: 'Memory' } },
  ];
}

/**
 * The root CA in a Kubernetes Secret (VirtualMesh `rootCertificateAuthority.secret`), shared by
 * every crossmesh replica: read at start-up from the management cluster; when it does not exist,
 * a root is generated in memory and the Secret is created with it. Creation needs no Lease: the
 * API server lets exactly one create of a name succeed, and a replica whose create is refused with
 * 409 Conflict reads the root the winner wrote, so every replica ends up with the same root. An
 * existing Secret is never modified. Its content is checked like supplied files (PEM, one
 * self-signed CA certificate valid now, the key matching it), with errors naming the Secret and key.
 */
import { existsSync, statSync } from 'node:fs';
import * as http from 'node:http';
import * as https from 'node:https';
import * as k8s from '@kubernetes/client-node';
import { expandKubeconfigPath } from '../discovery/kubernetes/kubeconfig.js';
import type { KeyAlgorithm } from './keys.js';
import { createRoot, parseSuppliedRoot, parseTrustAnchors, type RootSource } from './root.js';
import { ROOT_SECRET_CERT_KEY, ROOT_SECRET_KEY_KEY, ROOT_SECRET_TRUST_KEY, ROOT_SECRET_TYPE } from './root-secret-format.js';

/** The Secret a VirtualMesh names. */
export interface RootSecretRef {
  readonly namespace: string;
  readonly name: string;
}

/** The management cluster's API server, as loaded from `--management-kubeconfig`. */
export interface ManagementCluster {
  readonly kubeConfig: k8s.KubeConfig;
  /** The kubeconfig file, or `in-cluster`. */
  readonly source: string;
  readonly server: string;
}

/**
 * Loads `--management-kubeconfig <path|in-cluster>` (and `--management-context`). `in-cluster` is
 * the pod's ServiceAccount. Errors name the flag, the file and the context.
 */
export function loadManagementCluster(value: string, context?: string, flag = '--management-kubeconfig'): ManagementCluster {
  const kc = new k8s.KubeConfig();
  let source: string;
  if (value === 'in-cluster') {
    source = 'in-cluster';
    if (!process.env.KUBERNETES_SERVICE_HOST) throw new Error(`${flag} in-cluster: not running in a Kubernetes pod (KUBERNETES_SERVICE_HOST is not set); give a kubeconfig file instead`);
    if (context !== undefined) throw new Error(`${flag} in-cluster has no contexts; drop --management-context`);
    try {
      kc.loadFromCluster();
    } catch (e) {
      throw new Error(`${flag} in-cluster: cannot load the pod's service account configuration: ${(e as Error).message}`);
    }
  } else {
    const file = expandKubeconfigPath(value);
    source = file;
    if (!existsSync(file)) throw new Error(`${flag}: kubeconfig file ${file} does not exist`);
    if (!statSync(file).isFile()) throw new Error(`${flag}: kubeconfig ${file} is not a file`);
    try {
      kc.loadFromFile(file);
    } catch (e) {
      throw new Error(`${flag}: kubeconfig ${file} cannot be loaded: ${(e as Error).message}`);
    }
    const available = kc.getContexts().map((c) => c.name);
    if (context !== undefined) {
      if (!available.includes(context)) throw new Error(`${flag}: context "${context}" not found in kubeconfig ${file} (available: ${available.join(', ') || 'none'})`);
      kc.setCurrentContext(context);
    } else if (!kc.getCurrentContext() || !available.includes(kc.getCurrentContext())) {
      throw new Error(`${flag}: kubeconfig ${file} has no usable current-context; give --management-context (available: ${available.join(', ') || 'none'})`);
    }
  }
  const server = kc.getCurrentCluster()?.server;
  if (!server) throw new Error(`${flag}: kubeconfig ${source} names no cluster server for context "${kc.getCurrentContext()}"`);
  return { kubeConfig: kc, source, server };
}

export interface RootSecretOptions {
  /** Key type of a root generated for a missing Secret. */
  readonly keyAlgorithm: KeyAlgorithm;
  /** Lifetime of a root generated for a missing Secret. */
  readonly lifetimeMs: number;
  readonly now?: () => number;
  /** Per-request limit (default 10 s). */
  readonly timeoutMs?: number;
}

/** What `ensureRootSecret` found or did. */
export interface RootSecretResult {
  readonly root: Extract<RootSource, { kind: 'secret' }>;
  /** True when this process created the Secret; false when it existed (or another replica won the create). */
  readonly created: boolean;
  /** Id (fingerprint prefix) of the root certificate. */
  readonly rootId: string;
}

const DAY = 24 * 60 * 60 * 1000;

/** `<namespace>/<name>` */
export function secretLabel(ref: RootSecretRef): string {
  return `${ref.namespace}/${ref.name}`;
}

/**
 * Reads the root CA Secret, creating it with a newly generated root when it does not exist
 * (first create wins; a 409 means another replica created it: its root is read and used).
 * Rejects with an error naming the Secret (and the key) when it cannot be read, created or used.
 */
export async function ensureRootSecret(cluster: ManagementCluster, ref: RootSecretRef, o: RootSecretOptions): Promise<RootSecretResult> {
  const now = o.now ?? Date.now;
  const existing = await readRootSecret(cluster, ref, o.timeoutMs);
  if (existing) return { ...checked(ref, existing, now()), created: false };

  const { root, keyPem } = await createRoot(o.keyAlgorithm, o.lifetimeMs, now());
  const body = {
    apiVersion: 'v1',
    kind: 'Secret',
    type: ROOT_SECRET_TYPE,
    metadata: {
      name: ref.name,
      namespace: ref.namespace,
      labels: { 'app.kubernetes.io/managed-by': 'crossmesh', 'app.kubernetes.io/component': 'root-ca' },
      annotations: { 'crossmesh.io/root-id': root.id },
    },
    data: { [ROOT_SECRET_CERT_KEY]: Buffer.from(root.certPem).toString('base64'), [ROOT_SECRET_KEY_KEY]: Buffer.from(keyPem).toString('base64') },
  };
  const r = await kubeRequest(cluster, 'POST', `/api/v1/namespaces/${encodeURIComponent(ref.namespace)}/secrets`, body, o.timeoutMs);
  if (r.status === 201) return { root: { kind: 'secret', secret: secretLabel(ref), certPem: root.certPem, keyPem }, created: true, rootId: root.id };
  if (r.status === 409) {
    // Another replica created it between our read and our create: use theirs, never ours.
    const theirs = await readRootSecret(cluster, ref, o.timeoutMs);
    if (!theirs) throw new Error(`secret ${secretLabel(ref)}: creating it was refused as already existing (409), but reading it found nothing`);
    return { ...checked(ref, theirs, now()), created: false };
  }
  throw new Error(`secret ${secretLabel(ref)}: cannot create it in ${cluster.server}: ${describeFailure(r)}${r.status === 403 ? ' (the identity needs "create" on secrets in that namespace: see deploy/base/rbac.yaml)' : ''}`);
}

/**
 * Reads the Secret's `tls.crt` and `tls.key` (decoded), or undefined when it does not exist.
 * A Secret without them is an error naming the missing key.
 */
export async function readRootSecret(cluster: ManagementCluster, ref: RootSecretRef, timeoutMs?: number): Promise<RootSecretPems | undefined> {
  const r = await kubeRequest(cluster, 'GET', `/api/v1/namespaces/${encodeURIComponent(ref.namespace)}/secrets/${encodeURIComponent(ref.name)}`, undefined, timeoutMs);
  if (r.status === 404) return undefined;
  if (r.status !== 200) {
    throw new Error(`secret ${secretLabel(ref)}: cannot read it from ${cluster.server}: ${describeFailure(r)}${r.status === 403 ? ' (the identity needs "get" on this secret: see deploy/base/rbac.yaml)' : ''}`);
  }
  const data = (r.body as { data?: Record<string, string> } | undefined)?.data ?? {};
  const keys = Object.keys(data).sort();
  const pem = (key: string): string => {
    const v = data[key];
    if (v === undefined || v === '') throw new Error(`secret ${secretLabel(ref)}: no key ${key} (it has: ${keys.join(', ') || 'no keys'}); a root CA Secret holds ${ROOT_SECRET_CERT_KEY} and ${ROOT_SECRET_KEY_KEY} (type ${ROOT_SECRET_TYPE})`);
    return Buffer.from(v, 'base64').toString('utf8');
  };
  const trust = data[ROOT_SECRET_TRUST_KEY];
  return { certPem: pem(ROOT_SECRET_CERT_KEY), keyPem: pem(ROOT_SECRET_KEY_KEY), ...(trust ? { trustPem: Buffer.from(trust, 'base64').toString('utf8') } : {}) };
}

/** The decoded keys of a root CA Secret. */
export interface RootSecretPems {
  readonly certPem: string;
  readonly keyPem: string;
  /** `ca.crt`, when present: more roots to trust. */
  readonly trustPem?: string;
}

/** Validates the Secret's root (errors name the Secret and key) and returns it as a root source. */
function checked(ref: RootSecretRef, pems: RootSecretPems, now: number): Omit<RootSecretResult, 'created'> {
  const label = secretLabel(ref);
  const root = parseSuppliedRoot(pems.certPem, pems.keyPem, `secret ${label} key ${ROOT_SECRET_CERT_KEY}`, `secret ${label} key ${ROOT_SECRET_KEY_KEY}`, now);
  if (pems.trustPem !== undefined) parseTrustAnchors(pems.trustPem, `secret ${label} key ${ROOT_SECRET_TRUST_KEY}`, now);
  return { root: { kind: 'secret', secret: label, certPem: pems.certPem, keyPem: pems.keyPem, ...(pems.trustPem !== undefined ? { trustPem: pems.trustPem } : {}) }, rootId: root.id };
}

/** Checks an existing Secret's content without creating anything (for `crossmesh validate`): undefined when it does not exist. */
export async function checkRootSecret(cluster: ManagementCluster, ref: RootSecretRef, now = Date.now()): Promise<{ rootId: string } | undefined> {
  const pems = await readRootSecret(cluster, ref);
  return pems ? { rootId: checked(ref, pems, now).rootId } : undefined;
}

/** Default lifetime of a root generated into a Secret (as a generated root: 10 years). */
export const ROOT_SECRET_LIFETIME_MS = 3650 * DAY;

interface KubeAnswer {
  readonly status: number;
  readonly body: unknown;
}

function describeFailure(r: KubeAnswer): string {
  const message = (r.body as { message?: unknown } | undefined)?.message;
  return `HTTP ${r.status}${typeof message === 'string' ? `: ${message}` : ''}`;
}

const MAX_BODY = 1024 * 1024;

/** One JSON request; a transport failure (unreachable, TLS, timeout) is an error naming the Secret. */
async function kubeRequest(cluster: ManagementCluster, method: string, path: string, body: unknown, timeoutMs = 10_000): Promise<KubeAnswer> {
  try {
    return await rawKubeRequest(cluster, method, path, body, timeoutMs);
  } catch (e) {
    const name = /\/namespaces\/([^/]+)\/secrets(?:\/([^/?]+))?/.exec(path);
    const label = name ? `${decodeURIComponent(name[1]!)}/${name[2] ? decodeURIComponent(name[2]) : (body as { metadata?: { name?: string } }).metadata?.name ?? ''}` : path;
    throw new Error(`secret ${label}: cannot reach the management cluster (${cluster.source}): ${(e as Error).message}`);
  }
}

/** One JSON request with the kubeconfig's credentials and TLS settings, bounded in time. */
async function rawKubeRequest(cluster: ManagementCluster, method: string, path: string, body: unknown, timeoutMs: number): Promise<KubeAnswer> {
  const url = new URL(`${cluster.server.replace(/\/+$/, '')}${path}`);
  const opts: https.RequestOptions = {};
  await cluster.kubeConfig.applyToHTTPSOptions(opts);
  const payload = body === undefined ? undefined : JSON.stringify(body);
  const mod = url.protocol === 'https:' ? https : http;
  return new Promise<KubeAnswer>((resolve, reject) => {
    const fail = (e: Error): void => reject(new Error(`${method} ${url.href}: ${e.message}`));
    const req = mod.request(url, {
      method,
      agent: opts.agent,
      headers: {
        ...((opts.headers as http.OutgoingHttpHeaders | undefined) ?? {}),
        accept: 'application/json',
        ...(payload !== undefined ? { 'content-type': 'application/json', 'content-length': Buffer.byteLength(payload) } : {}),
      },
      ...(opts.auth ? { auth: opts.auth } : {}),
    });
    const timer = setTimeout(() => req.destroy(new Error(`no answer within ${timeoutMs} ms`)), timeoutMs);
    req.on('error', (e) => {
      clearTimeout(timer);
      fail(e);
    });
    req.on('response', (res) => {
      const chunks: Buffer[] = [];
      let size = 0;
      res.on('data', (c: Buffer) => {
        size += c.length;
        if (size <= MAX_BODY) chunks.push(c);
      });
      res.on('error', (e) => {
        clearTimeout(timer);
        fail(e);
      });
      res.on('end', () => {
        clearTimeout(timer);
        const text = Buffer.concat(chunks).toString('utf8');
        let parsed: unknown;
        try {
          parsed = text ? JSON.parse(text) : undefined;
        } catch {
          parsed = { message: text.slice(0, 200) };
        }
        resolve({ status: res.statusCode ?? 0, body: parsed });
      });
    });
    req.end(payload);
  });
}

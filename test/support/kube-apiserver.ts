/**
 * A real Kubernetes API server for tests: etcd and kube-apiserver, built by scripts/build-kube.sh
 * into .tools/kube/bin, started per test file on loopback. TLS everywhere a client looks (a
 * serving certificate for 127.0.0.1, client certificates from a test CA), a service-account issuer
 * and signing key (TokenRequest and TokenReview are the server's own), RBAC on, etcd on a random
 * loopback port with its data in a temp dir. Both processes stop on close(), on process exit, when
 * the test process dies (a watchdog reads the parent's pipe), and after a lifetime cap regardless.
 *
 * The in-test fake (fake-kube-apiserver.ts) stays for what a real server cannot be made to do on
 * demand (outages, hangs, torn streams); this one proves the client against the real thing.
 */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { generateKeyPairSync, randomBytes } from 'node:crypto';
import { accessSync, constants, existsSync, mkdtempSync, openSync, closeSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import * as https from 'node:https';
import * as net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, it } from 'vitest';
import { repoRoot } from '../../src/envoy/binary.js';

/** Where scripts/build-kube.sh puts the binaries (KUBE_TOOLS overrides, as for the script). */
export function kubeToolsBin(env: NodeJS.ProcessEnv = process.env): string {
  return join(env.KUBE_TOOLS ?? join(repoRoot(), '.tools', 'kube'), 'bin');
}

/** The kube-apiserver and etcd binaries, or undefined when either is missing or not executable. */
export function findKubeBinaries(env: NodeJS.ProcessEnv = process.env): { readonly apiserver: string; readonly etcd: string } | undefined {
  const bin = kubeToolsBin(env);
  const apiserver = join(bin, 'kube-apiserver');
  const etcd = join(bin, 'etcd');
  for (const file of [apiserver, etcd]) {
    try {
      accessSync(file, constants.X_OK);
    } catch {
      return undefined;
    }
  }
  return { apiserver, etcd };
}

/** One line telling the user how to get the binaries. */
export function kubeMissingMessage(env: NodeJS.ProcessEnv = process.env): string {
  return `no kube-apiserver and etcd in ${kubeToolsBin(env)} (build them: bash scripts/build-kube.sh)`;
}

/** `describe` when the binaries are there; otherwise a skipped suite saying why (or, in CI, a failing one). */
export function kubeApiServerSuite(name: string, body: () => void): void {
  if (findKubeBinaries()) {
    describe(name, body);
  } else if (process.env.CI) {
    describe(name, () => {
      it('has kube-apiserver and etcd in CI', () => {
        throw new Error(kubeMissingMessage());
      });
    });
  } else {
    describe.skip(`${name}: skipped, ${kubeMissingMessage()}`, () => it('runs', () => undefined));
  }
}

/**
 * One real API server for the enclosing suite: started before its first test, closed after its
 * last. Returns a getter (the server exists only once beforeAll ran).
 */
export function useKubeApiServer(options: KubeApiServerOptions = {}): () => KubeApiServer {
  let server: KubeApiServer | undefined;
  beforeAll(async () => {
    server = await startKubeApiServer(options);
  }, 120_000);
  afterAll(async () => {
    await server?.close();
  }, 30_000);
  return () => {
    if (!server) throw new Error('the real API server is not started (useKubeApiServer outside a suite, or its start failed)');
    return server;
  };
}

export interface KubeApiServerOptions {
  /** Lets the API server serve watches from etcd directly: a watch from a compacted revision then gets a real 410. */
  readonly watchCache?: boolean;
  /** Bound on start-up, both processes (default 60 s). */
  readonly startTimeoutMs?: number;
  /** Both processes are killed after this long whatever happens to the test process (default 15 min). */
  readonly maxLifetimeSeconds?: number;
}

/** The answer of an API request: HTTP status and parsed JSON body. */
export interface KubeResponse {
  readonly status: number;
  // Free-form Kubernetes JSON (or text, e.g. /readyz): tests reach into it as they need.
  readonly body: any;
}

/** A running etcd + kube-apiserver pair. */
export interface KubeApiServer {
  /** https://127.0.0.1:<port> */
  readonly url: string;
  /** http://127.0.0.1:<port> of etcd (its JSON gateway answers under /v3/). */
  readonly etcdUrl: string;
  /** Kubeconfig of a system:masters client certificate. */
  readonly adminKubeconfig: string;
  /** PEM of the CA that signed the serving and client certificates. */
  readonly caPem: string;
  /** Milliseconds from spawning both processes to /readyz answering ok. */
  readonly startupMs: number;
  /** An admin request (client certificate); rejects on a non-2xx answer with the server's message. */
  request(method: string, path: string, body?: unknown): Promise<KubeResponse>;
  /** The same without rejecting on a non-2xx answer. */
  rawRequest(method: string, path: string, body?: unknown, auth?: { token: string }): Promise<KubeResponse>;
  /** A kubeconfig whose user is a client certificate for `user` in `groups` (RBAC decides what it may do). */
  clientCertKubeconfig(user: string, groups?: readonly string[]): string;
  /** Creates the namespace and ServiceAccount if missing and mints a token for it (TokenRequest). */
  serviceAccountToken(namespace: string, name: string, options?: { audiences?: readonly string[]; expirationSeconds?: number }): Promise<string>;
  /** A kubeconfig whose user is a bearer token. */
  tokenKubeconfig(token: string, name: string): string;
  /** Compacts etcd's history up to its current revision and returns that revision. */
  compactEtcd(): Promise<number>;
  /** The last lines of both logs, for error messages. */
  logTail(lines?: number): string;
  close(): Promise<void>;
}

const running = new Set<{ kill(): void }>();
process.once('exit', () => {
  for (const r of running) r.kill();
});

/**
 * Runs `cmd args` in its own process group, stopped when our end of its stdin pipe closes (the test
 * process died, however) or after `maxSeconds`; `cleanupDir`, if given, is removed once it stopped.
 */
function spawnGuarded(cmd: string, args: readonly string[], log: string, maxSeconds: number, cleanupDir = ''): ChildProcess {
  // The watchdog reads fd 3 (our pipe) and stops the program at EOF; the program itself gets no stdin.
  const script = [
    'cleanup=$1; shift',
    'exec 3<&0',
    `timeout --foreground -k 5 ${maxSeconds} "$@" </dev/null 3<&- &`,
    'child=$!',
    '(',
    '  read -r _ <&3',
    '  kill -TERM "$child" 2>/dev/null',
    '  for _ in $(seq 100); do kill -0 "$child" 2>/dev/null || break; sleep 0.1; done',
    '  kill -KILL "$child" 2>/dev/null',
    '  if [ -n "$cleanup" ]; then rm -rf "$cleanup"; fi',
    ') </dev/null &',
    'wait "$child"',
  ].join('\n');
  const fd = openSync(log, 'a');
  try {
    return spawn('bash', ['-c', script, 'watchdog', cleanupDir, cmd, ...args], { stdio: ['pipe', fd, fd], detached: true });
  } finally {
    closeSync(fd);
  }
}

function killGroup(child: ChildProcess, signal: NodeJS.Signals): void {
  if (child.pid === undefined) return;
  try {
    process.kill(-child.pid, signal);
  } catch {
    // Already gone.
  }
}

function exited(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => child.once('exit', () => resolve()));
}

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as net.AddressInfo).port;
      s.close(() => resolve(port));
    });
  });
}

function tail(file: string, lines: number): string {
  if (!existsSync(file)) return '(no log)';
  return readFileSync(file, 'utf8').trimEnd().split('\n').slice(-lines).join('\n');
}

const OPENSSL_CNF = `[req]
distinguished_name = dn
prompt = no
[dn]
CN = unused
[ca]
basicConstraints = critical,CA:TRUE
keyUsage = critical,keyCertSign,cRLSign
subjectKeyIdentifier = hash
[server]
basicConstraints = critical,CA:FALSE
keyUsage = critical,digitalSignature,keyEncipherment
extendedKeyUsage = serverAuth
subjectAltName = IP:127.0.0.1,DNS:localhost
authorityKeyIdentifier = keyid
[client]
basicConstraints = critical,CA:FALSE
keyUsage = critical,digitalSignature,keyEncipherment
extendedKeyUsage = clientAuth
authorityKeyIdentifier = keyid
`;

/** A test PKI in `dir`: one CA signing the serving certificate and every client certificate. */
class TestPki {
  private readonly cnf: string;
  constructor(private readonly dir: string) {
    this.cnf = join(dir, 'openssl.cnf');
    writeFileSync(this.cnf, OPENSSL_CNF);
    this.openssl(['req', '-x509', '-config', this.cnf, '-extensions', 'ca', ...this.newKey('ca'), '-out', join(dir, 'ca.crt'), '-days', '2', '-subj', '/CN=crossmesh-test-kube-ca']);
  }

  get caCert(): string {
    return join(this.dir, 'ca.crt');
  }

  /** Issues a certificate; `subject` is an openssl -subj string. Returns the cert and key paths. */
  issue(name: string, subject: string, profile: 'server' | 'client'): { cert: string; key: string } {
    const csr = join(this.dir, `${name}.csr`);
    this.openssl(['req', '-new', '-config', this.cnf, ...this.newKey(name), '-out', csr, '-subj', subject]);
    const cert = join(this.dir, `${name}.crt`);
    this.openssl([
      'x509', '-req', '-in', csr, '-CA', this.caCert, '-CAkey', join(this.dir, 'ca.key'),
      '-set_serial', `0x${randomBytes(12).toString('hex')}`, '-days', '2', '-extfile', this.cnf, '-extensions', profile, '-out', cert,
    ]);
    return { cert, key: join(this.dir, `${name}.key`) };
  }

  private newKey(name: string): string[] {
    return ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-keyout', join(this.dir, `${name}.key`)];
  }

  private openssl(args: string[]): void {
    try {
      execFileSync('openssl', args, { stdio: ['ignore', 'pipe', 'pipe'], timeout: 10_000 });
    } catch (err) {
      const e = err as { stderr?: Buffer; message: string };
      throw new Error(`openssl ${args[0]} failed: ${e.stderr?.toString().trim() || e.message}`);
    }
  }
}

function kubeconfigYaml(server: string, caPem: string, name: string, user: Record<string, string>): string {
  const b64 = (s: string) => Buffer.from(s).toString('base64');
  const userLines = Object.entries(user).map(([k, v]) => `    ${k}: ${v}`).join('\n');
  return `apiVersion: v1
kind: Config
clusters:
- name: ${name}
  cluster:
    server: ${server}
    certificate-authority-data: ${b64(caPem)}
users:
- name: ${name}
  user:
${userLines}
contexts:
- name: ${name}
  context: {cluster: ${name}, user: ${name}}
current-context: ${name}
`;
}

function httpsJson(
  url: string,
  method: string,
  tls: https.RequestOptions,
  body: unknown,
  timeoutMs: number,
): Promise<KubeResponse> {
  return new Promise((resolve, reject) => {
    const payload = body === undefined ? undefined : Buffer.from(JSON.stringify(body));
    const req = https.request(url, {
      method,
      ...tls,
      headers: { ...(tls.headers ?? {}), Accept: 'application/json', ...(payload ? { 'Content-Type': 'application/json', 'Content-Length': payload.length } : {}) },
      timeout: timeoutMs,
    });
    req.on('timeout', () => req.destroy(new Error(`${method} ${url}: no answer within ${timeoutMs} ms`)));
    req.on('error', reject);
    req.on('response', (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('error', reject);
      res.on('end', () => {
        const text = Buffer.concat(chunks).toString('utf8');
        let parsed: unknown = text;
        try {
          parsed = text ? JSON.parse(text) : undefined;
        } catch {
          // Not JSON (e.g. /readyz's "ok"): keep the text.
        }
        resolve({ status: res.statusCode ?? 0, body: parsed });
      });
    });
    req.end(payload);
  });
}

/** Starts etcd and kube-apiserver on loopback and waits (bounded) until the API server is ready. */
export async function startKubeApiServer(options: KubeApiServerOptions = {}): Promise<KubeApiServer> {
  const bins = findKubeBinaries();
  if (!bins) throw new Error(kubeMissingMessage());
  // A port found free can be taken before the process binds it; that rare race gets a second try.
  for (let attempt = 1; ; attempt++) {
    try {
      return await startOnce(bins, options);
    } catch (err) {
      if (attempt < 3 && /address already in use/.test((err as Error).message)) continue;
      throw err;
    }
  }
}

async function startOnce(bins: { apiserver: string; etcd: string }, options: KubeApiServerOptions): Promise<KubeApiServer> {
  const dir = mkdtempSync(join(tmpdir(), 'crossmesh-real-kube-'));
  const etcdLog = join(dir, 'etcd.log');
  const apiLog = join(dir, 'kube-apiserver.log');
  const children: ChildProcess[] = [];
  const guard = {
    kill(): void {
      for (const c of children) killGroup(c, 'SIGKILL');
      rmSync(dir, { recursive: true, force: true });
    },
  };
  running.add(guard);
  const logTail = (lines = 15): string => `--- etcd log (${etcdLog}) ---\n${tail(etcdLog, lines)}\n--- kube-apiserver log (${apiLog}) ---\n${tail(apiLog, lines)}`;

  const close = async (): Promise<void> => {
    if (!running.has(guard)) return;
    for (const c of children) {
      c.stdin?.destroy();
      killGroup(c, 'SIGTERM');
    }
    // The API server drains for a moment on SIGTERM; do not let a stuck process hold the test up.
    const timer = new Promise<void>((resolve) => setTimeout(resolve, 10_000).unref());
    await Promise.race([Promise.all(children.map(exited)), timer]);
    guard.kill();
    running.delete(guard);
  };

  try {
    const pki = new TestPki(dir);
    const serving = pki.issue('serving', '/CN=kube-apiserver', 'server');
    const admin = pki.issue('admin', '/O=system:masters/CN=crossmesh-test-admin', 'client');
    const caPem = readFileSync(pki.caCert, 'utf8');
    const sa = generateKeyPairSync('ec', { namedCurve: 'prime256v1' });
    writeFileSync(join(dir, 'sa.key'), sa.privateKey.export({ type: 'pkcs8', format: 'pem' }));
    writeFileSync(join(dir, 'sa.pub'), sa.publicKey.export({ type: 'spki', format: 'pem' }));

    const [etcdPort, peerPort, apiPort] = [await freePort(), await freePort(), await freePort()];
    const etcdUrl = `http://127.0.0.1:${etcdPort}`;
    const url = `https://127.0.0.1:${apiPort}`;
    const maxSeconds = options.maxLifetimeSeconds ?? 900;

    const started = Date.now();
    children.push(
      spawnGuarded(
        bins.etcd,
        [
          '--name=test',
          `--data-dir=${join(dir, 'etcd')}`,
          `--listen-client-urls=${etcdUrl}`,
          `--advertise-client-urls=${etcdUrl}`,
          `--listen-peer-urls=http://127.0.0.1:${peerPort}`,
          `--initial-advertise-peer-urls=http://127.0.0.1:${peerPort}`,
          `--initial-cluster=test=http://127.0.0.1:${peerPort}`,
          // Throwaway data: durability only costs the test time.
          '--unsafe-no-fsync',
          '--log-level=warn',
          // Progress notifications move the watch cache's resourceVersion (and the bookmarks it
          // sends) forward with writes to other kinds, as production etcds are set up to do. Left
          // at etcd's default (10 min) without the cache, so a direct watch's position stays
          // where its last event left it and compaction can overtake it (the 410 tests).
          ...(options.watchCache === false ? [] : ['--watch-progress-notify-interval=1s']),
        ],
        etcdLog,
        maxSeconds,
        // etcd holds the data: its watchdog clears the directory once it stopped.
        dir,
      ),
    );
    // The API server retries etcd until it answers, so both start at once.
    children.push(
      spawnGuarded(
        bins.apiserver,
        [
          `--etcd-servers=${etcdUrl}`,
          '--bind-address=127.0.0.1',
          '--advertise-address=127.0.0.1',
          `--secure-port=${apiPort}`,
          `--tls-cert-file=${serving.cert}`,
          `--tls-private-key-file=${serving.key}`,
          `--client-ca-file=${pki.caCert}`,
          `--cert-dir=${join(dir, 'certs')}`,
          '--service-account-issuer=https://kubernetes.default.svc.cluster.local',
          `--service-account-key-file=${join(dir, 'sa.pub')}`,
          `--service-account-signing-key-file=${join(dir, 'sa.key')}`,
          '--authorization-mode=Node,RBAC',
          '--service-cluster-ip-range=10.96.0.0/24',
          // The default/kubernetes endpoints would name 127.0.0.1, which endpoint validation refuses on every resync.
          '--endpoint-reconciler-type=none',
          // Tests compact etcd themselves when they want history gone, never behind their back.
          '--etcd-compaction-interval=0',
          '--profiling=false',
          ...(options.watchCache === false ? ['--watch-cache=false'] : []),
        ],
        apiLog,
        maxSeconds,
      ),
    );

    const adminTls: https.RequestOptions = { ca: caPem, cert: readFileSync(admin.cert), key: readFileSync(admin.key) };
    const deadline = started + (options.startTimeoutMs ?? 60_000);
    let last = 'no answer yet';
    for (;;) {
      for (const [i, c] of children.entries()) {
        if (c.exitCode !== null || c.signalCode !== null) {
          throw new Error(`${i === 0 ? 'etcd' : 'kube-apiserver'} exited (${c.exitCode ?? c.signalCode}) during start-up\n${logTail(25)}`);
        }
      }
      try {
        const r = await httpsJson(`${url}/readyz`, 'GET', adminTls, undefined, 2000);
        // Discovery lists every namespace and tests create objects in "default": wait for it too.
        if (r.status === 200 && (await httpsJson(`${url}/api/v1/namespaces/default`, 'GET', adminTls, undefined, 2000)).status === 200) break;
        last = `/readyz answered ${r.status}: ${String(typeof r.body === 'string' ? r.body : JSON.stringify(r.body)).slice(-400)}`;
      } catch (err) {
        last = (err as Error).message;
      }
      if (Date.now() > deadline) {
        throw new Error(`kube-apiserver not ready within ${options.startTimeoutMs ?? 60_000} ms (${last})\n${logTail(25)}`);
      }
      await new Promise((r) => setTimeout(r, 100));
    }
    const startupMs = Date.now() - started;

    const adminKubeconfig = join(dir, 'admin.kubeconfig');
    writeFileSync(adminKubeconfig, kubeconfigYaml(url, caPem, 'admin', { 'client-certificate': admin.cert, 'client-key': admin.key }));

    const rawRequest = (method: string, path: string, body?: unknown, auth?: { token: string }): Promise<KubeResponse> =>
      httpsJson(`${url}${path}`, method, auth ? { ca: caPem, headers: { Authorization: `Bearer ${auth.token}` } } : adminTls, body, 10_000);
    const request = async (method: string, path: string, body?: unknown): Promise<KubeResponse> => {
      const r = await rawRequest(method, path, body);
      if (r.status < 200 || r.status > 299) {
        throw new Error(`${method} ${path}: HTTP ${r.status}: ${(r.body as { message?: string })?.message ?? JSON.stringify(r.body)}`);
      }
      return r;
    };
    const ensure = async (path: string, body: unknown): Promise<void> => {
      const r = await rawRequest('POST', path, body);
      if (r.status !== 201 && r.status !== 409) throw new Error(`POST ${path}: HTTP ${r.status}: ${r.body?.message ?? JSON.stringify(r.body)}`);
    };
    const etcdJson = async (path: string, body: unknown): Promise<any> => {
      const res = await fetch(`${etcdUrl}${path}`, { method: 'POST', body: JSON.stringify(body), signal: AbortSignal.timeout(10_000) });
      const json = await res.json();
      if (!res.ok) throw new Error(`etcd ${path}: HTTP ${res.status}: ${JSON.stringify(json)}`);
      return json;
    };

    return {
      url,
      etcdUrl,
      adminKubeconfig,
      caPem,
      startupMs,
      request,
      rawRequest,
      clientCertKubeconfig(user, groups = []) {
        const name = `user-${user.replace(/[^a-z0-9-]/gi, '-')}`;
        const subject = `${groups.map((g) => `/O=${g}`).join('')}/CN=${user}`;
        const { cert, key } = pki.issue(name, subject, 'client');
        const file = join(dir, `${name}.kubeconfig`);
        writeFileSync(file, kubeconfigYaml(url, caPem, name, { 'client-certificate': cert, 'client-key': key }));
        return file;
      },
      async serviceAccountToken(namespace, name, opts = {}) {
        await ensure('/api/v1/namespaces', { apiVersion: 'v1', kind: 'Namespace', metadata: { name: namespace } });
        await ensure(`/api/v1/namespaces/${namespace}/serviceaccounts`, { apiVersion: 'v1', kind: 'ServiceAccount', metadata: { name } });
        const r = await request('POST', `/api/v1/namespaces/${namespace}/serviceaccounts/${name}/token`, {
          apiVersion: 'authentication.k8s.io/v1',
          kind: 'TokenRequest',
          spec: { audiences: opts.audiences ?? [], expirationSeconds: opts.expirationSeconds ?? 3600 },
        });
        return r.body.status.token as string;
      },
      tokenKubeconfig(token, name) {
        const file = join(dir, `${name}.kubeconfig`);
        writeFileSync(file, kubeconfigYaml(url, caPem, name, { token }));
        return file;
      },
      async compactEtcd() {
        // The gateway's bytes fields are base64: "AA==" is the key "\0", the lowest key; any range answers with the revision.
        const range = await etcdJson('/v3/kv/range', { key: 'AA==', limit: 1 });
        const revision = Number(range.header.revision);
        await etcdJson('/v3/kv/compaction', { revision: String(revision), physical: true });
        return revision;
      },
      logTail,
      close,
    };
  } catch (err) {
    await close();
    throw err;
  }
}

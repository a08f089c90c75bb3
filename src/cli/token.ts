/**
 * `crossmesh token --node <cluster>/<ns>/<name> [--ttl 24h]` (or `--service-account
 * <cluster>/<ns>/<sa>` for a token all replicas of a service account share): prints a bearer
 * token for the xDS server, signed with the key kept beside the CA. Only the token goes to
 * stdout; its subject and expiry go to stderr.
 */
import type { Command } from 'commander';
import { CertificateAuthority, DEFAULT_CA_DIRECTORY } from '../ca/index.js';
import type { RootSource } from '../ca/root.js';
import { TokenKeyring } from '../ca/token-key.js';
import { configPathsOrDefault } from '../config/default-mesh.js';
import { parseDuration } from '../config/duration.js';
import { loadConfig } from '../config/loader.js';
import { originKey, type MeshConfig } from '../config/mesh-config.js';
import { ensureRootSecret, loadManagementCluster, ROOT_SECRET_LIFETIME_MS, secretLabel, type ManagementCluster } from '../ca/root-secret.js';
import { log } from '../log.js';
import { issueToken, type IssuedToken, type TokenSubject } from '../xds/auth/tokens.js';

/** Output sinks, so tests can capture what a command prints. */
export interface CliOutput {
  out(text: string): void;
  err(text: string): void;
}

const stdio: CliOutput = {
  out: (t) => process.stdout.write(t),
  err: (t) => process.stderr.write(t),
};

/** Loads `--config` (or the embedded default mesh), throwing every error as `file:line: message`. */
export async function loadMeshConfig(paths: readonly string[] | undefined): Promise<MeshConfig> {
  const r = await loadConfig(configPathsOrDefault(paths));
  if (!r.config) throw new Error(`configuration has errors:\n${r.errors.map((e) => `  ${e.file}:${e.line}: ${e.message}`).join('\n')}`);
  return r.config;
}

/**
 * Opens the CA the way `serve` does: directory from `--ca-dir`, else the VirtualMesh's
 * `ca.directory`, else `.crossmesh/ca`; root from the VirtualMesh (generated, PEM files, or a
 * Kubernetes Secret read from — and created once in — the management cluster, which must then be
 * given). Creates a generated root on first use, issues nothing.
 */
export async function openCliCa(caDir: string | undefined, config: MeshConfig | undefined, management?: ManagementCluster): Promise<CertificateAuthority> {
  const vm = config?.policies.virtualMeshes[0];
  const directory = caDir ?? vm?.ca.directory ?? DEFAULT_CA_DIRECTORY;
  const rca = vm?.mtls.rootCertificateAuthority;
  let root: RootSource = { kind: 'generated' };
  if (rca?.kind === 'files') root = { kind: 'files', certFile: rca.certFile, keyFile: rca.keyFile };
  else if (rca?.kind === 'secret' && vm) {
    const ref = { namespace: rca.namespace, name: rca.name };
    if (!management) throw new Error(secretWithoutManagementCluster(config!, vm.namespace, vm.name, secretLabel(ref)));
    const keyAlgorithm = vm.ca.keyType;
    const r = await ensureRootSecret(management, ref, { keyAlgorithm, lifetimeMs: ROOT_SECRET_LIFETIME_MS });
    log.info({ secret: secretLabel(ref), root: r.rootId, created: r.created, server: management.server }, r.created ? 'created the root CA Secret with a new root' : 'read the root CA from its Secret');
    root = r.root;
  }
  // Replicas sharing a Secret root also issue the same certificates (src/ca/deterministic.ts).
  return CertificateAuthority.open({ directory, root, sharedIssuance: root.kind === 'secret', ...(vm ? { keyAlgorithm: vm.ca.keyType, leafLifetimeMs: vm.ca.leafTtlMs } : {}) });
}

/** Flags naming the management cluster (serve, validate, token, bootstrap). */
export interface ManagementFlags {
  managementKubeconfig?: string;
  managementContext?: string;
}

/** Loads `--management-kubeconfig` (and `--management-context`), or undefined when not given. */
export function managementClusterOf(flags: ManagementFlags): ManagementCluster | undefined {
  if (flags.managementContext !== undefined && flags.managementKubeconfig === undefined) throw new Error('--management-context needs --management-kubeconfig');
  return flags.managementKubeconfig !== undefined ? loadManagementCluster(flags.managementKubeconfig, flags.managementContext) : undefined;
}

/** Adds `--management-kubeconfig` and `--management-context` to a command. */
export function managementOptions(command: Command, what: string): Command {
  return command
    .option('--management-kubeconfig <path|in-cluster>', `the Kubernetes cluster crossmesh runs in (a kubeconfig file, or in-cluster for the pod's ServiceAccount): ${what}`)
    .option('--management-context <name>', 'context of --management-kubeconfig (default: its current-context)');
}

/** The error for a VirtualMesh whose root is a Secret when no management cluster was given: names the file, the VirtualMesh and the field. */
export function secretWithoutManagementCluster(config: MeshConfig, namespace: string, name: string, secret: string): string {
  const at = config.origins.get(originKey('VirtualMesh', `${namespace}/${name}`));
  return (
    `${at ? `${at.file}:${at.line}: ` : ''}VirtualMesh ${namespace}/${name}: spec.mtlsConfig.shared.rootCertificateAuthority.secret (${secret}) ` +
    'is read from a Kubernetes management cluster, and none was given: add --management-kubeconfig <kubeconfig file|in-cluster>'
  );
}

/** Parses a `--ttl`-style duration, naming the flag in errors. */
export function durationFlag(value: string, flag: string): number {
  const d = parseDuration(value);
  if ('error' in d) throw new Error(`${flag}: ${d.error}`);
  if (d.ms < 1000) throw new Error(`${flag} must be at least 1s, got ${JSON.stringify(value)}`);
  return d.ms;
}

/** Signs a token for `subject` with the keyring of the CA in `ca`'s directory. */
export async function mintToken(ca: CertificateAuthority, subject: TokenSubject, ttlMs: number): Promise<IssuedToken> {
  const keyring = await TokenKeyring.open({ directory: ca.directory, rootId: ca.trustBundle().roots[0]!.id });
  return issueToken(keyring, subject, ttlMs);
}

interface TokenFlags extends ManagementFlags {
  node?: string;
  serviceAccount?: string;
  ttl: string;
  caDir?: string;
  config: string[];
}

/** Runs `crossmesh token`; returns the exit code. */
export async function runToken(flags: TokenFlags, io: CliOutput = stdio): Promise<number> {
  if (!flags.node === !flags.serviceAccount) {
    io.err('crossmesh token: give exactly one of --node <cluster>/<namespace>/<name> or --service-account <cluster>/<namespace>/<serviceAccount>\n');
    return 2;
  }
  let subject: TokenSubject;
  if (flags.node) {
    subject = { kind: 'node', nodeId: flags.node };
  } else {
    const [cluster = '', namespace = '', serviceAccount = '', ...rest] = flags.serviceAccount!.split('/');
    if (rest.length) throw new Error(`--service-account "${flags.serviceAccount}" must be <cluster>/<namespace>/<serviceAccount>`);
    subject = { kind: 'serviceAccount', cluster, namespace, serviceAccount };
  }
  const ttlMs = durationFlag(flags.ttl, '--ttl');
  const config = flags.config.length || !flags.caDir ? await loadMeshConfig(flags.config) : undefined;
  const ca = await openCliCa(flags.caDir, config, managementClusterOf(flags));
  try {
    const t = await mintToken(ca, subject, ttlMs);
    io.out(`${t.token}\n`);
    io.err(`token for ${t.subject}, expires ${t.expiresAt.toISOString()}\n`);
    return 0;
  } finally {
    ca.close();
  }
}

/** Adds `crossmesh token`. */
export function register(program: Command): void {
  const command = program
    .command('token')
    .description('print a bearer token for the xDS server, bound to one node id (or one service account)')
    .option('--node <id>', 'node id <cluster>/<namespace>/<name> the token is bound to')
    .option('--service-account <sa>', 'bind to <cluster>/<namespace>/<serviceAccount> instead (every replica may use it)')
    .option('--ttl <duration>', 'lifetime, e.g. 1h, 24h, 720h', '24h')
    .option('--ca-dir <dir>', 'CA directory (default: the VirtualMesh ca.directory, else .crossmesh/ca)')
    .option('--config <path>', 'YAML file or directory (repeatable); default: the embedded mesh', (v: string, acc: string[]) => [...acc, v], [] as string[]);
  managementOptions(command, 'where a VirtualMesh rootCertificateAuthority.secret is read')
    .action(async (flags: TokenFlags) => {
      process.exitCode = await runToken(flags);
    });
}

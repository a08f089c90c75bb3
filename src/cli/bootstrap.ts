/**
 * `crossmesh bootstrap --node <cluster>/<ns>/<name> [--role sidecar|gateway|ingress]
 * [--xds-address host:port|unix:<path>] [--admin-address host:port|unix:<path>] [--ads-api sotw|delta]`:
 * prints an Envoy bootstrap (YAML) for one proxy. The node is looked up in the configuration for
 * its locality; a token bound to that node id goes into `grpc_services[].initial_metadata`; the
 * xDS connection is TLS that trusts the mesh root (inline, or the file `--ca-file` names) and
 * accepts only crossmesh's server certificate. With `--xds-client-cert-dir DIR` there is no token:
 * the xDS connection presents the workload certificate `crossmesh agent --envoy-sds --out DIR`
 * keeps fresh (file-based SDS), so the bootstrap holds no credential at all. Every flag is checked before anything is read or
 * issued, and an error names the flag.
 */
import type { Command } from 'commander';
import { stringify } from 'yaml';
import type { MeshConfig } from '../config/mesh-config.js';
import { objectKey, type Locality } from '../model/types.js';
import { buildEnvoyBootstrap, parseAddress, parseHostPort, type AdsApi, type Address, type ProxyRole } from '../translate/bootstrap.js';
import { buildProxylessBootstrap, type ProxylessBootstrap } from '../translate/proxyless-bootstrap.js';
import { durationFlag, loadMeshConfig, managementClusterOf, managementOptions, mintToken, openCliCa, type CliOutput, type ManagementFlags } from './token.js';

const ROLES = ['sidecar', 'gateway', 'ingress'] as const;
const ADS_APIS = ['sotw', 'delta'] as const;

interface BootstrapFlags extends ManagementFlags {
  node: string;
  role: string;
  xdsAddress: string;
  config: string[];
  tokenTtl: string;
  caFile?: string;
  caDir?: string;
  serverName?: string;
  namespace: string;
  /** Admin port on 127.0.0.1 (default 15000); exclusive with `adminAddress`. */
  adminPort?: string;
  /** Admin listener `host:port` or `unix:<path>`. */
  adminAddress?: string;
  /** `sotw` (default) or `delta`. */
  adsApi?: string;
  insecureXds?: boolean;
  certDir?: string;
  /** Durable mode: the xDS client certificate from `crossmesh agent --envoy-sds --out DIR`; no token. */
  xdsClientCertDir?: string;
}

const stdio: CliOutput = {
  out: (t) => process.stdout.write(t),
  err: (t) => process.stderr.write(t),
};

/** Builds the bootstrap object (proto3 JSON shape) for the flags; the token never leaves this object. */
export async function buildBootstrapForNode(flags: BootstrapFlags): Promise<{ bootstrap: Record<string, unknown>; tokenSubject?: string; tokenExpiresAt?: Date; warnings: string[] }> {
  if (!(ROLES as readonly string[]).includes(flags.role)) throw new Error(`--role must be one of ${ROLES.join(', ')}, got "${flags.role}"`);
  flagged('--xds-address', () => parseAddress(flags.xdsAddress));
  const admin = adminAddressOf(flags);
  const adsApi = flags.adsApi ?? 'sotw';
  if (!(ADS_APIS as readonly string[]).includes(adsApi)) throw new Error(`--ads-api must be one of ${ADS_APIS.join(', ')}, got "${adsApi}"`);
  const ttlMs = durationFlag(flags.tokenTtl, '--token-ttl');
  const certDir = flags.xdsClientCertDir;
  if (certDir !== undefined) {
    if (flags.insecureXds) throw new Error('--xds-client-cert-dir needs TLS: a client certificate cannot be presented over --insecure-xds');
    if (!certDir.startsWith('/')) throw new Error(`--xds-client-cert-dir must be an absolute path (Envoy reads it), got "${certDir}"`);
  }
  const config = await loadMeshConfig(flags.config);
  const locality = localityOfNode(config, flags.node);
  const ca = await openCliCa(flags.caDir, config, managementClusterOf(flags));
  try {
    // Durable mode carries no token: the certificate the agent renews is the only credential.
    const token = certDir === undefined ? await mintToken(ca, { kind: 'node', nodeId: flags.node }, ttlMs) : undefined;
    const serverName = flags.serverName ?? `crossmesh.${flags.namespace}.svc`;
    const bootstrap = buildEnvoyBootstrap({
      nodeId: flags.node,
      role: flags.role as ProxyRole,
      ...(locality ? { locality } : {}),
      xdsAddress: flags.xdsAddress,
      adminAddress: admin.address,
      adsApi: adsApi as AdsApi,
      ...(flags.insecureXds ? {} : { xdsCaFile: flags.caFile ?? '(inline)', xdsServerName: serverName }),
      ...(token ? { initialMetadata: { authorization: `Bearer ${token.token}` } } : { xdsClientCertDir: certDir! }),
    });
    if (!flags.insecureXds) trustMeshRoot(bootstrap, flags.caFile ? undefined : ca.trustBundle().pem, serverName);
    return { bootstrap, ...(token ? { tokenSubject: token.subject, tokenExpiresAt: token.expiresAt } : {}), warnings: admin.warning ? [admin.warning] : [] };
  } finally {
    ca.close();
  }
}

/** Runs `parse`, prefixing its error with the flag the value came from. */
function flagged<T>(flag: string, parse: () => T): T {
  try {
    return parse();
  } catch (e) {
    throw new Error(`${flag}: ${e instanceof Error ? e.message : String(e)}`);
  }
}

/** The admin address from `--admin-address` or the `--admin-port` loopback shorthand (default 127.0.0.1:15000). */
function adminAddressOf(flags: BootstrapFlags): { address: string; warning?: string } {
  if (flags.adminAddress !== undefined && flags.adminPort !== undefined) throw new Error('--admin-address and --admin-port are exclusive: give one (--admin-port P means --admin-address 127.0.0.1:P)');
  if (flags.adminAddress !== undefined) {
    const a: Address = flagged('--admin-address', () => parseAddress(flags.adminAddress!));
    const exposed = a.kind === 'tcp' && !['127.0.0.1', '::1', 'localhost'].includes(a.host);
    return { address: flags.adminAddress, ...(exposed ? { warning: `--admin-address ${flags.adminAddress}: Envoy's admin API is unauthenticated and can change the proxy; keep it on loopback or a unix socket` } : {}) };
  }
  const text = flags.adminPort ?? '15000';
  const port = Number(text);
  if (!/^\d{1,5}$/.test(text) || port < 1 || port > 65535) throw new Error(`--admin-port must be a port number (1-65535), got "${text}"`);
  return { address: `127.0.0.1:${port}` };
}

/** Pins the xDS cluster's TLS to the mesh root (inline when no file is given) and to crossmesh's server name. */
function trustMeshRoot(bootstrap: Record<string, unknown>, inlineBundle: string | undefined, serverName: string): void {
  const clusters = (bootstrap.static_resources as { clusters: Record<string, unknown>[] }).clusters;
  const xds = clusters.find((c) => c.name === 'xds-grpc');
  const ctx = (xds?.transport_socket as { typed_config?: { common_tls_context?: { validation_context?: Record<string, unknown> } } } | undefined)?.typed_config?.common_tls_context;
  if (!ctx?.validation_context) throw new Error('bootstrap has no TLS context on the xds-grpc cluster (internal error)');
  if (inlineBundle) ctx.validation_context.trusted_ca = { inline_string: inlineBundle };
  ctx.validation_context.match_typed_subject_alt_names = [{ san_type: 'DNS', matcher: { exact: serverName } }];
}

/** The locality of the Workload a node id names in the configuration; an error lists known nodes. */
function localityOfNode(config: MeshConfig, nodeId: string): Locality | undefined {
  const workload = config.workloads.find((w) => objectKey(w) === nodeId);
  if (!workload) {
    const known = config.workloads.map(objectKey).sort();
    throw new Error(`--node ${nodeId} names no Workload in the configuration (${config.files.length} files); known nodes: ${known.slice(0, 8).join(', ')}${known.length > 8 ? ', ...' : ''}`);
  }
  const cluster = config.clusters.find((c) => c.name === workload.cluster);
  return workload.locality.region ? workload.locality : cluster?.locality;
}

/**
 * The grpc-js-xds bootstrap of a proxyless node (role proxyless): no token (grpc-js-xds cannot send
 * one; its xDS transport is plaintext), certificates from the directory `crossmesh agent` writes.
 */
export async function buildProxylessBootstrapForNode(flags: BootstrapFlags): Promise<ProxylessBootstrap> {
  if (flags.xdsAddress.startsWith('unix:')) throw new Error(`--xds-address: role proxyless takes host:port (the plaintext proxyless port), got "${flags.xdsAddress}"`);
  flagged('--xds-address', () => parseHostPort(flags.xdsAddress));
  const config = await loadMeshConfig(flags.config);
  const locality = localityOfNode(config, flags.node) ?? { region: '', zone: '', subzone: '' };
  return buildProxylessBootstrap({ nodeId: flags.node, xdsAddress: flags.xdsAddress, certDir: flags.certDir ?? '/run/crossmesh/certs', locality });
}

/** Runs `crossmesh bootstrap`; returns the exit code. */
export async function runBootstrap(flags: BootstrapFlags, io: CliOutput = stdio): Promise<number> {
  if (flags.role === 'proxyless') {
    io.out(`${JSON.stringify(await buildProxylessBootstrapForNode(flags), null, 2)}\n`);
    io.err(`grpc-js-xds bootstrap for ${flags.node} (proxyless): set GRPC_XDS_BOOTSTRAP to this file; xDS is plaintext (serve --insecure-xds); certificates from ${flags.certDir ?? '/run/crossmesh/certs'} (crossmesh agent --out)\n`);
    return 0;
  }
  const { bootstrap, tokenSubject, tokenExpiresAt, warnings } = await buildBootstrapForNode(flags);
  io.out(stringify(bootstrap, { lineWidth: 0 }));
  for (const w of warnings) io.err(`warning: ${w}\n`);
  if (tokenSubject && tokenExpiresAt) io.err(`bootstrap for ${flags.node} (${flags.role}); token for ${tokenSubject} expires ${tokenExpiresAt.toISOString()}\n`);
  else io.err(`bootstrap for ${flags.node} (${flags.role}); no token: the xDS connection presents the certificate in ${flags.xdsClientCertDir} (run crossmesh agent --envoy-sds --out ${flags.xdsClientCertDir} as Envoy's uid, before Envoy starts)\n`);
  if (flags.insecureXds) io.err('warning: --insecure-xds: the xDS connection is plaintext and the token travels unencrypted\n');
  return 0;
}

/** Adds `crossmesh bootstrap`. */
export function register(program: Command): void {
  const command = program
    .command('bootstrap')
    .description('print an Envoy bootstrap (YAML) for a node: ADS to crossmesh over TLS, with a token bound to the node')
    .requiredOption('--node <id>', 'node id <cluster>/<namespace>/<name> (a Workload in the configuration)')
    .option('--role <role>', `proxy role: ${ROLES.join(', ')}, or proxyless (prints a grpc-js-xds bootstrap JSON)`, 'sidecar')
    .option('--xds-address <host:port|unix:path>', 'address of crossmesh\'s xDS server as the proxy reaches it: host:port, or unix:<absolute path> of serve --xds-socket', '127.0.0.1:18000')
    .option('--ads-api <api>', `ADS protocol: ${ADS_APIS.join(' (state of the world) or ')} (incremental)`, 'sotw')
    .option('--config <path>', 'YAML file or directory (repeatable); default: the embedded mesh', (v: string, acc: string[]) => [...acc, v], [] as string[])
    .option('--token-ttl <duration>', 'lifetime of the embedded token (Envoy cannot refresh it: size it to the proxy\'s lifetime, or use --xds-client-cert-dir)', '24h')
    .option('--ca-file <path>', 'reference this file (the mesh root bundle, on the proxy\'s host) instead of inlining the root')
    .option('--ca-dir <dir>', 'CA directory (default: the VirtualMesh ca.directory, else .crossmesh/ca)')
    .option('--namespace <ns>', 'namespace crossmesh runs in: the server certificate name is crossmesh.<ns>.svc', 'crossmesh-system')
    .option('--server-name <name>', 'SNI and expected server certificate DNS name (default crossmesh.<namespace>.svc)')
    .option('--admin-address <host:port|unix:path>', 'Envoy admin listener: host:port or unix:<absolute path> (default 127.0.0.1:15000)')
    .option('--admin-port <port>', 'Envoy admin port on 127.0.0.1 (shorthand for --admin-address 127.0.0.1:<port>)')
    .option('--insecure-xds', 'plaintext xDS, for a server started with --insecure-xds (development only)')
    .option('--xds-client-cert-dir <dir>', 'durable credentials: no token; the xDS connection presents the workload certificate that crossmesh agent --envoy-sds --out <dir> keeps fresh (absolute path, readable by Envoy)')
    .option('--cert-dir <dir>', 'proxyless: directory of cert.pem, key.pem, ca.pem written by crossmesh agent --out', '/run/crossmesh/certs');
  managementOptions(command, 'where a VirtualMesh rootCertificateAuthority.secret is read')
    .action(async (flags: BootstrapFlags) => {
      process.exitCode = await runBootstrap(flags);
    });
}

/**
 * `crossmesh serve`: starts the xDS gRPC server and the admin HTTP server around one snapshot
 * cache, lets a mesh loader fill the cache, and shuts down cleanly on SIGINT/SIGTERM. With
 * `--xds-socket` the same xDS server (same credentials, streams and cache) also listens on a unix
 * socket, which Envoys in other network namespaces reach through the file system.
 */
import { resolve as resolvePath } from 'node:path';
import * as grpc from '@grpc/grpc-js';
import type { Command } from 'commander';
import { checkUnixSocketPath } from '../translate/bootstrap.js';
import { SnapshotCache } from '../xds/cache.js';
import { XdsServer } from '../xds/server.js';
import type { Authenticator } from '../xds/stream.js';
import type { TypeUrl } from '../xds/types.js';
import type { ResourceRedactor } from '../xds/config-dump.js';
import { startAdminServer, type AdminServer, type XdsIntrospection } from '../admin/server.js';
import { proxylessPortAuthenticator } from '../xds/auth/proxyless-port.js';
import { log } from '../log.js';
import { startXdsSecurity, type XdsSecurity } from '../xds/auth/security.js';
import { loadMeshConfig, managementClusterOf, managementOptions, openCliCa } from './token.js';
import { meshLoader } from './mesh-loader.js';
import type { PolicyClusterOptions } from '../config/kubernetes/policy-cluster.js';
import { expandKubeconfigPath } from '../discovery/kubernetes/kubeconfig.js';
import { startInjectionWebhook, type InjectionWebhook } from '../inject/webhook-server.js';
import { injectFlagOptions, injectOptionsOf, type InjectFlagValues } from './inject.js';

/** Something a mesh loader started (file watchers, informers) that must stop on shutdown. */
export interface MeshLoaderHandle {
  /** Whether the mesh is loaded and being served (drives /readyz); default: the cache has been filled once. */
  ready?(): boolean;
  close(): void | Promise<void>;
}

/**
 * Fills the cache: sets the group resolver and the resources of every group, and keeps them
 * current (config → model → translate → cache). Called once after both servers listen.
 */
export type MeshLoader = (ctx: {
  readonly cache: SnapshotCache;
  /** For the loader's own debug pages (`addRoute`). */
  readonly admin: AdminServer;
  readonly configPaths: readonly string[];
  /** When set: call `security.setMesh(() => store.current)` and install `security.withSecretGroups(resolver)`. */
  readonly security?: XdsSecurity;
  /** Node ids with a stream open now, on every xDS server over the cache (for forgetting departed proxies). */
  readonly liveNodeIds: () => string[];
  /** `XdsServer.whenAnswered` over every xDS server on the cache (for pushing policy changes make-before-break). */
  readonly whenAnswered: (groups: ReadonlySet<string>, typeUrl: TypeUrl, timeoutMs: number) => Promise<boolean>;
  /** Read policies from this management cluster too (`--policies-kubeconfig`). */
  readonly policyCluster?: PolicyClusterOptions;
}) => Promise<MeshLoaderHandle | void>;

export interface ControlPlaneOptions {
  /** Address both servers bind to (default 127.0.0.1). */
  readonly host?: string;
  /** xDS gRPC port (default 18000; 0 picks a free one). */
  readonly xdsPort?: number;
  /** Also serve xDS on this unix socket path (same server, credentials and cache as the port). */
  readonly xdsSocket?: string;
  /** Admin HTTP port (default 18080; 0 picks a free one). */
  readonly adminPort?: number;
  /** Extra names the admin port answers to in the Host header (DNS-rebinding defence; see docs/admin.md). */
  readonly adminAllowedHosts?: readonly string[];
  /** Push debounce window (default 100 ms); ignored when `cache` is given. */
  readonly debounceMs?: number;
  /** The cache to serve; a new one is created if omitted. */
  readonly cache?: SnapshotCache;
  readonly authenticate?: Authenticator;
  readonly redact?: ResourceRedactor;
  /** xDS transport credentials (default: insecure, the only mode until the TLS issue lands). */
  readonly xdsCredentials?: grpc.ServerCredentials;
  readonly loadMesh?: MeshLoader;
  /** Plaintext port for proxyless gRPC clients (see src/xds/auth/proxyless-port.ts); not served when absent. */
  readonly proxylessXdsPort?: number;
  /** Connections are ended at this age so proxies re-authenticate (default 30 min; 0 = never). */
  readonly maxConnectionAgeMs?: number;
  readonly configPaths?: readonly string[];
  /** Policies from a management cluster's custom resources, beside the files (`--policies-kubeconfig`). */
  readonly policyCluster?: PolicyClusterOptions;
  /** xDS security (TLS, authentication, SDS): supplies `authenticate` and `xdsCredentials` unless given, adds /debug/certs, closes with the plane. */
  readonly security?: XdsSecurity;
}

/** A running control plane. */
export interface ControlPlane {
  readonly cache: SnapshotCache;
  readonly xds: XdsServer;
  readonly admin: AdminServer;
  /** host:port the xDS server listens on. */
  readonly xdsAddress: string;
  /** `unix:<absolute path>` of the xDS socket, when served. */
  readonly xdsSocketAddress?: string;
  /** host:port of the plaintext proxyless port, when served. */
  readonly proxylessXdsAddress?: string;
  readonly adminUrl: string;
  /** Stops the loader, then both servers; safe to call twice. */
  close(): Promise<void>;
}

/** Starts the xDS and admin servers around a cache, then runs the mesh loader. */
export async function startControlPlane(options: ControlPlaneOptions = {}): Promise<ControlPlane> {
  const host = options.host ?? '127.0.0.1';
  const cache = options.cache ?? new SnapshotCache({ debounceMs: options.debounceMs ?? 100 });
  let streamId = 0;
  const streamIds = (): number => ++streamId;
  const age = options.maxConnectionAgeMs !== undefined ? { maxConnectionAgeMs: options.maxConnectionAgeMs } : {};
  const xds = new XdsServer({
    cache,
    streamIds,
    ...age,
    ...(options.authenticate ?? options.security ? { authenticate: options.authenticate ?? options.security!.authenticate } : {}),
    ...(options.redact ? { redact: options.redact } : {}),
  });
  const proxylessXds =
    options.proxylessXdsPort === undefined
      ? undefined
      : new XdsServer({ cache, streamIds, ...age, authenticate: proxylessPortAuthenticator(), ...(options.redact ? { redact: options.redact } : {}) });
  const servers = proxylessXds ? [xds, proxylessXds] : [xds];
  const hostPort = (port: number): string => (host.includes(':') ? `[${host}]:${port}` : `${host}:${port}`);
  let admin: AdminServer | undefined;
  let loader: MeshLoaderHandle | void = undefined;
  // Not ready while the loader runs: the secret publisher fills the trust-bundle groups of the
  // cache before any mesh is loaded, so "the cache was filled once" alone said ready too early.
  let loaded = options.loadMesh === undefined;
  try {
    const xdsCredentials = options.xdsCredentials ?? options.security?.credentials;
    const xdsPort = await xds.listen(host, options.xdsPort ?? 18000, xdsCredentials);
    const xdsSocketPath = options.xdsSocket !== undefined ? await xds.listenUnix(options.xdsSocket, xdsCredentials) : undefined;
    if (xdsSocketPath) log.info({ address: `unix:${xdsSocketPath}` }, 'xds server listening on a unix socket');
    const proxylessPort = proxylessXds ? await proxylessXds.listen(host, options.proxylessXdsPort!, grpc.ServerCredentials.createInsecure()) : undefined;
    admin = await startAdminServer({ host, port: options.adminPort ?? 18080, xds: introspectAll(servers), isReady: () => loaded && (loader && loader.ready ? loader.ready() : cache.isReady()), ...(options.adminAllowedHosts ? { allowedHosts: options.adminAllowedHosts } : {}) });
    const xdsAddress = hostPort(xdsPort);
    options.security?.attach({ xds, admin });
    const liveNodeIds = (): string[] => servers.flatMap((s) => s.activeStreams().map((st) => st.node?.id ?? '')).filter((id) => id !== '');
    const whenAnswered = async (groups: ReadonlySet<string>, typeUrl: TypeUrl, timeoutMs: number): Promise<boolean> => (await Promise.all(servers.map((s) => s.whenAnswered(groups, typeUrl, timeoutMs)))).every(Boolean);
    if (options.loadMesh) loader = await options.loadMesh({
        cache,
        admin,
        configPaths: options.configPaths ?? [],
        liveNodeIds,
        whenAnswered,
        ...(options.security ? { security: options.security } : {}),
        ...(options.policyCluster ? { policyCluster: options.policyCluster } : {}),
      });
    loaded = true;
    let closing: Promise<void> | undefined;
    const adminServer = admin;
    return {
      cache,
      xds,
      admin: adminServer,
      xdsAddress,
      ...(xdsSocketPath !== undefined ? { xdsSocketAddress: `unix:${xdsSocketPath}` } : {}),
      ...(proxylessPort !== undefined ? { proxylessXdsAddress: hostPort(proxylessPort) } : {}),
      adminUrl: adminServer.url,
      close() {
        closing ??= (async () => {
          if (loader) await loader.close();
          await Promise.all(servers.map((s) => s.close()));
          await adminServer.close();
          options.security?.close();
          cache.close();
        })();
        return closing;
      },
    };
  } catch (e) {
    if (loader) await loader.close();
    await Promise.all(servers.map((s) => s.close(0)));
    await admin?.close();
    if (!options.cache) cache.close();
    throw e;
  }
}

/** One view of several xDS servers over the same cache, for the admin server. */
function introspectAll(servers: readonly XdsServer[]): XdsIntrospection {
  return {
    proxies: () => servers.flatMap((s) => s.proxies()),
    refusals: () => servers.flatMap((s) => s.refusals()).sort((a, b) => (a.at < b.at ? 1 : a.at > b.at ? -1 : 0)),
    configDump: (nodeId) => servers.map((s) => s.configDump(nodeId)).find((d) => d !== undefined),
  };
}

function port(value: string, flag: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 0 || n > 65535) throw new Error(`${flag} must be a port number (0-65535), got ${JSON.stringify(value)}`);
  return n;
}

function seconds(value: string, flag: string): number {
  const n = Number(value);
  if (!Number.isFinite(n) || n < 0 || n > 7 * 24 * 3600) throw new Error(`${flag} must be a number of seconds (0-604800), got ${JSON.stringify(value)}`);
  return n;
}

function nonNegative(value: string, flag: string): number {
  const n = Number(value);
  if (!Number.isFinite(n) || n < 0 || n > 60_000) throw new Error(`${flag} must be a number of milliseconds (0-60000), got ${JSON.stringify(value)}`);
  return n;
}

/** An absolute unix socket path short enough for the kernel, or an error naming the flag. */
function socketPath(value: string, flag: string): string {
  try {
    return checkUnixSocketPath(resolvePath(value));
  } catch (e) {
    throw new Error(`${flag}: ${(e as Error).message}`);
  }
}

interface ServeFlags {
  config: string[];
  xdsPort: string;
  xdsSocket?: string;
  adminPort: string;
  adminAllowedHost: string[];
  host: string;
  insecureXds?: boolean;
  debounceMs: string;
  caDir?: string;
  xdsHostName: string[];
  namespace: string;
  allowUnauthenticatedProxyless?: boolean;
  proxylessXdsPort?: string;
  maxConnectionAge: string;
  policiesKubeconfig?: string;
  managementKubeconfig?: string;
  managementContext?: string;
  policiesContext?: string;
  remoteSecrets?: boolean;
  remoteSecretAllowExec: string[];
  remoteSecretAllowPath: string[];
  remoteSecretAllowAuthProvider: string[];
  injectPort?: string;
  injectXdsAddress?: string;
  injectServerName?: string;
  injectProxyImage: string;
  injectCrossmeshImage: string;
  injectTokenExpiration: string;
  injectAdsApi?: string;
}

/** The injection flag values of `serve` (all `--inject-*`), without the cluster, which each request's path names. */
function injectFlagsOf(flags: ServeFlags): Omit<InjectFlagValues, 'cluster'> {
  return {
    ...(flags.injectXdsAddress !== undefined ? { xdsAddress: flags.injectXdsAddress } : {}),
    ...(flags.injectServerName !== undefined ? { serverName: flags.injectServerName } : {}),
    namespace: flags.namespace,
    proxyImage: flags.injectProxyImage,
    crossmeshImage: flags.injectCrossmeshImage,
    tokenExpiration: flags.injectTokenExpiration,
    ...(flags.injectAdsApi !== undefined ? { adsApi: flags.injectAdsApi } : {}),
  };
}

/** The `--remote-secret*` flags as PolicyClusterOptions.remoteSecrets; throws naming the flag that is out of place. */
function remoteSecretsOf(flags: ServeFlags): PolicyClusterOptions['remoteSecrets'] {
  const allowFlags = flags.remoteSecretAllowExec.length + flags.remoteSecretAllowPath.length + flags.remoteSecretAllowAuthProvider.length;
  if (!flags.remoteSecrets) {
    if (allowFlags > 0) throw new Error('--remote-secret-allow-* needs --remote-secrets');
    return undefined;
  }
  if (flags.policiesKubeconfig === undefined) throw new Error('--remote-secrets needs --policies-kubeconfig (the management cluster whose --namespace holds the Secrets)');
  for (const c of flags.remoteSecretAllowExec) if (c.trim() === '') throw new Error('--remote-secret-allow-exec: empty command');
  for (const d of flags.remoteSecretAllowPath) if (d.trim() === '') throw new Error('--remote-secret-allow-path: empty directory');
  return {
    allow: {
      execCommands: flags.remoteSecretAllowExec,
      // Absolute now, so a later change of working directory cannot widen what is allowed.
      pathPrefixes: flags.remoteSecretAllowPath.map((d) => expandKubeconfigPath(d)),
      authProviders: flags.remoteSecretAllowAuthProvider,
    },
  };
}

/** Adds `crossmesh serve`; `loadMesh` fills the cache (config → model → translate → cache). */
export function register(program: Command, loadMesh: MeshLoader = meshLoader()): void {
  const cmd = program
    .command('serve')
    .description('serve xDS (ADS/CDS/EDS/LDS/RDS/SDS, SotW and delta) and the admin HTTP endpoints')
    .option('--config <path>', 'YAML file or directory of them (repeatable); default: the embedded mesh', (v: string, acc: string[]) => [...acc, v], [] as string[])
    .option('--xds-port <port>', 'xDS gRPC port', '18000')
    .option('--xds-socket <path>', 'also serve xDS on this unix socket (same TLS and authentication as the port; a stale socket file is replaced, removed on exit)')
    .option('--admin-port <port>', 'admin HTTP port', '18080')
    .option('--host <address>', 'address to bind both servers to', '127.0.0.1')
    .option('--admin-allowed-host <name>', 'a name the admin port may be reached by in the Host header, besides localhost, IP addresses and --host (repeatable; others get 421)', (v: string, acc: string[]) => [...acc, v], [] as string[])
    .option('--insecure-xds', 'serve xDS without TLS and admit clients without credentials (they get no secrets); local development only')
    .option('--xds-host-name <name>', 'extra DNS name or IP in the xDS server certificate (repeatable)', (v: string, acc: string[]) => [...acc, v], [] as string[])
    .option('--namespace <ns>', 'namespace crossmesh runs in (server certificate name crossmesh.<ns>.svc; with --policies-kubeconfig, where the status-writer Lease lives)', 'crossmesh-system')
    .option('--ca-dir <dir>', 'CA directory (default: the VirtualMesh ca.directory, else .crossmesh/ca)')
    .option('--proxyless-xds-port <port>', 'also serve plaintext xDS on this port for proxyless gRPC clients (grpc-js-xds cannot use TLS to its xDS server): only role=proxyless nodes without credentials, never secrets')
    .option('--allow-unauthenticated-proxyless', 'admit role=proxyless nodes without credentials (grpc-js-xds bootstraps carry none); they get no secrets')
    .option('--debounce-ms <ms>', 'window in which changes are batched into one push', '100')
    .option('--max-connection-age <seconds>', 'end xDS connections at this age so proxies reconnect and are authenticated again (0 = never)', '1800')
    .option('--policies-kubeconfig <file|in-cluster>', 'also read VirtualMesh, TrafficPolicy, AccessPolicy and FailoverService objects from this management cluster (CRDs: crossmesh crds); status is written by the replica holding the Lease crossmesh-policy-status in --namespace')
    .option('--policies-context <name>', 'context of --policies-kubeconfig to use (default: its current-context)')
    .option('--remote-secrets', 'also register remote clusters from Secrets labelled crossmesh.io/remote-cluster=true in --namespace of the --policies-kubeconfig cluster (each data key a cluster name, its value that cluster\'s kubeconfig)')
    .option('--remote-secret-allow-exec <command>', 'let remote-cluster Secrets\' kubeconfigs run this exec-plugin command, as written in exec.command (repeatable; default: none)', (v: string, acc: string[]) => [...acc, v], [] as string[])
    .option('--remote-secret-allow-path <dir>', 'let remote-cluster Secrets\' kubeconfigs read files under this directory (tokenFile, client-certificate, client-key, certificate-authority; repeatable; default: none)', (v: string, acc: string[]) => [...acc, v], [] as string[])
    .option('--remote-secret-allow-auth-provider <name>', 'let remote-cluster Secrets\' kubeconfigs use this auth-provider (repeatable; default: none)', (v: string, acc: string[]) => [...acc, v], [] as string[])
    .option('--inject-port <port>', 'serve the sidecar-injection admission webhook (HTTPS, certificate from the mesh CA) on this port, at /inject/<cluster>');
  injectFlagOptions(cmd, 'inject-');
  managementOptions(cmd, 'where a VirtualMesh rootCertificateAuthority.secret is read, and created once if missing')
    .action(async (flags: ServeFlags) => {
      // Every number is checked before anything is opened or issued.
      const xdsPort = port(flags.xdsPort, '--xds-port');
      const adminPort = port(flags.adminPort, '--admin-port');
      const debounceMs = nonNegative(flags.debounceMs, '--debounce-ms');
      const proxylessXdsPort = flags.proxylessXdsPort !== undefined ? port(flags.proxylessXdsPort, '--proxyless-xds-port') : undefined;
      const maxConnectionAgeMs = seconds(flags.maxConnectionAge, '--max-connection-age') * 1000;
      const xdsSocket = flags.xdsSocket !== undefined ? socketPath(flags.xdsSocket, '--xds-socket') : undefined;
      if (flags.policiesContext !== undefined && flags.policiesKubeconfig === undefined) throw new Error('--policies-context needs --policies-kubeconfig');
      const remoteSecrets = remoteSecretsOf(flags);
      const injectPort = flags.injectPort !== undefined ? port(flags.injectPort, '--inject-port') : undefined;
      if (injectPort !== undefined && flags.insecureXds) throw new Error('--inject-port needs TLS (API servers call webhooks over HTTPS only, with the mesh root as caBundle); it cannot be combined with --insecure-xds');
      const ca = await openCliCa(flags.caDir, await loadMeshConfig(flags.config), managementClusterOf(flags));
      const injectBase = injectFlagsOf(flags);
      const optionsFor = (cluster: string) => injectOptionsOf({ ...injectBase, cluster }, ca.trustBundle().pem, '--inject-');
      // Every --inject-* flag is checked before anything listens, not at the first pod.
      if (injectPort !== undefined) {
        try {
          optionsFor('check');
        } catch (e) {
          ca.close();
          throw e;
        }
      }
      const cache = new SnapshotCache({ debounceMs });
      const security = await startXdsSecurity({
        ca,
        cache,
        insecure: flags.insecureXds === true,
        allowUnauthenticatedProxyless: flags.allowUnauthenticatedProxyless === true,
        namespace: flags.namespace,
        hosts: [flags.host, ...flags.xdsHostName],
      });
      const plane = await startControlPlane({
        cache,
        security,
        host: flags.host,
        xdsPort,
        ...(xdsSocket !== undefined ? { xdsSocket } : {}),
        adminPort,
        adminAllowedHosts: flags.adminAllowedHost,
        debounceMs,
        loadMesh,
        configPaths: flags.config,
        ...(proxylessXdsPort !== undefined ? { proxylessXdsPort } : {}),
        maxConnectionAgeMs,
        ...(flags.policiesKubeconfig !== undefined
          ? {
              policyCluster: {
                kubeconfig: flags.policiesKubeconfig,
                leaseNamespace: flags.namespace,
                ...(flags.policiesContext ? { context: flags.policiesContext } : {}),
                ...(remoteSecrets ? { remoteSecrets } : {}),
              },
            }
          : {}),
      });
      let webhook: InjectionWebhook | undefined;
      if (injectPort !== undefined) {
        try {
          webhook = await startInjectionWebhook({
            host: flags.host,
            port: injectPort,
            identity: security.serverTls!,
            optionsFor,
            knownCluster: (c) => security.currentMesh()?.clusters.has(c) ?? true,
          });
        } catch (e) {
          await plane.close();
          throw e;
        }
        process.stderr.write(`crossmesh: sidecar injection webhook on ${webhook.url}/inject/<cluster> (TLS certificate from the mesh CA; caBundle: the root in ${ca.directory})\n`);
      }
      if (flags.insecureXds) log.warn({ xds: plane.xdsAddress }, 'xDS is served WITHOUT TLS and admits clients without credentials (--insecure-xds); development only');
      process.stderr.write(`crossmesh: xDS on ${plane.xdsAddress} (${flags.insecureXds ? 'insecure' : 'TLS, CA root in ' + ca.directory}), admin on ${plane.adminUrl} (dashboard at ${plane.adminUrl}/)\n`);
      if (plane.xdsSocketAddress) process.stderr.write(`crossmesh: xDS on ${plane.xdsSocketAddress} (${flags.insecureXds ? 'insecure' : 'TLS'}, same server as ${plane.xdsAddress})\n`);
      if (plane.proxylessXdsAddress) process.stderr.write(`crossmesh: plaintext xDS for proxyless gRPC clients on ${plane.proxylessXdsAddress} (role=proxyless only, no secrets)\n`);
      let stopping = false;
      const stop = (signal: string): void => {
        if (stopping) {
          process.stderr.write(`crossmesh: ${signal} again, exiting now\n`);
          process.exit(1);
        }
        stopping = true;
        process.stderr.write(`crossmesh: ${signal} received, shutting down\n`);
        Promise.all([webhook?.close(), plane.close()]).then(
          () => process.exit(0),
          (e: unknown) => {
            process.stderr.write(`crossmesh: shutdown failed: ${e instanceof Error ? e.message : String(e)}\n`);
            process.exit(1);
          },
        );
      };
      process.on('SIGINT', () => stop('SIGINT'));
      process.on('SIGTERM', () => stop('SIGTERM'));
    });
}

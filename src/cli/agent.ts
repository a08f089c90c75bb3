/**
 * `crossmesh agent --node <id> --xds-address host:port|unix:path [--token <token|file>] --ca-file
 * <root pem> --out DIR [--envoy-sds] [--once]`: keeps a workload's `cert.pem`, `key.pem` (0600)
 * and `ca.pem` current in DIR from crossmesh's SDS, for clients that read certificates from files
 * (proxyless gRPC) and, with `--envoy-sds`, for an Envoy whose xDS connection presents that
 * certificate (`crossmesh bootstrap --xds-client-cert-dir DIR`). The token bootstraps it; later
 * connections authenticate with the certificate. Runs until SIGINT/SIGTERM; `--once` exits after
 * the first complete write.
 */
import { access, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import * as grpc from '@grpc/grpc-js';
import type { Command } from 'commander';
import { parseAddress } from '../translate/bootstrap.js';
import { SdsAgent, readTokenArgument, type AgentWrite } from '../xds/auth/sds-agent.js';
import type { CliOutput } from './token.js';

/** Flags of `crossmesh agent`. */
export interface AgentFlags {
  node: string;
  xdsAddress: string;
  /** Needed unless DIR already holds a certificate that can still authenticate. */
  token?: string;
  caFile?: string;
  /** Environment variable holding the mesh root PEM (an injected pod's agent has it there, not in a file). */
  caEnv?: string;
  out: string;
  once?: boolean;
  serverName?: string;
  insecureXds?: boolean;
  /** Also write DIR/xds-client-cert.json, the file-based SDS resource of Envoy's xDS client certificate. */
  envoySds?: boolean;
  /** Key files 0640, DIR 0750 (a reader in the agent's group); default owner only. */
  groupReadable?: boolean;
  /** node.metadata.role to claim (default proxyless; a sidecar's agent may say sidecar). */
  role?: string;
  /** For tests: bound `--once` in time (default none). */
  onceTimeoutMs?: number;
}

const stdio: CliOutput = {
  out: (t) => process.stdout.write(t),
  err: (t) => process.stderr.write(t),
};

/** Authentication failures are not retried with `--once`: the operator must fix the token. */
const FATAL = new Set([grpc.status.UNAUTHENTICATED, grpc.status.PERMISSION_DENIED]);

/**
 * Runs the agent. With `once`, resolves with the exit code after the first write (0) or a refusal
 * (1); otherwise resolves with 0 when `stop` (or SIGINT/SIGTERM in the CLI) ends it.
 */
export async function runAgent(flags: AgentFlags, io: CliOutput = stdio, stop?: AbortSignal): Promise<number> {
  try {
    parseAddress(flags.xdsAddress);
  } catch (e) {
    throw new Error(`--xds-address: ${(e as Error).message}`);
  }
  if (flags.caFile && flags.caEnv) throw new Error('--ca-file and --ca-env are exclusive: give one');
  if (!flags.caFile && !flags.caEnv && !flags.insecureXds) throw new Error('--ca-file <mesh root PEM> (or --ca-env <variable>) is required to verify the xDS server (or --insecure-xds for a development server)');
  let caPem: string | undefined;
  if (flags.caEnv) {
    caPem = process.env[flags.caEnv];
    if (caPem === undefined || caPem === '') throw new Error(`--ca-env ${flags.caEnv}: the environment variable is not set`);
    if (!caPem.includes('BEGIN CERTIFICATE')) throw new Error(`--ca-env ${flags.caEnv}: no PEM certificate in it`);
  } else if (flags.caFile) {
    try {
      caPem = await readFile(flags.caFile, 'utf8');
    } catch (e) {
      throw new Error(`--ca-file ${flags.caFile}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
    }
    if (!caPem.includes('BEGIN CERTIFICATE')) throw new Error(`--ca-file ${flags.caFile}: no PEM certificate in it`);
  }
  if (flags.token !== undefined) await readTokenArgument(flags.token); // fail early on a missing token file
  else if (!caPem || !(await exists(join(flags.out, 'cert.pem')))) {
    throw new Error(`--token <token|file> is required to bootstrap: ${flags.out} holds no certificate yet${caPem ? '' : ' (and without TLS a certificate cannot authenticate)'}`);
  }
  const token = flags.token;
  return new Promise<number>((resolve) => {
    let done = false;
    let timer: NodeJS.Timeout | undefined;
    const finish = (code: number): void => {
      if (done) return;
      done = true;
      if (timer) clearTimeout(timer);
      stop?.removeEventListener('abort', onStop);
      void agent.stop().then(() => resolve(code));
    };
    const onStop = (): void => finish(0);
    const agent = new SdsAgent({
      nodeId: flags.node,
      xdsAddress: flags.xdsAddress,
      ...(token !== undefined ? { token: () => readTokenArgument(token) } : {}),
      caPem,
      ...(flags.envoySds ? { envoySds: true } : {}),
      ...(flags.groupReadable ? { groupReadable: true } : {}),
      ...(flags.role ? { role: flags.role } : {}),
      ...(flags.serverName ? { serverName: flags.serverName } : {}),
      outDir: flags.out,
      onWrite: (w: AgentWrite) => {
        io.err(`wrote ${w.files.cert}, ${w.files.key}, ${w.files.ca}${w.files.envoySds ? `, ${w.files.envoySds}` : ''} for ${w.spiffeId} (serial ${w.serial}, expires ${w.notAfter.toISOString()}; received over a stream authenticated by ${w.via})\n`);
        if (flags.once) finish(0);
      },
      onError: (e) => {
        io.err(`crossmesh agent: SDS stream (${e.credential}) ended: ${grpc.status[e.code] ?? e.code}: ${e.details}\n`);
        if (flags.once && FATAL.has(e.code)) finish(1);
      },
    });
    if (flags.once && flags.onceTimeoutMs) {
      timer = setTimeout(() => {
        io.err(`crossmesh agent: no certificate within ${flags.onceTimeoutMs} ms\n`);
        finish(1);
      }, flags.onceTimeoutMs);
    }
    stop?.addEventListener('abort', onStop, { once: true });
    agent.start();
  });
}

/** Adds `crossmesh agent`. */
export function register(program: Command): void {
  program
    .command('agent')
    .description('fetch a workload\'s certificate, key and trust bundle over SDS into files, rewriting them on rotation')
    .requiredOption('--node <id>', 'node id <cluster>/<namespace>/<name> of the workload')
    .requiredOption('--xds-address <host:port|unix:path>', 'crossmesh xDS server address')
    .option('--token <token|file>', 'bearer token to bootstrap with, or a file holding it (re-read when used; "@path" forces a file); once a certificate is written, connections authenticate with it instead')
    .option('--ca-file <path>', 'mesh root bundle (PEM) to verify the xDS server with')
    .option('--ca-env <variable>', 'read the mesh root bundle (PEM) from this environment variable instead (injected pods: the webhook puts it there)')
    .requiredOption('--out <dir>', 'directory for cert.pem, key.pem (0600) and ca.pem')
    .option('--once', 'exit after the first complete write')
    .option('--server-name <name>', 'name to verify the server certificate against (default: the address host)')
    .option('--insecure-xds', 'plaintext xDS (development server only)')
    .option('--envoy-sds', 'also write xds-client-cert.json: file-based SDS for Envoy\'s xDS client certificate (crossmesh bootstrap --xds-client-cert-dir)')
    .option('--group-readable', 'key.pem and xds-client-cert.json 0640, the directory 0750, for a reader in the agent\'s group (default: owner only; run the agent as Envoy\'s uid)')
    .option('--role <role>', 'node.metadata.role the agent claims (default proxyless)')
    .action(async (flags: AgentFlags) => {
      const ac = new AbortController();
      process.once('SIGINT', () => ac.abort());
      process.once('SIGTERM', () => ac.abort());
      process.exitCode = await runAgent(flags, stdio, ac.signal);
    });
}

async function exists(path: string): Promise<boolean> {
  return access(path).then(
    () => true,
    () => false,
  );
}

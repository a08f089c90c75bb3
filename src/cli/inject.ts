/**
 * `crossmesh inject -f pod.yaml --cluster <name>`: prints the manifest with the sidecar injected
 * (Pods, and the pod templates of Deployments, StatefulSets, DaemonSets, ReplicaSets, Jobs and
 * CronJobs), for clusters without the admission webhook or to see what it would do. Reads stdin
 * without `-f` (or with `-f -`). The mesh root put into the pods comes from `--ca-file` or the CA
 * directory (as `crossmesh bootstrap` finds it).
 */
import { readFile } from 'node:fs/promises';
import type { Command } from 'commander';
import { injectYaml } from '../inject/manifest.js';
import { checkInjectOptions, INJECT_DEFAULTS, type InjectOptions } from '../inject/options.js';
import { loadMeshConfig, openCliCa, type CliOutput } from './token.js';

/** The injection flags `crossmesh inject` and `crossmesh serve --inject-port` share (serve prefixes them with `inject-`). */
export interface InjectFlagValues {
  cluster: string;
  xdsAddress?: string;
  serverName?: string;
  namespace: string;
  proxyImage: string;
  crossmeshImage: string;
  tokenExpiration: string;
  adsApi?: string;
}

interface InjectFlags extends InjectFlagValues {
  filename?: string;
  caFile?: string;
  caDir?: string;
  config: string[];
}

const stdio: CliOutput = {
  out: (t) => process.stdout.write(t),
  err: (t) => process.stderr.write(t),
};

/** Builds and checks the injection options from flag values; errors name the flag (with `prefix`, e.g. `--inject-`). */
export function injectOptionsOf(f: InjectFlagValues, rootCaPem: string, prefix = '--'): InjectOptions {
  const flags: Record<keyof InjectOptions, string> = {
    cluster: 'cluster',
    xdsAddress: 'xds-address',
    xdsServerName: 'server-name',
    rootCaPem: 'ca-file',
    proxyImage: 'proxy-image',
    crossmeshImage: 'crossmesh-image',
    tokenExpirationSeconds: 'token-expiration',
    adsApi: 'ads-api',
  };
  const serverName = f.serverName ?? `crossmesh.${f.namespace}.svc`;
  const ttl = f.tokenExpiration.trim();
  return checkInjectOptions(
    {
      cluster: f.cluster,
      xdsAddress: f.xdsAddress ?? `${serverName}:18000`,
      xdsServerName: serverName,
      rootCaPem,
      proxyImage: f.proxyImage,
      crossmeshImage: f.crossmeshImage,
      tokenExpirationSeconds: /^\d+$/.test(ttl) ? Number(ttl) : NaN,
      ...(f.adsApi !== undefined ? { adsApi: f.adsApi as 'sotw' | 'delta' } : {}),
    },
    (field) => `${prefix}${flags[field]}`,
  );
}

/** Adds the injection flags to a command; `prefix` is `''` for `inject` and `'inject-'` for `serve`. */
export function injectFlagOptions(cmd: Command, prefix: string): Command {
  return cmd
    .option(`--${prefix}xds-address <host:port>`, 'crossmesh\'s xDS address as pods reach it (default crossmesh.<namespace>.svc:18000)')
    .option(`--${prefix}server-name <name>`, 'name the xDS server certificate is checked against (default crossmesh.<namespace>.svc)')
    .option(`--${prefix}proxy-image <image>`, 'Envoy image of the sidecar', INJECT_DEFAULTS.proxyImage)
    .option(`--${prefix}crossmesh-image <image>`, 'crossmesh image (with iptables) for the capture init container and the certificate agent', INJECT_DEFAULTS.crossmeshImage)
    .option(`--${prefix}token-expiration <seconds>`, 'lifetime of the projected service-account token (600-86400)', String(INJECT_DEFAULTS.tokenExpirationSeconds))
    .option(`--${prefix}ads-api <api>`, 'ADS protocol of the sidecar: sotw or delta', 'sotw');
}

async function readInput(filename: string | undefined): Promise<{ text: string; source: string }> {
  if (filename === undefined || filename === '-') {
    const chunks: Buffer[] = [];
    for await (const c of process.stdin) chunks.push(c as Buffer);
    return { text: Buffer.concat(chunks).toString('utf8'), source: '<stdin>' };
  }
  try {
    return { text: await readFile(filename, 'utf8'), source: filename };
  } catch (e) {
    throw new Error(`-f ${filename}: ${(e as NodeJS.ErrnoException).code === 'ENOENT' ? 'no such file' : (e as Error).message}`);
  }
}

/** The mesh root bundle: the `--ca-file` PEM, else the CA directory's trust bundle. */
async function rootBundle(flags: InjectFlags): Promise<string> {
  if (flags.caFile !== undefined) {
    try {
      return await readFile(flags.caFile, 'utf8');
    } catch (e) {
      throw new Error(`--ca-file ${flags.caFile}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
    }
  }
  const ca = await openCliCa(flags.caDir, await loadMeshConfig(flags.config));
  try {
    return ca.trustBundle().pem;
  } finally {
    ca.close();
  }
}

/** Runs `crossmesh inject`; returns the exit code. */
export async function runInject(flags: InjectFlags, io: CliOutput = stdio, input?: string): Promise<number> {
  const options = injectOptionsOf(flags, await rootBundle(flags));
  const { text, source } = input !== undefined ? { text: input, source: flags.filename ?? '<stdin>' } : await readInput(flags.filename);
  const r = injectYaml(text, options, source);
  io.out(r.text);
  for (const n of r.notes) io.err(`${n}\n`);
  if (r.notes.length === 0) io.err(`${source}: no Pod or pod template in the input; printed it unchanged\n`);
  return 0;
}

/** Adds `crossmesh inject`. */
export function register(program: Command): void {
  const cmd = program
    .command('inject')
    .description('print a Kubernetes manifest with the crossmesh sidecar injected (Pods and workload pod templates), as the admission webhook does')
    .option('-f, --filename <path>', 'manifest to read (YAML or JSON, several documents allowed); - or omitted: stdin')
    .requiredOption('--cluster <name>', 'the crossmesh Cluster these pods run in (node ids are <cluster>/<namespace>/<pod>)')
    .option('--namespace <ns>', 'namespace crossmesh runs in (its service name crossmesh.<ns>.svc)', 'crossmesh-system')
    .option('--ca-file <path>', 'mesh root bundle (PEM) to give the pods (default: the CA directory\'s)')
    .option('--ca-dir <dir>', 'CA directory (default: the VirtualMesh ca.directory, else .crossmesh/ca)')
    .option('--config <path>', 'YAML file or directory (repeatable), for the CA settings; default: the embedded mesh', (v: string, acc: string[]) => [...acc, v], [] as string[]);
  injectFlagOptions(cmd, '').action(async (flags: InjectFlags) => {
    process.exitCode = await runInject(flags);
  });
}

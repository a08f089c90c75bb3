/**
 * `crossmesh demo-app --name reviews --version v3 [--calls ratings]`: runs the small bookinfo-like
 * HTTP app of the docker-compose simulation (see docs/compose.md). It answers with its service,
 * version, cluster and pod, calling its downstream services by their mesh host names (the pod's
 * capture rules hand those connections to its sidecar). `--request-log` appends one JSON line per
 * request served: what the Envoy convergence benchmark reads. Requests may ask for a status, a
 * delay, a limit to some pods or attempts, or an echo of their headers (`x-demo-*`, see
 * src/demo-app/behaviour.ts): what the policy tests on real Envoy make hosts fail or be slow with.
 */
import { appendFileSync } from 'node:fs';
import type { Command } from 'commander';
import { parseDuration } from '../config/duration.js';
import { parseUpstreams, startDemoApp, type DemoAppOptions } from '../demo-app/server.js';

interface DemoAppFlags {
  name: string;
  version: string;
  cluster?: string;
  pod?: string;
  namespace: string;
  listen: string;
  port: string;
  calls: string;
  timeout: string;
  requestLog?: string;
}

const LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;

/** Turns the flags (and CROSSMESH_CLUSTER / HOSTNAME from the environment) into app options, or throws naming the bad flag. */
export function demoAppOptions(flags: DemoAppFlags, env: NodeJS.ProcessEnv = process.env): DemoAppOptions {
  for (const [flag, v] of [['--name', flags.name], ['--version', flags.version], ['--namespace', flags.namespace]] as const) {
    if (!LABEL.test(v)) throw new Error(`${flag} must be a DNS label (lowercase letters, digits, '-'), got ${JSON.stringify(v)}`);
  }
  const cluster = flags.cluster ?? env.CROSSMESH_CLUSTER;
  if (!cluster) throw new Error('--cluster is required (or set CROSSMESH_CLUSTER)');
  const port = Number(flags.port);
  if (!Number.isInteger(port) || port < 0 || port > 65535) throw new Error(`--port must be a port number, got ${JSON.stringify(flags.port)}`);
  const timeout = parseDuration(flags.timeout);
  if ('error' in timeout) throw new Error(`--timeout: ${timeout.error}`);
  const log = flags.requestLog;
  return {
    name: flags.name,
    version: flags.version,
    cluster,
    pod: flags.pod ?? env.HOSTNAME ?? `${flags.name}-${flags.version}`,
    namespace: flags.namespace,
    host: flags.listen,
    port,
    upstreams: parseUpstreams(flags.calls),
    timeoutMs: timeout.ms,
    ...(log ? { onRequest: (r) => appendFileSync(log, `${JSON.stringify(r)}\n`) } : {}),
  };
}

/** Adds `crossmesh demo-app`. */
export function register(program: Command): void {
  program
    .command('demo-app')
    .description('run the demo HTTP app of the simulations: answers with its service, version and cluster, calling --calls by their mesh names')
    .requiredOption('--name <service>', 'service this app plays, e.g. reviews')
    .requiredOption('--version <version>', 'version label, e.g. v3')
    .option('--cluster <cluster>', 'cluster it runs in (default: $CROSSMESH_CLUSTER)')
    .option('--pod <name>', 'pod name to report (default: $HOSTNAME)')
    .option('--namespace <ns>', 'namespace of the app and of the services it calls', 'default')
    .option('--listen <address>', 'address to listen on (127.0.0.1: only the sidecar in the same network namespace reaches the app)', '127.0.0.1')
    .option('--port <port>', 'port to listen on', '9080')
    .option('--calls <services>', 'downstream services to call on every request, <service>[:<port>] comma-separated (port default 9080)', '')
    .option('--request-log <file>', 'append one JSON line per request served ({at, method, path, status, peer, caller, requestId, attempt})')
    .option('--timeout <duration>', 'deadline of each downstream call', '3s')
    .action(async (flags: DemoAppFlags) => {
      const options = demoAppOptions(flags);
      const app = await startDemoApp(options);
      const calls = options.upstreams?.map((u) => `${u.service}:${u.port}`).join(', ') || 'nothing';
      process.stderr.write(`crossmesh demo-app: ${options.name} ${options.version} (${options.cluster}) on ${app.url}, calling ${calls}\n`);
      const stop = (signal: string): void => {
        process.stderr.write(`crossmesh demo-app: ${signal} received, shutting down\n`);
        app.close().then(() => process.exit(0), () => process.exit(1));
      };
      process.once('SIGINT', () => stop('SIGINT'));
      process.once('SIGTERM', () => stop('SIGTERM'));
    });
}

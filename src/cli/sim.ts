/**
 * `crossmesh sim [--topology DIR] [--policies DIR] [--duration 10m]` (as root): the whole mesh on
 * this machine with real Envoy, what the Envoy test suite runs. crossmesh serves the topology and
 * the policy directory (which it watches: copy policies in and out while it runs); every
 * Workload is a pod (a network namespace with capture rules, its app and an Envoy sidecar),
 * gateways sit on a shared wan, and a `client` namespace outside the mesh reaches the ingress.
 * Everything is removed on exit (Ctrl-C, SIGTERM or the end of --duration).
 */
import { mkdirSync } from 'node:fs';
import { join, resolve } from 'node:path';
import type { Command } from 'commander';
import { parseDuration } from '../config/duration.js';
import { envoyMissingMessage, findEnvoy, repoRoot } from '../envoy/binary.js';
import { startMeshSim } from '../meshsim/index.js';

interface SimFlags {
  topology: string;
  policies?: string;
  duration: string;
  ads: string;
}

/** Runs the simulation until a signal or the duration; returns the exit code. */
export async function runSim(flags: SimFlags): Promise<number> {
  if (process.getuid?.() !== 0) throw new Error('crossmesh sim needs root (network namespaces, veths, bridges, iptables)');
  if (!findEnvoy()) throw new Error(envoyMissingMessage());
  const duration = parseDuration(flags.duration);
  if ('error' in duration) throw new Error(`--duration: ${duration.error}`);
  if (flags.ads !== 'sotw' && flags.ads !== 'delta') throw new Error(`--ads must be sotw or delta, got "${flags.ads}"`);
  const policyDir = resolve(flags.policies ?? join(process.cwd(), '.crossmesh', 'sim-policies'));
  mkdirSync(policyDir, { recursive: true });
  process.stderr.write(`crossmesh sim: starting ${flags.topology} (policies from ${policyDir}); this takes a minute\n`);
  const mesh = await startMeshSim({ topology: [resolve(flags.topology)], policyDir, adsApi: flags.ads });
  const client = mesh.sim.namespace('client');
  const out = process.stdout;
  out.write(`crossmesh sim: ${mesh.pods.size} pods with Envoy; crossmesh admin ${mesh.controlPlane.adminUrl}\n`);
  for (const p of mesh.pods.values()) out.write(`  ${p.pod.nodeId.padEnd(44)} ${p.pod.role.padEnd(8)} ${p.pod.address}${p.pod.wanAddress ? ` wan ${p.pod.wanAddress}` : ''}  netns ${mesh.sim.namespace(p.pod.name)}\n`);
  if (mesh.layout.pods.some((p) => p.role === 'ingress')) out.write(`try: ip netns exec ${client} curl -s ${mesh.ingressUrl()}\n`);
  const steps = join(repoRoot(), 'examples', 'compose', 'steps');
  // Written beside, then renamed: a file copied in place can be read half-written.
  out.write(`apply the workshop's steps in order (virtual-mesh, traffic-shift, ...): cp ${steps}/virtual-mesh.yaml ${policyDir}/.tmp && mv ${policyDir}/.tmp ${policyDir}/virtual-mesh.yaml\n`);
  await new Promise<void>((done) => {
    const timer = setTimeout(done, duration.ms);
    const stop = (): void => {
      clearTimeout(timer);
      done();
    };
    process.once('SIGINT', stop);
    process.once('SIGTERM', stop);
  });
  process.stderr.write('crossmesh sim: removing every pod, namespace and bridge\n');
  await mesh.close();
  return 0;
}

/** Adds `crossmesh sim`. */
export function register(program: Command): void {
  program
    .command('sim')
    .description('as root: run a mesh on this machine with real Envoy, every Workload a network namespace with capture rules, its app and a sidecar')
    .option('--topology <dir>', 'topology directory (Cluster, Service, Workload, Gateway)', join(repoRoot(), 'examples', 'compose'))
    .option('--policies <dir>', 'policy directory crossmesh watches (default .crossmesh/sim-policies)')
    .option('--duration <duration>', 'how long to run before cleaning up', '30m')
    .option('--ads <api>', 'ADS flavour of the Envoys: sotw or delta', 'sotw')
    .action(async (flags: SimFlags) => {
      try {
        process.exitCode = await runSim(flags);
      } catch (e) {
        process.stderr.write(`crossmesh sim: ${(e as Error).message}\n`);
        process.exitCode = 1;
      }
    });
}

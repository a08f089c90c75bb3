/**
 * The embedded default mesh (examples/default: three clusters, the seed's traffic, access and
 * failover policies) on real Envoy. Its gateways sit on loopback addresses in different /24s, so it
 * cannot be laid out as a routed world of pods; what this proves is that Envoy accepts everything
 * crossmesh serves it: one real Envoy per node (every sidecar, east-west gateway and the ingress),
 * each alone in a network namespace of its own so its listeners bind, ACKs every resource of every
 * type with nothing in error or warming and no NACK recorded by crossmesh, over SotW and delta.
 */
import { chmodSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { buildBootstrapForNode } from '../../src/cli/bootstrap.js';
import { loadConfig } from '../../src/config/loader.js';
import { repoRoot } from '../../src/envoy/binary.js';
import { startEnvoy, type EnvoyProcess } from '../../src/envoy/process.js';
import { ControlPlaneProcess, ENVOY_UID, podName } from '../../src/meshsim/index.js';
import { ENVOY_DRAIN_ARGS } from '../../src/meshsim/mesh-sim.js';
import { waitConverged } from '../../src/meshsim/verify.js';
import { forEachLimited, startSimulation, type Simulation } from '../../src/netsim/index.js';
import { envoySuite } from './support.js';

const DEFAULT_MESH = join(repoRoot(), 'examples', 'default');

interface Node {
  readonly nodeId: string;
  readonly pod: string;
  readonly role: 'sidecar' | 'gateway' | 'ingress';
}

/** Every workload of the mesh as the proxy it runs: a gateway's workload takes the gateway's role. */
async function nodesOf(paths: readonly string[]): Promise<Node[]> {
  const loaded = await loadConfig(paths);
  if (!loaded.config) throw new Error(`examples/default does not load: ${loaded.errors.map((e) => e.message).join('; ')}`);
  const roles = new Map<string, Node['role']>();
  for (const g of loaded.config.gateways) roles.set(`${g.cluster}/${g.namespace}/${g.workload}`, g.type === 'Ingress' ? 'ingress' : 'gateway');
  return loaded.config.workloads.map((w) => {
    const nodeId = `${w.cluster}/${w.namespace}/${w.name}`;
    return { nodeId, pod: podName(w.cluster, w.name), role: roles.get(nodeId) ?? 'sidecar' };
  });
}

envoySuite('the default mesh on real Envoy: every node ACKs every resource', () => {
  const workDir = mkdtempSync(join(tmpdir(), 'crossmesh-default-ack-'));
  let nodes: Node[] = [];
  let sim: Simulation | undefined;
  let cp: ControlPlaneProcess | undefined;
  const envoys = new Map<string, EnvoyProcess>();

  beforeAll(async () => {
    nodes = await nodesOf([DEFAULT_MESH]);
    // Envoy runs as its own uid: it must reach its work directory below this one.
    chmodSync(workDir, 0o755);
    mkdirSync(join(workDir, 'envoy'), { mode: 0o755 });
    mkdirSync(join(workDir, 'cp'));
    cp = await ControlPlaneProcess.start({ config: [DEFAULT_MESH], caDir: join(workDir, 'ca'), workDir: join(workDir, 'cp') });
    sim = await startSimulation({
      networks: [{ name: 'alone', subnet: '10.251.0.0/24' }],
      pods: nodes.map((n, i) => ({ name: n.pod, network: 'alone', address: `10.251.0.${10 + i}` })),
    });
    // Half over delta ADS, half over SotW: both transports carry the same resources to Envoy.
    await forEachLimited(nodes.map((n, i) => ({ n, i })), 4, async ({ n, i }) => {
      const { bootstrap } = await buildBootstrapForNode({
        node: n.nodeId,
        role: n.role,
        config: [DEFAULT_MESH],
        caDir: join(workDir, 'ca'),
        xdsAddress: cp!.xdsAddress,
        adminAddress: `unix:${join(workDir, 'envoy', n.pod, 'admin.sock')}`,
        adsApi: i % 2 === 0 ? 'delta' : 'sotw',
        tokenTtl: '1h',
        namespace: 'crossmesh-system',
      });
      const envoy = startEnvoy({ bootstrap, workDir: join(workDir, 'envoy', n.pod), netns: sim!.namespace(n.pod), uid: ENVOY_UID, gid: ENVOY_UID, logLevel: 'warning', extraArgs: ENVOY_DRAIN_ARGS });
      envoys.set(n.nodeId, envoy);
      await envoy.waitReady();
    });
  }, 120_000);

  afterAll(async () => {
    await Promise.allSettled([...envoys.values()].map((e) => e.stop(1000)));
    await cp?.kill('SIGTERM').catch(() => undefined);
    await sim?.close();
    rmSync(workDir, { recursive: true, force: true });
  }, 30_000);

  it('sidecars, east-west gateways and the ingress of all three clusters hold what crossmesh serves them, with no NACK', async () => {
    expect(new Set(nodes.map((n) => n.role))).toEqual(new Set(['sidecar', 'gateway', 'ingress']));
    expect(new Set(nodes.map((n) => n.nodeId.split('/')[0]))).toEqual(new Set(['cluster1', 'cluster2', 'cluster3']));
    for (const n of nodes) await waitConverged(cp!, n.nodeId, envoys.get(n.nodeId)!.admin, 20_000);
    const proxies = await cp!.adminJson<{ proxies: { nodeId: string; mode: string; lastNack?: unknown }[] }>('/debug/proxies');
    expect(new Set(proxies.proxies.map((p) => p.nodeId))).toEqual(new Set(nodes.map((n) => n.nodeId)));
    expect(new Set(proxies.proxies.map((p) => p.mode))).toEqual(new Set(['sotw', 'delta']));
    // Nothing the guard accepted was held back from any of them.
    const translation = await cp!.adminJson<{ groups: { key: string; rejected: unknown[] }[]; unresolved: unknown[] }>('/debug/translation');
    expect(translation.groups.length).toBeGreaterThan(0);
    expect(translation.groups.filter((g) => g.rejected.length > 0)).toEqual([]);
    expect(translation.unresolved).toEqual([]);
  }, 120_000);
});

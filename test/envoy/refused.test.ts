/**
 * Bad input from the data plane, on real Envoy against a running `crossmesh serve`: Envoys whose
 * bootstrap names a node no Workload is, or carries a token that is not theirs (another node's,
 * a forged one, plain garbage). Each is started by hand in an existing pod's network namespace
 * (its own work directory and admin socket). crossmesh must refuse each stream and say so on
 * /debug/proxies (`refused`: node id, gRPC code, why), serve it nothing, and leave the legitimate
 * proxy of that pod alone; the harness must fail readably and in bounded time: "not ready within
 * N ms" with Envoy's log tail, which carries crossmesh's reason as Envoy received it.
 */
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { buildBootstrapForNode } from '../../src/cli/bootstrap.js';
import { loadMeshConfig, mintToken, openCliCa } from '../../src/cli/token.js';
import type { EnvoyProcess } from '../../src/envoy/process.js';
import { startMeshSim, type MeshSim } from '../../src/meshsim/index.js';
import { COMPOSE_TOPOLOGY, envoySuite, policyDir } from './support.js';
import { proxies, startStrayEnvoy, waitFor } from './steady.js';

/** The pod whose namespace the stray Envoys run in; its own sidecar runs too. */
const POD = 'cluster1-details-v1-0';
const NODE = 'cluster1/default/details-v1-0';
const OTHER_NODE = 'cluster1/default/productpage-v1-0';
const UNKNOWN_NODE = 'cluster1/default/nobody-v1-0';
/**
 * How long the harness waits for a refused Envoy. Below Envoy's default initial_fetch_timeout
 * (15 s; crossmesh's bootstraps set none), after which Envoy stops waiting for CDS and LDS and
 * would report LIVE with no configuration at all.
 */
const READY_BOUND_MS = 8000;

type Bootstrap = Record<string, unknown> & { node: { id: string }; dynamic_resources: { ads_config: { grpc_services: { initial_metadata?: { key: string; value: string }[] }[] } } };

function withCredentials(b: Bootstrap, nodeId: string, authorization: string): Bootstrap {
  const copy = structuredClone(b);
  copy.node.id = nodeId;
  copy.dynamic_resources.ads_config.grpc_services[0]!.initial_metadata = [{ key: 'authorization', value: authorization }];
  return copy;
}

/** Envoy's log with the percent-encoded grpc-message text decoded. */
function percentDecoded(text: string): string {
  return text.replace(/(%[0-9A-Fa-f]{2})+/g, (run) => {
    try {
      return decodeURIComponent(run);
    } catch {
      return run;
    }
  });
}

function bearerOf(b: Bootstrap): string {
  return b.dynamic_resources.ads_config.grpc_services[0]!.initial_metadata!.find((m) => m.key === 'authorization')!.value;
}

interface Case {
  readonly name: string;
  readonly nodeId: string;
  readonly authorization: string;
  readonly code: 'UNAUTHENTICATED' | 'PERMISSION_DENIED';
  /** What crossmesh's reason must say. */
  readonly reason: RegExp;
}

envoySuite('crossmesh refuses Envoys with an unknown node id or a token not theirs, and the harness says why in bounded time', () => {
  let mesh: MeshSim | undefined;
  const policies = policyDir();
  const strays: EnvoyProcess[] = [];
  let cases: Case[] = [];

  beforeAll(async () => {
    mesh = await startMeshSim({ topology: [COMPOSE_TOPOLOGY], policyDir: policies.dir, only: (p) => p.name === POD });
    const config = [COMPOSE_TOPOLOGY, policies.dir];
    const caDir = join(mesh.sim.workDir, 'mesh', 'ca');
    const flags = { role: 'sidecar', config, caDir, xdsAddress: mesh.controlPlane.xdsAddress, adminAddress: 'unix:/nonexistent/admin.sock', adsApi: 'sotw', tokenTtl: '1h', namespace: 'crossmesh-system' };
    const own = (await buildBootstrapForNode({ ...flags, node: NODE })).bootstrap as Bootstrap;
    const other = (await buildBootstrapForNode({ ...flags, node: OTHER_NODE })).bootstrap as Bootstrap;
    // A properly signed token whose subject is the unknown node (`crossmesh bootstrap` refuses to build one for it).
    const ca = await openCliCa(caDir, await loadMeshConfig(config));
    const unknownToken = await mintToken(ca, { kind: 'node', nodeId: UNKNOWN_NODE }, 3_600_000).finally(() => ca.close());
    const ownToken = bearerOf(own);
    // The node's own token with one character of its signature changed.
    const at = ownToken.lastIndexOf('.') + 10;
    const forged = ownToken.slice(0, at) + (ownToken[at] === 'A' ? 'B' : 'A') + ownToken.slice(at + 1);
    cases = [
      { name: 'unknown-node', nodeId: UNKNOWN_NODE, authorization: `Bearer ${unknownToken.token}`, code: 'PERMISSION_DENIED', reason: /names no workload/ },
      { name: 'other-token', nodeId: NODE, authorization: bearerOf(other), code: 'PERMISSION_DENIED', reason: new RegExp(`${OTHER_NODE}.*may not act as node ${NODE}`) },
      { name: 'forged-token', nodeId: NODE, authorization: forged, code: 'UNAUTHENTICATED', reason: /signature does not verify/ },
      // Not a crossmesh token, so taken for a Kubernetes service account token, which this cluster cannot review.
      { name: 'garbage-bearer', nodeId: NODE, authorization: 'Bearer garbage', code: 'UNAUTHENTICATED', reason: /no Kubernetes API server configured.*use a crossmesh token/ },
    ];
    for (const c of cases) strays.push(startStrayEnvoy(mesh, POD, c.name, withCredentials(own, c.nodeId, c.authorization)));
  }, 120_000);

  afterAll(async () => {
    await Promise.allSettled(strays.map((e) => e.stop(1000)));
    await mesh?.close();
    policies.dispose();
  }, 30_000);

  it('each stray Envoy is not ready within the bound, and the error carries its log tail with crossmesh\'s reason', async () => {
    const outcomes = await Promise.all(
      strays.map(async (envoy) => {
        const t0 = Date.now();
        const err = await envoy.waitReady(READY_BOUND_MS).then(() => undefined, (e: Error) => e);
        return { err, ms: Date.now() - t0 };
      }),
    );
    cases.forEach((c, i) => {
      const { err, ms } = outcomes[i]!;
      expect(err, `${c.name}: Envoy became ready`).toBeInstanceOf(Error);
      expect(err!.message, c.name).toMatch(new RegExp(`not ready within ${READY_BOUND_MS} ms`));
      expect(err!.message, c.name).toMatch(/last log lines/);
      // Envoy logs the stream's end with the gRPC status code and crossmesh's message, as it came
      // in the grpc-message trailer: percent-encoded.
      const log = percentDecoded(err!.message);
      expect(log, c.name).toMatch(new RegExp(`gRPC config stream to xds-grpc closed: ${c.code === 'PERMISSION_DENIED' ? 7 : 16}, stream refused for node "${c.nodeId}"`));
      expect(log, c.name).toMatch(c.reason);
      // Bounded: the bound and one poll, with room for a loaded machine.
      expect(ms, c.name).toBeLessThan(READY_BOUND_MS + 4000);
    });
    // Still running, still waiting: refused is not a crash, and it was served nothing.
    for (const [i, envoy] of strays.entries()) {
      expect(envoy.process.exitStatus(), cases[i]!.name).toBeUndefined();
      const dump = await envoy.admin.configDump({ includeEds: false });
      const clusters = dump.configs.find((c) => String(c['@type']).endsWith('ClustersConfigDump')) as { dynamic_active_clusters?: unknown[] } | undefined;
      const listeners = dump.configs.find((c) => String(c['@type']).endsWith('ListenersConfigDump')) as { dynamic_listeners?: unknown[] } | undefined;
      expect(clusters?.dynamic_active_clusters ?? [], cases[i]!.name).toEqual([]);
      expect(listeners?.dynamic_listeners ?? [], cases[i]!.name).toEqual([]);
    }
  }, 40_000);

  it('crossmesh lists each refusal on /debug/proxies with the node id, the gRPC code and why; the pod\'s own proxy stays connected alone', async () => {
    const m = mesh!;
    await waitFor('crossmesh records every refusal', 10_000, async () => {
      const { refused } = await proxies(m);
      const missing = cases.filter((c) => !refused.some((r) => r.nodeId === c.nodeId && c.reason.test(r.reason)));
      return missing.length === 0 || `missing: ${missing.map((c) => c.name).join(', ')}; refused: ${JSON.stringify(refused.slice(0, 8))}`;
    });
    const { refused, proxies: connected } = await proxies(m);
    for (const c of cases) {
      const r = refused.find((x) => x.nodeId === c.nodeId && c.reason.test(x.reason))!;
      expect(r.code, c.name).toBe(c.code);
      expect(r.role, c.name).toBe('sidecar');
      expect(Number.isNaN(Date.parse(r.at)), c.name).toBe(false);
      // The token itself is never echoed.
      expect(JSON.stringify(refused), c.name).not.toContain(c.authorization.replace(/^Bearer /, ''));
    }
    // Refused streams are never proxies: only the real sidecar of the pod is connected, once.
    expect(connected.map((s) => s.nodeId)).toEqual([NODE]);
    // Envoy keeps retrying with backoff; each retry is refused again (the list grows, bounded at 100).
    expect(refused.length).toBeLessThanOrEqual(100);
  }, 20_000);
});

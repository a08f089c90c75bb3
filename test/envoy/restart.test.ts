/**
 * crossmesh crashes and comes back mid-traffic. The data plane goes on on what it holds (zero
 * failed requests through the ingress, cluster2 included), every Envoy reconnects by itself, and
 * since crossmesh's versions are content hashes, a reconnecting Envoy that declares what it holds
 * (SotW: version_info of its first request per type; delta: initial_resource_versions) is sent no
 * new configuration. Three Envoys (a sidecar in each cluster and the ingress) speak delta ADS,
 * the other seven state-of-the-world; every one is checked.
 *
 * Which Envoy stats prove "nothing new". `<type>.update_success` counts every response Envoy
 * accepted, whatever it held: a SotW resend at an unchanged version and an empty delta response
 * count too (Envoy skips neither). After a reconnect crossmesh does answer the wildcard types
 * (CDS, LDS) once: a delta stream gets its first wildcard answer (empty, every declared version
 * being current), and a SotW stream gets, on the first change of its group after the reconnect,
 * the full set again at the very version it declared (sotw-stream.ts: after the version hint
 * matched, lastSentNonce stays empty, and "the first answer of a full-state type is due" then
 * re-sends on the next change of the group; see the printed report's `answered`). So:
 * - `<type>.version` (hash of the last accepted version_info) unchanged for CDS, LDS, RDS, EDS;
 * - RDS and EDS `update_success` unchanged (not one response), CDS and LDS at most +1;
 * - `cluster_manager.cluster_{added,modified,removed}` and
 *   `listener_manager.listener_{added,modified,removed,in_place_updated}` unchanged: nothing
 *   was applied;
 * - `update_rejected` 0. `update_attempt` proves nothing: it also counts the failures Envoy
 *   records when the stream drops (`update_failure`, here the sign that it saw the crash).
 *
 * SDS is the exception, and the test says so: the CA keeps workload leaves in memory only, so
 * the restarted crossmesh issues each workload a new `default` certificate (new key and serial)
 * and pushes it; the trust bundle Envoy holds (the persisted root) is unchanged.
 */
import { afterAll, beforeAll, expect, it } from 'vitest';
import type { MeshSim } from '../../src/meshsim/index.js';
import type { Driver } from '../../src/netsim/index.js';
import { COMPOSE_TOPOLOGY, envoySuite, policyDir } from './support.js';
import { leafSerials, nacks, normSerial, proxies, rootSerials, sleep, startIngressMesh, steadyTraffic, structureCounters, typeOfStat, waitFor, xdsCounters } from './steady.js';

/** Pods on delta ADS (a sidecar in each cluster and the ingress); the others on state-of-the-world. */
const DELTA = new Set(['cluster1-productpage-v1-0', 'cluster2-reviews-v3-0', 'cluster1-ingress-gateway-0']);

envoySuite('crossmesh killed (SIGKILL) and restarted mid-traffic', () => {
  let mesh: MeshSim | undefined;
  let client: Driver;
  let url: string;
  const policies = policyDir();

  beforeAll(async () => {
    policies.apply('virtual-mesh.yaml');
    policies.apply('traffic-shift.yaml');
    ({ mesh, client, url } = await startIngressMesh({ topology: [COMPOSE_TOPOLOGY], policyDir: policies.dir, adsApi: (p) => (DELTA.has(p.name) ? 'delta' : 'sotw') }));
  }, 240_000);

  afterAll(async () => {
    await mesh?.close();
    policies.dispose();
  }, 30_000);

  it('no request fails, every Envoy reconnects on its own, and none is sent new CDS/LDS/RDS/EDS configuration', async () => {
    const m = mesh!;
    const pods = [...m.pods.values()];
    const pids = new Map(pods.map((p) => [p.pod.name, p.envoy.pid]));
    const before = new Map(await Promise.all(pods.map(async (p) => [p.pod.name, await xdsCounters(p.envoy.admin)] as const)));
    const structure = new Map(await Promise.all(pods.map(async (p) => [p.pod.name, await structureCounters(p.envoy.admin)] as const)));
    const serialsBefore = new Map(await Promise.all(pods.map(async (p) => [p.pod.name, await leafSerials(p.envoy.admin)] as const)));
    const rootsBefore = new Map(await Promise.all(pods.map(async (p) => [p.pod.name, await rootSerials(p.envoy.admin)] as const)));
    expect(m.controlPlane.startCount).toBe(1);

    const traffic = steadyTraffic(client, url, { batch: 10, concurrency: 2 });
    await sleep(2000);
    const atKill = traffic.count;
    await m.controlPlane.kill('SIGKILL');
    // Every Envoy notices: its ADS stream is gone (control_plane.connected_state 0).
    await waitFor('every Envoy sees its xDS stream drop', 15_000, async () => {
      const up: string[] = [];
      for (const p of pods) if ((await p.envoy.admin.stats('^control_plane\\.connected_state$')).get('control_plane.connected_state') !== 0) up.push(p.pod.name);
      return up.length === 0 || `still connected: ${up.join(', ')}`;
    });
    await sleep(2000);
    const whileDown = traffic.count - atKill;
    const restartedAt = Date.now();
    // restart() gives `crossmesh serve` 20 s to answer /readyz (control-plane.ts), which a
    // machine shared by several simulations has been seen to exceed before the process logged
    // anything: one more try then, said in the output; a crossmesh that cannot start fails twice.
    let starts = 2;
    await m.controlPlane.restart().catch(async (e: Error) => {
      if (!/not ready within/.test(e.message)) throw e;
      console.warn(`crossmesh restart: first attempt not ready in time, trying once more (${e.message.split('\n')[0]})`);
      starts = 3;
      await m.controlPlane.restart();
    });
    expect(m.controlPlane.startCount).toBe(starts);

    // crossmesh lists every node again, each on a new stream in its own ADS flavour.
    await waitFor('crossmesh lists every node again', 30_000, async () => {
      const listed = new Set((await proxies(m)).proxies.map((s) => s.nodeId));
      const missing = pods.filter((p) => !listed.has(p.pod.nodeId)).map((p) => p.pod.nodeId);
      return missing.length === 0 || `missing: ${missing.join(', ')}`;
    });
    const after = await proxies(m);
    for (const p of pods) {
      const streams = after.proxies.filter((s) => s.nodeId === p.pod.nodeId);
      expect(streams.length, p.pod.nodeId).toBe(1);
      expect(streams[0]!.mode, p.pod.nodeId).toBe(DELTA.has(p.pod.name) ? 'delta' : 'sotw');
      expect(Date.parse(streams[0]!.connectedAt), p.pod.nodeId).toBeGreaterThanOrEqual(restartedAt - 1000);
    }
    // ... and each holds exactly what the restarted crossmesh serves it (its ACKs included).
    await m.allConverged(20_000);
    await sleep(2000);

    const t = await traffic.stop();

    // What each Envoy applied after the reconnect, by its own counters.
    const report: string[] = [];
    const problems: string[] = [];
    const served = await proxies(m);
    const issued = new Set((await m.controlPlane.adminJson<{ issued: { serial: string }[] }>('/debug/certs')).issued.map((c) => normSerial(c.serial)));
    for (const p of pods) {
      const name = `${p.pod.name} (${DELTA.has(p.pod.name) ? 'delta' : 'sotw'})`;
      const b = before.get(p.pod.name)!;
      const a = await xdsCounters(p.envoy.admin);
      const moved = [...new Set([...a.keys(), ...b.keys()])].filter((k) => a.get(k) !== b.get(k) && !k.endsWith('.update_failure'));
      const stream = served.proxies.find((s) => s.nodeId === p.pod.nodeId)!;
      const answered = Object.entries(stream.types).filter(([, st]) => st.lastSentNonce !== '').map(([k]) => k);
      report.push(`${name}: crossmesh answered [${answered.join(',')}] after the reconnect; Envoy counters moved: ${moved.map((k) => `${k} ${b.get(k)}→${a.get(k)}`).join('; ') || 'none'}`);
      // It saw the crash: the stream failure is counted on CDS, and it is connected again.
      if (!((a.get('cluster_manager.cds.update_failure') ?? 0) > (b.get('cluster_manager.cds.update_failure') ?? 0))) problems.push(`${name}: no CDS update_failure counted, so no reconnect seen`);
      if (a.get('control_plane.connected_state') !== 1) problems.push(`${name}: control_plane.connected_state ${a.get('control_plane.connected_state')}`);
      for (const k of new Set([...a.keys(), ...b.keys()])) {
        const type = typeOfStat(k);
        if (k.endsWith('.update_rejected') && (a.get(k) ?? 0) > 0) problems.push(`${name}: ${k} = ${a.get(k)}`);
        if (type === 'sds' || type === 'other') continue;
        // The content is what it was: the hash of the last accepted version_info did not move.
        if (k.endsWith('.version') && a.get(k) !== b.get(k)) problems.push(`${name}: ${k} ${b.get(k)} → ${a.get(k)} (a new ${type.toUpperCase()} version was applied)`);
        if (k.endsWith('.update_success')) {
          const more = (a.get(k) ?? 0) - (b.get(k) ?? 0);
          // RDS and EDS: not one response. CDS and LDS (wildcard types): at most one answer at the
          // same version (delta: the first wildcard answer of a stream, empty; SotW: see the report).
          const allowed = type === 'cds' || type === 'lds' ? 1 : 0;
          if (more > allowed) problems.push(`${name}: ${k} +${more} (${type.toUpperCase()} responses accepted after the reconnect; at most ${allowed} at an unchanged version expected)`);
        }
      }
      // No cluster or listener was added, changed or removed: nothing new was applied.
      const b2 = structure.get(p.pod.name)!;
      const a2 = await structureCounters(p.envoy.admin);
      for (const [k, v] of a2) if (v !== b2.get(k)) problems.push(`${name}: ${k} ${b2.get(k)} → ${v}`);
      // SDS: the leaf is new (the CA keeps leaves in memory only; see the header) and is the one
      // crossmesh now lists; the trust bundle Envoy holds is unchanged.
      const leaves = [...(await leafSerials(p.envoy.admin))].map(normSerial);
      if (p.pod.role !== 'gateway' && !leaves.some((s) => issued.has(s))) problems.push(`${name}: holds leaf ${leaves.join(',')}, not one crossmesh issued since the restart`);
      const roots = await rootSerials(p.envoy.admin);
      if ([...roots].sort().join() !== [...rootsBefore.get(p.pod.name)!].sort().join()) problems.push(`${name}: trust bundle changed ${[...rootsBefore.get(p.pod.name)!].join()} → ${[...roots].join()}`);
      if (p.pod.role !== 'gateway') report.push(`  leaf ${[...serialsBefore.get(p.pod.name)!].join(',')} → ${leaves.join(',')}`);
    }
    console.info(`traffic: ${t.total} requests (${whileDown} while crossmesh was down), reviews ${JSON.stringify(Object.fromEntries(t.reviews))}\n${report.join('\n')}`);

    expect(t.failures).toEqual([]);
    expect(whileDown, 'requests done while crossmesh was down').toBeGreaterThan(0);
    expect(t.reviews.get('reviews v3 (cluster2)') ?? 0).toBeGreaterThan(t.total / 2);
    expect(problems, report.join('\n')).toEqual([]);
    for (const p of pods) {
      expect(p.envoy.pid, p.pod.name).toBe(pids.get(p.pod.name));
      expect(p.envoy.process.exitStatus(), p.pod.name).toBeUndefined();
    }
    expect(await nacks(m)).toEqual([]);
  }, 120_000);
});

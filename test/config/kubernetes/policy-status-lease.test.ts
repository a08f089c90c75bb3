/**
 * Only one replica writes status: two `serve` instances on one management cluster, each judging
 * every object, and only the holder of the coordination.k8s.io Lease writing. When the leader
 * stops it releases the Lease and the other takes over at once; a holder that died without
 * releasing is taken over only after its lease duration has passed unrenewed. The replicas run
 * with exactly the RBAC docs/kubernetes.md gives them.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { createServer, connect, type Server, type Socket } from 'node:net';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { parse, stringify } from 'yaml';
import { meshLoader } from '../../../src/cli/mesh-loader.js';
import { startControlPlane, type ControlPlane } from '../../../src/cli/serve.js';
import { defaultMeshDir } from '../../../src/config/default-mesh.js';
import { LeaderElector } from '../../../src/discovery/kubernetes/lease.js';
import { loadKubeConfig } from '../../../src/discovery/kubernetes/kubeconfig.js';
import { kubeApiServerSuite, useKubeApiServer, type KubeApiServer } from '../../support/kube-apiserver.js';
import { ensureNamespace } from '../../discovery/kubernetes/real-kube-fixtures.js';
import { acceptedOf, createPolicy, getPolicy, installPolicyCrds, leastPrivilegeKubeconfig, updatePolicySpec, waitFor, type PolicyDoc } from './policy-crd-fixtures.js';

const LEASE = '/apis/coordination.k8s.io/v1/namespaces/crossmesh-system/leases';

interface Debug {
  kubernetes: {
    lease: { identity: string; leading: boolean; holder: string };
    statusWrites: { writes: number; failures: number };
    objects: { key: string; generation: number; accepted: boolean | null }[];
  };
}

const policy = (name: string, timeout: string): PolicyDoc => ({
  apiVersion: 'networking.smh.solo.io/v1alpha2',
  kind: 'TrafficPolicy',
  metadata: { name, namespace: 'default' },
  spec: { destinationSelector: [{ kubeServiceRefs: { services: [{ name: 'ratings', namespace: 'default' }] } }], requestTimeout: timeout },
});

kubeApiServerSuite('policy status: one writer, elected by a Lease', () => {
  const server = useKubeApiServer();
  let api: KubeApiServer;
  /** Both replicas run as one user holding exactly the documented ClusterRole and Role. */
  let kubeconfig: string;
  const planes = new Map<string, ControlPlane>();

  const start = async (identity: string): Promise<ControlPlane> => {
    const plane = await startControlPlane({
      xdsPort: 0,
      adminPort: 0,
      debounceMs: 10,
      configPaths: [defaultMeshDir()],
      loadMesh: meshLoader({ reloadDebounceMs: 50 }),
      policyCluster: { kubeconfig, identity, leaseDurationMs: 3000, renewDeadlineMs: 2000, retryPeriodMs: 200, watch: { backoff: { initialMs: 50, maxMs: 500 } } },
    });
    planes.set(identity, plane);
    return plane;
  };
  const debug = async (plane: ControlPlane): Promise<Debug['kubernetes']> => ((await (await fetch(`${plane.adminUrl}/debug/policies`)).json()) as Debug).kubernetes;

  beforeAll(async () => {
    api = server();
    await installPolicyCrds(api);
    await ensureNamespace(api, 'crossmesh-system');
    kubeconfig = await leastPrivilegeKubeconfig(api, 'crossmesh', 'crossmesh-system');
  }, 60_000);

  afterAll(async () => {
    await Promise.all([...planes.values()].map((p) => p.close()));
  });

  it('two replicas: both judge every object, exactly one writes status; the other takes over when it stops', async () => {
    const a = await start('replica-a');
    const b = await start('replica-b');
    const leader = await waitFor('a leader', async () => {
      const [da, db] = [await debug(a), await debug(b)];
      return da.lease.leading !== db.lease.leading ? (da.lease.leading ? 'replica-a' : 'replica-b') : undefined;
    });
    const follower = leader === 'replica-a' ? 'replica-b' : 'replica-a';
    expect((await api.request('GET', `${LEASE}/crossmesh-policy-status`)).body.spec.holderIdentity).toBe(leader);

    await createPolicy(api, policy('lease-good', '3s'));
    await createPolicy(api, policy('lease-bad', '3 seconds'));
    await waitFor('both statuses written', async () => {
      const [good, bad] = [await getPolicy(api, 'TrafficPolicy', 'default', 'lease-good'), await getPolicy(api, 'TrafficPolicy', 'default', 'lease-bad')];
      return acceptedOf(good)?.status === 'True' && acceptedOf(bad)?.status === 'False';
    });
    // Every replica reached the same verdicts; only the leader wrote them. The follower judges from
    // its own watch, which may deliver the objects after the leader's status writes: wait until
    // each replica has judged both (accepted not null), then compare the verdicts exactly.
    for (const p of [a, b]) {
      const d = await waitFor('both objects judged', async () => {
        const k = await debug(p);
        return k.objects.filter((o) => o.key.includes('lease-') && o.accepted !== null).length === 2 ? k : undefined;
      });
      expect(d.objects.filter((o) => o.key.includes('lease-')).map((o) => [o.key, o.accepted])).toEqual([
        ['TrafficPolicy/default/lease-bad', false],
        ['TrafficPolicy/default/lease-good', true],
      ]);
    }
    // Give a wrongly writing follower time to show itself.
    await new Promise((r) => setTimeout(r, 500));
    const [dl, df] = [await debug(planes.get(leader)!), await debug(planes.get(follower)!)];
    expect(dl.statusWrites.writes).toBe(2);
    expect(df.statusWrites.writes).toBe(0);
    expect(df.lease).toMatchObject({ leading: false, holder: leader });

    // The leader stops (releasing the Lease): the follower takes over well before the 3 s lease would expire.
    const stopped = performance.now();
    await planes.get(leader)!.close();
    planes.delete(leader);
    const survivor = planes.get(follower)!;
    await waitFor('the follower leads', async () => (await debug(survivor)).lease.leading, 10_000);
    const takeover = performance.now() - stopped;
    console.log(`leader stopped → follower leading after ${takeover.toFixed(0)} ms (lease duration 3000 ms, retry period 200 ms)`);
    expect(takeover).toBeLessThan(2000);
    const lease = (await api.request('GET', `${LEASE}/crossmesh-policy-status`)).body;
    expect(lease.spec.holderIdentity).toBe(follower);
    expect(lease.spec.leaseTransitions).toBeGreaterThanOrEqual(1);

    // The new leader writes: the fix of the bad object is acknowledged at generation 2.
    await updatePolicySpec(api, 'TrafficPolicy', 'default', 'lease-bad', policy('lease-bad', '4s').spec);
    const fixed = await waitFor('lease-bad accepted at generation 2', async () => {
      const o = await getPolicy(api, 'TrafficPolicy', 'default', 'lease-bad');
      return o.status?.observedGeneration === 2 && acceptedOf(o)?.status === 'True' ? o : undefined;
    });
    expect(acceptedOf(fixed)).toMatchObject({ observedGeneration: 2, reason: 'Accepted' });
    expect((await debug(survivor)).statusWrites.writes).toBeGreaterThanOrEqual(1);
  });

  it('a holder that died without releasing is taken over only after its lease duration, by exactly one of two contenders', async () => {
    const name = 'takeover-test';
    // A holder that vanished: it renewed just now and never will again.
    await api.request('POST', LEASE, {
      apiVersion: 'coordination.k8s.io/v1',
      kind: 'Lease',
      metadata: { name, namespace: 'crossmesh-system' },
      spec: { holderIdentity: 'ghost', leaseDurationSeconds: 2, renewTime: new Date().toISOString().replace(/\.(\d{3})Z$/, '.$1000Z'), leaseTransitions: 3 },
    });
    const kc = () => loadKubeConfig({ kubeconfig: api.adminKubeconfig }, 'test', { kubeconfig: 'kubeconfig', context: 'context' }).kubeConfig;
    const electors = ['c1', 'c2'].map((identity) => new LeaderElector(kc(), { namespace: 'crossmesh-system', name, identity, leaseDurationMs: 2000, renewDeadlineMs: 1500, retryPeriodMs: 100 }));
    const started = performance.now();
    for (const e of electors) e.start();
    let both = 0;
    let firstLeadAt = 0;
    const sampler = setInterval(() => {
      const leading = electors.filter((e) => e.leading).length;
      if (leading > 1) both++;
      if (leading > 0 && firstLeadAt === 0) firstLeadAt = performance.now() - started;
    }, 10);
    try {
      await waitFor('one contender leads', () => electors.some((e) => e.leading), 10_000);
      await new Promise((r) => setTimeout(r, 1000));
    } finally {
      clearInterval(sampler);
    }
    console.log(`dead holder (lease 2 s) taken over after ${firstLeadAt.toFixed(0)} ms`);
    expect(firstLeadAt).toBeGreaterThanOrEqual(2000);
    expect(both).toBe(0);
    const winner = electors.find((e) => e.leading)!;
    const lease = (await api.request('GET', `${LEASE}/${name}`)).body;
    expect(lease.spec).toMatchObject({ holderIdentity: winner.status().identity, leaseTransitions: 4 });
    for (const e of electors) await e.stop();
    // Released on stop: an empty holder, so a successor need not wait.
    expect((await api.request('GET', `${LEASE}/${name}`)).body.spec.holderIdentity ?? '').toBe('');
  });

  it('a leader whose requests hang stops leading at its renew deadline, before the other may take over', async () => {
    const name = 'partition-test';
    // A TCP forwarder to the API server that can be frozen, standing for a network partition in
    // which requests hang (no answer, no error), the hardest case for a leader to notice.
    const upstreams = new Set<Socket>();
    let frozen = false;
    const forwarder: Server = createServer((client) => {
      client.on('error', () => undefined);
      if (frozen) return; // accepted, never answered
      const upstream = connect(Number(new URL(api.url).port), '127.0.0.1');
      upstream.on('error', () => undefined);
      upstreams.add(upstream);
      upstream.on('close', () => upstreams.delete(upstream));
      client.pipe(upstream).pipe(client);
    });
    await new Promise<void>((r) => forwarder.listen(0, '127.0.0.1', r));
    const port = (forwarder.address() as { port: number }).port;
    const viaForwarder = `${api.adminKubeconfig}.forwarded`;
    const kubeconfigDoc = parse(readFileSync(api.adminKubeconfig, 'utf8')) as { clusters: { cluster: { server: string } }[] };
    for (const c of kubeconfigDoc.clusters) c.cluster.server = `https://127.0.0.1:${port}`;
    writeFileSync(viaForwarder, stringify(kubeconfigDoc));
    const kc = (file: string) => loadKubeConfig({ kubeconfig: file }, 'test', { kubeconfig: 'kubeconfig', context: 'context' }).kubeConfig;
    const timing = { namespace: 'crossmesh-system', name, leaseDurationMs: 2000, renewDeadlineMs: 1000, retryPeriodMs: 100 };
    const cut = new LeaderElector(kc(viaForwarder), { ...timing, identity: 'partitioned' });
    cut.start();
    await waitFor('the forwarded elector leads', () => cut.leading, 10_000);
    const other = new LeaderElector(kc(api.adminKubeconfig), { ...timing, identity: 'connected' });
    other.start();
    let both = 0;
    let stoppedAt = 0;
    let tookOverAt = 0;
    await new Promise((r) => setTimeout(r, 500));
    expect(other.leading).toBe(false);
    const cutAt = performance.now();
    frozen = true;
    for (const u of upstreams) {
      u.unpipe();
      u.pause();
    }
    const sampler = setInterval(() => {
      if (cut.leading && other.leading) both++;
      if (!cut.leading && stoppedAt === 0) stoppedAt = performance.now() - cutAt;
      if (other.leading && tookOverAt === 0) tookOverAt = performance.now() - cutAt;
    }, 10);
    try {
      await waitFor('the connected elector takes over', () => other.leading, 10_000);
    } finally {
      clearInterval(sampler);
    }
    if (tookOverAt === 0) tookOverAt = performance.now() - cutAt; // seen by waitFor before the sampler's next tick
    console.log(`partitioned leader stopped leading ${stoppedAt.toFixed(0)} ms after the cut (renew deadline 1000 ms); the other led after ${tookOverAt.toFixed(0)} ms (lease 2000 ms)`);
    expect(both).toBe(0);
    // Its last renewal started at most a retry period (plus a request) before the cut.
    expect(stoppedAt).toBeLessThanOrEqual(1000 + 50);
    expect(tookOverAt).toBeGreaterThan(stoppedAt);
    expect(tookOverAt).toBeGreaterThanOrEqual(1500);
    await other.stop();
    await cut.stop();
    forwarder.close();
    for (const u of upstreams) u.destroy();
  });
});

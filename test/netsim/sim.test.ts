/**
 * The pods-as-namespaces simulation on real kernel networking: two cluster networks and wan,
 * pods reaching each other inside a cluster, never another cluster's pod subnet, and another
 * cluster's east-west gateway only through their router; the client outside the mesh; hosts
 * files; processes as another uid; nothing left after close().
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startSimulation, type Driver, type Simulation, type SimulationSpec } from '../../src/netsim/index.js';
import { IS_ROOT, NEEDS_ROOT, remainsOf, startEchoApp } from './support.js';

const SPEC: SimulationSpec = {
  networks: [
    { name: 'net1', subnet: '10.91.1.0/24' },
    { name: 'net2', subnet: '10.91.2.0/24' },
  ],
  wan: { subnet: '10.91.0.0/24' },
  pods: [
    { name: 'a', network: 'net1', address: '10.91.1.10', hosts: { 'b.cluster1.test': '10.91.1.11' } },
    { name: 'b', network: 'net1', address: '10.91.1.11' },
    { name: 'c', network: 'net2', address: '10.91.2.10' },
    { name: 'gw2', network: 'net2', address: '10.91.2.5', wanAddress: '10.91.0.20' },
  ],
  hosts: { 'gw2.wan.test': '10.91.0.20' },
};

const UNREACHABLE = /^(ENETUNREACH|EHOSTUNREACH|timeout)$/;

if (!IS_ROOT) {
  describe.skip(`network simulation: ${NEEDS_ROOT}`, () => {
    it('builds namespaces', () => undefined);
  });
} else {
  describe('network simulation: two clusters and wan', () => {
    let sim: Simulation;
    let a: Driver;

    beforeAll(async () => {
      sim = await startSimulation(SPEC);
      for (const pod of ['b', 'c', 'gw2']) startEchoApp(sim, pod);
      a = await sim.driver('a');
      // Every app answers inside its own cluster network before anything is asserted.
      await a.waitForHttp('http://10.91.1.11:8080/');
      const gw2 = await sim.driver('gw2');
      await gw2.waitForHttp('http://10.91.2.10:8080/');
      await gw2.waitForHttp('http://127.0.0.1:8080/');
    });

    afterAll(async () => {
      const prefix = sim?.prefix;
      await sim?.close();
      if (prefix) expect(remainsOf(prefix)).toEqual([]);
    });

    it('a pod reaches another pod of its cluster over HTTP, seen from its own address', async () => {
      const results = await a.requests({ url: 'http://10.91.1.11:8080/', count: 20, concurrency: 4 });
      expect(results.map((r) => r.status)).toEqual(Array(20).fill(200));
      expect(JSON.parse(results[0]!.body!)).toEqual({ pod: 'b', peer: '10.91.1.10' });
    });

    it("a pod cannot connect to another cluster's pod address, and fails fast", async () => {
      const tcp = await a.connect('10.91.2.10', 8080, 3000);
      expect(tcp.ok).toBe(false);
      expect(tcp.error).toMatch(UNREACHABLE);
      const http = await a.request('http://10.91.2.10:8080/', { timeoutMs: 3000 });
      expect(http.status).toBeUndefined();
      expect(http.error).toMatch(UNREACHABLE);
      expect(http.latencyMs).toBeLessThan(3500);
    });

    it("a pod reaches another cluster's gateway on its wan address through its router (NAT)", async () => {
      const r = await a.request('http://10.91.0.20:8080/');
      expect(r.status).toBe(200);
      // The gateway sees the router of net1, not the pod: the pod subnet stays private.
      expect(JSON.parse(r.body!)).toEqual({ pod: 'gw2', peer: sim.node('router-net1').wanAddress });
    });

    it("the client outside the mesh reaches a gateway's wan address but no pod subnet", async () => {
      const client = await sim.driver('client');
      const r = await client.request('http://10.91.0.20:8080/');
      expect(r.status).toBe(200);
      expect(JSON.parse(r.body!)).toEqual({ pod: 'gw2', peer: sim.node('client').wanAddress });
      expect((await client.connect('10.91.1.11', 8080, 3000)).error).toMatch(UNREACHABLE);
      expect((await client.connect('10.91.2.10', 8080, 3000)).error).toMatch(UNREACHABLE);
    });

    it('wan cannot open connections into a cluster through its router', async () => {
      // Even with a route to the pod subnet via the router, the router only forwards answers from wan.
      const gw2 = await sim.driver('gw2');
      const router1Wan = sim.node('router-net1').wanAddress!;
      await sim.run('client', 'ip', ['route', 'add', '10.91.1.0/24', 'via', router1Wan]).exited;
      const client = await sim.driver('client');
      expect((await client.connect('10.91.1.11', 8080, 1500)).error).toMatch(UNREACHABLE);
      expect((await gw2.connect('10.91.1.11', 8080, 1500)).error).toMatch(UNREACHABLE);
    });

    it("names resolve from the namespace's hosts file", async () => {
      expect(await a.resolve('b.cluster1.test')).toEqual({ addresses: ['10.91.1.11'] });
      expect(await a.resolve('gw2.wan.test')).toEqual({ addresses: ['10.91.0.20'] });
      expect(await a.resolve('a')).toEqual({ addresses: ['10.91.1.10'] });
      const byName = await a.request('http://b.cluster1.test:8080/');
      expect(JSON.parse(byName.body!).pod).toBe('b');
      // Pod-level entries stay in their pod; unknown names fail without asking anything outside.
      const b = await sim.driver('b');
      expect((await b.resolve('b.cluster1.test')).addresses).toEqual([]);
      expect((await b.resolve('gw2.wan.test')).addresses).toEqual(['10.91.0.20']);
    });

    it('runs a process in a pod as another uid, its output in a log file', async () => {
      const proc = sim.run('a', 'sh', ['-c', 'id -u; ip -4 -o addr show eth0'], { uid: 1337 });
      expect(await proc.exited).toEqual({ code: 0, signal: null });
      const log = proc.logTail();
      expect(log.split('\n')[0]).toBe('1337');
      expect(log).toContain('10.91.1.10/24');
    });

    it('the host namespace gets no address and forwards nothing', async () => {
      const { execFileSync } = await import('node:child_process');
      const addrs = execFileSync('ip', ['-o', 'addr', 'show'], { encoding: 'utf8' });
      expect(addrs).not.toMatch(/10\.91\./);
      expect(addrs.split('\n').filter((l) => l.includes(sim.prefix))).toEqual([]);
    });
  });
}

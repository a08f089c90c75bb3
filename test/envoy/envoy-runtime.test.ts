/**
 * Real Envoy as the test data plane: started from a static bootstrap inside a simulated pod as
 * uid 1337, ready, answering a request sent from another pod, its admin read over a unix socket;
 * and a broken bootstrap failing within seconds with Envoy's own log in the error. Without an
 * Envoy binary the suite is skipped (the global setup says so), except in CI, where it fails.
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ENVOY_VERSION, envoyMissingMessage, findEnvoy } from '../../src/envoy/binary.js';
import { startEnvoy, type EnvoyProcess } from '../../src/envoy/process.js';
import { startSimulation, type Simulation } from '../../src/netsim/index.js';
import { IS_ROOT, NEEDS_ROOT } from '../netsim/support.js';

const envoy = findEnvoy();

/** A static bootstrap: admin on a unix socket in `dir`, one listener on `port` answering `body` itself. */
function staticBootstrap(dir: string, port: number, body: string): object {
  return {
    node: { id: 'test/default/static-0', cluster: 'static' },
    admin: { address: { pipe: { path: path.join(dir, 'admin.sock') } } },
    static_resources: {
      listeners: [
        {
          name: 'hello',
          address: { socket_address: { address: '0.0.0.0', port_value: port } },
          filter_chains: [
            {
              filters: [
                {
                  name: 'envoy.filters.network.http_connection_manager',
                  typed_config: {
                    '@type': 'type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager',
                    stat_prefix: 'hello',
                    route_config: {
                      name: 'local',
                      virtual_hosts: [{ name: 'all', domains: ['*'], routes: [{ match: { prefix: '/' }, direct_response: { status: 200, body: { inline_string: body } } }] }],
                    },
                    http_filters: [{ name: 'envoy.filters.http.router', typed_config: { '@type': 'type.googleapis.com/envoy.extensions.filters.http.router.v3.Router' } }],
                  },
                },
              ],
            },
          ],
        },
      ],
    },
  };
}

if (!envoy && !process.env.CI) {
  describe.skip(`Envoy runtime: skipped, ${envoyMissingMessage()}`, () => {
    it('runs Envoy', () => undefined);
  });
} else if (!envoy) {
  describe('Envoy runtime', () => {
    it('has an Envoy binary in CI', () => {
      throw new Error(envoyMissingMessage());
    });
  });
} else {
  describe('Envoy runtime', () => {
    it(`finds Envoy ${ENVOY_VERSION}`, () => {
      expect(envoy.version).toBe(ENVOY_VERSION);
    });

    it("a broken bootstrap fails within seconds, the error carrying Envoy's log", async () => {
      const dir = mkdtempSync(path.join(os.tmpdir(), 'crossmesh-envoy-test-'));
      const bootstrap = staticBootstrap(dir, 0, 'x') as { static_resources: { listeners: Record<string, unknown>[] } };
      bootstrap.static_resources.listeners[0]!.no_such_field = true;
      const proxy = startEnvoy({ bootstrap, workDir: dir });
      const started = Date.now();
      try {
        const err = await proxy.waitReady(10_000).then(() => undefined, (e: Error) => e);
        expect(err?.message).toMatch(/ended before ready: exit code 1; last log lines:/);
        expect(err?.message).toMatch(/no_such_field/);
        expect(Date.now() - started).toBeLessThan(5000);
      } finally {
        await proxy.stop();
        rmSync(dir, { recursive: true, force: true });
      }
    });

    (IS_ROOT ? describe : describe.skip)(`in a simulated pod as uid 1337${IS_ROOT ? '' : ` (${NEEDS_ROOT})`}`, () => {
      let sim: Simulation;
      let proxy: EnvoyProcess;
      let readyMs = 0;

      beforeAll(async () => {
        sim = await startSimulation({
          networks: [{ name: 'net1', subnet: '10.93.1.0/24' }],
          wan: { subnet: '10.93.0.0/24' },
          pods: [
            { name: 'proxy', network: 'net1', address: '10.93.1.10' },
            { name: 'caller', network: 'net1', address: '10.93.1.11' },
          ],
        });
        const dir = path.join(sim.workDir, 'envoy-proxy');
        const started = performance.now();
        proxy = startEnvoy({ bootstrap: staticBootstrap(dir, 10000, 'hello from envoy'), workDir: dir, netns: sim.namespace('proxy'), uid: 1337 });
        await proxy.waitReady();
        readyMs = performance.now() - started;
      });

      afterAll(async () => {
        await proxy?.stop();
        await sim?.close();
      });

      it('is ready within seconds and runs as uid 1337 in the pod', async () => {
        expect(readyMs).toBeLessThan(10_000);
        const status = readFileSync(`/proc/${proxy.pid}/status`, 'utf8');
        expect(/^Uid:\s+(\d+)/m.exec(status)?.[1]).toBe('1337');
        // Envoy flushes its log file every 100 ms (startEnvoy's --file-flush-interval-msec).
        await expect.poll(() => proxy.logTail(300), { timeout: 2000 }).toMatch(/starting main dispatch loop/);
      });

      it('answers a request sent from another pod', async () => {
        const caller = await sim.driver('caller');
        const results = await caller.requests({ url: 'http://10.93.1.10:10000/anything', count: 5, concurrency: 2 });
        expect(results.map((r) => [r.status, r.body])).toEqual(Array(5).fill([200, 'hello from envoy']));
        expect(results[0]!.headers?.server).toBe('envoy');
      });

      it('shows its configuration and counters on the admin socket', async () => {
        const dump = await proxy.admin.configDump();
        const listeners = dump.configs.find((c) => String(c['@type']).endsWith('ListenersConfigDump')) as { static_listeners?: { listener: { name: string } }[] };
        expect(listeners.static_listeners?.map((l) => l.listener.name)).toEqual(['hello']);
        const stats = await proxy.admin.stats();
        expect(stats.get('http.hello.downstream_rq_2xx')).toBeGreaterThanOrEqual(5);
        expect(stats.get('listener_manager.total_listeners_active')).toBe(1);
        expect(await proxy.admin.ready()).toEqual({ ready: true, state: 'LIVE' });
        expect((await proxy.admin.certs()).certificates).toEqual([]);
        expect(Array.isArray((await proxy.admin.clusters()).cluster_statuses ?? [])).toBe(true);
        expect((await proxy.admin.serverInfo()).version).toMatch(new RegExp(`/${ENVOY_VERSION.replace(/\./g, '\\.')}/`));
      });

      it('stops on SIGTERM', async () => {
        const status = await proxy.stop();
        expect(status.signal ?? status.code).not.toBeNull();
        expect(proxy.process.exitStatus()).toBeDefined();
      });
    });
  });
}

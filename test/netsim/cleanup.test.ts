/**
 * Nothing of a simulation outlives it: close() removes every namespace, link and /etc/netns
 * directory even when the test body throws, and a run whose process was killed (SIGKILL: no
 * exit handler ran) is removed, processes included, by the next start.
 */
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import * as path from 'node:path';
import { createInterface } from 'node:readline';
import { describe, expect, it } from 'vitest';
import { repoRoot } from '../../src/envoy/binary.js';
import { startSimulation, type SimulationSpec } from '../../src/netsim/index.js';
import { IS_ROOT, NEEDS_ROOT, remainsOf } from './support.js';

const SMALL: SimulationSpec = {
  networks: [{ name: 'net1', subnet: '10.92.1.0/24' }],
  wan: { subnet: '10.92.0.0/24' },
  pods: [
    { name: 'a', network: 'net1', address: '10.92.1.10' },
    { name: 'gw', network: 'net1', address: '10.92.1.5', wanAddress: '10.92.0.5' },
  ],
};

/** True if the process exists and is not a zombie (an orphan's exit may wait for pid 1 to reap it). */
function pidAlive(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) !== 'Z';
  } catch {
    return false;
  }
}

/** Runs a simulation in a child node process, which prints `{prefix, driverPid}` and then waits to be killed. */
async function crashingRun(): Promise<{ prefix: string; driverPid: number; kill(): Promise<void> }> {
  const index = path.join(repoRoot(), 'dist', 'src', 'netsim', 'index.js');
  const program = `
    const { startSimulation } = await import(${JSON.stringify(index)});
    const sim = await startSimulation(${JSON.stringify(SMALL)});
    const d = await sim.driver('a');
    console.log(JSON.stringify({ prefix: sim.prefix, driverPid: d.process.pid }));
    setInterval(() => {}, 1000);`;
  const child = spawn(process.execPath, ['--input-type=module', '-e', program], { stdio: ['ignore', 'pipe', 'inherit'] });
  const line = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('the child simulation did not start within 15 s')), 15_000);
    child.once('exit', (code) => reject(new Error(`the child simulation exited with ${code}`)));
    createInterface({ input: child.stdout! }).once('line', (l) => {
      clearTimeout(timer);
      resolve(l);
    });
  });
  const { prefix, driverPid } = JSON.parse(line) as { prefix: string; driverPid: number };
  return {
    prefix,
    driverPid,
    kill: () =>
      new Promise((resolve) => {
        child.once('exit', () => resolve());
        child.kill('SIGKILL');
      }),
  };
}

if (!IS_ROOT) {
  describe.skip(`network simulation cleanup: ${NEEDS_ROOT}`, () => {
    it('removes leftovers', () => undefined);
  });
} else {
  describe('network simulation cleanup', () => {
    it('close() in finally removes everything when the test body throws', async () => {
      let prefix = '';
      const body = async (): Promise<void> => {
        const sim = await startSimulation(SMALL);
        prefix = sim.prefix;
        try {
          await sim.driver('a');
          sim.run('gw', 'sleep', ['600']);
          expect(remainsOf(prefix).length).toBeGreaterThan(0);
          throw new Error('test body failed');
        } finally {
          await sim.close();
        }
      };
      await expect(body()).rejects.toThrow('test body failed');
      expect(prefix).toMatch(/^cmx[a-z0-9]{4}$/);
      expect(remainsOf(prefix)).toEqual([]);
    });

    it('a run whose process was killed is removed, processes included, by the next start', async () => {
      const crashed = await crashingRun();
      await crashed.kill();
      // SIGKILL ran no handler: its namespaces, links and driver are still there.
      expect(remainsOf(crashed.prefix)).toEqual(expect.arrayContaining([`netns ${crashed.prefix}-a`, `netns ${crashed.prefix}-router-net1`]));
      expect(pidAlive(crashed.driverPid)).toBe(true);
      const sim = await startSimulation(SMALL);
      try {
        expect(remainsOf(crashed.prefix)).toEqual([]);
        expect(pidAlive(crashed.driverPid)).toBe(false);
        // The new run works on the same addresses the crashed one had.
        const d = await sim.driver('a');
        expect((await d.resolve('a')).addresses).toEqual(['10.92.1.10']);
      } finally {
        await sim.close();
      }
      expect(remainsOf(sim.prefix)).toEqual([]);
    });

    it('rejects a bad spec naming the problem, leaving nothing behind', async () => {
      // Its own project prefix, so that what it leaves is not mixed with other runs.
      const projectPrefix = 'cmq';
      const bad: SimulationSpec = { ...SMALL, projectPrefix, pods: [{ name: 'a', network: 'net9', address: '10.92.1.10' }] };
      await expect(startSimulation(bad)).rejects.toThrow(/pod a: no network "net9"/);
      const outside: SimulationSpec = { ...SMALL, projectPrefix, pods: [{ name: 'a', network: 'net1', address: '10.92.2.10' }] };
      await expect(startSimulation(outside)).rejects.toThrow(/10\.92\.2\.10 is not a host address of 10\.92\.1\.0\/24/);
      // A failure half-way through building (a sysctl the kernel does not have) removes what was built.
      const broken: SimulationSpec = { ...SMALL, projectPrefix, pods: [...SMALL.pods, { name: 'b', network: 'net1', address: '10.92.1.11', sysctls: { 'net.ipv4.no_such_sysctl': '1' } }] };
      await expect(startSimulation(broken)).rejects.toThrow(/sysctl .*net\.ipv4\.no_such_sysctl/);
      expect(remainsOf(projectPrefix)).toEqual([]);
    });
  });
}

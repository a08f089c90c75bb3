/**
 * Shared pieces of the real-Envoy suites: the skip-or-fail rule (no Envoy binary: skipped on a
 * user's machine, a failure in CI; not root: skipped), the compose topology, a policy directory
 * the tests copy the workshop's steps into, and a few pods of the compose mesh plus a file's own
 * topology documents.
 */
import { copyFileSync, mkdtempSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterAll, beforeAll, describe, it } from 'vitest';
import type { EnvoyAdmin } from '../../src/envoy/admin.js';
import { envoyMissingMessage, findEnvoy } from '../../src/envoy/binary.js';
import { repoRoot } from '../../src/envoy/binary.js';
import { startMeshSim, type MeshSim } from '../../src/meshsim/index.js';
import type { Driver } from '../../src/netsim/index.js';

const IS_ROOT = process.getuid?.() === 0;

/** `describe` when Envoy and root are there; otherwise a skipped suite saying why (or, in CI without Envoy, a failing one). */
export function envoySuite(name: string, body: () => void): void {
  if (!findEnvoy()) {
    if (process.env.CI) {
      describe(name, () => {
        it('has an Envoy binary in CI', () => {
          throw new Error(envoyMissingMessage());
        });
      });
    } else describe.skip(`${name}: skipped, ${envoyMissingMessage()}`, () => it('runs', () => undefined));
    return;
  }
  if (!IS_ROOT) {
    describe.skip(`${name}: skipped, needs root (network namespaces, iptables)`, () => it('runs', () => undefined));
    return;
  }
  describe(name, body);
}

/** The compose simulation's topology (two clusters, two networks, gateways): examples/compose. */
export const COMPOSE_TOPOLOGY = path.join(repoRoot(), 'examples', 'compose');
/** The workshop's policy steps: examples/compose/steps. */
export const STEPS = path.join(COMPOSE_TOPOLOGY, 'steps');

/**
 * A fresh policy directory; `apply(step, as)` copies a step file into it (under the name `as`),
 * `write(name, text)` writes one, `remove(step)` deletes one. Files appear whole (written beside,
 * then renamed): crossmesh may read a file the moment it appears, and a half-written copy is a
 * known hazard of the watcher (its own issue), not what these tests are about.
 */
export function policyDir(): { dir: string; apply(step: string, as?: string): void; write(name: string, text: string): void; remove(step: string): void; dispose(): void } {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'crossmesh-policies-'));
  const atomically = (name: string, put: (tmp: string) => void): void => {
    const tmp = path.join(dir, `.${name}.tmp`);
    put(tmp);
    renameSync(tmp, path.join(dir, name));
  };
  return {
    dir,
    apply: (step, as = step) => atomically(as, (tmp) => copyFileSync(path.join(STEPS, step), tmp)),
    write: (name, text) => atomically(name, (tmp) => writeFileSync(tmp, text)),
    remove: (step) => rmSync(path.join(dir, step), { force: true }),
    dispose: () => rmSync(dir, { recursive: true, force: true }),
  };
}

/** Sum of an Envoy's stats whose names match `re`. */
export async function statSum(admin: EnvoyAdmin, re: RegExp): Promise<number> {
  let n = 0;
  for (const [k, v] of await admin.stats()) if (re.test(k)) n += v;
  return n;
}

/**
 * For a suite: before all, the compose topology plus `topology` (YAML documents written to a temp
 * directory) runs with only `pods`, and a driver in `clientPod`; after all, everything is removed.
 * The getters are valid inside the suite's tests.
 */
export function useTopologyMesh(topology: string, pods: ReadonlySet<string>, clientPod: string): { mesh(): MeshSim; client(): Driver } {
  let mesh: MeshSim | undefined;
  let client: Driver | undefined;
  const policies = policyDir();
  const dir = mkdtempSync(path.join(os.tmpdir(), 'crossmesh-topology-'));
  beforeAll(async () => {
    writeFileSync(path.join(dir, 'extra.yaml'), topology);
    mesh = await startMeshSim({ topology: [COMPOSE_TOPOLOGY, dir], policyDir: policies.dir, only: (p) => pods.has(p.name) });
    client = await mesh.sim.driver(clientPod);
  }, 90_000);
  afterAll(async () => {
    await client?.close().catch(() => undefined);
    await mesh?.close();
    policies.dispose();
    rmSync(dir, { recursive: true, force: true });
  }, 30_000);
  return { mesh: () => mesh!, client: () => client! };
}

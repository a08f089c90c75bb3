/**
 * Shared pieces of the real-Envoy suites: the skip-or-fail rule (no Envoy binary: skipped on a
 * user's machine, a failure in CI; not root: skipped), the compose topology, and a policy
 * directory the tests copy the workshop's steps into.
 */
import { copyFileSync, mkdtempSync, rmSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { describe, it } from 'vitest';
import { envoyMissingMessage, findEnvoy } from '../../src/envoy/binary.js';
import { repoRoot } from '../../src/envoy/binary.js';

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

/** A fresh policy directory; `apply(step, as)` copies a step file into it (under the name `as`), `remove(step)` deletes it. */
export function policyDir(): { dir: string; apply(step: string, as?: string): void; remove(step: string): void; dispose(): void } {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'crossmesh-policies-'));
  return {
    dir,
    apply: (step, as = step) => copyFileSync(path.join(STEPS, step), path.join(dir, as)),
    remove: (step) => rmSync(path.join(dir, step), { force: true }),
    dispose: () => rmSync(dir, { recursive: true, force: true }),
  };
}

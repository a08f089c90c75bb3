/**
 * The compose topology and the policy steps: `crossmesh validate` passes on examples/compose with
 * no warnings, and so does the configuration after each scripted step (the steps' files replayed
 * into a policy directory exactly as scripts/compose/step*.sh copy and remove them).
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, expect, it } from 'vitest';
import { runValidate } from '../../src/cli/validate.js';
import { TOPOLOGY_DIR, replaySteps, stepScripts } from './support.js';

let dir: string | undefined;
afterEach(async () => {
  if (dir) await rm(dir, { recursive: true, force: true });
  dir = undefined;
});

async function validate(paths: string[]): Promise<{ code: number; out: string[]; err: string[] }> {
  const out: string[] = [];
  const err: string[] = [];
  const code = await runValidate(paths, { out: (l) => out.push(l), err: (l) => err.push(l) });
  return { code, out, err };
}

it('crossmesh validate passes on examples/compose with no warnings', async () => {
  const r = await validate([TOPOLOGY_DIR]);
  expect(r.err).toEqual([]);
  expect(r.code).toBe(0);
  expect(r.out[0]).toMatch(/^valid: 4 files, 2 clusters, 6 services, 10 workloads, 3 gateways, 0 policies; 0 warnings/);
});

it('the scripted steps apply the seed policies one by one, and every intermediate configuration is valid without warnings', async () => {
  const steps = stepScripts();
  expect(steps.map((s) => s.script)).toEqual(['step1-virtual-mesh.sh', 'step2-traffic-shift.sh', 'step3-access-policy.sh', 'step4-failover.sh']);
  dir = await mkdtemp(join(tmpdir(), 'crossmesh-compose-policies-'));
  const summaries: string[] = [];
  await replaySteps(dir, async (step) => {
    const r = await validate([TOPOLOGY_DIR, dir!]);
    expect(r.err, step).toEqual([]);
    expect(r.code, step).toBe(0);
    summaries.push(`${step}: ${/(\d+ polic(y|ies))/.exec(r.out[0]!)?.[1]}`);
  });
  // virtual mesh; + traffic shift; RBAC on + 3 access policies; shift replaced by outlier + failover + shift to it.
  expect(summaries).toEqual(['step1-virtual-mesh.sh: 1 policy', 'step2-traffic-shift.sh: 2 policies', 'step3-access-policy.sh: 5 policies', 'step4-failover.sh: 7 policies']);
});

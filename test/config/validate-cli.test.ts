import { Command } from 'commander';
import { afterEach, beforeEach, expect, test, vi } from 'vitest';
import { register, runValidate } from '../../src/cli/validate.js';
import { BASE_TOPOLOGY, tempDir, type TempDir } from './helpers.js';

let tmp: TempDir;
beforeEach(() => {
  tmp = tempDir();
});
afterEach(() => {
  tmp.remove();
  process.exitCode = undefined;
  vi.restoreAllMocks();
});

function capture() {
  const out: string[] = [];
  const err: string[] = [];
  return { io: { out: (l: string) => out.push(l), err: (l: string) => err.push(l) }, out, err };
}

test('valid configuration: exit 0 and a one-line summary; warnings are printed and marked', async () => {
  const file = tmp.write('mesh.yaml', `${BASE_TOPOLOGY}---\napiVersion: crossmesh.io/v1alpha1\nkind: Workload\nmetadata: {name: stray, cluster: nowhere}\nspec: {address: 127.0.9.9}\n`);
  const c = capture();
  expect(await runValidate([file], c.io)).toBe(0);
  expect(c.err).toEqual([`${file}:39: warning: Workload stray: metadata.cluster: no Cluster "nowhere"; this workload is ignored`]);
  expect(c.out).toHaveLength(1);
  expect(c.out[0]).toMatch(/^valid: 1 file, 1 cluster, 1 service, 2 workloads, 0 gateways, 0 policies; 1 warning \(version [0-9a-f]{16}\)$/);
});

test('invalid configuration: every error as file:line: message, exit 1', async () => {
  const file = tmp.write('mesh.yaml', BASE_TOPOLOGY.replace('    port: 9080', '    port: 0').replace('kind: Workload', 'kind: Workloads'));
  const c = capture();
  expect(await runValidate([file], c.io)).toBe(1);
  expect(c.err).toEqual([
    `${file}:22: Service reviews: spec.ports[0].port: expected a port number 1..65535`,
    `${file}:25: Workloads reviews-v1-0: kind: unknown kind "Workloads" (expected one of Cluster, Service, Workload, Gateway, VirtualMesh, TrafficPolicy, AccessPolicy, FailoverService)`,
  ]);
  expect(c.out).toEqual(['invalid: 2 errors, 0 warnings']);
});

test('through the command line parser: --config is repeatable and sets the exit code', async () => {
  const a = tmp.write('a.yaml', BASE_TOPOLOGY.split('---')[0]!);
  const b = tmp.write('b.yaml', BASE_TOPOLOGY.split('---').slice(1).join('---'));
  const lines: string[] = [];
  vi.spyOn(process.stdout, 'write').mockImplementation((s) => (lines.push(String(s)), true));
  vi.spyOn(process.stderr, 'write').mockImplementation((s) => (lines.push(String(s)), true));
  const program = new Command().exitOverride();
  register(program);
  await program.parseAsync(['node', 'crossmesh', 'validate', '--config', a, '--config', b]);
  expect(process.exitCode).toBe(0);
  expect(lines.join('')).toMatch(/^valid: 2 files, 1 cluster, 1 service, 1 workload,/);

  lines.length = 0;
  const program2 = new Command().exitOverride();
  register(program2);
  await program2.parseAsync(['node', 'crossmesh', 'validate', '--config', `${tmp.dir}/missing.yaml`]);
  expect(process.exitCode).toBe(1);
  expect(lines.join('')).toContain(`${tmp.dir}/missing.yaml:1: cannot read: no such file or directory`);
});

test('without --config it validates the embedded default mesh', async () => {
  const c = capture();
  expect(await runValidate(undefined, c.io)).toBe(0);
  expect(c.err).toEqual([]);
  expect(c.out[0]).toMatch(/^valid: \d+ files, 3 clusters, 11 services, 17 workloads, 4 gateways, 9 policies; 0 warnings/);
});

test('a FailoverService whose aggregate would contain itself is an error naming where it is declared', async () => {
  const file = tmp.write(
    'mesh.yaml',
    `${BASE_TOPOLOGY}---
apiVersion: networking.smh.solo.io/v1alpha2
kind: FailoverService
metadata: {name: loop, namespace: default}
spec:
  hostname: reviews.default.svc.c1.global
  port: {number: 9080, protocol: http}
  backingServices:
  - kubeService: {name: reviews, namespace: default, clusterName: c1}
`,
  );
  const c = capture();
  expect(await runValidate([file], c.io)).toBe(1);
  expect(c.err).toEqual([`${file}:37: FailoverService loop: aggregate cluster "outbound|9080||reviews.default.svc.c1.global" would contain itself (a backing service's host is the FailoverService's hostname)`]);
  expect(c.out).toEqual(['invalid: 1 error, 0 warnings']);
});

/**
 * Mistakes in `--policies-kubeconfig` (and the `--remote-secret*` flags that use its cluster) stop
 * `serve` at start with a message naming the flag and the file or context, before anything is served.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { meshLoader } from '../../../src/cli/mesh-loader.js';
import { startControlPlane } from '../../../src/cli/serve.js';

const dir = mkdtempSync(join(tmpdir(), 'crossmesh-policy-kubeconfig-'));
const KUBECONFIG = `apiVersion: v1
kind: Config
clusters: [{name: mgmt, cluster: {server: "https://127.0.0.1:1"}}]
users: [{name: u, user: {token: t}}]
contexts: [{name: mgmt, context: {cluster: mgmt, user: u}}]
current-context: mgmt
`;

const start = (kubeconfig: string, context?: string) =>
  startControlPlane({ xdsPort: 0, adminPort: 0, loadMesh: meshLoader(), policyCluster: { kubeconfig, ...(context ? { context } : {}) } });

describe('serve --policies-kubeconfig mistakes', () => {
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('a missing file names the flag and the path', async () => {
    const missing = join(dir, 'nope');
    await expect(start(missing)).rejects.toThrow(`policies: kubeconfig file ${missing} does not exist (--policies-kubeconfig: ${missing})`);
  });

  it('in-cluster outside a pod says so, naming the flag', async () => {
    const saved = process.env.KUBERNETES_SERVICE_HOST;
    delete process.env.KUBERNETES_SERVICE_HOST;
    try {
      await expect(start('in-cluster')).rejects.toThrow('--policies-kubeconfig in-cluster: not running in a Kubernetes pod (KUBERNETES_SERVICE_HOST is not set); give a kubeconfig file instead');
    } finally {
      if (saved !== undefined) process.env.KUBERNETES_SERVICE_HOST = saved;
    }
  });

  it('an unknown context lists the ones there are', async () => {
    const file = join(dir, 'kubeconfig');
    writeFileSync(file, KUBECONFIG);
    await expect(start(file, 'mgnt')).rejects.toThrow(`policies: context "mgnt" not found in kubeconfig ${file} (available: mgmt)`);
  });

  it('--remote-secrets needs --policies-kubeconfig, and the allow-lists need --remote-secrets (the built CLI)', () => {
    const cli = join(process.cwd(), 'dist/src/cli/main.js');
    const run = (...args: string[]) => spawnSync(process.execPath, [cli, 'serve', '--xds-port', '0', '--admin-port', '0', ...args], { encoding: 'utf8', timeout: 60_000 });
    const noCluster = run('--remote-secrets');
    expect(noCluster.status).toBe(1);
    expect(noCluster.stderr).toContain('--remote-secrets needs --policies-kubeconfig (the management cluster whose --namespace holds the Secrets)');
    const noWatch = run('--remote-secret-allow-exec', 'aws');
    expect(noWatch.status).toBe(1);
    expect(noWatch.stderr).toContain('--remote-secret-allow-* needs --remote-secrets');
  }, 120_000);
});

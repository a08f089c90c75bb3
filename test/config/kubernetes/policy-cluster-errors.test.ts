/**
 * Mistakes in `--policies-kubeconfig` stop `serve` at start with a message naming the flag and
 * the file or context, before anything is served.
 */
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

  it('an unknown context lists the ones there are', async () => {
    const file = join(dir, 'kubeconfig');
    writeFileSync(file, KUBECONFIG);
    await expect(start(file, 'mgnt')).rejects.toThrow(`policies: context "mgnt" not found in kubeconfig ${file} (available: mgmt)`);
  });
});

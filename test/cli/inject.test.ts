/**
 * `crossmesh inject` as a user runs it (the built CLI): a file or stdin in, the injected manifest
 * on stdout and one note per pod on stderr; mistakes exit 1 with the flag or file named.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseAllDocuments } from 'yaml';
import { CertificateAuthority } from '../../src/ca/index.js';

const CLI = join(process.cwd(), 'dist/src/cli/main.js');
const dir = mkdtempSync(join(tmpdir(), 'crossmesh-inject-cli-'));
const rootFile = join(dir, 'root.pem');
const podFile = join(dir, 'pod.yaml');

beforeAll(async () => {
  const ca = await CertificateAuthority.open({ directory: join(dir, 'ca') });
  writeFileSync(rootFile, ca.trustBundle().pem);
  ca.close();
  writeFileSync(podFile, 'apiVersion: v1\nkind: Pod\nmetadata: {name: web, namespace: shop}\nspec:\n  containers: [{name: web, image: web:1}]\n');
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function cli(args: string[], input?: string): { status: number | null; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, [CLI, 'inject', ...args], { encoding: 'utf8', timeout: 30_000, ...(input !== undefined ? { input } : {}) });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

type Injected = { kind: string; spec: { containers: { name: string; image: string }[]; template?: { spec: { containers: { name: string }[] } } } };

describe('crossmesh inject', () => {
  it('-f pod.yaml prints the injected pod, with a note on stderr', () => {
    const r = cli(['-f', podFile, '--cluster', 'cluster1', '--ca-file', rootFile, '--proxy-image', 'envoy:test']);
    expect(r.stderr).toContain(`${podFile} (Pod web): injected`);
    expect(r.status).toBe(0);
    const pod = parseAllDocuments(r.stdout)[0]!.toJS() as Injected;
    expect(pod.spec.containers.map((c) => [c.name, c.image])).toEqual([
      ['crossmesh-proxy', 'envoy:test'],
      ['web', 'web:1'],
    ]);
  });

  it('reads stdin, injects a Deployment\'s template and passes other documents through; output fed back in is unchanged', () => {
    const input = 'apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: web}\nspec:\n  template:\n    metadata: {labels: {app: web}}\n    spec: {containers: [{name: web, image: web:1}]}\n---\napiVersion: v1\nkind: Service\nmetadata: {name: web}\nspec: {ports: [{port: 80}]}\n';
    const r = cli(['--cluster', 'cluster1', '--ca-file', rootFile], input);
    expect(r.status, r.stderr).toBe(0);
    const docs = parseAllDocuments(r.stdout).map((d) => d.toJS() as Injected);
    expect(docs.map((d) => d.kind)).toEqual(['Deployment', 'Service']);
    expect(docs[0]!.spec.template!.spec.containers.map((c) => c.name)).toEqual(['crossmesh-proxy', 'web']);
    const again = cli(['--cluster', 'cluster1', '--ca-file', rootFile], r.stdout);
    expect(again.stdout).toBe(r.stdout);
    expect(again.stderr).toContain('skipped (already injected)');
  });

  it('serve --inject-port refuses --insecure-xds (API servers call webhooks over HTTPS only) and bad --inject-* values', () => {
    const serve = (args: string[]) => spawnSync(process.execPath, [CLI, 'serve', '--xds-port', '0', '--admin-port', '0', '--ca-dir', join(dir, 'ca'), ...args], { encoding: 'utf8', timeout: 30_000 });
    const insecure = serve(['--inject-port', '0', '--insecure-xds']);
    expect(insecure.status).toBe(1);
    expect(insecure.stderr).toContain('--inject-port needs TLS');
    const badImage = serve(['--inject-port', '0', '--inject-proxy-image', 'envoy:$(X)']);
    expect(badImage.status).toBe(1);
    expect(badImage.stderr).toContain('--inject-proxy-image: "envoy:$(X)" is not an image reference');
  });

  it('exits 1 naming the missing file, the bad flag, or the bad document', () => {
    const missing = cli(['-f', join(dir, 'nope.yaml'), '--cluster', 'cluster1', '--ca-file', rootFile]);
    expect(missing.status).toBe(1);
    expect(missing.stderr).toContain(`-f ${join(dir, 'nope.yaml')}: no such file`);
    const badTtl = cli(['-f', podFile, '--cluster', 'cluster1', '--ca-file', rootFile, '--token-expiration', '60']);
    expect(badTtl.status).toBe(1);
    expect(badTtl.stderr).toContain('--token-expiration: token lifetime must be 600-86400 seconds');
    const badCluster = cli(['-f', podFile, '--cluster', 'Cluster1', '--ca-file', rootFile]);
    expect(badCluster.stderr).toContain('--cluster: cluster name "Cluster1" must be a lowercase DNS label');
    const badDoc = cli(['--cluster', 'cluster1', '--ca-file', rootFile], 'kind: Pod\nmetadata: {name: p}\nspec: {containers: []}\n');
    expect(badDoc.status).toBe(1);
    expect(badDoc.stderr).toContain('<stdin> (Pod p): spec.containers must list at least one container');
  });
});

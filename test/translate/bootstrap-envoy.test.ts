/**
 * The bootstraps `crossmesh bootstrap` prints are accepted by the real Envoy (`envoy --mode
 * validate`), not only by the proto3-JSON reader and the PGV guard: every role, xDS and admin over
 * TCP and over unix sockets, state-of-the-world and delta ADS, and the durable-credentials form
 * whose xDS client certificate comes from the agent's file-based SDS. The Envoy binary is found as
 * src/envoy/binary.ts says ($ENVOY_BIN, <repo>/.tools/envoy, PATH); without one the test is
 * skipped, except in CI (process.env.CI) where that is a failure.
 */
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { stringify } from 'yaml';
import { CertificateAuthority } from '../../src/ca/index.js';
import { buildBootstrapForNode } from '../../src/cli/bootstrap.js';
import { envoyMissingMessage, findEnvoy } from '../../src/envoy/binary.js';
import { XDS_CLIENT_CERT_SDS_FILE } from '../../src/translate/bootstrap.js';
import { envoySdsFile } from '../../src/xds/auth/sds-agent.js';

const envoy = findEnvoy();
const dir = mkdtempSync(join(tmpdir(), 'crossmesh-envoy-validate-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const NODES = [
  ['sidecar', 'cluster1/default/productpage-v1-0'],
  ['gateway', 'cluster1/crossmesh-system/east-west-gateway-0'],
  ['ingress', 'cluster1/crossmesh-system/ingress-gateway-0'],
] as const;
const TRANSPORTS = [
  ['tcp', { xdsAddress: 'crossmesh.crossmesh-system.svc:18000', adminPort: '15000' }],
  ['unix', { xdsAddress: 'unix:/var/run/crossmesh/xds.sock', adminAddress: 'unix:/var/run/envoy/admin.sock' }],
] as const;
const CASES = NODES.flatMap(([role, node]) => TRANSPORTS.flatMap(([transport, addresses]) => (['sotw', 'delta'] as const).map((adsApi) => ({ role, node, transport, addresses, adsApi }))));

/** Runs `envoy --mode validate` on a bootstrap file (20 s bound); returns its exit status and output. */
function validate(file: string): { status: number | null; output: string } {
  const r = spawnSync(envoy!.path, ['--mode', 'validate', '-c', file, '--log-level', 'warn'], { encoding: 'utf8', timeout: 20_000 });
  return { status: r.status, output: `${r.stdout}${r.stderr}${r.error ? String(r.error) : ''}` };
}

describe.skipIf(!envoy && !process.env.CI)(`real Envoy accepts crossmesh bootstraps${envoy ? ` (envoy ${envoy.version})` : ` (skipped: ${envoyMissingMessage()})`}`, () => {
  it('has an Envoy binary (required in CI)', () => {
    expect(envoy, envoyMissingMessage()).toBeDefined();
  });

  it.each(CASES.map((c) => [`${c.role} ${c.transport} ${c.adsApi}`, c] as const))('%s: envoy --mode validate accepts it', async (_name, c) => {
    const { bootstrap } = await buildBootstrapForNode({ node: c.node, role: c.role, config: [], tokenTtl: '1h', caDir: join(dir, 'ca'), namespace: 'crossmesh-system', adsApi: c.adsApi, ...c.addresses });
    const file = join(dir, `${c.role}-${c.transport}-${c.adsApi}.yaml`);
    writeFileSync(file, stringify(bootstrap, { lineWidth: 0 }));
    const r = validate(file);
    expect(r.output).not.toMatch(/critical|error initializing/);
    expect(r.status, r.output).toBe(0);
  });

  it('durable credentials (--xds-client-cert-dir): Envoy needs the agent\'s SDS file before it starts, then accepts the bootstrap', async () => {
    const certDir = join(dir, 'xds-cert');
    mkdirSync(certDir, { recursive: true });
    const { bootstrap } = await buildBootstrapForNode({ node: NODES[0][1], role: 'sidecar', config: [], tokenTtl: '1h', caDir: join(dir, 'ca'), namespace: 'crossmesh-system', xdsAddress: '127.0.0.1:18000', xdsClientCertDir: certDir });
    const file = join(dir, 'durable.yaml');
    writeFileSync(file, stringify(bootstrap, { lineWidth: 0 }));
    // Without the file (the agent has not written yet) Envoy refuses to start: run the agent first.
    const missing = validate(file);
    expect(missing.status).not.toBe(0);
    expect(missing.output).toContain(`${XDS_CLIENT_CERT_SDS_FILE}' does not exist`);
    // What crossmesh agent --envoy-sds writes: the workload's chain and key inline.
    const ca = await CertificateAuthority.open({ directory: join(dir, 'ca') });
    try {
      const leaf = await ca.getWorkloadCertificate({ cluster: 'cluster1', trustDomain: 'cluster1', namespace: 'default', serviceAccount: 'bookinfo-productpage' });
      writeFileSync(join(certDir, XDS_CLIENT_CERT_SDS_FILE), envoySdsFile(leaf.certificateChainPem, leaf.privateKey), { mode: 0o600 });
    } finally {
      ca.close();
    }
    const r = validate(file);
    expect(r.output).not.toMatch(/critical|error initializing/);
    expect(r.status, r.output).toBe(0);
  });

  it('the check can fail: Envoy rejects ADS pointed at a cluster that does not exist', async () => {
    const { bootstrap } = await buildBootstrapForNode({ node: NODES[0][1], role: 'sidecar', config: [], tokenTtl: '1h', caDir: join(dir, 'ca'), namespace: 'crossmesh-system', xdsAddress: '127.0.0.1:18000' });
    const ads = (bootstrap.dynamic_resources as { ads_config: { grpc_services: { envoy_grpc: { cluster_name: string } }[] } }).ads_config;
    ads.grpc_services[0]!.envoy_grpc.cluster_name = 'no-such-cluster';
    const file = join(dir, 'bad.yaml');
    writeFileSync(file, stringify(bootstrap, { lineWidth: 0 }));
    const r = validate(file);
    expect(r.status).not.toBe(0);
    expect(r.output).toContain('no-such-cluster');
  });
});

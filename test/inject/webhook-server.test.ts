/**
 * The webhook's HTTPS listener: TLS that verifies against the mesh root (what the caBundle
 * holds), AdmissionReviews answered at /inject/<cluster>, HTTP errors naming the problem for
 * anything else, and a renewed server certificate served without a restart.
 */
import * as https from 'node:https';
import * as tls from 'node:tls';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { register } from 'prom-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CertificateAuthority } from '../../src/ca/index.js';
import { checkInjectOptions } from '../../src/inject/options.js';
import { startInjectionWebhook, type InjectionWebhook } from '../../src/inject/webhook-server.js';
import { XdsServerTls } from '../../src/xds/auth/server-tls.js';

const dir = mkdtempSync(join(tmpdir(), 'crossmesh-webhook-'));
let ca: CertificateAuthority;
let provider: XdsServerTls;
let webhook: InjectionWebhook;

beforeAll(async () => {
  ca = await CertificateAuthority.open({ directory: join(dir, 'ca') });
  // 3 s certificates, renewed at 2 s: the renewal test sees one within its time.
  provider = await XdsServerTls.start({ ca, lifetimeMs: 3000 });
  webhook = await startInjectionWebhook({
    host: '127.0.0.1',
    port: 0,
    identity: provider,
    optionsFor: (cluster) => checkInjectOptions({ cluster, xdsAddress: 'crossmesh.crossmesh-system.svc:18000', xdsServerName: 'crossmesh.crossmesh-system.svc', rootCaPem: ca.trustBundle().pem, proxyImage: 'envoy:1', crossmeshImage: 'crossmesh:1', tokenExpirationSeconds: 3600 }),
    knownCluster: (c) => c === 'cluster1',
  });
});
afterAll(async () => {
  await webhook?.close();
  provider?.close();
  ca?.close();
  rmSync(dir, { recursive: true, force: true });
});

function call(method: string, path: string, body?: string): Promise<{ status: number; text: string }> {
  return new Promise((resolve, reject) => {
    const req = https.request(`${webhook.url}${path}`, { method, ca: ca.trustBundle().pem, headers: { 'content-type': 'application/json' } }, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => (text += c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, text }));
    });
    req.on('error', reject);
    req.end(body);
  });
}

const review = JSON.stringify({ apiVersion: 'admission.k8s.io/v1', kind: 'AdmissionReview', request: { uid: 'abc', kind: { group: '', version: 'v1', kind: 'Pod' }, operation: 'CREATE', namespace: 'shop', object: { metadata: { name: 'p' }, spec: { containers: [{ name: 'app', image: 'a' }] } } } });

describe('injection webhook listener', () => {
  it('answers an AdmissionReview over TLS that verifies against the mesh root', async () => {
    const r = await call('POST', '/inject/cluster1', review);
    expect(r.status).toBe(200);
    const answer = JSON.parse(r.text) as { kind: string; response: { uid: string; allowed: boolean; patchType: string; patch: string } };
    expect(answer.response).toMatchObject({ uid: 'abc', allowed: true, patchType: 'JSONPatch' });
    const ops = JSON.parse(Buffer.from(answer.response.patch, 'base64').toString('utf8')) as { path: string; value: { name: string }[] }[];
    expect(ops.find((o) => o.path === '/spec/containers')!.value.map((c) => c.name)).toEqual(['crossmesh-proxy', 'app']);
  });

  it('answers anything else with an HTTP error that says what is wrong', async () => {
    expect(await call('GET', '/inject/cluster1')).toMatchObject({ status: 405, text: 'method not allowed: POST an AdmissionReview\n' });
    expect(await call('POST', '/mutate', review)).toMatchObject({ status: 404, text: 'not found: the injection webhook is at /inject/<cluster>\n' });
    expect(await call('POST', '/inject/cluster9', review)).toMatchObject({ status: 404, text: 'cluster "cluster9" is not in the mesh; the webhook URL must name a crossmesh Cluster\n' });
    expect(await call('POST', '/inject/cluster1', '{nope')).toMatchObject({ status: 400, text: 'body is not JSON (expected an AdmissionReview)\n' });
    expect((await call('POST', '/inject/cluster1', JSON.stringify({ apiVersion: 'admission.k8s.io/v1beta1', kind: 'AdmissionReview', request: { uid: 'x' } }))).status).toBe(400);
    expect((await call('POST', '/inject/cluster1', 'x'.repeat(5 * 1024 * 1024))).status).toBe(413);
  });

  it('counts what it answered in crossmesh_inject_admissions_total', async () => {
    const metric = await register.getSingleMetricAsString('crossmesh_inject_admissions_total');
    expect(metric).toContain('crossmesh_inject_admissions_total{cluster="cluster1",result="injected"} 1');
    expect(metric).toContain('crossmesh_inject_admissions_total{cluster="cluster1",result="bad_request"} 1');
  });

  it('serves a renewed certificate without a restart', async () => {
    const presented = (): Promise<string> =>
      new Promise((resolve, reject) => {
        const socket = tls.connect({ host: '127.0.0.1', port: webhook.port, ca: ca.trustBundle().pem }, () => {
          const serial = socket.getPeerCertificate().serialNumber;
          socket.destroy();
          resolve(serial);
        });
        socket.on('error', reject);
      });
    const first = await presented();
    expect(first).toBe(provider.info().serial);
    const deadline = Date.now() + 6000;
    while (provider.info().serial === first && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
    expect(provider.info().serial).not.toBe(first);
    expect(await presented()).toBe(provider.info().serial);
  }, 15_000);
});

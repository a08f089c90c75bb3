/**
 * Every Service Mesh Hub policy shown in seed 000 loads unchanged and means what it meant there.
 */
import { readdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, test } from 'vitest';
import { formatDiagnostic } from '../../src/config/diagnostics.js';
import { loadConfig } from '../../src/config/loader.js';
import type { MeshConfig } from '../../src/config/mesh-config.js';

const SEED = join(dirname(fileURLToPath(import.meta.url)), '..', 'fixtures', 'seed');

async function load(name: string): Promise<MeshConfig> {
  const r = await loadConfig([join(SEED, name)]);
  expect(r.errors.map(formatDiagnostic)).toEqual([]);
  return r.config!;
}

describe('seed 000 policy fixtures', () => {
  test('there are nine and each loads without errors', async () => {
    const files = readdirSync(SEED).filter((f) => f.endsWith('.yaml'));
    expect(files).toHaveLength(9);
    for (const f of files) {
      const r = await loadConfig([join(SEED, f)]);
      expect(r.errors.map(formatDiagnostic), f).toEqual([]);
      expect(r.config, f).toBeDefined();
    }
  });

  test('VirtualMesh: generated shared root, global access policy, two members', async () => {
    const c = await load('01-virtual-mesh.yaml');
    expect(c.policies.virtualMeshes).toHaveLength(1);
    const vm = c.policies.virtualMeshes[0]!;
    expect(vm).toMatchObject({
      name: 'virtual-mesh',
      namespace: 'service-mesh-hub',
      mtls: { rootCertificateAuthority: { kind: 'generated' }, autoRestartPods: true },
      globalAccessPolicy: 'ENABLED',
      federation: { enabled: true },
      ca: { directory: '.crossmesh/ca', leafTtlMs: 86_400_000, keyType: 'ECDSA_P256' },
    });
    expect(vm.meshes).toEqual([
      { name: 'istiod-istio-system-kind2', namespace: 'service-mesh-hub' },
      { name: 'istiod-istio-system-kind3', namespace: 'service-mesh-hub' },
    ]);
  });

  test('AccessPolicy istio-ingressgateway: ingress SA in kind2 → services labelled service=productpage', async () => {
    const ap = (await load('02-access-ingress-gateway.yaml')).policies.accessPolicies[0]!;
    expect(ap.name).toBe('istio-ingressgateway');
    expect(ap.sourceSelector).toEqual([
      { kind: 'serviceAccounts', serviceAccounts: [{ name: 'istio-ingressgateway-service-account', namespace: 'istio-system', cluster: 'kind2' }] },
    ]);
    expect(ap.destinationSelector).toEqual([{ kind: 'matcher', labels: { service: 'productpage' }, namespaces: ['default'], clusters: [] }]);
    expect(ap.allowedPaths).toEqual([]);
    expect(ap.allowedMethods).toEqual([]);
    expect(ap.allowedPorts).toEqual([]);
  });

  test('AccessPolicy productpage: productpage → details and reviews', async () => {
    const ap = (await load('03-access-productpage.yaml')).policies.accessPolicies[0]!;
    expect(ap.sourceSelector).toEqual([{ kind: 'serviceAccounts', serviceAccounts: [{ name: 'bookinfo-productpage', namespace: 'default', cluster: 'kind2' }] }]);
    expect(ap.destinationSelector.map((d) => (d.kind === 'matcher' ? d.labels.service : undefined))).toEqual(['details', 'reviews']);
  });

  test('AccessPolicy reviews: one cluster, then two clusters', async () => {
    const one = (await load('04-access-reviews.yaml')).policies.accessPolicies[0]!;
    const two = (await load('06-access-reviews-two-clusters.yaml')).policies.accessPolicies[0]!;
    expect(one.destinationSelector).toEqual([{ kind: 'matcher', labels: { service: 'ratings' }, namespaces: ['default'], clusters: [] }]);
    const sas = (p: typeof one) => (p.sourceSelector[0]!.kind === 'serviceAccounts' ? p.sourceSelector[0]!.serviceAccounts.map((s) => s.cluster) : []);
    expect(sas(one)).toEqual(['kind2']);
    expect(sas(two)).toEqual(['kind2', 'kind3']);
  });

  test('the two versions of AccessPolicy reviews together are a duplicate', async () => {
    const r = await loadConfig([join(SEED, '04-access-reviews.yaml'), join(SEED, '06-access-reviews-two-clusters.yaml')]);
    expect(r.errors.map(formatDiagnostic)).toEqual([
      `${join(SEED, '06-access-reviews-two-clusters.yaml')}:2: AccessPolicy reviews: duplicate AccessPolicy service-mesh-hub/reviews: also defined at ${join(SEED, '04-access-reviews.yaml')}:2`,
    ]);
  });

  test('TrafficPolicy simple: reviews in kind2 shifted 75/15/10 to v3@kind3, v1@kind2, v2@kind2', async () => {
    const tp = (await load('05-traffic-policy-simple.yaml')).policies.trafficPolicies[0]!;
    expect(tp.destinationSelector).toEqual([{ kind: 'refs', services: [{ name: 'reviews', namespace: 'default', cluster: 'kind2' }] }]);
    expect(tp.trafficShift?.destinations).toEqual([
      { kind: 'service', service: { name: 'reviews', namespace: 'default', cluster: 'kind3' }, subset: { version: 'v3' }, weight: 75 },
      { kind: 'service', service: { name: 'reviews', namespace: 'default', cluster: 'kind2' }, subset: { version: 'v1' }, weight: 15 },
      { kind: 'service', service: { name: 'reviews', namespace: 'default', cluster: 'kind2' }, subset: { version: 'v2' }, weight: 10 },
    ]);
    expect(tp.sourceSelector).toEqual([]);
    expect(tp.outlierDetection).toBeUndefined();
  });

  test('TrafficPolicy mgmt-reviews-outlier: 1 error, 10 s interval, 2 min ejection, 100 % max (as the DestinationRule showed)', async () => {
    const tp = (await load('07-traffic-policy-outlier.yaml')).policies.trafficPolicies[0]!;
    expect(tp.outlierDetection).toEqual({ consecutiveErrors: 1, intervalMs: 10_000, baseEjectionTimeMs: 120_000, maxEjectionPercent: 100 });
    expect(tp.destinationSelector).toEqual([
      {
        kind: 'refs',
        services: [
          { name: 'reviews', namespace: 'default', cluster: 'kind2' },
          { name: 'reviews', namespace: 'default', cluster: 'kind3' },
        ],
      },
    ]);
  });

  test('FailoverService reviews-failover: hostname, port 9080 HTTP, backing services in priority order', async () => {
    const fs = (await load('08-failover-service.yaml')).policies.failoverServices[0]!;
    expect(fs).toEqual({
      name: 'reviews-failover',
      namespace: 'service-mesh-hub',
      hostname: 'reviews-failover.default.global',
      port: { number: 9080, protocol: 'HTTP' },
      meshes: [{ name: 'istiod-istio-system-kind2', namespace: 'service-mesh-hub' }],
      backingServices: [
        { name: 'reviews', namespace: 'default', cluster: 'kind2' },
        { name: 'reviews', namespace: 'default', cluster: 'kind3' },
      ],
    });
  });

  test('TrafficPolicy reviews-shift-failover: all traffic to the failover service', async () => {
    const tp = (await load('09-traffic-policy-shift-failover.yaml')).policies.trafficPolicies[0]!;
    expect(tp.namespace).toBe('default');
    expect(tp.trafficShift?.destinations).toEqual([{ kind: 'failoverService', name: 'reviews-failover', namespace: 'service-mesh-hub', subset: {}, weight: 100 }]);
  });

  test('failover service and the policy referring to it resolve together (no dangling-reference warning)', async () => {
    const r = await loadConfig([join(SEED, '08-failover-service.yaml'), join(SEED, '09-traffic-policy-shift-failover.yaml')]);
    expect(r.errors).toEqual([]);
    expect(r.warnings.map(formatDiagnostic).filter((w) => w.includes('no FailoverService'))).toEqual([]);
  });

  test('policy kinds load under crossmesh.io/v1alpha1 too', async () => {
    const { readFileSync } = await import('node:fs');
    const { tempDir } = await import('./helpers.js');
    const tmp = tempDir();
    try {
      const text = readFileSync(join(SEED, '05-traffic-policy-simple.yaml'), 'utf8').replace('networking.smh.solo.io/v1alpha2', 'crossmesh.io/v1alpha1');
      const r = await loadConfig([tmp.write('tp.yaml', text)]);
      expect(r.errors).toEqual([]);
      expect(r.config!.policies.trafficPolicies[0]!.trafficShift!.destinations).toHaveLength(3);
    } finally {
      tmp.remove();
    }
  });
});

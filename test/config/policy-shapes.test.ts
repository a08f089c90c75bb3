import { afterEach, beforeEach, expect, test } from 'vitest';
import { formatDiagnostic } from '../../src/config/diagnostics.js';
import { parseDuration } from '../../src/config/duration.js';
import { loadConfig } from '../../src/config/loader.js';
import { tempDir, type TempDir } from './helpers.js';

let tmp: TempDir;
beforeEach(() => {
  tmp = tempDir();
});
afterEach(() => tmp.remove());

test('durations: Go/Istio forms to milliseconds, errors for anything else', () => {
  expect(parseDuration('10s')).toEqual({ ms: 10_000 });
  expect(parseDuration('2m')).toEqual({ ms: 120_000 });
  expect(parseDuration('1h30m')).toEqual({ ms: 5_400_000 });
  expect(parseDuration('1.5s')).toEqual({ ms: 1500 });
  expect(parseDuration('250ms')).toEqual({ ms: 250 });
  expect(parseDuration('0')).toEqual({ ms: 0 });
  for (const bad of ['', '10', 's', '10 s', '10sec', '-1s', '1d']) expect(parseDuration(bad)).toHaveProperty('error');
});

test('every TrafficPolicy feature normalizes to typed fields', async () => {
  const file = tmp.write(
    'tp.yaml',
    `apiVersion: networking.smh.solo.io/v1alpha2
kind: TrafficPolicy
metadata: {name: everything, namespace: default}
spec:
  sourceSelector:
  - labels: {app: productpage}
    namespaces: [default]
  - kubeWorkloadMatcher: {clusters: [c1]}
  destinationSelector:
  - kubeServiceMatcher: {labels: {service: reviews}, namespaces: [default], clusters: [c1]}
  httpRequestMatchers:
  - prefix: /api
    headers:
    - {name: x-user, value: jason}
    - {name: x-debug, regex: true, value: "\\\\d+", invertMatch: true}
    queryParameters:
    - {name: q}
    method: {method: GET}
  - exact: /health
    method: post
  trafficShift:
    destinations:
    - kubeService: {name: reviews, namespace: default, clusterName: c2, subset: {version: v3}, port: 9080}
      weight: 80
    - failoverService: {name: reviews-failover, namespace: mesh}
      weight: 20
  faultInjection:
    fixedDelay: 500ms
    abort: {httpStatus: 503}
    percentage: 12.5
  requestTimeout: 3s
  retries: {attempts: 3, perTryTimeout: 1s}
  corsPolicy:
    allowOrigins: [{exact: "https://a.example"}, {prefix: "https://b."}]
    allowMethods: [GET, POST]
    allowHeaders: [x-a]
    exposeHeaders: [x-b]
    maxAge: 1h
    allowCredentials: true
  mirror:
    kubeService: {name: reviews-shadow, namespace: default, clusterName: c1}
    percentage: 5
    port: 9080
  headerManipulation:
    appendRequestHeaders: {x-mesh: crossmesh}
    removeRequestHeaders: [x-internal]
    appendResponseHeaders: [{key: x-served-by, value: reviews}]
    removeResponseHeaders: [server]
  outlierDetection: {}
  connectionPool:
    maxConnections: 100
    maxPendingRequests: 10
    maxRequests: 1000
    maxRetries: 3
    connectTimeout: 250ms
`,
  );
  const r = await loadConfig([file]);
  expect(r.errors.map(formatDiagnostic)).toEqual([]);
  const tp = r.config!.policies.trafficPolicies[0]!;
  expect(tp).toEqual({
    name: 'everything',
    namespace: 'default',
    sourceSelector: [
      { labels: { app: 'productpage' }, namespaces: ['default'], clusters: [] },
      { labels: {}, namespaces: [], clusters: ['c1'] },
    ],
    destinationSelector: [{ kind: 'matcher', labels: { service: 'reviews' }, namespaces: ['default'], clusters: ['c1'] }],
    httpRequestMatchers: [
      {
        path: { kind: 'prefix', value: '/api' },
        headers: [
          { name: 'x-user', value: 'jason', regex: false, invertMatch: false },
          { name: 'x-debug', value: '\\d+', regex: true, invertMatch: true },
        ],
        queryParameters: [{ name: 'q', regex: false }],
        method: 'GET',
      },
      { path: { kind: 'exact', value: '/health' }, headers: [], queryParameters: [], method: 'POST' },
    ],
    trafficShift: {
      destinations: [
        { kind: 'service', service: { name: 'reviews', namespace: 'default', cluster: 'c2' }, subset: { version: 'v3' }, port: 9080, weight: 80 },
        { kind: 'failoverService', name: 'reviews-failover', namespace: 'mesh', subset: {}, weight: 20 },
      ],
    },
    faultInjection: { delayMs: 500, abort: { httpStatus: 503 }, percentage: 12.5 },
    requestTimeoutMs: 3000,
    retries: { attempts: 3, perTryTimeoutMs: 1000 },
    corsPolicy: {
      allowOrigins: [
        { kind: 'exact', value: 'https://a.example' },
        { kind: 'prefix', value: 'https://b.' },
      ],
      allowMethods: ['GET', 'POST'],
      allowHeaders: ['x-a'],
      exposeHeaders: ['x-b'],
      maxAgeMs: 3_600_000,
      allowCredentials: true,
    },
    mirror: { service: { name: 'reviews-shadow', namespace: 'default', cluster: 'c1' }, percentage: 5, port: 9080 },
    headerManipulation: {
      appendRequestHeaders: { 'x-mesh': 'crossmesh' },
      removeRequestHeaders: ['x-internal'],
      appendResponseHeaders: { 'x-served-by': 'reviews' },
      removeResponseHeaders: ['server'],
    },
    outlierDetection: { consecutiveErrors: 5, intervalMs: 10_000, baseEjectionTimeMs: 30_000, maxEjectionPercent: 100 },
    connectionPool: { maxConnections: 100, maxPendingRequests: 10, maxRequests: 1000, maxRetries: 3, connectTimeoutMs: 250 },
  });
});

test('AccessPolicy allowed paths/methods/ports and identity matchers; VirtualMesh with files root and CA settings', async () => {
  const file = tmp.write(
    'p.yaml',
    `apiVersion: crossmesh.io/v1alpha1
kind: AccessPolicy
metadata: {name: read-only, namespace: mesh}
spec:
  sourceSelector:
  - kubeIdentityMatcher: {namespaces: [default], clusters: [c1]}
  destinationSelector:
  - kubeServiceRefs: {services: [{name: ratings, namespace: default}]}
  allowedPaths: [/ratings]
  allowedMethods: [GET, {method: HEAD}]
  allowedPorts: [9080]
---
apiVersion: networking.smh.solo.io/v1alpha2
kind: VirtualMesh
metadata: {name: vm, namespace: mesh}
spec:
  meshes: [{name: c1}]
  mtlsConfig:
    shared:
      rootCertificateAuthority:
        files: {certFile: ca/root.pem, keyFile: /abs/root.key}
  ca: {directory: state/ca, leafTtl: 1h, keyType: RSA_2048}
`,
  );
  const r = await loadConfig([file]);
  expect(r.errors.map(formatDiagnostic)).toEqual([]);
  expect(r.config!.policies.accessPolicies[0]).toEqual({
    name: 'read-only',
    namespace: 'mesh',
    sourceSelector: [{ kind: 'matcher', namespaces: ['default'], clusters: ['c1'] }],
    destinationSelector: [{ kind: 'refs', services: [{ name: 'ratings', namespace: 'default' }] }],
    allowedPaths: ['/ratings'],
    allowedMethods: ['GET', 'HEAD'],
    allowedPorts: [9080],
  });
  expect(r.config!.policies.virtualMeshes[0]).toMatchObject({
    mtls: { rootCertificateAuthority: { kind: 'files', certFile: `${tmp.dir}/ca/root.pem`, keyFile: '/abs/root.key' }, autoRestartPods: false },
    globalAccessPolicy: 'DISABLED',
    federation: { enabled: false },
    ca: { directory: `${tmp.dir}/state/ca`, leafTtlMs: 3_600_000, keyType: 'RSA_2048' },
  });
});

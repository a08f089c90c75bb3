/**
 * The webhook's AdmissionReview answers: the JSON Patch applied to the pod gives exactly what
 * `crossmesh inject` prints, other objects and operations pass untouched, a pod that cannot be
 * injected is refused with the reason and the opt-out, and malformed reviews are HTTP errors.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CertificateAuthority } from '../../src/ca/index.js';
import { AdmissionError, reviewAdmission, type PatchOperation } from '../../src/inject/admission.js';
import { injectObject } from '../../src/inject/manifest.js';
import { checkInjectOptions, type InjectOptions } from '../../src/inject/options.js';

const dir = mkdtempSync(join(tmpdir(), 'crossmesh-admission-'));
let options: InjectOptions;
beforeAll(async () => {
  const ca = await CertificateAuthority.open({ directory: join(dir, 'ca') });
  options = checkInjectOptions({ cluster: 'cluster1', xdsAddress: 'crossmesh.crossmesh-system.svc:18000', xdsServerName: 'crossmesh.crossmesh-system.svc', rootCaPem: ca.trustBundle().pem, proxyImage: 'envoy:1', crossmeshImage: 'crossmesh:1', tokenExpirationSeconds: 3600 });
  ca.close();
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** Applies `add` operations (RFC 6902: add replaces an existing member). */
function applyPatch(doc: unknown, ops: PatchOperation[]): unknown {
  const out = structuredClone(doc) as Record<string, unknown>;
  for (const op of ops) {
    expect(op.op).toBe('add');
    const parts = op.path.split('/').slice(1);
    let at = out;
    for (const p of parts.slice(0, -1)) at = at[p] as Record<string, unknown>;
    at[parts.at(-1)!] = op.value;
  }
  return out;
}

function review(object: unknown, extra: Record<string, unknown> = {}): unknown {
  return { apiVersion: 'admission.k8s.io/v1', kind: 'AdmissionReview', request: { uid: 'u-1', kind: { group: '', version: 'v1', kind: 'Pod' }, operation: 'CREATE', namespace: 'shop', object, ...extra } };
}

const pod = { apiVersion: 'v1', kind: 'Pod', metadata: { generateName: 'web-', namespace: 'shop', labels: { app: 'web' } }, spec: { containers: [{ name: 'web', image: 'web:1' }] } };

describe('admission review', () => {
  it('answers a pod CREATE with a JSON Patch that yields the injected pod', () => {
    const a = reviewAdmission(review(pod), options);
    expect(a).toMatchObject({ apiVersion: 'admission.k8s.io/v1', kind: 'AdmissionReview', response: { uid: 'u-1', allowed: true, patchType: 'JSONPatch' } });
    const ops = JSON.parse(Buffer.from(a.response.patch!, 'base64').toString('utf8')) as PatchOperation[];
    expect(ops.map((o) => o.path)).toEqual(['/metadata/annotations', '/spec/initContainers', '/spec/containers', '/spec/volumes']);
    expect(applyPatch(pod, ops)).toEqual(injectObject(pod, options, 'x').object);
  });

  it('lets other kinds, other operations and opted-out or injected pods through without a patch or a warning', () => {
    expect(reviewAdmission(review(pod, { operation: 'UPDATE' }), options).response).toEqual({ uid: 'u-1', allowed: true });
    expect(reviewAdmission(review({}, { kind: { group: 'apps', version: 'v1', kind: 'Deployment' } }), options).response).toEqual({ uid: 'u-1', allowed: true });
    const optedOut = { ...pod, metadata: { ...pod.metadata, labels: { 'crossmesh.io/inject': 'false' } } };
    expect(reviewAdmission(review(optedOut), options).response).toEqual({ uid: 'u-1', allowed: true });
    const injected = injectObject(pod, options, 'x').object;
    expect(reviewAdmission(review(injected), options).response).toEqual({ uid: 'u-1', allowed: true });
  });

  it('warns whoever created a host-network pod that it got no sidecar', () => {
    const r = reviewAdmission(review({ ...pod, spec: { ...pod.spec, hostNetwork: true } }), options).response;
    expect(r.allowed).toBe(true);
    expect(r.patch).toBeUndefined();
    expect(r.warnings).toEqual([expect.stringContaining('crossmesh: sidecar not injected into pod shop/web-*: hostNetwork pods')]);
  });

  it('refuses a pod it cannot inject, saying why and how to opt out', () => {
    const r = reviewAdmission(review({ ...pod, spec: { containers: [{ name: 'web', image: 'w', ports: [{ containerPort: 15006 }] }] } }), options).response;
    expect(r.allowed).toBe(false);
    expect(r.status).toEqual({ code: 400, message: 'crossmesh sidecar injection: pod shop/web-*: container "web" uses port 15006, which the sidecar needs (15000, 15001, 15006) (set the label crossmesh.io/inject: "false" to create the pod without the sidecar)' });
  });

  it('answers malformed reviews with an HTTP error naming the problem', () => {
    expect(() => reviewAdmission({ kind: 'Pod' }, options)).toThrow(new AdmissionError('expected an AdmissionReview', 400));
    expect(() => reviewAdmission({ kind: 'AdmissionReview', apiVersion: 'admission.k8s.io/v1beta1', request: { uid: 'x' } }, options)).toThrow('admission.k8s.io/v1beta1 is not supported; register the webhook with admissionReviewVersions: [v1]');
    expect(() => reviewAdmission({ kind: 'AdmissionReview', apiVersion: 'admission.k8s.io/v1', request: {} }, options)).toThrow('AdmissionReview has no request.uid');
  });
});

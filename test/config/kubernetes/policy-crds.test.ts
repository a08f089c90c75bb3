/**
 * The policy CRDs: `deploy/crds/` is what `crossmesh crds` generates from the loader's schemas,
 * and a real API server takes every policy written in this repository (the default mesh, the
 * compose steps, the seed's workshop policies) exactly as written: created without an error, and
 * read back with the same spec (a field missing from the schema would be silently pruned).
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { parseAllDocuments } from 'yaml';
import { POLICY_KINDS, policyCrdYaml, type PolicyKind } from '../../../src/config/kubernetes/crds.js';
import { crdFileName } from '../../../src/cli/crds.js';
import { kubeApiServerSuite, useKubeApiServer } from '../../support/kube-apiserver.js';
import { createPolicy, installPolicyCrds, objectsPath, type PolicyDoc } from './policy-crd-fixtures.js';

const ROOT = join(import.meta.dirname, '..', '..', '..');
const SOURCES = ['examples/default', 'examples/compose/steps', 'test/fixtures/seed'];

/** Every policy document in the repository's example directories, with where it came from. */
function repositoryPolicies(): { from: string; doc: PolicyDoc }[] {
  const out: { from: string; doc: PolicyDoc }[] = [];
  for (const dir of SOURCES) {
    for (const file of readdirSync(join(ROOT, dir)).filter((f) => f.endsWith('.yaml')).sort()) {
      for (const d of parseAllDocuments(readFileSync(join(ROOT, dir, file), 'utf8'))) {
        const js = d.toJS() as PolicyDoc | null;
        if (js && (POLICY_KINDS as readonly string[]).includes(js.kind)) out.push({ from: `${dir}/${file}`, doc: js });
      }
    }
  }
  return out;
}

describe('deploy/crds', () => {
  it('is what `crossmesh crds` generates from the loader schemas', () => {
    for (const kind of POLICY_KINDS) {
      expect(readFileSync(join(ROOT, 'deploy', 'crds', crdFileName(kind)), 'utf8'), `deploy/crds/${crdFileName(kind)} is stale: run crossmesh crds --out deploy/crds`).toBe(policyCrdYaml(kind));
    }
  });
});

kubeApiServerSuite('policy CRDs on a real API server', () => {
  const server = useKubeApiServer();
  beforeAll(async () => installPolicyCrds(server()), 60_000);

  it('accepts every policy in the repository as written, and keeps every field', async () => {
    const api = server();
    const policies = repositoryPolicies();
    const kinds = new Set(policies.map((p) => p.doc.kind));
    expect([...kinds].sort()).toEqual([...POLICY_KINDS].sort());
    expect(policies.length).toBeGreaterThanOrEqual(15);
    for (const [i, { from, doc }] of policies.entries()) {
      // The same names recur across directories: a prefix keeps them apart. The CRDs are in SMH's
      // group only; documents written with crossmesh.io/v1alpha1 (same schema) go in under it.
      const named = { ...doc, apiVersion: 'networking.smh.solo.io/v1alpha2', metadata: { ...doc.metadata, name: `p${i}-${doc.metadata.name}` } };
      const created = await createPolicy(api, named).catch((err: Error) => {
        throw new Error(`${from}: ${doc.kind} ${doc.metadata.name}: ${err.message}`);
      });
      expect(created.spec, `${from}: ${doc.kind} ${doc.metadata.name} read back`).toEqual(doc.spec);
    }
  });

  it("takes the alternative spellings the loader accepts (SMH's wrapped method, header lists) unchanged", async () => {
    const api = server();
    const spec = {
      httpRequestMatchers: [{ prefix: '/a', method: { method: 'GET' } }, { prefix: '/b', method: 'POST' }],
      headerManipulation: { appendRequestHeaders: [{ key: 'x-a', value: '1' }], appendResponseHeaders: { 'x-b': '2' } },
      faultInjection: { delay: { fixedDelay: '1s' }, percentage: 5.5 },
    };
    const created = await createPolicy(api, { apiVersion: 'networking.smh.solo.io/v1alpha2', kind: 'TrafficPolicy', metadata: { name: 'spellings', namespace: 'default' }, spec });
    expect(created.spec).toEqual(spec);
    const access = { allowedMethods: ['GET', { method: 'POST' }] };
    const createdAccess = await createPolicy(api, { apiVersion: 'networking.smh.solo.io/v1alpha2', kind: 'AccessPolicy', metadata: { name: 'spellings', namespace: 'default' }, spec: access });
    expect(createdAccess.spec).toEqual(access);
  });

  it('refuses a wrongly typed field with the field named, and keeps status out of spec writes', async () => {
    const api = server();
    const bad = await api.rawRequest('POST', objectsPath('TrafficPolicy', 'default'), {
      apiVersion: 'networking.smh.solo.io/v1alpha2',
      kind: 'TrafficPolicy',
      metadata: { name: 'typed', namespace: 'default' },
      spec: { trafficShift: { destinations: [{ kubeService: { name: 'reviews', namespace: 'default' }, weight: 'most' }] } },
    });
    expect(bad.status).toBe(422);
    expect(bad.body.message).toContain('spec.trafficShift.destinations[0].weight');
    // Status is a subresource: a create carrying status stores none of it.
    const kind: PolicyKind = 'AccessPolicy';
    const created = await createPolicy(api, { apiVersion: 'networking.smh.solo.io/v1alpha2', kind, metadata: { name: 'with-status', namespace: 'default' }, spec: {}, status: { observedGeneration: 7 } } as PolicyDoc);
    expect(created.status).toBeUndefined();
    expect(created.metadata.generation).toBe(1);
  });
});

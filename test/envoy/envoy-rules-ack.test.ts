/**
 * Envoy's own load-time rules, on real Envoy: the compose mesh (examples/compose) with a policy set
 * at the edge of what Envoy accepts (RE2 programs of exactly 100 in a path, header, query and CORS
 * regex; header manipulation on names next to the protected ones) plus policies Envoy would refuse
 * (a look-ahead, setting host). crossmesh leaves the refused ones out; every guard-accepted resource
 * reaches the Envoys of each role, and they hold it with no NACK, no error and nothing warming.
 * The default mesh (examples/default) cannot run as routed pods (its gateways sit on loopback
 * addresses in different /24s); default-mesh-ack.test.ts runs each of its nodes' Envoys alone and
 * checks they ACK everything; ack.test.ts covers the compose mesh without these policies.
 */
import { afterAll, beforeAll, expect, it } from 'vitest';
import { re2Check } from '../../src/config/re2.js';
import { startMeshSim, type MeshSim } from '../../src/meshsim/index.js';
import { waitConverged } from '../../src/meshsim/verify.js';
import { COMPOSE_TOPOLOGY, envoySuite, policyDir } from './support.js';

/** Patterns whose RE2 program is exactly Envoy's limit (asserted below, so a different RE2 cannot hide it). */
const AT_LIMIT = { path: '/x{95}', header: '[0-9]{96}', query: '[a-z]{96}', origin: 'https://[a-z]{84}\\.com' };

const EDGE_POLICIES = `apiVersion: networking.smh.solo.io/v1alpha2
kind: TrafficPolicy
metadata: {name: edge-regexes, namespace: default}
spec:
  destinationSelector:
  - kubeServiceRefs: {services: [{name: reviews, namespace: default}]}
  httpRequestMatchers:
  - regex: '${AT_LIMIT.path}'
  - headers:
    - {name: x-id, value: '${AT_LIMIT.header}', regex: true}
    queryParameters:
    - {name: q, value: '${AT_LIMIT.query}', regex: true}
  corsPolicy:
    allowOrigins:
    - regex: '${AT_LIMIT.origin}'
    allowMethods: [GET]
  headerManipulation:
    appendRequestHeaders: {x-forwarded-host: edge, x-host: edge, x-authority: edge}
    removeRequestHeaders: [x-path, hostname]
    appendResponseHeaders: {x-status: edge}
    removeResponseHeaders: [x-envoy-upstream-service-time]
---
apiVersion: networking.smh.solo.io/v1alpha2
kind: TrafficPolicy
metadata: {name: refused-lookahead, namespace: default}
spec:
  destinationSelector:
  - kubeServiceRefs: {services: [{name: reviews, namespace: default}]}
  httpRequestMatchers:
  - regex: '/api/(?!internal)'
  requestTimeout: 3s
---
apiVersion: networking.smh.solo.io/v1alpha2
kind: TrafficPolicy
metadata: {name: refused-host, namespace: default}
spec:
  destinationSelector:
  - kubeServiceRefs: {services: [{name: details, namespace: default}]}
  headerManipulation:
    appendRequestHeaders: {host: elsewhere}
`;

envoySuite('Envoy ACKs every guard-accepted resource of the compose mesh with policies at the edge of its rules', () => {
  let mesh: MeshSim | undefined;
  const policies = policyDir();

  beforeAll(async () => {
    policies.apply('virtual-mesh.yaml');
    policies.write('edge.yaml', EDGE_POLICIES);
    // One pod per role per cluster that has it, callers and callees of reviews: enough to load every
    // kind of resource (the edge policies land in the callers' RDS), few enough to start quickly.
    const keep = /^(productpage|reviews-v[13]|details)-|east-west|ingress/;
    mesh = await startMeshSim({ topology: [COMPOSE_TOPOLOGY], policyDir: policies.dir, only: (p) => keep.test(p.workload) });
  }, 60_000);

  afterAll(async () => {
    await mesh?.close();
    policies.dispose();
  }, 30_000);

  it('the edge patterns are at the limit (100), so the run means what it says', () => {
    for (const p of Object.values(AT_LIMIT)) expect(re2Check(p).programSize).toBe(100);
  });

  it('every Envoy holds what crossmesh serves it, no NACK; the refused policies are listed, not served', async () => {
    const m = mesh!;
    expect(new Set([...m.pods.values()].map((p) => p.pod.role))).toEqual(new Set(['sidecar', 'gateway', 'ingress']));
    for (const p of m.pods.values()) await waitConverged(m.controlPlane, p.pod.nodeId, p.envoy.admin, 15_000);

    const report = await m.controlPlane.adminJson<{ refused: { policy: string }[] }>('/debug/policies');
    expect(report.refused.map((r) => r.policy)).toEqual(['default/refused-lookahead', 'default/refused-host']);

    // The edge resources did reach a caller of reviews.
    const caller = [...m.pods.values()].find((p) => p.pod.workload.startsWith('productpage'))!;
    const dump = JSON.stringify(await m.controlPlane.adminJson(`/debug/config_dump?node=${encodeURIComponent(caller.pod.nodeId)}`));
    for (const p of Object.values(AT_LIMIT)) expect(dump).toContain(JSON.stringify(p).slice(1, -1));
    expect(dump).toContain('x-forwarded-host');
    expect(dump).not.toContain('(?!internal)');
  }, 60_000);
});

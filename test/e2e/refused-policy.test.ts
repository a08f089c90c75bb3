/**
 * A policy Envoy would refuse, in a served mesh: `serve` starts, leaves that policy out, lists it
 * with file:line on `/debug/policies` (and `/debug/config`), and a sidecar's route configuration
 * over a real ADS stream carries the other policies and nothing Envoy would NACK.
 */
import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { defaultMeshDir } from '../../src/config/default-mesh.js';
import { meshLoader } from '../../src/cli/mesh-loader.js';
import { startControlPlane, type ControlPlane } from '../../src/cli/serve.js';
import { validateObject } from '../../src/translate/validate.js';
import { ROUTE_TYPE } from '../../src/xds/types.js';
import { testNode, XdsTestClient } from '../support/xds-client.js';

const NODE = 'cluster1/default/productpage-v1-0';

const reviews = (name: string, spec: string) => `---
apiVersion: networking.smh.solo.io/v1alpha2
kind: TrafficPolicy
metadata: {name: ${name}, namespace: default}
spec:
  destinationSelector:
  - kubeServiceRefs: {services: [{name: reviews, namespace: default, clusterName: cluster1}]}
${spec}`;

const POLICIES = [
  reviews('good-headers', `  headerManipulation:\n    appendRequestHeaders: {x-crossmesh-test: kept}\n`),
  reviews('lookahead', `  httpRequestMatchers:\n  - regex: "/api/(?!internal)"\n  requestTimeout: 7s\n`),
  reviews('set-host', `  httpRequestMatchers:\n  - prefix: /host\n  headerManipulation:\n    appendRequestHeaders: {host: elsewhere}\n`),
  reviews('drop-authority', `  httpRequestMatchers:\n  - prefix: /auth\n  headerManipulation:\n    removeRequestHeaders: [":authority"]\n`),
].join('');

function lineOf(text: string, marker: string): number {
  return text.split('\n').findIndex((l) => l.includes(marker)) + 1;
}

interface Refused {
  kind: string;
  policy: string;
  file: string;
  line: number;
  path: string;
  message: string;
  error: string;
}

describe('serve with a policy Envoy would refuse', () => {
  let dir: string;
  let file: string;
  let plane: ControlPlane;
  let client: XdsTestClient;

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'crossmesh-refused-'));
    cpSync(defaultMeshDir(), dir, { recursive: true });
    file = join(dir, 'zz-refused.yaml');
    writeFileSync(file, POLICIES);
    plane = await startControlPlane({ xdsPort: 0, adminPort: 0, debounceMs: 10, configPaths: [dir], loadMesh: meshLoader({ reloadDebounceMs: 50 }) });
    client = new XdsTestClient(plane.xdsAddress);
  });
  afterAll(async () => {
    client?.close();
    await plane?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('lists each refused policy with file:line on /debug/policies, and applies the others', async () => {
    const text = readFileSync(file, 'utf8');
    const body = (await (await fetch(`${plane.adminUrl}/debug/policies`)).json()) as { refused: Refused[]; policies: { policy: string }[] };
    expect(body.refused.map((r) => r.error)).toEqual([
      `${file}:${lineOf(text, '(?!internal)')}: TrafficPolicy lookahead: spec.httpRequestMatchers[0].regex: regex "/api/(?!internal)" is not valid RE2 (Envoy refuses it): invalid perl operator: (?!`,
      `${file}:${lineOf(text, 'host: elsewhere')}: TrafficPolicy set-host: spec.headerManipulation.appendRequestHeaders.host: Envoy refuses to add or set header "host" (":-prefixed or host headers may not be modified")`,
      `${file}:${lineOf(text, ':authority')}: TrafficPolicy drop-authority: spec.headerManipulation.removeRequestHeaders[0]: Envoy refuses to remove header ":authority" (":-prefixed or host headers may not be removed")`,
    ]);
    expect(body.refused.map((r) => r.policy)).toEqual(['default/lookahead', 'default/set-host', 'default/drop-authority']);
    const applied = body.policies.map((p) => p.policy);
    expect(applied).toContain('default/good-headers');
    expect(applied).toContain('crossmesh-system/simple');
    expect(applied).not.toContain('default/lookahead');

    const config = (await (await fetch(`${plane.adminUrl}/debug/config`)).json()) as { lastGood: { refused: string[] } };
    expect(config.lastGood.refused).toEqual(body.refused.map((r) => r.error));
  });

  it("serves the sidecar's route configuration with the good policy and nothing Envoy would NACK", async () => {
    const s = client.sotw();
    s.send({ typeUrl: ROUTE_TYPE, node: testNode(NODE), names: ['9080'] });
    const rds = await s.next();
    expect(rds.names).toEqual(['9080']);
    const rc = rds.resources[0]!.json as { virtual_hosts: { name: string; routes: { match: Record<string, unknown>; route?: { timeout?: unknown }; request_headers_to_add?: { header: { key: string; value: string } }[] }[] }[] };
    const vh = rc.virtual_hosts.find((v) => v.name === 'reviews.default.svc.cluster.local:9080')!;
    expect(vh.routes.flatMap((r) => r.request_headers_to_add ?? []).map((h) => `${h.header.key}=${h.header.value}`)).toEqual(['x-crossmesh-test=kept']);
    // None of the refused policies' matchers made it into a route.
    expect(JSON.stringify(rc)).not.toMatch(/\(\?!|"\/host"|"\/auth"/);
    // And the resource as served passes the guard's checks, RE2 and header rules included.
    expect(validateObject('envoy.config.route.v3.RouteConfiguration', rc as unknown as Record<string, unknown>)).toEqual([]);
    s.ack(rds, ['9080']);
  });
});

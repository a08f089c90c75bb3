/** Per-type services, grouping by resolver, and the authentication hook, over real streams. */
import * as grpc from '@grpc/grpc-js';
import { afterEach, describe, expect, it } from 'vitest';
import { startHarness, until, type Harness } from '../support/xds-harness.js';
import { identityMetadata, testNode } from '../support/xds-client.js';
import { CLUSTER_TYPE, ENDPOINT_TYPE, LISTENER_TYPE, ROUTE_TYPE, SECRET_TYPE, apiListener, cla, edsCluster, routeTo, tlsSecret } from '../support/xds-resources.js';

let h: Harness | undefined;
afterEach(async () => {
  await h?.close();
  h = undefined;
});

describe('per-type services', () => {
  it('serves CDS, EDS, LDS, RDS and SDS on their own SotW and delta RPCs (type_url may be omitted)', async () => {
    h = await startHarness();
    h.cache.setSnapshot('default', {
      [CLUSTER_TYPE]: { a: edsCluster('a') },
      [ENDPOINT_TYPE]: { a: cla('a', [['10.0.0.1', 80]]) },
      [LISTENER_TYPE]: { l: apiListener('l', 'r') },
      [ROUTE_TYPE]: { r: routeTo('r', '*', 'a') },
      [SECRET_TYPE]: { default: tlsSecret('default') },
    });
    const c = h.client();
    const cases: [string, string, string, string[]][] = [
      ['envoy.service.cluster.v3.ClusterDiscoveryService', 'Clusters', CLUSTER_TYPE, []],
      ['envoy.service.endpoint.v3.EndpointDiscoveryService', 'Endpoints', ENDPOINT_TYPE, ['a']],
      ['envoy.service.listener.v3.ListenerDiscoveryService', 'Listeners', LISTENER_TYPE, []],
      ['envoy.service.route.v3.RouteDiscoveryService', 'Routes', ROUTE_TYPE, ['r']],
      ['envoy.service.secret.v3.SecretDiscoveryService', 'Secrets', SECRET_TYPE, ['default']],
    ];
    for (const [svc, kind, type, names] of cases) {
      const s = c.sotw(`/${svc}/Stream${kind}`);
      s.send({ typeUrl: '', names, node: testNode(`sotw-${kind}`) });
      const r = await s.next();
      expect(r.type_url).toBe(type);
      expect(r.resources.length).toBe(1);
      const d = c.delta(`/${svc}/Delta${kind}`);
      d.send({ typeUrl: '', subscribe: names, node: testNode(`delta-${kind}`) });
      const dr = await d.next();
      expect(dr.type_url).toBe(type);
      expect(dr.resources.length).toBe(1);
    }
    const modes = h.server.proxies().map((p) => `${p.mode}:${p.service}`).sort();
    expect(modes).toEqual(['delta:cds', 'delta:eds', 'delta:lds', 'delta:rds', 'delta:sds', 'sotw:cds', 'sotw:eds', 'sotw:lds', 'sotw:rds', 'sotw:sds']);
  });
});

describe('grouping', () => {
  it('proxies in different groups get different sets; an unknown node gets nothing and an error on /debug', async () => {
    h = await startHarness({
      resolver: (node) => (node.id.startsWith('c1/') ? 'cluster1' : node.id.startsWith('c2/') ? 'cluster2' : new Error(`node ${node.id} names no known workload`)),
    });
    h.cache.setResources('cluster1', CLUSTER_TYPE, { one: edsCluster('one') });
    h.cache.setResources('cluster2', CLUSTER_TYPE, { two: edsCluster('two') });
    const c = h.client();
    const s1 = c.sotw();
    s1.send({ typeUrl: CLUSTER_TYPE, node: testNode('c1/default/a') });
    const s2 = c.sotw();
    s2.send({ typeUrl: CLUSTER_TYPE, node: testNode('c2/default/b') });
    const s3 = c.sotw();
    s3.send({ typeUrl: CLUSTER_TYPE, node: testNode('nowhere/x/y') });
    expect((await s1.next()).names).toEqual(['one']);
    const first2 = await s2.next();
    expect(first2.names).toEqual(['two']);
    s2.ack(first2);
    await s3.none(200);
    expect(s3.ended).toBe(false);
    const bad = h.server.proxies().find((p) => p.nodeId === 'nowhere/x/y')!;
    expect(bad.resolverError).toBe('node nowhere/x/y names no known workload');
    expect(bad.groups).toBeNull();
    // A change to cluster2 is not pushed to cluster1's proxy.
    h.cache.setResources('cluster2', CLUSTER_TYPE, { two: edsCluster('two', 4) });
    expect((await s2.next()).names).toEqual(['two']);
    await s1.none(150);
    // Once the resolver knows the node, it is configured without reconnecting.
    h.cache.setResolver((node) => (node.id.startsWith('c2/') ? 'cluster2' : 'cluster1'));
    expect((await s3.next()).names).toEqual(['one']);
  });

  it('a resolver that throws is treated like an Error result, never a crash', async () => {
    h = await startHarness({
      resolver: () => {
        throw new Error('resolver blew up');
      },
    });
    h.cache.setResources('default', CLUSTER_TYPE, { a: edsCluster('a') });
    const s = h.client().sotw();
    s.send({ typeUrl: CLUSTER_TYPE, node: testNode('n1') });
    await s.none(150);
    expect(h.server.proxies()[0]!.resolverError).toBe('resolver blew up');
  });

  it('per-type groups: secrets can come from a per-identity group', async () => {
    h = await startHarness({
      authenticate: async (call) => ({ id: String(call.metadata.get('x-identity')[0] ?? 'anonymous') }),
      resolver: (_node, identity) => ({ group: 'shared', byType: { [SECRET_TYPE]: `identity:${identity?.id}` } }),
    });
    h.cache.setResources('identity:alice', SECRET_TYPE, { default: tlsSecret('default', 'ALICE') });
    h.cache.setResources('identity:bob', SECRET_TYPE, { default: tlsSecret('default', 'BOB') });
    const c = h.client();
    const md = identityMetadata;
    const a = c.sotw(undefined, md('alice'));
    a.send({ typeUrl: SECRET_TYPE, names: ['default'], node: testNode('n-alice') });
    const b = c.sotw(undefined, md('bob'));
    b.send({ typeUrl: SECRET_TYPE, names: ['default'], node: testNode('n-bob') });
    const ra = await a.next();
    const rb = await b.next();
    expect((ra.resources[0]!.json.tls_certificate as { private_key: { inline_string: string } }).private_key.inline_string).toBe('ALICE');
    expect((rb.resources[0]!.json.tls_certificate as { private_key: { inline_string: string } }).private_key.inline_string).toBe('BOB');
    expect(h.server.proxies().map((p) => p.identity).sort()).toEqual(['alice', 'bob']);
  });
});

describe('authentication hook', () => {
  it('refuses a stream with UNAUTHENTICATED or PERMISSION_DENIED before serving anything', async () => {
    h = await startHarness({
      authenticate: async (call, node) => {
        const token = call.metadata.get('authorization')[0];
        if (!token) return new Error('no bearer token');
        if (token !== `Bearer ${node.id}`) return Object.assign(new Error(`token is not for ${node.id}`), { code: grpc.status.PERMISSION_DENIED });
        return { id: node.id };
      },
    });
    h.cache.setResources('default', CLUSTER_TYPE, { a: edsCluster('a') });
    const c = h.client();
    const none = c.sotw();
    none.send({ typeUrl: CLUSTER_TYPE, node: testNode('n1') });
    const st1 = await none.status;
    expect(st1.code).toBe(grpc.status.UNAUTHENTICATED);
    expect(st1.details).toContain('no bearer token');
    const wrongMd = new grpc.Metadata();
    wrongMd.set('authorization', 'Bearer someone-else');
    const wrong = c.delta(undefined, wrongMd);
    wrong.send({ typeUrl: CLUSTER_TYPE, node: testNode('n1') });
    expect((await wrong.status).code).toBe(grpc.status.PERMISSION_DENIED);
    const okMd = new grpc.Metadata();
    okMd.set('authorization', 'Bearer n1');
    const ok = c.sotw(undefined, okMd);
    ok.send({ typeUrl: CLUSTER_TYPE, node: testNode('n1') });
    expect((await ok.next()).names).toEqual(['a']);
    await until(() => h!.server.proxies().length === 1);
    expect(h.server.proxies()[0]!.identity).toBe('n1');
  });
});

describe('connection age', () => {
  it('ends aged connections, so a reconnecting proxy is authenticated again (and refused once its credentials are)', async () => {
    let valid = true;
    const seen: string[] = [];
    h = await startHarness({
      maxConnectionAgeMs: 400,
      maxConnectionAgeGraceMs: 200,
      authenticate: async (_call, node) => {
        seen.push(node.id);
        return valid ? { id: node.id } : new Error('token expired');
      },
    });
    h.cache.setResources('default', CLUSTER_TYPE, { a: edsCluster('a') });
    const c = h.client();
    const first = c.sotw();
    first.send({ typeUrl: CLUSTER_TYPE, node: testNode('n1') });
    const r = await first.next();
    first.ack(r);
    // The connection reaches its age: GOAWAY, then the grace period, then the stream ends.
    const ended = await first.status;
    expect(ended.code).toBe(grpc.status.UNAVAILABLE);
    // The proxy reconnects and is authenticated again; with the version it holds, nothing is re-sent.
    const second = c.sotw();
    second.send({ typeUrl: CLUSTER_TYPE, node: testNode('n1'), version: r.version_info });
    await second.none(150);
    expect(seen).toEqual(['n1', 'n1']);
    expect(second.ended).toBe(false);
    // Credentials that stopped being valid are refused at the next reconnection.
    valid = false;
    expect((await second.status).code).toBe(grpc.status.UNAVAILABLE);
    const third = c.sotw();
    third.send({ typeUrl: CLUSTER_TYPE, node: testNode('n1') });
    const refused = await third.status;
    expect(refused.code).toBe(grpc.status.UNAUTHENTICATED);
    expect(refused.details).toContain('token expired');
  });
});

/** The unary Fetch* RPCs over real gRPC: what they answer, and how they refuse. */
import * as grpc from '@grpc/grpc-js';
import { register } from 'prom-client';
import { afterEach, describe, expect, it } from 'vitest';
import { startHarness, type Harness } from '../support/xds-harness.js';
import { identityMetadata, testNode } from '../support/xds-client.js';
import { CLUSTER_TYPE, ENDPOINT_TYPE, SECRET_TYPE, cla, edsCluster, tlsSecret } from '../support/xds-resources.js';

const FETCH_CLUSTERS = '/envoy.service.cluster.v3.ClusterDiscoveryService/FetchClusters';
const FETCH_ENDPOINTS = '/envoy.service.endpoint.v3.EndpointDiscoveryService/FetchEndpoints';
const FETCH_SECRETS = '/envoy.service.secret.v3.SecretDiscoveryService/FetchSecrets';

let h: Harness | undefined;
afterEach(async () => {
  await h?.close();
  h = undefined;
});

function grpcError(p: Promise<unknown>): Promise<grpc.ServiceError> {
  return p.then(
    () => {
      throw new Error('the fetch succeeded');
    },
    (e: grpc.ServiceError) => e,
  );
}

async function fetchCount(type: string, code: string): Promise<number> {
  const m = (await register.getSingleMetricAsString('crossmesh_xds_fetches_total')).split('\n').find((l) => l.includes(`type="${type}"`) && l.includes(`code="${code}"`));
  return m ? Number(m.split(' ').pop()) : 0;
}

describe('Fetch* RPCs', () => {
  it('answer with the group\'s current resources, under the version a stream would send, and follow changes', async () => {
    h = await startHarness();
    h.cache.setSnapshot('default', {
      [CLUSTER_TYPE]: { a: edsCluster('a'), b: edsCluster('b') },
      [ENDPOINT_TYPE]: { a: cla('a', [['10.0.0.1', 80]]), b: cla('b', [['10.0.0.2', 80]]) },
    });
    const c = h.client();
    const okBefore = await fetchCount('cds', 'OK');
    const all = await c.fetch(FETCH_CLUSTERS, { typeUrl: '', node: testNode('poller') });
    expect(all.type_url).toBe(CLUSTER_TYPE);
    expect(all.names).toEqual(['a', 'b']);
    expect(all.nonce).toBe('');
    // The same set over a stream carries the same version_info.
    const s = c.sotw();
    s.send({ typeUrl: CLUSTER_TYPE, node: testNode('streamer') });
    expect((await s.next()).version_info).toBe(all.version_info);
    // Named resources only (a name that does not exist is left out); EDS by name.
    const one = await c.fetch(FETCH_ENDPOINTS, { typeUrl: ENDPOINT_TYPE, names: ['b', 'missing'], node: testNode('poller') });
    expect(one.names).toEqual(['b']);
    expect(JSON.stringify(one.resources[0]!.json)).toContain('10.0.0.2');
    // A change shows in the next fetch, with a new version; an unchanged set keeps its version.
    h.cache.setResources('default', ENDPOINT_TYPE, { a: cla('a', [['10.0.0.1', 80]]), b: cla('b', [['10.0.0.9', 80]]) });
    const changed = await c.fetch(FETCH_ENDPOINTS, { typeUrl: ENDPOINT_TYPE, names: ['b'], version: one.version_info, node: testNode('poller') });
    expect(JSON.stringify(changed.resources[0]!.json)).toContain('10.0.0.9');
    expect(changed.version_info).not.toBe(one.version_info);
    expect((await c.fetch(FETCH_ENDPOINTS, { typeUrl: ENDPOINT_TYPE, names: ['b'], node: testNode('poller') })).version_info).toBe(changed.version_info);
    expect(await fetchCount('cds', 'OK')).toBe(okBefore + 1);
  });

  it('refuse bad requests with INVALID_ARGUMENT naming what is wrong, and never crash the server', async () => {
    h = await startHarness();
    h.cache.setResources('default', CLUSTER_TYPE, { a: edsCluster('a') });
    const c = h.client();
    const wrongType = await grpcError(c.fetch(FETCH_CLUSTERS, { typeUrl: ENDPOINT_TYPE, node: testNode('n') }));
    expect(wrongType.code).toBe(grpc.status.INVALID_ARGUMENT);
    expect(wrongType.details).toContain('is not served by this RPC');
    const noNode = await grpcError(c.fetch(FETCH_CLUSTERS, { typeUrl: CLUSTER_TYPE }));
    expect(noNode.code).toBe(grpc.status.INVALID_ARGUMENT);
    expect(noNode.details).toBe('the request has no node.id');
    const garbage = await grpcError(c.fetch(FETCH_CLUSTERS, Buffer.from([0x12, 0x05, 0x01]))); // node field claims 5 bytes, 1 follows
    expect(garbage.code).toBe(grpc.status.INVALID_ARGUMENT);
    expect(garbage.details).toContain('does not decode as a DiscoveryRequest');
    const tooLong = await grpcError(c.fetch(FETCH_CLUSTERS, { typeUrl: CLUSTER_TYPE, names: ['x'.repeat(5000)], node: testNode('n') }));
    expect(tooLong.code).toBe(grpc.status.INVALID_ARGUMENT);
    // Still serving.
    expect((await c.fetch(FETCH_CLUSTERS, { typeUrl: CLUSTER_TYPE, node: testNode('n') })).names).toEqual(['a']);
  });

  it('authenticate and resolve like a stream: refused callers are listed, secrets only go to their identity', async () => {
    h = await startHarness({
      authenticate: async (call) => {
        const id = call.metadata.get('x-identity')[0];
        return id ? { id: String(id) } : new Error('no identity');
      },
      resolver: (node, identity) => (node.id.startsWith('lost/') ? new Error(`node ${node.id} names no known workload`) : { group: 'shared', byType: { [SECRET_TYPE]: `identity:${identity?.id}` } }),
    });
    h.cache.setResources('shared', CLUSTER_TYPE, { a: edsCluster('a') });
    h.cache.setResources('identity:alice', SECRET_TYPE, { default: tlsSecret('default', 'ALICE') });
    const c = h.client();
    const as = identityMetadata;
    const anonymous = await grpcError(c.fetch(FETCH_CLUSTERS, { typeUrl: CLUSTER_TYPE, node: testNode('n1') }));
    expect(anonymous.code).toBe(grpc.status.UNAUTHENTICATED);
    expect(anonymous.details).toContain('no identity');
    expect(h.server.refusals()[0]).toMatchObject({ nodeId: 'n1', code: 'UNAUTHENTICATED', reason: 'no identity' });
    const secret = await c.fetch(FETCH_SECRETS, { typeUrl: SECRET_TYPE, names: ['default'], node: testNode('n1') }, as('alice'));
    expect((secret.resources[0]!.json.tls_certificate as { private_key: { inline_string: string } }).private_key.inline_string).toBe('ALICE');
    // Bob's identity group holds nothing (not Alice's key).
    const bob = await grpcError(c.fetch(FETCH_SECRETS, { typeUrl: SECRET_TYPE, names: ['default'], node: testNode('n2') }, as('bob')));
    expect(bob.code).toBe(grpc.status.UNAVAILABLE);
    const lost = await grpcError(c.fetch(FETCH_CLUSTERS, { typeUrl: CLUSTER_TYPE, node: testNode('lost/x/y') }, as('alice')));
    expect(lost.code).toBe(grpc.status.NOT_FOUND);
    expect(lost.details).toBe('no configuration for node "lost/x/y": node lost/x/y names no known workload');
  });
});

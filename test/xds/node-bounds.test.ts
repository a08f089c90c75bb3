/** Issue 16, item 3: oversized node fields are refused with a short status before anything is stored, logged or authenticated (real streams). */
import * as grpc from '@grpc/grpc-js';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { log } from '../../src/log.js';
import type { Authenticator } from '../../src/xds/stream.js';
import { startHarness, type Harness } from '../support/xds-harness.js';
import { testNode } from '../support/xds-client.js';
import { CLUSTER_TYPE, edsCluster } from '../support/xds-resources.js';

let h: Harness;
afterEach(async () => {
  vi.restoreAllMocks();
  await h.close();
});

describe('node bounds', () => {
  it('a 3 MiB node.id gets INVALID_ARGUMENT with a short message; nothing of it reaches the authenticator, the refusals or the log', async () => {
    const authenticate = vi.fn<Authenticator>(async () => new Error('nobody is admitted'));
    h = await startHarness({ authenticate });
    const logged: string[] = [];
    for (const level of ['info', 'warn', 'error'] as const) vi.spyOn(log, level).mockImplementation(((...args: unknown[]) => void logged.push(JSON.stringify(args))) as never);
    const id = 'n'.repeat(3 * 1024 * 1024);
    const s = h.client().sotw();
    s.send({ typeUrl: CLUSTER_TYPE, node: testNode(id) });
    const st = await Promise.race([s.status, new Promise<never>((_, reject) => setTimeout(() => reject(new Error('no status within 5 s')), 5000))]);
    expect(st.code).toBe(grpc.status.INVALID_ARGUMENT);
    expect(st.details).toBe(`node refused: node.id is ${id.length} characters long (limit 1024)`);
    expect(authenticate).not.toHaveBeenCalled();
    expect(h.server.refusals()).toEqual([]);
    expect(logged.join('').length).toBeLessThan(10_000);
  });

  it('an id just under the limit is refused by the authenticator with a status the client receives', async () => {
    h = await startHarness({ authenticate: async () => new Error('unknown node') });
    const id = 'n'.repeat(1024);
    const s = h.client().delta();
    s.send({ typeUrl: CLUSTER_TYPE, node: testNode(id) });
    const st = await s.status;
    expect(st.code).toBe(grpc.status.UNAUTHENTICATED);
    expect(st.details.length).toBeLessThanOrEqual(1100);
    expect(st.details).toContain('bytes truncated');
    expect(h.server.refusals()[0]!.nodeId).toBe(id);
  });

  it('oversized metadata, locality and user agent are refused naming the field', async () => {
    h = await startHarness();
    h.cache.setResources('default', CLUSTER_TYPE, { a: edsCluster('a') });
    const cases: [Record<string, unknown>, string][] = [
      [testNode('n1', { blob: 'x'.repeat(70_000) }), 'node.metadata (as JSON) is 700'],
      [{ ...testNode('n1'), locality: { region: 'r'.repeat(300) } }, 'node.locality.region is 300 characters long (limit 256)'],
      [{ ...testNode('n1'), user_agent_name: 'u'.repeat(257) }, 'node.user_agent_name is 257 characters long (limit 256)'],
      [{ ...testNode('n1'), cluster: 'c'.repeat(2000) }, 'node.cluster is 2000 characters long (limit 1024)'],
    ];
    for (const [node, message] of cases) {
      const s = h.client().sotw();
      s.send({ typeUrl: CLUSTER_TYPE, node });
      const st = await s.status;
      expect(st.code).toBe(grpc.status.INVALID_ARGUMENT);
      expect(st.details).toContain(message);
    }
    const ok = h.client().sotw();
    ok.send({ typeUrl: CLUSTER_TYPE, node: testNode('n'.repeat(1024), { role: 'sidecar' }) });
    expect((await ok.next()).names).toEqual(['a']);
  });

  it('a unary Fetch with an oversized node.id is refused the same way', async () => {
    h = await startHarness();
    h.cache.setResources('default', CLUSTER_TYPE, { a: edsCluster('a') });
    const err = (await h.client().fetch('/envoy.service.cluster.v3.ClusterDiscoveryService/FetchClusters', { typeUrl: CLUSTER_TYPE, node: testNode('n'.repeat(200_000)) }).catch((e: unknown) => e)) as grpc.ServiceError;
    expect(err.code).toBe(grpc.status.INVALID_ARGUMENT);
    expect(err.details).toBe('node refused: node.id is 200000 characters long (limit 1024)');
  });
});

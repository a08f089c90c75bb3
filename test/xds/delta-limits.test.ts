/** Issue 16, item 1: a delta client cannot grow what the server holds without bound (real DeltaAggregatedResources streams). */
import * as grpc from '@grpc/grpc-js';
import { afterEach, describe, expect, it } from 'vitest';
import { SnapshotCache } from '../../src/xds/cache.js';
import { initialVersionBytesInUse } from '../../src/xds/delta-stream.js';
import { XdsServer } from '../../src/xds/server.js';
import type { StreamLimits } from '../../src/xds/stream.js';
import { XdsTestClient, testNode, type DeltaTestStream } from '../support/xds-client.js';
import { until } from '../support/xds-harness.js';
import { CLUSTER_TYPE, ENDPOINT_TYPE, LISTENER_TYPE, edsCluster } from '../support/xds-resources.js';

let cleanup: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const c of cleanup.reverse()) await c();
  cleanup = [];
});

async function start(limits?: Partial<StreamLimits>): Promise<{ cache: SnapshotCache; open(): DeltaTestStream }> {
  const cache = new SnapshotCache({ debounceMs: 5 });
  const server = new XdsServer({ cache, ...(limits ? { limits } : {}) });
  const port = await server.listen('127.0.0.1', 0);
  const client = new XdsTestClient(`127.0.0.1:${port}`);
  cleanup.push(async () => {
    client.close();
    await server.close(200);
    cache.close();
  });
  cache.setResources('default', CLUSTER_TYPE, { a: edsCluster('a') });
  return { cache, open: () => client.delta() };
}

const names = (prefix: string, n: number): string[] => Array.from({ length: n }, (_, i) => `${prefix}-${i}`);

/** A healthy stream on the same server still gets answers. */
async function stillServing(open: () => DeltaTestStream): Promise<void> {
  const s = open();
  s.send({ typeUrl: CLUSTER_TYPE, node: testNode('healthy') });
  expect((await s.next()).names).toEqual(['a']);
}

describe('delta subscription limits', () => {
  it('subscriptions beyond 50,000 names per stream end the stream with RESOURCE_EXHAUSTED naming the limit', async () => {
    const { open } = await start();
    const s = open();
    s.send({ typeUrl: ENDPOINT_TYPE, node: testNode('n1'), subscribe: names('a', 20_000) });
    s.send({ typeUrl: ENDPOINT_TYPE, subscribe: names('b', 20_000) });
    s.send({ typeUrl: ENDPOINT_TYPE, subscribe: names('c', 20_000) });
    const st = await s.status;
    expect(st.code).toBe(grpc.status.RESOURCE_EXHAUSTED);
    expect(st.details).toContain('maxSubscribedNamesPerStream = 50000');
    expect(st.details).toContain('60000 resource names');
    await stillServing(open);
  });

  it('re-subscribing names already held does not count twice; unsubscribing frees room', async () => {
    const { cache, open } = await start({ maxSubscribedNamesPerStream: 1000 });
    cache.setResources('default', ENDPOINT_TYPE, {});
    const s = open();
    s.send({ typeUrl: ENDPOINT_TYPE, node: testNode('n1'), subscribe: names('a', 800) });
    s.send({ typeUrl: ENDPOINT_TYPE, subscribe: names('a', 800) });
    s.send({ typeUrl: ENDPOINT_TYPE, unsubscribe: names('a', 500) });
    s.send({ typeUrl: ENDPOINT_TYPE, subscribe: names('b', 600) });
    // 900 held: within the limit, the stream stays open and answers (the names do not exist: removed).
    const r = await s.next();
    expect(r.type_url).toBe(ENDPOINT_TYPE);
    expect(s.ended).toBe(false);
    s.send({ typeUrl: ENDPOINT_TYPE, subscribe: names('c', 101) });
    const st = await s.status;
    expect(st.code).toBe(grpc.status.RESOURCE_EXHAUSTED);
    expect(st.details).toContain('1001 resource names (limit maxSubscribedNamesPerStream = 1000)');
  });

  it('initial_resource_versions beyond 8 MiB per stream (over several types) is refused', async () => {
    const { open } = await start();
    const s = open();
    // Each request stays under the 4 MiB message limit; three types together pass 8 MiB.
    const initial = (prefix: string) => Object.fromEntries(names(`${prefix}-${'x'.repeat(400)}`, 9_000).map((n) => [n, '0123456789abcdef']));
    s.send({ typeUrl: CLUSTER_TYPE, node: testNode('n1'), initial: initial('c') });
    s.send({ typeUrl: ENDPOINT_TYPE, initial: initial('e') });
    s.send({ typeUrl: LISTENER_TYPE, initial: initial('l') });
    const st = await s.status;
    expect(st.code).toBe(grpc.status.RESOURCE_EXHAUSTED);
    expect(st.details).toContain(`limit maxInitialVersionBytesPerStream = ${8 * 1024 * 1024}`);
    await stillServing(open);
  });

  it('initial_resource_versions over all streams of the process is bounded, and a closed stream returns its share', async () => {
    const before = initialVersionBytesInUse();
    const { open } = await start({ maxInitialVersionBytesPerProcess: before + 100_000 });
    const initial = (prefix: string) => Object.fromEntries(names(prefix, 3000).map((n) => [n, '0123456789abcdef'])); // ~60 KB
    const first = open();
    first.send({ typeUrl: CLUSTER_TYPE, node: testNode('n1'), initial: initial('first') });
    expect((await first.next()).type_url).toBe(CLUSTER_TYPE);
    const second = open();
    second.send({ typeUrl: CLUSTER_TYPE, node: testNode('n2'), initial: initial('second') });
    const st = await second.status;
    expect(st.code).toBe(grpc.status.RESOURCE_EXHAUSTED);
    expect(st.details).toContain('limit maxInitialVersionBytesPerProcess');
    expect(st.details).toContain('retry later');
    first.close();
    await until(() => initialVersionBytesInUse() === before, 3000, 'the closed stream to return its bytes');
    const third = open();
    third.send({ typeUrl: CLUSTER_TYPE, node: testNode('n3'), initial: initial('third') });
    expect((await third.next()).type_url).toBe(CLUSTER_TYPE);
  });
});

/** The snapshot cache on its own: content versions, shared bytes, readiness, debounce, bad resources. */
import { afterEach, describe, expect, it } from 'vitest';
import { SnapshotCache, type GroupChange } from '../../src/xds/cache.js';
import { encodeResource } from '../../src/xds/codec.js';
import { CLUSTER_TYPE, ENDPOINT_TYPE, cla, edsCluster } from '../support/xds-resources.js';

const caches: SnapshotCache[] = [];
function newCache(debounceMs = 20): SnapshotCache {
  const c = new SnapshotCache({ debounceMs });
  caches.push(c);
  return c;
}
afterEach(() => {
  for (const c of caches.splice(0)) c.close();
});

describe('SnapshotCache', () => {
  it('versions are content hashes: same content gives the same version in another cache (restart/replica)', () => {
    const a = newCache();
    const b = newCache();
    a.setResources('g', CLUSTER_TYPE, { x: edsCluster('x') });
    b.setResources('other', CLUSTER_TYPE, { x: edsCluster('x') });
    const va = a.get('g', CLUSTER_TYPE).resources.get('x')!.version;
    expect(b.get('other', CLUSTER_TYPE).resources.get('x')!.version).toBe(va);
    a.setResources('g', CLUSTER_TYPE, { x: edsCluster('x', 2) });
    expect(a.get('g', CLUSTER_TYPE).resources.get('x')!.version).not.toBe(va);
  });

  it('keeps the same encoded bytes object when a resource is set again unchanged', () => {
    const c = newCache();
    c.setResources('g', CLUSTER_TYPE, { x: edsCluster('x') });
    const before = c.get('g', CLUSTER_TYPE).resources.get('x')!;
    c.setResources('g', CLUSTER_TYPE, { x: edsCluster('x'), y: edsCluster('y') });
    expect(c.get('g', CLUSTER_TYPE).resources.get('x')).toBe(before);
  });

  it('a type is not ready until its first full set; upserts do not make it ready', () => {
    const c = newCache();
    expect(c.get('g', CLUSTER_TYPE).ready).toBe(false);
    c.upsertResources('g', CLUSTER_TYPE, { x: edsCluster('x') });
    expect(c.get('g', CLUSTER_TYPE).ready).toBe(false);
    expect(c.isReady()).toBe(false);
    c.setResources('g', CLUSTER_TYPE, {});
    expect(c.get('g', CLUSTER_TYPE).ready).toBe(true);
    expect(c.isReady()).toBe(true);
  });

  it('debounces changes into one batch with the changed names only', async () => {
    const c = newCache(30);
    const batches: GroupChange[][] = [];
    c.onChange((b) => batches.push([...b]));
    c.setResources('g', ENDPOINT_TYPE, { a: cla('a', [['10.0.0.1', 1]]), b: cla('b', [['10.0.0.2', 1]]) });
    c.upsertResources('g', ENDPOINT_TYPE, { a: cla('a', [['10.0.0.3', 1]]) });
    c.setResources('g', CLUSTER_TYPE, { a: edsCluster('a') });
    expect(batches).toEqual([]);
    await new Promise((r) => setTimeout(r, 80));
    expect(batches.length).toBe(1);
    const eds = batches[0]!.find((ch) => ch.typeUrl === ENDPOINT_TYPE)!;
    expect([...eds.names].sort()).toEqual(['a', 'b']);
    // Setting identical content is not a change.
    c.setResources('g', CLUSTER_TYPE, { a: edsCluster('a') });
    await new Promise((r) => setTimeout(r, 80));
    expect(batches.length).toBe(1);
  });

  it('a resource that does not encode is refused with its name and the field, and the last good set stays', () => {
    const c = newCache();
    c.setResources('g', CLUSTER_TYPE, { ok: edsCluster('ok') });
    expect(() => c.setResources('g', CLUSTER_TYPE, { bad: { name: 'bad', connectTimeout: { seconds: 1 } } })).toThrow(
      /Cluster "bad": unknown field "connectTimeout"/,
    );
    expect([...c.get('g', CLUSTER_TYPE).resources.keys()]).toEqual(['ok']);
  });

  it('checks fields inside nested Any by their @type', () => {
    expect(() =>
      encodeResource(CLUSTER_TYPE, 'x', {
        name: 'x',
        transport_socket: { name: 'tls', typed_config: { '@type': 'type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.UpstreamTlsContext', snii: 'a' } },
      }),
    ).toThrow(/unknown field "transport_socket.typed_config.snii"/);
  });
});

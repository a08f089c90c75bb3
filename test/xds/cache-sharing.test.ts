/**
 * Snapshot cache sets are copy-on-write (a set read before a change never changes), upserts cost
 * only what changed, and equal content is one EncodedResource (one Buffer) across groups.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { encodedCount } from '../../src/xds/codec.js';
import { SnapshotCache, type GroupChange } from '../../src/xds/cache.js';
import { CLUSTER_TYPE, ENDPOINT_TYPE } from '../../src/xds/types.js';

function cla(name: string, port: number): object {
  return { cluster_name: name, endpoints: [{ lb_endpoints: [{ endpoint: { address: { socket_address: { address: '10.0.0.1', port_value: port } } } }] }] };
}

let cache: SnapshotCache;
afterEach(() => cache.close());

describe('SnapshotCache sets', () => {
  it('are copy-on-write: a set read before an upsert or delete is unchanged by it', () => {
    cache = new SnapshotCache({ debounceMs: 1 });
    const input = new Map(Array.from({ length: 2000 }, (_, i) => [`c${i}`, cla(`c${i}`, 80)] as const));
    cache.setResources('g', ENDPOINT_TYPE, input);
    const before = cache.get('g', ENDPOINT_TYPE).resources;
    const old = before.get('c7')!;
    cache.upsertResources('g', ENDPOINT_TYPE, { c7: cla('c7', 81), extra: cla('extra', 80) });
    cache.deleteResources('g', ENDPOINT_TYPE, ['c8']);
    const after = cache.get('g', ENDPOINT_TYPE).resources;
    expect(before.get('c7')).toBe(old);
    expect(before.has('extra')).toBe(false);
    expect(before.has('c8')).toBe(true);
    expect(before.size).toBe(2000);
    expect(after.get('c7')!.version).not.toBe(old.version);
    expect(after.has('extra')).toBe(true);
    expect(after.has('c8')).toBe(false);
    expect(after.size).toBe(2000);
    // Everything not touched is the very same object in both.
    expect(after.get('c1500')).toBe(before.get('c1500'));
  });

  it('reports only the names an upsert changed, and re-encodes only those', () => {
    cache = new SnapshotCache({ debounceMs: 1 });
    const batches: GroupChange[][] = [];
    cache.onChange((b) => batches.push([...b]));
    const objects = Array.from({ length: 500 }, (_, i) => [`c${i}`, cla(`c${i}`, 80)] as const);
    cache.setResources('g', ENDPOINT_TYPE, new Map(objects));
    cache.flush();
    batches.length = 0;
    const encodedBefore = encodedCount();
    // The same objects again (shared by the translator) plus one changed and one equal-content copy.
    cache.upsertResources('g', ENDPOINT_TYPE, new Map([...objects.slice(0, 100), ['c3', cla('c3', 99)], ['c4', cla('c4', 80)]]));
    expect(encodedCount() - encodedBefore).toBe(2);
    cache.flush();
    expect(batches.flat().map((c) => [...c.names])).toEqual([['c3']]);
  });

  it('gives two groups with an identical resource the same EncodedResource and Buffer, even from different objects', () => {
    cache = new SnapshotCache({ debounceMs: 1 });
    const cluster = () => ({ name: 'svc', type: 'EDS', eds_cluster_config: { eds_config: { ads: {} } }, connect_timeout: { seconds: 10 } });
    cache.setResources('a', CLUSTER_TYPE, { svc: cluster() });
    cache.setResources('b', CLUSTER_TYPE, { svc: cluster() });
    const a = cache.get('a', CLUSTER_TYPE).resources.get('svc')!;
    const b = cache.get('b', CLUSTER_TYPE).resources.get('svc')!;
    expect(b).toBe(a);
    expect(b.any).toBe(a.any);
    // Different content under the same name stays distinct.
    cache.setResources('c', CLUSTER_TYPE, { svc: { ...cluster(), connect_timeout: { seconds: 11 } } });
    expect(cache.get('c', CLUSTER_TYPE).resources.get('svc')!.any).not.toBe(a.any);
  });
});

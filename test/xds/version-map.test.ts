import { describe, expect, it } from 'vitest';
import { HeldVersions } from '../../src/xds/sotw-body.js';
import { VersionMap } from '../../src/xds/version-map.js';

describe('VersionMap digest', () => {
  it('names the set of pairs whatever the order and history of changes', () => {
    const a = new VersionMap([
      ['c1', 'v1'],
      ['c2', 'v2'],
      ['c3', 'v3'],
    ]);
    const b = new VersionMap();
    b.set('c3', 'old');
    b.set('c2', 'v2');
    b.set('gone', 'x');
    b.set('c1', 'v1');
    b.set('c3', 'v3');
    b.delete('gone');
    expect(b.digest()).toBe(a.digest());
    expect(a.digest()).toMatch(/^[0-9a-f]{16}$/);
  });

  it('changes when a version, a name or the membership changes', () => {
    const base = new VersionMap([
      ['c1', 'v1'],
      ['c2', 'v2'],
    ]);
    const d = base.digest();
    const seen = new Set([d]);
    for (const m of [new VersionMap([['c1', 'v1']]), new VersionMap([['c1', 'v1'], ['c2', 'v9']]), new VersionMap([['c1', 'v1'], ['c9', 'v2']]), new VersionMap([['c1v', '1'], ['c2', 'v2']])]) {
      seen.add(m.digest());
    }
    expect(seen.size).toBe(5);
    base.delete('missing');
    expect(base.digest()).toBe(d);
    base.clear();
    expect(base.digest()).toBe(new VersionMap().digest());
  });

  it('a shared HeldVersions keeps its digest and refuses changes', () => {
    const held = new HeldVersions([['c1', 'v1']]);
    expect(held.digest()).toBe(new VersionMap([['c1', 'v1']]).digest());
    expect(() => held.set('c2', 'v2')).toThrow(/shared between streams/);
    expect(() => held.delete()).toThrow(/shared between streams/);
    expect(new VersionMap(held).digest()).toBe(held.digest());
  });
});

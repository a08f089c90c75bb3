import { expect, test } from 'vitest';
import { PersistentMap } from '../../src/model/persistent-map.js';

test('edits produce a new map and leave the old one untouched', () => {
  const entries = Array.from({ length: 5000 }, (_, i): [string, number] => [`k${i}`, i]);
  const a = PersistentMap.from(entries);
  expect(a.size).toBe(5000);
  const d = a.edit();
  d.set('k1', -1);
  d.set('new', 42);
  d.delete('k2');
  d.delete('absent');
  const b = d.done();
  expect([a.get('k1'), a.has('new'), a.get('k2'), a.size]).toEqual([1, false, 2, 5000]);
  expect([b.get('k1'), b.get('new'), b.has('k2'), b.size]).toEqual([-1, 42, false, 5000]);
  expect(new Map(b).size).toBe(5000);
  expect([...b.keys()].length).toBe(5000);
  let sum = 0;
  b.forEach((v) => (sum += v));
  expect(sum).toBe(entries.reduce((s, [, v]) => s + v, 0) - 1 - 2 - 1 + 42);
  expect(b.toJSON().new).toBe(42);
});

test('an edit that writes nothing returns the same map; a finished editor refuses writes', () => {
  const a = PersistentMap.from<string, number>([['x', 1]]);
  const d = a.edit();
  d.delete('y');
  expect(d.done()).toBe(a);
  const e = a.edit();
  e.done();
  expect(() => e.set('x', 2)).toThrow(/after done/);
  expect(a.with('y', 2).without('x').toJSON()).toEqual({ y: 2 });
});

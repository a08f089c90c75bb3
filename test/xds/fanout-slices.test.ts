/**
 * One cache batch that reaches many streams is written a slice of streams per turn of the event
 * loop: the loop is never held for the whole fan-out (the soak benchmark saw seconds per batch at
 * 5,000 streams), and every stream still receives the change.
 */
import { afterAll, beforeAll, expect, it } from 'vitest';
import { startHarness, type Harness } from '../support/xds-harness.js';
import type { XdsTestClient } from '../support/xds-client.js';
import { openAckedEdsStreams } from '../support/many-streams.js';
import { ENDPOINT_TYPE, cla } from '../support/xds-resources.js';

const N = 600;
const PER_CONNECTION = 100;
let h: Harness;
const clients: XdsTestClient[] = [];

beforeAll(async () => {
  h = await startHarness({ debounceMs: 20 });
});
afterAll(async () => {
  for (const c of clients) c.close();
  await h.close();
});

it(`a batch for ${N} streams lets the event loop run before half of them are written, and reaches all`, { timeout: 60_000 }, async () => {
  h.cache.setResources('default', ENDPOINT_TYPE, { svc: cla('svc', [['10.0.0.1', 8080]]) });
  const { streams, first } = await openAckedEdsStreams(h, N, PER_CONNECTION, 'svc', clients);

  // This listener runs right after the server's, in the same turn: what is written by then was written without a break.
  const before = new Map(h.server.activeStreams().map((s) => [s, s.responsesWritten]));
  let writtenWithoutBreak = -1;
  const off = h.cache.onChange(() => {
    writtenWithoutBreak = h.server.activeStreams().filter((s) => s.responsesWritten > before.get(s)!).length;
  });
  h.cache.setResources('default', ENDPOINT_TYPE, { svc: cla('svc', [['10.0.0.2', 8080]]) });
  const second = await Promise.all(streams.map((s) => s.next(20_000)));
  off();

  expect(writtenWithoutBreak).toBeGreaterThan(0);
  expect(writtenWithoutBreak).toBeLessThanOrEqual(N / 2);
  expect(new Set(second.map((r) => r.version_info)).size).toBe(1);
  expect(second[0]!.version_info).not.toBe(first[0]!.version_info);
  expect(h.server.activeStreams().every((s) => s.responsesWritten === before.get(s)! + 1)).toBe(true);
});

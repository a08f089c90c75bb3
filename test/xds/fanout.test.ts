/** 1,000 concurrent ADS streams on real HTTP/2 connections all receive one endpoint update. */
import { afterAll, beforeAll, expect, it } from 'vitest';
import { startHarness, type Harness } from '../support/xds-harness.js';
import type { XdsTestClient } from '../support/xds-client.js';
import { openAckedEdsStreams } from '../support/many-streams.js';
import { ENDPOINT_TYPE, cla } from '../support/xds-resources.js';

const N = 1000;
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

it(`${N} concurrent streams all receive one update`, { timeout: 60_000 }, async () => {
  h.cache.setResources('default', ENDPOINT_TYPE, { svc: cla('svc', [['10.0.0.1', 8080]]) });
  const { streams, first } = await openAckedEdsStreams(h, N, PER_CONNECTION, 'svc', clients);
  h.cache.setResources('default', ENDPOINT_TYPE, { svc: cla('svc', [['10.0.0.2', 8080]]) });
  const second = await Promise.all(streams.map((s) => s.next(20_000)));
  const versions = new Set(second.map((r) => r.version_info));
  expect(versions.size).toBe(1);
  expect([...versions][0]).not.toBe(first[0]!.version_info);
  for (const r of second) {
    const ep = (r.resources[0]!.json.endpoints as { lb_endpoints: { endpoint: { address: { socket_address: { address: string } } } }[] }[])[0]!;
    expect(ep.lb_endpoints[0]!.endpoint.address.socket_address.address).toBe('10.0.0.2');
  }
  expect(h.server.proxies().length).toBe(N);
});

/** 1,000 concurrent ADS streams on real HTTP/2 connections all receive one endpoint update. */
import { afterAll, beforeAll, expect, it } from 'vitest';
import { startHarness, until, type Harness } from '../support/xds-harness.js';
import { XdsTestClient, testNode, type SotwTestStream } from '../support/xds-client.js';
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
  const streams: SotwTestStream[] = [];
  for (let i = 0; i < N; i++) {
    if (i % PER_CONNECTION === 0) clients.push(new XdsTestClient(h.address, { 'grpc.use_local_subchannel_pool': 1, 'grpc.channel_id': i } as never));
    const s = clients[clients.length - 1]!.sotw();
    s.send({ typeUrl: ENDPOINT_TYPE, names: ['svc'], node: testNode(`c1/default/app-${i}`) });
    streams.push(s);
  }
  const first = await Promise.all(streams.map((s) => s.next(20_000)));
  for (let i = 0; i < N; i++) streams[i]!.ack(first[i]!, ['svc']);
  await until(() => h.server.proxies().filter((p) => p.types.eds?.ackedVersion === first[0]!.version_info).length === N, 20_000, 'all ACKs');
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

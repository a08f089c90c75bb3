/** Malformed requests and misbehaving clients: each gets an error or is ignored; other streams keep working. */
import * as http2 from 'node:http2';
import * as grpc from '@grpc/grpc-js';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { startHarness, until, type Harness } from '../support/xds-harness.js';
import { ADS_SOTW, testNode, type SotwTestStream } from '../support/xds-client.js';
import { CLUSTER_TYPE, LISTENER_TYPE, edsCluster } from '../support/xds-resources.js';
import { messageType } from '../../src/xds/protos.js';

let h: Harness;
let healthy: SotwTestStream;

beforeEach(async () => {
  h = await startHarness({ maxReceiveMessageBytes: 64 * 1024 });
  h.cache.setResources('default', CLUSTER_TYPE, { a: edsCluster('a') });
  healthy = h.client().sotw();
  healthy.send({ typeUrl: CLUSTER_TYPE, node: testNode('healthy') });
  healthy.ack(await healthy.next());
});
afterEach(async () => {
  await h.close();
});

/** The healthy stream still receives updates. */
async function otherStreamsUnaffected(): Promise<void> {
  h.cache.upsertResources('default', CLUSTER_TYPE, { [`x${Date.now()}`]: edsCluster('x') });
  const r = await healthy.next();
  expect(r.type_url).toBe(CLUSTER_TYPE);
  healthy.ack(r);
}

describe('bad input', () => {
  it('a request for an unknown type URL on ADS is ignored; the stream keeps serving known types', async () => {
    const s = h.client().sotw();
    s.send({ typeUrl: 'type.googleapis.com/envoy.config.nonsense.v3.Thing', node: testNode('n1') });
    await s.none(150);
    s.send({ typeUrl: CLUSTER_TYPE });
    expect((await s.next()).type_url).toBe(CLUSTER_TYPE);
    await otherStreamsUnaffected();
  });

  it('a type URL that does not match a per-type service ends that stream with INVALID_ARGUMENT', async () => {
    const s = h.client().sotw('/envoy.service.cluster.v3.ClusterDiscoveryService/StreamClusters');
    s.send({ typeUrl: LISTENER_TYPE, node: testNode('n1') });
    const st = await s.status;
    expect(st.code).toBe(grpc.status.INVALID_ARGUMENT);
    expect(st.details).toContain('serves only');
    await otherStreamsUnaffected();
  });

  it('a first request without node ends the stream with INVALID_ARGUMENT', async () => {
    const s = h.client().sotw();
    s.send({ typeUrl: CLUSTER_TYPE });
    const st = await s.status;
    expect(st.code).toBe(grpc.status.INVALID_ARGUMENT);
    expect(st.details).toContain('node');
    await otherStreamsUnaffected();
  });

  it('bytes that are not a DiscoveryRequest end the stream with INVALID_ARGUMENT', async () => {
    const s = h.client().sotw();
    s.sendRaw(Buffer.from([0x12, 0x05, 0x01])); // node field claims 5 bytes, 1 follows
    const st = await s.status;
    expect(st.code).toBe(grpc.status.INVALID_ARGUMENT);
    expect(st.details).toContain('malformed DiscoveryRequest');
    await otherStreamsUnaffected();
  });

  it('an oversized request ends the stream with RESOURCE_EXHAUSTED', async () => {
    const s = h.client().sotw();
    s.send({ typeUrl: CLUSTER_TYPE, node: testNode('n1'), names: [Array.from({ length: 70_000 }, () => 'x').join('')] });
    const st = await s.status;
    expect(st.code).toBe(grpc.status.RESOURCE_EXHAUSTED);
    await otherStreamsUnaffected();
  });

  it('garbage resource names are treated as names that do not exist; absurd ones are refused', async () => {
    const s = h.client().sotw();
    const junk = ['\u0000\u0001', '../../etc/passwd', '💥'.repeat(50), ''];
    s.send({ typeUrl: CLUSTER_TYPE, node: testNode('n1'), names: junk });
    const r = await s.next();
    // Full-state type with explicit names: only existing names are sent; junk matches nothing.
    expect(r.resources).toEqual([]);
    const long = h.client().sotw();
    long.send({ typeUrl: CLUSTER_TYPE, node: testNode('n2'), names: ['y'.repeat(5000)] });
    const st = await long.status;
    expect(st.code).toBe(grpc.status.INVALID_ARGUMENT);
    expect(st.details).toContain('limit');
    await otherStreamsUnaffected();
  });

  it('a client that stops reading (and so answering) does not make the server queue every push', async () => {
    // Large responses (~400 KiB of clusters) fill HTTP/2 flow-control windows quickly.
    const big = (v: number) => Object.fromEntries(Array.from({ length: 2000 }, (_, i) => [`cluster-${i}-${'p'.repeat(150)}`, edsCluster(`c${i}`, v)]));
    h.cache.setResources('default', CLUSTER_TYPE, big(1));
    const session = http2.connect(`http://${h.address}`);
    const req = session.request({ ':method': 'POST', ':path': ADS_SOTW, 'content-type': 'application/grpc', te: 'trailers' });
    const t = messageType('envoy.service.discovery.v3.DiscoveryRequest');
    const body = Buffer.from(t.encode(t.fromObject({ type_url: CLUSTER_TYPE, node: testNode('slow-reader') })).finish());
    const frame = Buffer.alloc(5 + body.length);
    frame.writeUInt32BE(body.length, 1);
    body.copy(frame, 5);
    req.write(frame);
    req.pause(); // never read
    try {
      await until(() => h.server.proxies().some((p) => p.nodeId === 'slow-reader'), 3000, 'slow reader admitted');
      for (let v = 2; v <= 40; v++) {
        h.cache.setResources('default', CLUSTER_TYPE, big(v));
        h.cache.flush();
        await new Promise((r) => setImmediate(r));
      }
      await new Promise((r) => setTimeout(r, 200));
      const slow = h.server.activeStreams().find((s) => s.node?.id === 'slow-reader')!;
      // 40 versions were published; the stream that never answered its first response was sent
      // only that one and holds the rest as "dirty".
      expect(slow.responsesWritten).toBe(1);
      expect(slow.answeredLatest(CLUSTER_TYPE)).toBe(false);
      // The healthy reader got the latest version.
      let latest = await healthy.next();
      while (healthy.pending > 0) latest = await healthy.next();
      expect(latest.names.length).toBe(2000);
    } finally {
      req.close();
      session.destroy();
    }
  });
});

/** State-of-the-world protocol rules over real ADS streams on 127.0.0.1. */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { startHarness, until, type Harness } from '../support/xds-harness.js';
import { testNode, type SotwTestStream } from '../support/xds-client.js';
import { CLUSTER_TYPE, ENDPOINT_TYPE, LISTENER_TYPE, ROUTE_TYPE, SECRET_TYPE, apiListener, cla, edsCluster, routeTo, tlsSecret } from '../support/xds-resources.js';

let h: Harness;
beforeEach(async () => {
  h = await startHarness();
});
afterEach(async () => {
  await h.close();
});

function open(): SotwTestStream {
  return h.client().sotw();
}

describe('SotW ADS', () => {
  it('answers a wildcard CDS request with the full set, a version and a nonce', async () => {
    h.cache.setResources('default', CLUSTER_TYPE, { a: edsCluster('a'), b: edsCluster('b') });
    const s = open();
    s.send({ typeUrl: CLUSTER_TYPE, node: testNode('n1') });
    const r = await s.next();
    expect(r.type_url).toBe(CLUSTER_TYPE);
    expect(r.names).toEqual(['a', 'b']);
    expect(r.version_info).toMatch(/^[0-9a-f]{16}$/);
    expect(r.nonce).not.toBe('');
    expect(r.resources[0]!.json.type).toBe('EDS');
  });

  it('never answers a wildcard LDS/CDS with an empty set before the type is loaded', async () => {
    const s = open();
    s.send({ typeUrl: LISTENER_TYPE, node: testNode('n1') });
    await s.none(200);
    h.cache.setResources('default', LISTENER_TYPE, {});
    const r = await s.next();
    expect(r.resources).toEqual([]);
    expect(r.version_info).not.toBe('');
  });

  it('ignores a request with a stale nonce and processes the one answering the latest', async () => {
    h.cache.setResources('default', ENDPOINT_TYPE, { a: cla('a', [['10.0.0.1', 80]]), b: cla('b', [['10.0.0.2', 80]]) });
    const s = open();
    s.send({ typeUrl: ENDPOINT_TYPE, names: ['a'], node: testNode('n1') });
    const r1 = await s.next();
    s.ack(r1, ['a']);
    h.cache.setResources('default', ENDPOINT_TYPE, { a: cla('a', [['10.0.0.9', 80]]), b: cla('b', [['10.0.0.2', 80]]) });
    const r2 = await s.next();
    expect(r2.nonce).not.toBe(r1.nonce);
    // A request carrying the old nonce asks for b: stale, so it must be ignored.
    s.send({ typeUrl: ENDPOINT_TYPE, names: ['a', 'b'], nonce: r1.nonce, version: r1.version_info });
    await s.none(200);
    // The same request answering the latest nonce is honoured.
    s.send({ typeUrl: ENDPOINT_TYPE, names: ['a', 'b'], nonce: r2.nonce, version: r2.version_info });
    const r3 = await s.next();
    expect(r3.names).toEqual(['a', 'b']);
  });

  it('accepts any nonce before anything was sent on the stream (reconnect)', async () => {
    h.cache.setResources('default', CLUSTER_TYPE, { a: edsCluster('a') });
    const s = open();
    s.send({ typeUrl: CLUSTER_TYPE, node: testNode('n1'), nonce: 'from-an-old-stream', version: 'old' });
    const r = await s.next();
    expect(r.names).toEqual(['a']);
  });

  it('records a NACK (error_detail decides, not the version) and does not resend the same content', async () => {
    h.cache.setResources('default', CLUSTER_TYPE, { a: edsCluster('a') });
    const s = open();
    s.send({ typeUrl: CLUSTER_TYPE, node: testNode('nack-node') });
    const r1 = await s.next();
    // NACK carrying the *new* version: still a NACK because error_detail is set.
    s.send({ typeUrl: CLUSTER_TYPE, nonce: r1.nonce, version: r1.version_info, error: 'cluster a: bad connect_timeout' });
    await s.none(300);
    const [p] = h.server.proxies();
    expect(p!.types.cds!.lastNack).toMatchObject({ error: 'cluster a: bad connect_timeout', version: r1.version_info, nonce: r1.nonce });
    expect(p!.types.cds!.ackedVersion).toBe('');
    // An unrelated change in another type does not trigger a CDS resend either.
    h.cache.setResources('default', LISTENER_TYPE, { l: apiListener('l', 'r') });
    await s.none(200);
    expect(h.server.activeStreams()[0]!.responsesWritten).toBe(1);
  });

  it('delivers a fix after a NACK and records the ACK', async () => {
    h.cache.setResources('default', CLUSTER_TYPE, { a: edsCluster('a', 1) });
    const s = open();
    s.send({ typeUrl: CLUSTER_TYPE, node: testNode('n1') });
    const r1 = await s.next();
    s.send({ typeUrl: CLUSTER_TYPE, nonce: r1.nonce, version: '', error: 'rejected' });
    // The NACK must be seen before the fix is pushed: once the fix is out, r1's nonce is stale and ignored.
    await until(() => h.server.proxies()[0]?.types.cds?.lastNack != null);
    h.cache.setResources('default', CLUSTER_TYPE, { a: edsCluster('a', 2) });
    const r2 = await s.next();
    expect(r2.version_info).not.toBe(r1.version_info);
    expect(r2.resources[0]!.json.connect_timeout).toEqual({ seconds: '2' });
    s.ack(r2);
    await until(() => h.server.proxies()[0]!.types.cds!.ackedVersion === r2.version_info);
    expect(h.server.proxies()[0]!.types.cds!.lastNack!.error).toBe('rejected');
  });

  it('subscribe, unsubscribe and resubscribe: a re-added name is sent again even with no version change', async () => {
    h.cache.setResources('default', ROUTE_TYPE, { r1: routeTo('r1', '*', 'a'), r2: routeTo('r2', '*', 'b') });
    const s = open();
    s.send({ typeUrl: ROUTE_TYPE, names: ['r1'], node: testNode('n1') });
    const a = await s.next();
    expect(a.names).toEqual(['r1']);
    s.send({ typeUrl: ROUTE_TYPE, names: ['r1', 'r2'], nonce: a.nonce, version: a.version_info });
    const b = await s.next();
    expect(b.names).toEqual(['r1', 'r2']);
    // Unsubscribe r2: nothing new to send.
    s.send({ typeUrl: ROUTE_TYPE, names: ['r1'], nonce: b.nonce, version: b.version_info });
    await s.none(200);
    // Resubscribe r2: its content did not change, it is still sent.
    s.send({ typeUrl: ROUTE_TYPE, names: ['r1', 'r2'], nonce: b.nonce, version: b.version_info });
    const c = await s.next();
    expect(c.names).toEqual(['r1', 'r2']);
  });

  it('remembers a requested name that does not exist yet and sends it when it appears', async () => {
    h.cache.setResources('default', ENDPOINT_TYPE, {});
    const s = open();
    s.send({ typeUrl: ENDPOINT_TYPE, names: ['later'], node: testNode('n1') });
    await s.none(200);
    h.cache.upsertResources('default', ENDPOINT_TYPE, { later: cla('later', [['10.1.1.1', 8080]]) });
    const r = await s.next();
    expect(r.names).toEqual(['later']);
  });

  it('deletion: LDS/CDS responses omit the deleted resource; EDS keeps serving the rest without it', async () => {
    h.cache.setResources('default', CLUSTER_TYPE, { a: edsCluster('a'), b: edsCluster('b') });
    h.cache.setResources('default', ENDPOINT_TYPE, { a: cla('a', [['10.0.0.1', 80]]), b: cla('b', [['10.0.0.2', 80]]) });
    const s = open();
    s.send({ typeUrl: CLUSTER_TYPE, node: testNode('n1') });
    const c1 = await s.next();
    s.ack(c1);
    s.send({ typeUrl: ENDPOINT_TYPE, names: ['a', 'b'] });
    const e1 = await s.next();
    s.ack(e1, ['a', 'b']);
    h.cache.deleteResources('default', CLUSTER_TYPE, ['b']);
    const c2 = await s.next();
    expect(c2.type_url).toBe(CLUSTER_TYPE);
    expect(c2.names).toEqual(['a']);
    s.ack(c2);
    // EDS: absence is not deletion, so removing b alone sends nothing; a change to a sends only what exists.
    h.cache.deleteResources('default', ENDPOINT_TYPE, ['b']);
    await s.none(200);
    h.cache.upsertResources('default', ENDPOINT_TYPE, { a: cla('a', [['10.0.0.3', 80]]) });
    const e2 = await s.next();
    expect(e2.names).toEqual(['a']);
  });

  it('wildcard: "*" and the legacy empty list; empty stops meaning wildcard after a non-empty list', async () => {
    h.cache.setResources('default', LISTENER_TYPE, { l1: apiListener('l1', 'r'), l2: apiListener('l2', 'r') });
    const s = open();
    s.send({ typeUrl: LISTENER_TYPE, names: [], node: testNode('n1') });
    const a = await s.next();
    expect(a.names).toEqual(['l1', 'l2']);
    // Narrow to one name: the full-state response now carries only l1.
    s.send({ typeUrl: LISTENER_TYPE, names: ['l1'], nonce: a.nonce, version: a.version_info });
    const b = await s.next();
    expect(b.names).toEqual(['l1']);
    // Empty list after a non-empty one means "nothing", not wildcard: no new listeners are pushed.
    s.send({ typeUrl: LISTENER_TYPE, names: [], nonce: b.nonce, version: b.version_info });
    h.cache.upsertResources('default', LISTENER_TYPE, { l3: apiListener('l3', 'r') });
    await s.none(200);
    // Explicit "*" subscribes to everything again.
    s.send({ typeUrl: LISTENER_TYPE, names: ['*'], nonce: b.nonce, version: b.version_info });
    const c = await s.next();
    expect(c.names).toEqual(['l1', 'l2', 'l3']);
  });

  it('a reconnecting proxy that already has the current version gets nothing re-sent', async () => {
    h.cache.setResources('default', CLUSTER_TYPE, { a: edsCluster('a') });
    const s1 = open();
    s1.send({ typeUrl: CLUSTER_TYPE, node: testNode('n1') });
    const r = await s1.next();
    s1.close();
    const s2 = open();
    s2.send({ typeUrl: CLUSTER_TYPE, node: testNode('n1'), version: r.version_info, nonce: r.nonce });
    await s2.none(200);
    await until(() => h.server.proxies().length === 1);
    expect(h.server.proxies()[0]!.types.cds!.ackedVersion).toBe(r.version_info);
    h.cache.setResources('default', CLUSTER_TYPE, { a: edsCluster('a'), b: edsCluster('b') });
    expect((await s2.next()).names).toEqual(['a', 'b']);
  });

  it('keeps a reconnect hint for named resources until their set is filled, then sends nothing if it matches', async () => {
    h.cache.setResources('default', SECRET_TYPE, { ROOTCA: tlsSecret('ROOTCA') });
    const s1 = open();
    s1.send({ typeUrl: SECRET_TYPE, names: ['ROOTCA'], node: testNode('n1') });
    const r = await s1.next();
    s1.close();
    // Another replica, whose group is not filled yet when the proxy reconnects.
    h.cache.deleteGroup('default');
    const s2 = open();
    s2.send({ typeUrl: SECRET_TYPE, names: ['ROOTCA'], node: testNode('n1'), version: r.version_info });
    await s2.none(150);
    h.cache.setResources('default', SECRET_TYPE, { ROOTCA: tlsSecret('ROOTCA') });
    await s2.none(300);
    await until(() => h.server.proxies()[0]?.types.sds?.ackedVersion === r.version_info);
    // A real change is still sent.
    h.cache.setResources('default', SECRET_TYPE, { ROOTCA: tlsSecret('ROOTCA', 'other') });
    expect((await s2.next()).names).toEqual(['ROOTCA']);
  });

  it('pushes one change batch in ADS order: SDS, CDS, EDS, LDS, RDS', async () => {
    h.cache.setSnapshot('default', {
      [SECRET_TYPE]: { default: tlsSecret('default') },
      [CLUSTER_TYPE]: { a: edsCluster('a') },
      [ENDPOINT_TYPE]: { a: cla('a', [['10.0.0.1', 80]]) },
      [LISTENER_TYPE]: { l: apiListener('l', 'r') },
      [ROUTE_TYPE]: { r: routeTo('r', '*', 'a') },
    });
    const s = open();
    const subscribe: [string, string[]][] = [
      [SECRET_TYPE, ['default']],
      [CLUSTER_TYPE, []],
      [ENDPOINT_TYPE, ['a']],
      [LISTENER_TYPE, []],
      [ROUTE_TYPE, ['r']],
    ];
    const last = new Map<string, { nonce: string; version: string; names: string[] }>();
    let first = true;
    for (const [t, names] of subscribe) {
      s.send({ typeUrl: t, names, ...(first ? { node: testNode('n1') } : {}) });
      first = false;
      const r = await s.next();
      last.set(t, { nonce: r.nonce, version: r.version_info, names });
      s.send({ typeUrl: t, names, nonce: r.nonce, version: r.version_info });
    }
    await s.none(100);
    // One batch that touches every type, set in reverse order.
    h.cache.setSnapshot('default', {
      [ROUTE_TYPE]: { r: routeTo('r', '*', 'b') },
      [LISTENER_TYPE]: { l: apiListener('l', 'r2') },
      [ENDPOINT_TYPE]: { a: cla('a', [['10.0.0.2', 80]]) },
      [CLUSTER_TYPE]: { a: edsCluster('a', 5) },
      [SECRET_TYPE]: { default: tlsSecret('default', 'OTHER') },
    });
    const order: string[] = [];
    for (let i = 0; i < 5; i++) order.push((await s.next()).type_url);
    expect(order).toEqual([SECRET_TYPE, CLUSTER_TYPE, ENDPOINT_TYPE, LISTENER_TYPE, ROUTE_TYPE]);
  });

  it('resends the ClusterLoadAssignment after a CDS update of an EDS cluster', async () => {
    h.cache.setResources('default', CLUSTER_TYPE, { a: edsCluster('a', 1) });
    h.cache.setResources('default', ENDPOINT_TYPE, { a: cla('a', [['10.0.0.1', 80]]) });
    const s = open();
    s.send({ typeUrl: CLUSTER_TYPE, node: testNode('n1') });
    const c1 = await s.next();
    s.ack(c1);
    s.send({ typeUrl: ENDPOINT_TYPE, names: ['a'] });
    const e1 = await s.next();
    s.ack(e1, ['a']);
    await s.none(100);
    h.cache.setResources('default', CLUSTER_TYPE, { a: edsCluster('a', 3) });
    const c2 = await s.next();
    expect(c2.type_url).toBe(CLUSTER_TYPE);
    const e2 = await s.next();
    expect(e2.type_url).toBe(ENDPOINT_TYPE);
    expect(e2.names).toEqual(['a']);
    expect(e2.version_info).toBe(e1.version_info);
  });

  it('takes the node from the first request and ignores later ones', async () => {
    h.cache.setResources('default', CLUSTER_TYPE, { a: edsCluster('a') });
    const s = open();
    s.send({ typeUrl: CLUSTER_TYPE, node: testNode('first', { role: 'gateway' }) });
    const r = await s.next();
    s.send({ typeUrl: CLUSTER_TYPE, node: testNode('second'), nonce: r.nonce, version: r.version_info });
    await until(() => h.server.proxies()[0]?.types.cds?.ackedVersion === r.version_info);
    const p = h.server.proxies()[0]!;
    expect(p.nodeId).toBe('first');
    expect(p.role).toBe('gateway');
    expect(p.locality).toEqual({ region: 'us-east', zone: 'us-east-1a', sub_zone: '' });
  });
});

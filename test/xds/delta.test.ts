/** Delta (incremental) protocol rules over real DeltaAggregatedResources streams on 127.0.0.1. */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { startHarness, until, type Harness } from '../support/xds-harness.js';
import { testNode, type DeltaTestStream } from '../support/xds-client.js';
import { CLUSTER_TYPE, ENDPOINT_TYPE, LISTENER_TYPE, apiListener, cla, edsCluster } from '../support/xds-resources.js';

let h: Harness;
beforeEach(async () => {
  h = await startHarness();
});
afterEach(async () => {
  await h.close();
});

function open(): DeltaTestStream {
  return h.client().delta();
}

describe('delta ADS', () => {
  it('wildcard CDS: sends every resource with its own version, then only what changed', async () => {
    h.cache.setResources('default', CLUSTER_TYPE, { a: edsCluster('a'), b: edsCluster('b') });
    const s = open();
    s.send({ typeUrl: CLUSTER_TYPE, node: testNode('n1') });
    const r1 = await s.next();
    expect(r1.names).toEqual(['a', 'b']);
    expect(r1.resources.every((r) => /^[0-9a-f]{16}$/.test(r.version!))).toBe(true);
    s.ack(r1);
    h.cache.setResources('default', CLUSTER_TYPE, { a: edsCluster('a', 7), b: edsCluster('b') });
    const r2 = await s.next();
    expect(r2.names).toEqual(['a']);
    expect(r2.removed).toEqual([]);
  });

  it('changes made while a response is unanswered arrive together after the ACK, with a version naming the held set', async () => {
    h.cache.setResources('default', CLUSTER_TYPE, { a: edsCluster('a'), b: edsCluster('b'), c: edsCluster('c') });
    const s = open();
    s.send({ typeUrl: CLUSTER_TYPE, node: testNode('n1') });
    const r1 = await s.next();
    // Unanswered: the three changes below only accumulate.
    h.cache.setResources('default', CLUSTER_TYPE, { a: edsCluster('a', 7), b: edsCluster('b'), c: edsCluster('c') });
    await new Promise((r) => setTimeout(r, 150));
    h.cache.deleteResources('default', CLUSTER_TYPE, ['c']);
    await new Promise((r) => setTimeout(r, 150));
    h.cache.upsertResources('default', CLUSTER_TYPE, { d: edsCluster('d') });
    await new Promise((r) => setTimeout(r, 150));
    s.ack(r1);
    const r2 = await s.next();
    expect(r2.names).toEqual(['a', 'd']);
    expect(r2.removed).toEqual(['c']);
    // The same held set reached from scratch has the same version.
    s.ack(r2);
    const fresh = open();
    fresh.send({ typeUrl: CLUSTER_TYPE, node: testNode('n2') });
    const all = await fresh.next();
    expect(all.names).toEqual(['a', 'b', 'd']);
    expect(all.system_version_info).toBe(r2.system_version_info);
    expect(r2.system_version_info).not.toBe(r1.system_version_info);
  });

  it('deletion: a removed resource is listed in removed_resources', async () => {
    h.cache.setResources('default', CLUSTER_TYPE, { a: edsCluster('a'), b: edsCluster('b') });
    const s = open();
    s.send({ typeUrl: CLUSTER_TYPE, node: testNode('n1') });
    s.ack(await s.next());
    h.cache.deleteResources('default', CLUSTER_TYPE, ['b']);
    const r = await s.next();
    expect(r.resources).toEqual([]);
    expect(r.removed).toEqual(['b']);
  });

  it('reconnect with initial_resource_versions: sends only what differs and removes what is gone', async () => {
    h.cache.setResources('default', CLUSTER_TYPE, { a: edsCluster('a'), b: edsCluster('b'), c: edsCluster('c') });
    const s1 = open();
    s1.send({ typeUrl: CLUSTER_TYPE, node: testNode('n1') });
    const first = await s1.next();
    const versions = Object.fromEntries(first.resources.map((r) => [r.name, r.version!]));
    s1.close();
    h.cache.setResources('default', CLUSTER_TYPE, { a: edsCluster('a'), b: edsCluster('b', 9) });
    const s2 = open();
    s2.send({ typeUrl: CLUSTER_TYPE, node: testNode('n1'), initial: versions });
    const r = await s2.next();
    expect(r.names).toEqual(['b']);
    expect(r.removed).toEqual(['c']);
  });

  it('reconnect with everything current: nothing is re-sent', async () => {
    h.cache.setResources('default', ENDPOINT_TYPE, { a: cla('a', [['10.0.0.1', 80]]) });
    const s1 = open();
    s1.send({ typeUrl: ENDPOINT_TYPE, node: testNode('n1'), subscribe: ['a'] });
    const first = await s1.next();
    s1.close();
    const s2 = open();
    s2.send({ typeUrl: ENDPOINT_TYPE, node: testNode('n1'), subscribe: ['a'], initial: { a: first.resources[0]!.version! } });
    await s2.none(250);
  });

  it('subscribe, unsubscribe (no response needed), resubscribe (sent again)', async () => {
    h.cache.setResources('default', ENDPOINT_TYPE, { a: cla('a', [['10.0.0.1', 80]]), b: cla('b', [['10.0.0.2', 80]]) });
    const s = open();
    s.send({ typeUrl: ENDPOINT_TYPE, node: testNode('n1'), subscribe: ['a'] });
    const r1 = await s.next();
    expect(r1.names).toEqual(['a']);
    s.send({ typeUrl: ENDPOINT_TYPE, nonce: r1.nonce, subscribe: ['b'] });
    const r2 = await s.next();
    expect(r2.names).toEqual(['b']);
    s.send({ typeUrl: ENDPOINT_TYPE, nonce: r2.nonce, unsubscribe: ['b'] });
    await s.none(200);
    // Changes to an unsubscribed name are not pushed.
    h.cache.upsertResources('default', ENDPOINT_TYPE, { b: cla('b', [['10.0.0.3', 80]]) });
    await s.none(200);
    s.send({ typeUrl: ENDPOINT_TYPE, nonce: r2.nonce, subscribe: ['b'] });
    const r3 = await s.next();
    expect(r3.names).toEqual(['b']);
  });

  it('a subscribed name that does not exist is reported removed, then sent when it appears', async () => {
    h.cache.setResources('default', ENDPOINT_TYPE, {});
    const s = open();
    s.send({ typeUrl: ENDPOINT_TYPE, node: testNode('n1'), subscribe: ['ghost'] });
    const r1 = await s.next();
    expect(r1.removed).toEqual(['ghost']);
    s.ack(r1);
    await s.none(150);
    h.cache.upsertResources('default', ENDPOINT_TYPE, { ghost: cla('ghost', [['10.0.0.5', 80]]) });
    const r2 = await s.next();
    expect(r2.names).toEqual(['ghost']);
  });

  it('subscriptions in a request with a stale nonce are still applied', async () => {
    h.cache.setResources('default', ENDPOINT_TYPE, { a: cla('a', [['10.0.0.1', 80]]), b: cla('b', [['10.0.0.2', 80]]) });
    const s = open();
    s.send({ typeUrl: ENDPOINT_TYPE, node: testNode('n1'), subscribe: ['a'] });
    const r1 = await s.next();
    s.send({ typeUrl: ENDPOINT_TYPE, nonce: 'not-a-nonce-we-sent', subscribe: ['b'], error: 'ignored because stale' });
    // b is answered once the proxy has answered r1: one unanswered response per type.
    await s.none(150);
    s.ack(r1);
    const r2 = await s.next();
    expect(r2.names).toEqual(['b']);
    expect(h.server.proxies()[0]!.types.eds!.lastNack).toBeNull();
    expect(r1.nonce).not.toBe(r2.nonce);
  });

  it('NACK is recorded and not answered; a fix is delivered', async () => {
    h.cache.setResources('default', LISTENER_TYPE, { l: apiListener('l', 'r1') });
    const s = open();
    s.send({ typeUrl: LISTENER_TYPE, node: testNode('n1') });
    const r1 = await s.next();
    s.send({ typeUrl: LISTENER_TYPE, nonce: r1.nonce, error: 'listener l: unknown route' });
    await s.none(250);
    expect(h.server.proxies()[0]!.types.lds!.lastNack!.error).toBe('listener l: unknown route');
    h.cache.setResources('default', LISTENER_TYPE, { l: apiListener('l', 'r2') });
    const r2 = await s.next();
    expect(r2.names).toEqual(['l']);
    s.ack(r2);
    await until(() => h.server.proxies()[0]!.types.lds!.ackedVersion === h.server.proxies()[0]!.types.lds!.lastSentVersion);
  });

  it('explicit "*" subscription and unsubscribing it', async () => {
    h.cache.setResources('default', CLUSTER_TYPE, { a: edsCluster('a') });
    const s = open();
    s.send({ typeUrl: CLUSTER_TYPE, node: testNode('n1'), subscribe: ['*'] });
    const r1 = await s.next();
    expect(r1.names).toEqual(['a']);
    s.send({ typeUrl: CLUSTER_TYPE, nonce: r1.nonce, unsubscribe: ['*'] });
    await s.none(100);
    h.cache.upsertResources('default', CLUSTER_TYPE, { b: edsCluster('b') });
    await s.none(200);
  });

  it('a non-ready wildcard type is not answered until it is set', async () => {
    const s = open();
    s.send({ typeUrl: CLUSTER_TYPE, node: testNode('n1') });
    await s.none(200);
    h.cache.setResources('default', CLUSTER_TYPE, {});
    const r = await s.next();
    expect(r.resources).toEqual([]);
    expect(r.removed).toEqual([]);
  });
});

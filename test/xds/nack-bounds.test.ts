/** Issue 16, item 2: what a NACK's error_detail.message costs is bounded, in /debug/proxies and in the log (real streams). */
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { log } from '../../src/log.js';
import { startHarness, until, type Harness } from '../support/xds-harness.js';
import { testNode } from '../support/xds-client.js';
import { CLUSTER_TYPE, edsCluster } from '../support/xds-resources.js';

let h: Harness;
beforeEach(async () => {
  h = await startHarness();
  h.cache.setResources('default', CLUSTER_TYPE, { a: edsCluster('a') });
});
afterEach(async () => {
  vi.restoreAllMocks();
  await h.close();
});

const nackLines = (warn: ReturnType<typeof vi.spyOn>) => warn.mock.calls.filter((c: unknown[]) => c[1] === 'proxy rejected configuration (NACK)');

describe('NACK messages', () => {
  it('a 3 MiB error_detail.message is kept and logged as 4 KiB with the count of bytes cut', async () => {
    const warn = vi.spyOn(log, 'warn');
    const s = h.client().sotw();
    s.send({ typeUrl: CLUSTER_TYPE, node: testNode('n1') });
    const r = await s.next();
    const message = 'E'.repeat(3 * 1024 * 1024);
    s.send({ typeUrl: CLUSTER_TYPE, nonce: r.nonce, version: '', error: message });
    await until(() => h.server.proxies()[0]?.types.cds?.lastNack != null, 3000, 'the NACK');
    const stored = h.server.proxies()[0]!.types.cds!.lastNack!.error;
    expect(stored).toBe(`${'E'.repeat(4096)}... (${message.length - 4096} bytes truncated)`);
    const lines = nackLines(warn);
    expect(lines).toHaveLength(1);
    expect((lines[0]![0] as { error: string }).error).toBe(stored);
  });

  it('a multi-byte message is cut on a character boundary', async () => {
    const s = h.client().delta();
    s.send({ typeUrl: CLUSTER_TYPE, node: testNode('n1') });
    const r = await s.next();
    s.send({ typeUrl: CLUSTER_TYPE, nonce: r.nonce, error: '€'.repeat(5000) }); // 3 bytes each
    await until(() => h.server.proxies()[0]?.types.cds?.lastNack != null, 3000, 'the NACK');
    const stored = h.server.proxies()[0]!.types.cds!.lastNack!.error;
    expect(stored).toBe(`${'€'.repeat(1365)}... (${15000 - 4095} bytes truncated)`);
  });

  it('identical NACKs of one proxy are logged once per minute; another proxy or another message is logged', async () => {
    const warn = vi.spyOn(log, 'warn');
    const loop = h.client().delta();
    loop.send({ typeUrl: CLUSTER_TYPE, node: testNode('looping') });
    let r = await loop.next();
    for (let i = 0; i < 50; i++) {
      // Each NACK is answered by nothing: the server re-sends only on change, so change the set each time.
      loop.send({ typeUrl: CLUSTER_TYPE, nonce: r.nonce, error: 'cluster a: bad thing' });
      h.cache.setResources('default', CLUSTER_TYPE, { a: edsCluster('a', i + 2) });
      r = await loop.next();
    }
    expect(nackLines(warn)).toHaveLength(1);

    loop.send({ typeUrl: CLUSTER_TYPE, nonce: r.nonce, error: 'cluster a: another thing' });
    const other = h.client().sotw();
    other.send({ typeUrl: CLUSTER_TYPE, node: testNode('other') });
    const o = await other.next();
    other.send({ typeUrl: CLUSTER_TYPE, nonce: o.nonce, error: 'cluster a: bad thing' });
    await until(() => nackLines(warn).length === 3, 3000, 'two more NACK log lines');
    const nodes = nackLines(warn).map((c: unknown[]) => (c[0] as { node: string }).node);
    expect(nodes).toEqual(['looping', 'looping', 'other']);
  });
});

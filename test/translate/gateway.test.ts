import { describe, expect, it } from 'vitest';
import { buildEastWestListener, EAST_WEST_PORT } from '../../src/translate/gateway.js';
import { validateObject } from '../../src/translate/validate.js';

type Chain = { filter_chain_match: { server_names: string[] }; filters: { typed_config: { cluster: string } }[] };

describe('east-west gateway listener', () => {
  const listener = buildEastWestListener('cluster2', EAST_WEST_PORT, [
    { name: 'reviews', namespace: 'default', port: 9080, subset: '' },
    { name: 'reviews', namespace: 'default', port: 9080, subset: 'version-v3' },
    { name: 'ratings', namespace: 'default', port: 9080, subset: '' },
    { name: 'reviews', namespace: 'default', port: 9080, subset: '' }, // duplicate export
  ]) as { filter_chains: Chain[]; listener_filters: { name: string }[] };

  it('inspects TLS and passes it through by SNI to the local cluster', () => {
    expect(listener.listener_filters.map((f) => f.name)).toEqual(['envoy.filters.listener.tls_inspector']);
    const bySni = new Map<string, string>();
    for (const c of listener.filter_chains) for (const sni of c.filter_chain_match.server_names) bySni.set(sni, c.filters[0]!.typed_config.cluster);
    expect(bySni.get('outbound_.9080_.version-v3_.reviews.default.svc.cluster.local')).toBe('outbound|9080|version-v3|reviews.default.svc.cluster.local');
    expect(bySni.get('outbound_.9080_._.reviews.default.svc.cluster2.global')).toBe('outbound|9080||reviews.default.svc.cluster.local');
    expect(bySni.get('outbound_.9080_._.ratings.default.svc.cluster.local')).toBe('outbound|9080||ratings.default.svc.cluster.local');
  });

  it('has unique filter chains and no default chain, so an unknown SNI is refused', () => {
    expect(listener.filter_chains).toHaveLength(3);
    const all = listener.filter_chains.flatMap((c) => c.filter_chain_match.server_names);
    expect(new Set(all).size).toBe(all.length);
    expect(all).not.toContain('outbound_.9080_._.unknown.default.svc.cluster.local');
    expect('default_filter_chain' in listener).toBe(false);
  });

  it('passes the protoc-gen-validate guard', () => {
    expect(validateObject('envoy.config.listener.v3.Listener', listener as unknown as Record<string, unknown>)).toEqual([]);
  });
});

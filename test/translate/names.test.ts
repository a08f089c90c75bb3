import { describe, expect, it } from 'vitest';
import { crossNetworkSni, globalHost, inboundClusterName, localHost, outboundClusterName, parseOutboundClusterName } from '../../src/translate/names.js';

describe('names', () => {
  it('follows Istio conventions', () => {
    expect(localHost('reviews', 'default')).toBe('reviews.default.svc.cluster.local');
    expect(globalHost('reviews', 'default', 'cluster2')).toBe('reviews.default.svc.cluster2.global');
    expect(outboundClusterName(9080, '', localHost('reviews', 'default'))).toBe('outbound|9080||reviews.default.svc.cluster.local');
    expect(outboundClusterName(9080, 'version-v3', 'reviews.default.svc.cluster2.global')).toBe('outbound|9080|version-v3|reviews.default.svc.cluster2.global');
    expect(inboundClusterName(9080)).toBe('inbound|9080||');
    expect(crossNetworkSni(9080, '', 'reviews.default.svc.cluster.local')).toBe('outbound_.9080_._.reviews.default.svc.cluster.local');
    expect(crossNetworkSni(9080, 'version-v3', 'reviews.default.svc.cluster.local')).toBe('outbound_.9080_.version-v3_.reviews.default.svc.cluster.local');
  });

  it('parses outbound cluster names back', () => {
    expect(parseOutboundClusterName('outbound|9080|v1|reviews.default.svc.cluster.local')).toEqual({ port: 9080, subset: 'v1', host: 'reviews.default.svc.cluster.local' });
    expect(parseOutboundClusterName('inbound|9080||')).toBeUndefined();
  });
});

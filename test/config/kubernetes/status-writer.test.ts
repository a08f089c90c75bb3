/**
 * The status wanted for a verdict: Accepted True/False with validate's lines as the message,
 * observedGeneration, lastTransitionTime kept while the status does not flip, other conditions
 * left alone, and nothing to write when the object already says it.
 */
import { describe, expect, it } from 'vitest';
import type { PolicyEntry } from '../../../src/config/kubernetes/policy-source.js';
import { wantedStatus } from '../../../src/config/kubernetes/status-writer.js';

const now = new Date('2026-12-06T12:00:00.123Z');
const entry = (verdict: PolicyEntry['verdict'], status?: object): PolicyEntry => ({
  kind: 'TrafficPolicy',
  key: 'TrafficPolicy/default/p',
  namespace: 'default',
  name: 'p',
  object: { metadata: { name: 'p', namespace: 'default', generation: 3 }, ...(status ? { status } : {}) },
  generation: 3,
  verdict,
  servingGeneration: undefined,
});

describe('wantedStatus', () => {
  it('nothing before a verdict', () => {
    expect(wantedStatus(entry(undefined), now)).toBeUndefined();
  });

  it('Accepted=False carries every error line; True says accepted, or the warnings', () => {
    const bad = wantedStatus(entry({ accepted: false, generation: 3, messages: ['TrafficPolicy p: spec.a: x', 'TrafficPolicy p: spec.b: y'] }), now)!;
    expect(bad).toEqual({
      observedGeneration: 3,
      conditions: [{ type: 'Accepted', status: 'False', reason: 'Invalid', message: 'TrafficPolicy p: spec.a: x\nTrafficPolicy p: spec.b: y', observedGeneration: 3, lastTransitionTime: '2026-12-06T12:00:00Z' }],
    });
    expect(wantedStatus(entry({ accepted: true, generation: 3, messages: [] }), now)!.conditions![0]).toMatchObject({ status: 'True', reason: 'Accepted', message: 'accepted' });
    expect(wantedStatus(entry({ accepted: true, generation: 3, messages: ['TrafficPolicy p: spec.c: no such service'] }), now)!.conditions![0]).toMatchObject({
      status: 'True',
      reason: 'AcceptedWithWarnings',
      message: 'accepted with warnings:\nTrafficPolicy p: spec.c: no such service',
    });
  });

  it('keeps lastTransitionTime and foreign conditions; writes nothing when the object already says it', () => {
    const prior = { type: 'Accepted', status: 'True', reason: 'Accepted', message: 'accepted', observedGeneration: 2, lastTransitionTime: '2026-01-01T00:00:00Z' };
    const other = { type: 'Ready', status: 'True', reason: 'X', message: '', lastTransitionTime: '2026-01-01T00:00:00Z' };
    const next = wantedStatus(entry({ accepted: true, generation: 3, messages: [] }, { observedGeneration: 2, conditions: [other, prior] }), now)!;
    expect(next.conditions).toEqual([other, { ...prior, observedGeneration: 3 }]);
    expect(wantedStatus(entry({ accepted: true, generation: 3, messages: [] }, next), now)).toBeUndefined();
    const flipped = wantedStatus(entry({ accepted: false, generation: 3, messages: ['m'] }, next), now)!;
    expect(flipped.conditions![1]).toMatchObject({ status: 'False', lastTransitionTime: '2026-12-06T12:00:00Z' });
  });
});

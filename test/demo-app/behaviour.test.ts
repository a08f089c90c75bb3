/** The demo app's x-demo-* request behaviours (src/demo-app/behaviour.ts). */
import { describe, expect, it } from 'vitest';
import { attemptOf, behaviourOf, MAX_DELAY_MS } from '../../src/demo-app/behaviour.js';

describe('demo-app behaviours', () => {
  it('answers normally without x-demo headers', () => {
    expect(behaviourOf({}, 'web-0')).toEqual({ status: 200, delayMs: 0, echo: false });
  });

  it('takes a status and a delay (bounded), and ignores invalid values', () => {
    expect(behaviourOf({ 'x-demo-status': '503', 'x-demo-delay': '250' }, 'web-0')).toEqual({ status: 503, delayMs: 250, echo: false });
    expect(behaviourOf({ 'x-demo-delay': '99999999' }, 'web-0').delayMs).toBe(MAX_DELAY_MS);
    expect(behaviourOf({ 'x-demo-status': '42', 'x-demo-delay': 'soon' }, 'web-0')).toEqual({ status: 200, delayMs: 0, echo: false });
  });

  it('limits status and delay to the named pods and to the first attempts (x-envoy-attempt-count)', () => {
    const h = { 'x-demo-status': '503', 'x-demo-pods': 'web-0, web-2' };
    expect(behaviourOf(h, 'web-0').status).toBe(503);
    expect(behaviourOf(h, 'web-1').status).toBe(200);
    const first = { 'x-demo-status': '503', 'x-demo-attempts': '1' };
    expect(behaviourOf(first, 'web-1').status).toBe(503);
    expect(behaviourOf({ ...first, 'x-envoy-attempt-count': '1' }, 'web-1').status).toBe(503);
    expect(behaviourOf({ ...first, 'x-envoy-attempt-count': '2' }, 'web-1').status).toBe(200);
    expect(attemptOf({})).toBe(1);
    expect(attemptOf({ 'x-envoy-attempt-count': '3' })).toBe(3);
  });

  it('echoes headers when asked, whatever else applies', () => {
    expect(behaviourOf({ 'x-demo-echo': '1', 'x-demo-pods': 'other' }, 'web-0')).toEqual({ status: 200, delayMs: 0, echo: true });
  });
});

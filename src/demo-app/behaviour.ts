/**
 * Test behaviours of the demo app, asked for per request with `x-demo-*` headers, so a test can
 * make one host fail or be slow without restarting it (docs/policies.md, "On real Envoy"):
 *
 * - `x-demo-status: <code>` answers that HTTP status (200..599) instead of 200;
 * - `x-demo-delay: <ms>` waits that long before answering (at most 30 s);
 * - `x-demo-pods: <pod>[,<pod>...]` limits status and delay to these pods (the others answer normally);
 * - `x-demo-attempts: <n>` limits status and delay to attempts 1..n, the attempt being Envoy's
 *   `x-envoy-attempt-count` (1 without it): "the first attempt fails, the retry succeeds";
 * - `x-demo-echo: 1` puts the request headers the app received into its answer (`headers`).
 *
 * The headers are never passed on to upstream calls: they are about this hop only.
 */
import type { IncomingHttpHeaders } from 'node:http';

/** What a request asks of this app. */
export interface Behaviour {
  /** Status to answer with (200 = the normal answer). */
  readonly status: number;
  /** Wait before answering, ms. */
  readonly delayMs: number;
  /** Put the request headers into the answer. */
  readonly echo: boolean;
}

/** The longest delay a request may ask for: a test's slow host, not a hung one. */
export const MAX_DELAY_MS = 30_000;

function one(h: string | string[] | undefined): string | undefined {
  return Array.isArray(h) ? h[0] : h;
}

/** Envoy's attempt number of this request (`x-envoy-attempt-count`), 1 without the header. */
export function attemptOf(headers: IncomingHttpHeaders): number {
  const n = Number(one(headers['x-envoy-attempt-count']));
  return Number.isInteger(n) && n >= 1 ? n : 1;
}

/** The behaviour `headers` ask of the app running as `pod`; invalid values are ignored (normal answer). */
export function behaviourOf(headers: IncomingHttpHeaders, pod: string): Behaviour {
  const echo = one(headers['x-demo-echo']) === '1';
  const pods = one(headers['x-demo-pods']);
  const attempts = Number(one(headers['x-demo-attempts']));
  const applies = (pods === undefined || pods.split(',').map((p) => p.trim()).includes(pod)) && (!Number.isInteger(attempts) || attemptOf(headers) <= attempts);
  if (!applies) return { status: 200, delayMs: 0, echo };
  const status = Number(one(headers['x-demo-status']));
  const delay = Number(one(headers['x-demo-delay']));
  return {
    status: Number.isInteger(status) && status >= 200 && status <= 599 ? status : 200,
    delayMs: Number.isFinite(delay) && delay > 0 ? Math.min(delay, MAX_DELAY_MS) : 0,
    echo,
  };
}

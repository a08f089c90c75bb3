/** Capped exponential backoff with jitter, for retrying a Kubernetes API server. */

export interface BackoffOptions {
  /** Delay before the first retry, ms. */
  readonly initialMs: number;
  /** Upper bound of any delay, ms. */
  readonly maxMs: number;
}

/** Delay before retry number `attempt` (0-based): initial·2^attempt capped at max, with ±20% jitter so clusters do not retry in lockstep. */
export function backoffDelay(options: BackoffOptions, attempt: number): number {
  const base = Math.min(options.maxMs, options.initialMs * 2 ** Math.min(attempt, 30));
  const jitter = base * 0.2 * (Math.random() * 2 - 1);
  return Math.max(0, Math.min(options.maxMs, Math.round(base + jitter)));
}

/**
 * Time and timers for the CA, injectable so tests can move through a 24 h certificate lifetime
 * without waiting. Timers are unref'd: pending rotations never keep a process alive by themselves.
 */

/** An opaque handle returned by `Clock.setTimer`. */
export interface TimerHandle {
  readonly id: number;
}

/** Wall clock plus one-shot timers. */
export interface Clock {
  /** Milliseconds since the Unix epoch. */
  now(): number;
  /** Runs `fn` once, `delayMs` from now. */
  setTimer(fn: () => void, delayMs: number): TimerHandle;
  /** Cancels a timer; unknown or already fired handles are ignored. */
  clearTimer(handle: TimerHandle): void;
}

// Node's setTimeout overflows (and fires at once) past 2^31-1 ms (~24.8 days); longer waits are chained.
const MAX_TIMEOUT_MS = 0x7fffffff;

/** The real clock, built on Date.now and setTimeout. */
export function systemClock(): Clock {
  let next = 1;
  const live = new Map<number, NodeJS.Timeout>();
  const arm = (id: number, fn: () => void, dueAt: number): void => {
    const wait = Math.max(0, Math.min(dueAt - Date.now(), MAX_TIMEOUT_MS));
    const t = setTimeout(() => {
      if (Date.now() < dueAt) {
        arm(id, fn, dueAt);
        return;
      }
      live.delete(id);
      fn();
    }, wait);
    t.unref();
    live.set(id, t);
  };
  return {
    now: () => Date.now(),
    setTimer(fn, delayMs) {
      const id = next++;
      arm(id, fn, Date.now() + Math.max(0, delayMs));
      return { id };
    },
    clearTimer(handle) {
      const t = live.get(handle.id);
      if (t) clearTimeout(t);
      live.delete(handle.id);
    },
  };
}

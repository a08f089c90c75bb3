/**
 * Durations as SMH and Istio users write them (`10s`, `2m`, `1h30m`, `1.5s`, `250ms`), in milliseconds.
 */

const UNIT_MS: Readonly<Record<string, number>> = { h: 3_600_000, m: 60_000, s: 1000, ms: 1, us: 0.001, µs: 0.001, ns: 0.000001 };
const PART = /(\d+(?:\.\d+)?|\.\d+)(h|ms|m|s|us|µs|ns)/y;

/** Parses a duration string to milliseconds; returns an error message instead when it is not one. */
export function parseDuration(text: string): { ms: number } | { error: string } {
  const s = text.trim();
  if (s === '' || s === '0') return s === '0' ? { ms: 0 } : { error: 'empty duration' };
  let pos = 0;
  let ms = 0;
  while (pos < s.length) {
    PART.lastIndex = pos;
    const m = PART.exec(s);
    if (!m) return { error: `invalid duration "${text}": expected a number with a unit (h, m, s, ms, us, ns), e.g. "10s", "2m", "1h30m", "250ms"` };
    ms += Number(m[1]) * UNIT_MS[m[2]!]!;
    pos = PART.lastIndex;
  }
  return { ms };
}

/**
 * The fuzz scenario's deterministic random numbers: every input is generated from its own stream,
 * seeded by (run seed, target, input index), so one input can be regenerated alone to replay it.
 */
import { createHash } from 'node:crypto';

/** A small PRNG (sfc32) with the helpers the mutators need. */
export class Prng {
  private a: number;
  private b: number;
  private c: number;
  private d: number;

  /** A stream for `parts` (e.g. seed, target name, index): equal parts, equal numbers. */
  constructor(...parts: readonly (string | number)[]) {
    const h = createHash('sha256').update(parts.join('\u0000')).digest();
    this.a = h.readUInt32LE(0);
    this.b = h.readUInt32LE(4);
    this.c = h.readUInt32LE(8);
    this.d = h.readUInt32LE(12);
  }

  /** A uniform 32-bit unsigned integer. */
  u32(): number {
    const t = (((this.a + this.b) | 0) + this.d) | 0;
    this.d = (this.d + 1) | 0;
    this.a = this.b ^ (this.b >>> 9);
    this.b = (this.c + (this.c << 3)) | 0;
    this.c = (this.c << 21) | (this.c >>> 11);
    this.c = (this.c + t) | 0;
    return t >>> 0;
  }

  /** An integer in [0, n). */
  int(n: number): number {
    return n <= 0 ? 0 : Math.floor((this.u32() / 2 ** 32) * n);
  }

  /** True with probability `p`. */
  chance(p: number): boolean {
    return this.u32() / 2 ** 32 < p;
  }

  /** One element of a non-empty list. */
  pick<T>(xs: readonly T[]): T {
    return xs[this.int(xs.length)]!;
  }

  /** `n` random bytes. */
  bytes(n: number): Buffer {
    const out = Buffer.allocUnsafe(n);
    for (let i = 0; i < n; i++) out[i] = this.u32() & 0xff;
    return out;
  }
}

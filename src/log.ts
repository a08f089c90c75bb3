/**
 * The process-wide structured logger on stderr: JSON lines, or readable lines on a terminal
 * (`--log-format`, `CROSSMESH_LOG_FORMAT`: json | text | auto, default auto); `CROSSMESH_LOG_LEVEL`
 * sets the level.
 */
import { createHash } from 'node:crypto';
import { pino } from 'pino';
import { parseLogFormat, renderLogLine, type LogFormat } from './log-format.js';

/** pino's destination: JSON passes through, text re-renders each (already redacted) record. */
class LogSink {
  private readonly out = pino.destination(2);
  private text = false;
  private color = false;

  /** Chooses the format; `auto` follows whether stderr is a terminal. */
  setFormat(format: LogFormat): void {
    this.text = format === 'text' || (format === 'auto' && process.stderr.isTTY === true);
    this.color = this.text && process.stderr.isTTY === true && !process.env.NO_COLOR;
  }

  write(chunk: string): boolean {
    return this.out.write(this.text ? renderLogLine(chunk, this.color) : chunk);
  }

  flushSync(): void {
    this.out.flushSync();
  }
}

const sink = new LogSink();
sink.setFormat(envLogFormat());

function envLogFormat(): LogFormat {
  const v = process.env.CROSSMESH_LOG_FORMAT;
  if (!v) return 'auto';
  try {
    return parseLogFormat(v, 'CROSSMESH_LOG_FORMAT');
  } catch (e) {
    process.stderr.write(`crossmesh: ${(e as Error).message}; writing JSON\n`);
    return 'json';
  }
}

/** Sets the log format for the rest of the process (the CLI's `--log-format`). */
export function setLogFormat(format: LogFormat): void {
  sink.setFormat(format);
}

export const log = pino(
  {
    name: 'crossmesh',
    level: process.env.CROSSMESH_LOG_LEVEL ?? (process.env.VITEST ? 'silent' : 'info'),
    // Anything that may carry key material or tokens is never written out.
    redact: { paths: ['privateKey', 'private_key', 'token', 'authorization', '*.privateKey', '*.private_key', '*.key', '*.token', '*.authorization', 'headers.authorization'], censor: '[redacted]' },
  },
  sink,
);

/**
 * Lets one log line per key through per interval and counts the lines held back, so a client
 * repeating itself cannot grow the log. Keys are hashed (bounded memory whatever their size) and
 * the oldest are forgotten beyond `maxKeys`.
 */
export class LogThrottle {
  private readonly seen = new Map<string, { last: number; suppressed: number }>();

  constructor(
    private readonly intervalMs: number,
    private readonly maxKeys = 4096,
  ) {}

  /** undefined: hold this line back; otherwise write it, noting how many were held back since the last one (0 for a new key). */
  admit(parts: readonly string[], now = Date.now()): number | undefined {
    const h = createHash('sha256');
    for (const p of parts) h.update(p).update('\u0000');
    const key = h.digest('base64');
    const entry = this.seen.get(key);
    if (entry && now - entry.last < this.intervalMs) {
      entry.suppressed++;
      return undefined;
    }
    const suppressed = entry?.suppressed ?? 0;
    // Re-inserting keeps the map in order of last write, so the first key is the one to forget.
    this.seen.delete(key);
    this.seen.set(key, { last: now, suppressed: 0 });
    if (this.seen.size > this.maxKeys) this.seen.delete(this.seen.keys().next().value!);
    return suppressed;
  }
}

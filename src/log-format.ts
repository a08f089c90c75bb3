/**
 * How log records are written: JSON lines (for collectors) or readable lines (for a person at a
 * terminal). pino serialises and redacts every record first; a text sink only re-renders the
 * already-redacted JSON, so both formats carry exactly the same, redacted, fields.
 */

/** `json`, `text`, or `auto` (text when stderr is a terminal, JSON otherwise). */
export type LogFormat = 'json' | 'text' | 'auto';

export const LOG_FORMATS: readonly LogFormat[] = ['json', 'text', 'auto'];

/** Parses a `--log-format` / `CROSSMESH_LOG_FORMAT` value; throws naming the accepted values. */
export function parseLogFormat(value: string, where: string): LogFormat {
  if ((LOG_FORMATS as readonly string[]).includes(value)) return value as LogFormat;
  throw new Error(`${where}: unknown log format "${value}"; use one of ${LOG_FORMATS.join(', ')}`);
}

const LEVELS: Readonly<Record<number, string>> = { 10: 'TRACE', 20: 'DEBUG', 30: 'INFO', 40: 'WARN', 50: 'ERROR', 60: 'FATAL' };
const COLORS: Readonly<Record<number, string>> = { 10: '90', 20: '36', 30: '32', 40: '33', 50: '31', 60: '35' };
/** pino's bookkeeping fields: shown in the line's head, or not at all. */
const HEAD_FIELDS = new Set(['level', 'time', 'msg', 'pid', 'hostname', 'name']);
const PLAIN = /^[A-Za-z0-9_./:@|~+-]+$/;

/** A field value as a person reads it: bare when it has no spaces or quotes, else JSON-quoted. */
function fieldValue(v: unknown): string {
  if (typeof v === 'string') return v !== '' && PLAIN.test(v) ? v : JSON.stringify(v);
  if (typeof v === 'number' || typeof v === 'boolean' || v === null) return String(v);
  return JSON.stringify(v);
}

/** Renders one pino JSON record as `time LEVEL message key=value ...` (an error's stack on the lines after). */
export function renderLogLine(json: string, color = false): string {
  let rec: Record<string, unknown>;
  try {
    rec = JSON.parse(json) as Record<string, unknown>;
  } catch {
    return json.endsWith('\n') ? json : `${json}\n`;
  }
  const level = typeof rec.level === 'number' ? rec.level : 30;
  const name = LEVELS[level] ?? String(level);
  const time = typeof rec.time === 'number' ? new Date(rec.time).toISOString() : '';
  const head = color ? `\u001b[${COLORS[level] ?? '0'}m${name.padEnd(5)}\u001b[0m` : name.padEnd(5);
  const fields: string[] = [];
  let stack = '';
  for (const [k, v] of Object.entries(rec)) {
    if (HEAD_FIELDS.has(k)) continue;
    if (k === 'err' && typeof v === 'object' && v !== null) {
      const e = v as { message?: unknown; stack?: unknown };
      fields.push(`err=${fieldValue(e.message ?? v)}`);
      if (typeof e.stack === 'string') stack = `\n    ${e.stack.split('\n').slice(1).map((l) => l.trim()).join('\n    ')}`;
      continue;
    }
    fields.push(`${k}=${fieldValue(v)}`);
  }
  const msg = typeof rec.msg === 'string' ? rec.msg : '';
  // A message is one line: control characters a client put into it must not forge more lines.
  const safe = (s: string) => s.replace(/[\u0000-\u0008\u000a-\u001f\u007f]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
  return `${time} ${head} ${safe(msg)}${fields.length ? ` ${safe(fields.join(' '))}` : ''}${stack}\n`;
}

/** The process-wide structured logger (JSON lines on stderr; `CROSSMESH_LOG_LEVEL` sets the level). */
import { pino } from 'pino';

export const log = pino(
  {
    name: 'crossmesh',
    level: process.env.CROSSMESH_LOG_LEVEL ?? (process.env.VITEST ? 'silent' : 'info'),
    // Anything that may carry key material or tokens is never written out.
    redact: { paths: ['*.privateKey', '*.private_key', '*.key', '*.token', '*.authorization', 'headers.authorization'], censor: '[redacted]' },
  },
  pino.destination(2),
);

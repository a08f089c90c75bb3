/** Starts a real xDS server on 127.0.0.1 around a fresh cache, with clients that are closed together. */
import { SnapshotCache, type GroupResolver } from '../../src/xds/cache.js';
import { XdsServer } from '../../src/xds/server.js';
import type { Authenticator } from '../../src/xds/stream.js';
import { XdsTestClient } from './xds-client.js';

export interface Harness {
  readonly cache: SnapshotCache;
  readonly server: XdsServer;
  readonly address: string;
  readonly port: number;
  /** A new client connection (closed by `close`). */
  client(): XdsTestClient;
  close(): Promise<void>;
}

/** Starts the server; `debounceMs` defaults to 5 so tests run fast. */
export async function startHarness(
  opts: { debounceMs?: number; resolver?: GroupResolver; authenticate?: Authenticator; maxReceiveMessageBytes?: number; maxConnectionAgeMs?: number; maxConnectionAgeGraceMs?: number } = {},
): Promise<Harness> {
  const cache = new SnapshotCache({ debounceMs: opts.debounceMs ?? 5, ...(opts.resolver ? { resolver: opts.resolver } : {}) });
  const server = new XdsServer({
    cache,
    ...(opts.authenticate ? { authenticate: opts.authenticate } : {}),
    ...(opts.maxReceiveMessageBytes ? { maxReceiveMessageBytes: opts.maxReceiveMessageBytes } : {}),
    ...(opts.maxConnectionAgeMs !== undefined ? { maxConnectionAgeMs: opts.maxConnectionAgeMs } : {}),
    ...(opts.maxConnectionAgeGraceMs !== undefined ? { maxConnectionAgeGraceMs: opts.maxConnectionAgeGraceMs } : {}),
  });
  const port = await server.listen('127.0.0.1', 0);
  const address = `127.0.0.1:${port}`;
  const clients: XdsTestClient[] = [];
  return {
    cache,
    server,
    address,
    port,
    client() {
      const c = new XdsTestClient(address);
      clients.push(c);
      return c;
    },
    async close() {
      for (const c of clients) c.close();
      await server.close(200);
      cache.close();
    },
  };
}

/** Polls `cond` until true or throws after timeoutMs. */
export async function until(cond: () => boolean, timeoutMs = 3000, what = 'condition'): Promise<void> {
  const start = Date.now();
  while (!cond()) {
    if (Date.now() - start > timeoutMs) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

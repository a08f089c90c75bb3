/**
 * One Kubernetes watch request: a streaming GET of newline-delimited JSON events.
 *
 * Why not the library's `Watch`: in @kubernetes/client-node 1.4.0 it hands back its AbortController
 * only after the response headers arrive and its 30 s timeout signal is overwritten before use, so a
 * watch to a hung API server can neither be timed out nor cancelled by stop(). This does the same
 * request (same URL shape, same kubeconfig auth/TLS via `applyToHTTPSOptions`) with both.
 */
import * as http from 'node:http';
import * as https from 'node:https';
import type * as k8s from '@kubernetes/client-node';

export type WatchEventType = 'ADDED' | 'MODIFIED' | 'DELETED' | 'BOOKMARK';

export interface WatchRequest {
  readonly path: string;
  readonly resourceVersion: string;
  /** Asks the server to end the watch after this long; the caller then re-watches. */
  readonly timeoutSeconds: number;
  /** No response headers within this long counts as a failure. */
  readonly connectTimeoutMs: number;
  /** Hard bound on the whole request, against half-open connections that never end. */
  readonly maxDurationMs: number;
  readonly signal: AbortSignal;
  readonly onEvent: (type: WatchEventType, object: unknown) => void;
}

/** How a watch that was established ended. */
export interface WatchOutcome {
  /** `closed`: the stream ended or dropped (resume from the last resourceVersion); `gone`: 410, relist. */
  readonly end: 'closed' | 'gone';
  /** Events received, bookmarks included. */
  readonly events: number;
  readonly reason: string;
}

/** An API server answer that is not a successful watch; `statusCode` 410 means the resourceVersion is too old. */
export class KubeApiError extends Error {
  constructor(
    message: string,
    readonly statusCode?: number,
  ) {
    super(message);
    this.name = 'KubeApiError';
  }
}

const MAX_ERROR_BODY = 64 * 1024;

function statusMessage(body: string): string {
  try {
    const status = JSON.parse(body) as { message?: string; reason?: string };
    return status.message ?? status.reason ?? body.slice(0, 200);
  } catch {
    return body.slice(0, 200);
  }
}

/**
 * Runs one watch until it ends. Resolves when an established stream ends (dropped, server timeout,
 * 410 ERROR event); rejects when it could not be established (connection refused, HTTP error,
 * no headers in time, abort) or the server sent a non-410 ERROR event.
 */
export async function runWatch(kc: k8s.KubeConfig, req: WatchRequest): Promise<WatchOutcome> {
  const cluster = kc.getCurrentCluster();
  if (!cluster) throw new KubeApiError('kubeconfig has no current cluster');
  const url = new URL(cluster.server + req.path);
  url.searchParams.set('watch', 'true');
  url.searchParams.set('allowWatchBookmarks', 'true');
  url.searchParams.set('timeoutSeconds', String(req.timeoutSeconds));
  if (req.resourceVersion) url.searchParams.set('resourceVersion', req.resourceVersion);

  // Same auth and TLS settings the generated clients use (token, client cert, CA, exec plugins).
  const opts: https.RequestOptions = {};
  await kc.applyToHTTPSOptions(opts);
  if (req.signal.aborted) throw new KubeApiError('aborted');

  return new Promise<WatchOutcome>((resolvePromise, rejectPromise) => {
    let settled = false;
    let responded = false;
    let events = 0;
    const timers: NodeJS.Timeout[] = [];
    const finish = (fn: () => void): void => {
      if (settled) return;
      settled = true;
      for (const t of timers) clearTimeout(t);
      req.signal.removeEventListener('abort', onAbort);
      request.destroy();
      fn();
    };
    const fail = (err: Error): void => finish(() => rejectPromise(err));
    const end = (endKind: 'closed' | 'gone', reason: string): void => finish(() => resolvePromise({ end: endKind, events, reason }));
    const onAbort = (): void => fail(new KubeApiError('aborted'));

    const mod = url.protocol === 'https:' ? https : http;
    const headers: http.OutgoingHttpHeaders = { ...((opts.headers as http.OutgoingHttpHeaders | undefined) ?? {}), Accept: 'application/json' };
    const request = mod.request(url, {
      method: 'GET',
      agent: opts.agent,
      headers,
      ...(opts.auth ? { auth: opts.auth } : {}),
    });
    req.signal.addEventListener('abort', onAbort, { once: true });

    timers.push(
      setTimeout(() => fail(new KubeApiError(`no response to watch ${req.path} within ${req.connectTimeoutMs} ms`)), req.connectTimeoutMs),
    );
    request.on('socket', (socket) => socket.setKeepAlive(true, 30_000));
    request.on('error', (err) => {
      // Before the response this is an unreachable server; after it, the stream dropped.
      if (responded) end('closed', `connection dropped: ${err.message}`);
      else fail(new KubeApiError(`watch ${req.path}: ${err.message}`));
    });

    request.on('response', (res) => {
      responded = true;
      const first = timers.shift();
      if (first) clearTimeout(first);
      if (res.statusCode !== 200) {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (chunk: string) => {
          if (body.length < MAX_ERROR_BODY) body += chunk;
        });
        res.on('error', () => undefined);
        res.on('end', () => {
          const msg = `watch ${req.path}: HTTP ${res.statusCode}: ${statusMessage(body)}`;
          if (res.statusCode === 410) end('gone', msg);
          else fail(new KubeApiError(msg, res.statusCode));
        });
        return;
      }
      timers.push(setTimeout(() => end('closed', `watch exceeded ${req.maxDurationMs} ms`), req.maxDurationMs));
      res.setEncoding('utf8');
      let buffer = '';
      res.on('data', (chunk: string) => {
        buffer += chunk;
        let nl: number;
        while (!settled && (nl = buffer.indexOf('\n')) >= 0) {
          const line = buffer.slice(0, nl).trim();
          buffer = buffer.slice(nl + 1);
          if (line) handleLine(line);
        }
      });
      res.on('error', (err) => end('closed', `connection dropped: ${err.message}`));
      res.on('aborted', () => end('closed', 'connection dropped'));
      res.on('end', () => end('closed', 'stream ended'));
      res.on('close', () => end('closed', 'stream closed'));
    });
    request.end();

    function handleLine(line: string): void {
      let event: { type?: string; object?: { code?: number; message?: string; reason?: string } };
      try {
        event = JSON.parse(line) as typeof event;
      } catch {
        // A torn line is a broken stream: resume from the last complete event rather than guess.
        end('closed', 'unparseable watch event');
        return;
      }
      if (event.type === 'ERROR') {
        const status = event.object ?? {};
        const msg = `watch ${req.path}: ERROR ${status.code ?? ''} ${status.message ?? status.reason ?? ''}`.trim();
        if (status.code === 410) end('gone', msg);
        else fail(new KubeApiError(msg, status.code));
        return;
      }
      if (event.type === 'ADDED' || event.type === 'MODIFIED' || event.type === 'DELETED' || event.type === 'BOOKMARK') {
        events++;
        req.onEvent(event.type, event.object);
      }
    }
  });
}

/**
 * One plain (non-streaming) request to a Kubernetes API server with a kubeconfig's auth and TLS.
 *
 * Custom resources, their status subresource and Leases are reached with this rather than the
 * generated clients: those need a per-call middleware to be cancellable (api-resources.ts) and
 * PATCH content types set by hand, while this is one JSON request with a timeout and a signal.
 */
import * as http from 'node:http';
import * as https from 'node:https';
import type * as k8s from '@kubernetes/client-node';
import { KubeApiError } from './watch-stream.js';

const MAX_BODY = 64 * 1024 * 1024;

export interface KubeRequest {
  readonly method: 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE';
  /** Path and query, e.g. `/apis/coordination.k8s.io/v1/namespaces/x/leases/y`. */
  readonly path: string;
  readonly body?: unknown;
  /** Default application/json; PATCH needs e.g. application/merge-patch+json. */
  readonly contentType?: string;
  readonly timeoutMs: number;
  readonly signal?: AbortSignal;
}

export interface KubeResponse<T = unknown> {
  readonly status: number;
  /** Parsed JSON (an object or a Kubernetes Status), or undefined for an empty body. */
  readonly body: T | undefined;
}

/** The `message` of a Kubernetes Status body, or a short form of the body. */
export function kubeStatusMessage(body: unknown): string {
  const m = (body as { message?: unknown } | undefined)?.message;
  if (typeof m === 'string' && m !== '') return m;
  return JSON.stringify(body ?? '').slice(0, 200);
}

/**
 * Sends one request; resolves with any HTTP status (the caller decides what 404 or 409 mean),
 * rejects with a KubeApiError when the server cannot be reached or does not answer in time.
 */
export async function kubeRequest<T = unknown>(kc: k8s.KubeConfig, req: KubeRequest): Promise<KubeResponse<T>> {
  const cluster = kc.getCurrentCluster();
  if (!cluster) throw new KubeApiError('kubeconfig has no current cluster');
  const url = new URL(cluster.server.replace(/\/+$/, '') + req.path);
  const opts: https.RequestOptions = {};
  await kc.applyToHTTPSOptions(opts);
  const payload = req.body === undefined ? undefined : Buffer.from(JSON.stringify(req.body));
  const signal = req.signal ? AbortSignal.any([req.signal, AbortSignal.timeout(req.timeoutMs)]) : AbortSignal.timeout(req.timeoutMs);
  const headers: http.OutgoingHttpHeaders = {
    ...((opts.headers as http.OutgoingHttpHeaders | undefined) ?? {}),
    Accept: 'application/json',
    ...(payload ? { 'Content-Type': req.contentType ?? 'application/json', 'Content-Length': payload.length } : {}),
  };
  const mod = url.protocol === 'https:' ? https : http;
  return new Promise<KubeResponse<T>>((resolve, reject) => {
    const what = `${req.method} ${req.path}`;
    const request = mod.request(url, { method: req.method, agent: opts.agent, headers, signal, ...(opts.auth ? { auth: opts.auth } : {}) });
    request.on('error', (err) => {
      const timedOut = signal.aborted && !req.signal?.aborted;
      reject(new KubeApiError(timedOut ? `${what}: no answer within ${req.timeoutMs} ms` : `${what}: ${err.message}`));
    });
    request.on('response', (res) => {
      const chunks: Buffer[] = [];
      let size = 0;
      res.on('data', (c: Buffer) => {
        size += c.length;
        if (size > MAX_BODY) {
          request.destroy(new Error(`response larger than ${MAX_BODY} bytes`));
          return;
        }
        chunks.push(c);
      });
      res.on('error', (err) => reject(new KubeApiError(`${what}: ${err.message}`)));
      res.on('end', () => {
        const text = Buffer.concat(chunks).toString('utf8');
        let body: T | undefined;
        if (text !== '') {
          try {
            body = JSON.parse(text) as T;
          } catch {
            reject(new KubeApiError(`${what}: HTTP ${res.statusCode}: not JSON: ${text.slice(0, 200)}`, res.statusCode));
            return;
          }
        }
        resolve({ status: res.statusCode ?? 0, body });
      });
    });
    request.end(payload);
  });
}

/**
 * One HTTP exchange with a local control endpoint, bounded in time: an in-namespace driver's or
 * an Envoy admin's unix socket (`socketPath`), or a host:port. Used by the driver client and the
 * Envoy admin client; the error names the endpoint and the request.
 */
import * as http from 'node:http';

/** Where a local HTTP endpoint listens. */
export type LocalEndpoint = { readonly socketPath: string } | { readonly host: string; readonly port: number };

export interface LocalResponse {
  readonly status: number;
  readonly headers: http.IncomingHttpHeaders;
  readonly body: string;
}

/** `unix:/path` or `host:port`, for messages. */
export function describeEndpoint(endpoint: LocalEndpoint): string {
  return 'socketPath' in endpoint ? `unix:${endpoint.socketPath}` : `${endpoint.host}:${endpoint.port}`;
}

/** Sends one request and reads the whole answer; rejects after `timeoutMs` or on a connection error. */
export function localRequest(
  endpoint: LocalEndpoint,
  method: string,
  path: string,
  opts: { readonly body?: string; readonly timeoutMs: number },
): Promise<LocalResponse> {
  const where = `${method} ${path} on ${describeEndpoint(endpoint)}`;
  return new Promise((resolve, reject) => {
    const req = http.request({
      ...('socketPath' in endpoint ? { socketPath: endpoint.socketPath } : { host: endpoint.host, port: endpoint.port }),
      method,
      path,
      agent: false,
      headers: opts.body !== undefined ? { 'content-type': 'application/json', 'content-length': Buffer.byteLength(opts.body) } : {},
    });
    const timer = setTimeout(() => req.destroy(new Error(`no answer within ${opts.timeoutMs} ms`)), opts.timeoutMs);
    req.on('error', (err) => {
      clearTimeout(timer);
      reject(new Error(`${where}: ${err.message}`));
    });
    req.on('response', (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('error', (err) => {
        clearTimeout(timer);
        reject(new Error(`${where}: ${err.message}`));
      });
      res.on('end', () => {
        clearTimeout(timer);
        resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks).toString('utf8') });
      });
    });
    req.end(opts.body);
  });
}

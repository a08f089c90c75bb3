/**
 * The HTTPS listener of the sidecar-injection webhook (`crossmesh serve --inject-port`). Its
 * certificate is the xDS server certificate crossmesh's CA issues (`crossmesh.<namespace>.svc`,
 * loopback, the configured host names), so the MutatingWebhookConfiguration's `caBundle` is the
 * mesh root, and renewals reach the listener without a restart. One crossmesh can serve several
 * clusters: the path `/inject/<cluster>` says which crossmesh Cluster the API server's pods are in.
 */
import * as https from 'node:https';
import type { AddressInfo } from 'node:net';
import type * as grpc from '@grpc/grpc-js';
import { log } from '../log.js';
import { AdmissionError, decideAdmission } from './admission.js';
import { injectAdmissions } from './metrics.js';
import type { InjectOptions } from './options.js';

/** Where the server certificate comes from: XdsServerTls provides exactly this. */
export interface IdentitySource {
  addIdentityCertificateListener(listener: grpc.experimental.IdentityCertificateUpdateListener): void;
  removeIdentityCertificateListener(listener: grpc.experimental.IdentityCertificateUpdateListener): void;
}

export interface InjectionWebhookOptions {
  readonly host: string;
  /** 0 picks a free port. */
  readonly port: number;
  readonly identity: IdentitySource;
  /** The injection options for a cluster's pods (built per request, so the root bundle is current). */
  readonly optionsFor: (cluster: string) => InjectOptions;
  /** Whether a cluster name is known to the mesh; an unknown one is refused (its pods' node ids would bind to nothing). */
  readonly knownCluster?: (cluster: string) => boolean;
}

/** A running webhook listener. */
export interface InjectionWebhook {
  /** `https://host:port` (append `/inject/<cluster>`). */
  readonly url: string;
  readonly port: number;
  close(): Promise<void>;
}

/** Largest AdmissionReview accepted: a pod is at most ~1.5 MiB in etcd; the review carries it once or twice. */
const MAX_BODY_BYTES = 4 * 1024 * 1024;
const PATH = /^\/inject\/([a-z0-9]([-a-z0-9]*[a-z0-9])?)$/;

/** Starts the webhook listener once the first server certificate is available. */
export async function startInjectionWebhook(o: InjectionWebhookOptions): Promise<InjectionWebhook> {
  let server: https.Server | undefined;
  let listener!: grpc.experimental.IdentityCertificateUpdateListener;
  const first = new Promise<{ cert: Buffer; key: Buffer }>((resolve) => {
    listener = (update) => {
      if (!update) return;
      const pair = { cert: update.certificate, key: update.privateKey };
      if (server) server.setSecureContext(pair);
      else resolve(pair);
    };
  });
  o.identity.addIdentityCertificateListener(listener);
  const pair = await first;
  server = https.createServer({ ...pair, minVersion: 'TLSv1.2' }, (req, res) => handle(req, res, o));
  // An API server's call has its own timeout (10 s by default, 30 s at most); hold nothing longer.
  server.requestTimeout = 30_000;
  server.headersTimeout = 10_000;
  const s = server;
  await new Promise<void>((resolve, reject) => {
    s.once('error', reject);
    s.listen(o.port, o.host, () => {
      s.off('error', reject);
      resolve();
    });
  });
  const port = (s.address() as AddressInfo).port;
  const host = o.host.includes(':') ? `[${o.host}]` : o.host;
  let closing: Promise<void> | undefined;
  return {
    url: `https://${host}:${port}`,
    port,
    close() {
      closing ??= new Promise<void>((resolve) => {
        o.identity.removeIdentityCertificateListener(listener);
        s.close(() => resolve());
        s.closeAllConnections();
      });
      return closing;
    },
  };
}

function send(res: import('node:http').ServerResponse, status: number, body: unknown): void {
  const text = typeof body === 'string' ? `${body}\n` : JSON.stringify(body);
  res.writeHead(status, { 'content-type': typeof body === 'string' ? 'text/plain; charset=utf-8' : 'application/json', 'content-length': Buffer.byteLength(text), 'x-content-type-options': 'nosniff' });
  res.end(text);
}

function handle(req: import('node:http').IncomingMessage, res: import('node:http').ServerResponse, o: InjectionWebhookOptions): void {
  const path = (req.url ?? '').split('?')[0]!;
  const m = PATH.exec(path);
  if (!m) return send(res, 404, 'not found: the injection webhook is at /inject/<cluster>');
  const cluster = m[1]!;
  if (req.method !== 'POST') return send(res, 405, 'method not allowed: POST an AdmissionReview');
  if (o.knownCluster && !o.knownCluster(cluster)) return send(res, 404, `cluster "${cluster}" is not in the mesh; the webhook URL must name a crossmesh Cluster`);
  const chunks: Buffer[] = [];
  let size = 0;
  let tooLarge = false;
  req.on('data', (c: Buffer) => {
    size += c.length;
    if (size > MAX_BODY_BYTES) tooLarge = true;
    else chunks.push(c);
  });
  req.on('error', () => res.destroy());
  req.on('end', () => {
    if (tooLarge) return send(res, 413, `AdmissionReview larger than ${MAX_BODY_BYTES} bytes`);
    let body: unknown;
    try {
      body = JSON.parse(Buffer.concat(chunks).toString('utf8'));
    } catch {
      return send(res, 400, 'body is not JSON (expected an AdmissionReview)');
    }
    try {
      const { review: answer, result } = decideAdmission(body, o.optionsFor(cluster));
      const r = answer.response;
      injectAdmissions.inc({ cluster, result });
      log.info({ cluster, uid: r.uid, result, ...(r.status ? { reason: r.status.message } : {}) }, 'sidecar injection webhook');
      send(res, 200, answer);
    } catch (e) {
      if (e instanceof AdmissionError) {
        injectAdmissions.inc({ cluster, result: 'bad_request' });
        return send(res, e.httpStatus, e.message);
      }
      log.error({ cluster, err: (e as Error).message }, 'sidecar injection webhook failed');
      send(res, 500, `injection failed: ${(e as Error).message}`);
    }
  });
}

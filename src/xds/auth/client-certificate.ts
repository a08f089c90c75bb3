/**
 * Client-certificate authentication. The TLS layer requests (never requires) a client
 * certificate and verifies its chain against the mesh trust bundle; grpc-js exposes the peer
 * certificate only when that verification succeeded. Here the verified leaf's single SPIFFE URI
 * SAN becomes the principal.
 */
import { X509Certificate } from 'node:crypto';
import type { CallInfo } from '../stream.js';
import type { Principal } from './principal.js';

const SPIFFE = /^spiffe:\/\/([a-z0-9._-]{1,255})\/ns\/([A-Za-z0-9._-]{1,253})\/sa\/([A-Za-z0-9._-]{1,253})$/;

/** The principal of a verified client certificate, undefined when none was presented (or it did not verify). */
export function certificatePrincipal(authContext: CallInfo['authContext'], now: number = Date.now()): Principal | Error | undefined {
  const peer = authContext.sslPeerCertificate;
  if (authContext.transportSecurityType !== 'ssl' || !peer?.raw) return undefined;
  let cert: X509Certificate;
  try {
    cert = new X509Certificate(peer.raw);
  } catch {
    return new Error('client certificate cannot be parsed');
  }
  if (cert.ca) return new Error('client certificate is a CA certificate');
  if (Date.parse(cert.validTo) <= now) return new Error(`client certificate expired at ${cert.validTo}`);
  const uris = (cert.subjectAltName ?? '')
    .split(/,\s*/)
    .filter((s) => s.startsWith('URI:'))
    .map((s) => s.slice(4));
  if (uris.length !== 1) return new Error(`client certificate must carry exactly one SPIFFE URI SAN, found ${uris.length}`);
  const m = SPIFFE.exec(uris[0]!);
  if (!m) return new Error(`client certificate URI SAN ${uris[0]} is not a workload SPIFFE ID (spiffe://<trust domain>/ns/<ns>/sa/<sa>)`);
  return { mode: 'cert', trustDomain: m[1]!, namespace: m[2]!, serviceAccount: m[3]!, subject: uris[0]!, expiresAt: new Date(cert.validTo) };
}

/** PEM framing of certificates: DER → PEM, and a PEM bundle → its certificates in order. */

/** Wraps DER bytes as a PEM block (64-column base64, trailing newline). */
export function toPem(der: Uint8Array, label = 'CERTIFICATE'): string {
  const b64 = Buffer.from(der.buffer, der.byteOffset, der.byteLength).toString('base64');
  let body = '';
  for (let i = 0; i < b64.length; i += 64) body += `${b64.slice(i, i + 64)}\n`;
  return `-----BEGIN ${label}-----\n${body}-----END ${label}-----\n`;
}

const CERT_BLOCK = /-----BEGIN CERTIFICATE-----([\s\S]*?)-----END CERTIFICATE-----/g;

/** Every CERTIFICATE block of a PEM text, as normalised PEM strings, in file order. */
export function splitCertificates(pem: string): string[] {
  const out: string[] = [];
  for (const m of pem.matchAll(CERT_BLOCK)) out.push(toPem(Buffer.from((m[1] ?? '').replace(/\s+/g, ''), 'base64')));
  return out;
}

/**
 * Writes a workload's certificate files the way `crossmesh agent --out <dir>` does (`cert.pem`
 * chain, `key.pem` 0600, `ca.pem` trust bundle; each staged and renamed into place), straight from
 * the CA, for simulated workloads whose certificate-provider bootstraps read that directory.
 */
import { mkdir, rename, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { CertificateAuthority } from '../ca/authority.js';
import type { WorkloadIdentity } from '../ca/identity.js';

async function put(dir: string, name: string, data: string, mode: number): Promise<void> {
  const tmp = join(dir, `.${name}.tmp`);
  await writeFile(tmp, data, { mode });
  await rename(tmp, join(dir, name));
}

/** Issues (or reuses) the identity's certificate and writes cert.pem, key.pem, ca.pem into `dir`. */
export async function writeWorkloadCertFiles(ca: CertificateAuthority, identity: WorkloadIdentity, dir: string): Promise<void> {
  await mkdir(dir, { recursive: true, mode: 0o700 });
  const cert = await ca.getWorkloadCertificate(identity);
  await put(dir, 'key.pem', cert.privateKey, 0o600);
  await put(dir, 'cert.pem', cert.certificateChainPem, 0o644);
  await put(dir, 'ca.pem', ca.trustBundle().pem, 0o644);
}

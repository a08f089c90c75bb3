/** Shared test helpers: temp CA directories, PEM chain parsing, waiting for CA events. */
import { X509Certificate } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { CaEvent, CertificateAuthority } from '../../src/ca/index.js';
import { splitCertificates } from '../../src/ca/pem.js';

/** A fresh temp directory and its cleanup. */
export async function tempDir(): Promise<{ dir: string; cleanup: () => Promise<void> }> {
  const dir = await mkdtemp(join(tmpdir(), 'crossmesh-ca-'));
  // A write the CA started before close() may still land while the tree is removed: rm retries ENOTEMPTY.
  return { dir, cleanup: () => rm(dir, { recursive: true, force: true, maxRetries: 5, retryDelay: 50 }) };
}

/** The certificates of a PEM chain or bundle, in order. */
export function certs(pem: string): X509Certificate[] {
  return splitCertificates(pem).map((p) => new X509Certificate(p));
}

/** Resolves with the first event matching `pred`; rejects after `ms`. */
export function nextEvent(ca: CertificateAuthority, pred: (e: CaEvent) => boolean, ms = 5000): Promise<CaEvent> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      off();
      reject(new Error('timed out waiting for a CA event'));
    }, ms);
    const off = ca.onChange((e) => {
      if (!pred(e)) return;
      clearTimeout(timer);
      off();
      resolve(e);
    });
  });
}

/** Lets pending promise callbacks and one event-loop turn run. */
export function settle(): Promise<void> {
  return new Promise((r) => setImmediate(r));
}

/** Polls `cond` every event-loop turn until it holds; rejects after `ms`. */
export async function waitFor(cond: () => boolean, ms = 5000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error('timed out waiting for condition');
    await new Promise((r) => setTimeout(r, 2));
  }
}

/**
 * The xDS server certificate: issued by the mesh root with the control plane's DNS/IP names, for
 * server authentication only, and never carrying a workload identity.
 */
import { X509Certificate } from 'node:crypto';
import * as tls from 'node:tls';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { CertificateAuthority } from '../../src/ca/index.js';
import { classifyHosts } from '../../src/ca/server-certificate.js';
import { XdsServerTls } from '../../src/xds/auth/server-tls.js';
import { SnapshotCache } from '../../src/xds/cache.js';
import { XdsServer } from '../../src/xds/server.js';

let dir: string;
let ca: CertificateAuthority;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'crossmesh-srv-'));
  ca = await CertificateAuthority.open({ directory: dir });
});
afterEach(async () => {
  ca.close();
  await rm(dir, { recursive: true, force: true });
});

describe('xDS server certificate', () => {
  it('chains to the root and names crossmesh.<ns>.svc, localhost, loopback and the configured hosts', async () => {
    const tls = await XdsServerTls.start({ ca, namespace: 'mesh-system', hosts: ['xds.example.com', '10.0.0.7', '0.0.0.0'] });
    try {
      const cert = new X509Certificate(tls.certificatePem);
      const root = new X509Certificate(ca.trustBundle().pem);
      expect(cert.verify(root.publicKey)).toBe(true);
      expect(cert.checkIssued(root)).toBe(true);
      expect(cert.ca).toBe(false);
      const san = cert.subjectAltName ?? '';
      for (const n of ['DNS:crossmesh.mesh-system.svc', 'DNS:localhost', 'DNS:xds.example.com', 'IP Address:127.0.0.1', 'IP Address:10.0.0.7']) expect(san).toContain(n);
      expect(san).not.toContain('URI:');
      expect(san).not.toContain('0.0.0.0');
      expect(cert.keyUsage).toEqual(['1.3.6.1.5.5.7.3.1']);
      expect(cert.checkHost('crossmesh.mesh-system.svc')).toBe('crossmesh.mesh-system.svc');
      expect(tls.info().rootId).toBe(ca.trustBundle().roots[0]!.id);
    } finally {
      tls.close();
    }
  });

  it('rejects host names that are neither DNS names nor addresses', () => {
    expect(() => classifyHosts(['bad host!'])).toThrow(/"bad host!" is neither an IP address nor a valid DNS name/);
    expect(classifyHosts(['[::1]', 'A.Example.COM', 'a.example.com'])).toEqual({ dnsNames: ['a.example.com'], ipAddresses: ['::1'] });
  });

  it('a renewed certificate reaches the listening server without a restart', async () => {
    const provider = await XdsServerTls.start({ ca, lifetimeMs: 3000 });
    const cache = new SnapshotCache();
    const server = new XdsServer({ cache });
    try {
      const port = await server.listen('127.0.0.1', 0, provider.credentials);
      const presented = () =>
        new Promise<string>((resolve, reject) => {
          const socket = tls.connect({ host: '127.0.0.1', port, ca: ca.trustBundle().pem, ALPNProtocols: ['h2'] }, () => {
            const serial = socket.getPeerCertificate().serialNumber;
            socket.destroy();
            resolve(serial);
          });
          socket.on('error', reject);
        });
      const first = await presented();
      expect(first).toBe(provider.info().serial);
      const deadline = Date.now() + 6000;
      while (provider.info().serial === first && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
      expect(provider.info().serial).not.toBe(first);
      expect(await presented()).toBe(provider.info().serial);
    } finally {
      await server.close(100);
      cache.close();
      provider.close();
    }
  }, 15_000);
});

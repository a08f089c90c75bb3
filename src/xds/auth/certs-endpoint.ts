/** `/debug/certs` on the admin server: issued certificates (identity, serial, expiry), never keys. */
import type { AdminHandler } from '../../admin/server.js';
import { sendJson } from '../../admin/server.js';
import type { CertificateAuthority } from '../../ca/authority.js';
import type { TokenKeyring } from '../../ca/token-key.js';
import type { XdsServerTls } from './server-tls.js';

export interface CertsEndpointSources {
  readonly ca: CertificateAuthority;
  readonly serverTls?: XdsServerTls;
  readonly keyring?: TokenKeyring;
}

/** The handler of `/debug/certs`. Every field is copied explicitly so no key material can slip in. */
export function certsHandler(s: CertsEndpointSources): AdminHandler {
  return (_req, res) => {
    const bundle = s.ca.trustBundle();
    sendJson(res, 200, {
      issued: s.ca.listIssued().map((c) => ({
        identity: c.spiffeId,
        cluster: c.cluster,
        serial: c.serial,
        notBefore: c.notBefore.toISOString(),
        notAfter: c.notAfter.toISOString(),
        rotateAt: c.rotateAt.toISOString(),
        keyAlgorithm: c.keyAlgorithm,
        rootId: c.rootId,
      })),
      trustBundle: bundle.roots.map((r) => ({ id: r.id, subject: r.subject, notAfter: r.notAfter.toISOString(), status: r.status })),
      intermediates: s.ca.listIntermediates().map((i) => ({ cluster: i.cluster, trustDomain: i.trustDomain, id: i.id, rootId: i.rootId, notAfter: i.notAfter.toISOString() })),
      xdsServer: s.serverTls
        ? (() => {
            const i = s.serverTls.info();
            return { serial: i.serial, notBefore: i.notBefore.toISOString(), notAfter: i.notAfter.toISOString(), rootId: i.rootId, dnsNames: i.dnsNames, ipAddresses: i.ipAddresses };
          })()
        : null,
      tokenKeys: (s.keyring?.list() ?? []).map((k) => ({ kid: k.kid, status: k.status, createdAt: k.createdAt.toISOString(), retireAt: k.retireAt?.toISOString() ?? null })),
    });
  };
}

/**
 * The plaintext xDS port for proxyless gRPC clients. grpc-js-xds bootstraps accept only
 * `insecure` (or Google) channel credentials, so these clients cannot reach the TLS port. This port
 * admits `role: proxyless` nodes presenting no credentials and nothing else; they never receive a
 * secret (their certificates come from files written by `crossmesh agent`).
 */
import * as grpc from '@grpc/grpc-js';
import { log } from '../../log.js';
import type { Authenticator } from '../stream.js';
import { nodeRole } from '../types.js';
import { AuthRefusal } from './authenticator.js';
import { authAdmissions, authRefusals } from './metrics.js';
import { UNAUTHENTICATED_IDENTITY } from './principal.js';

/** Authenticator of the plaintext proxyless port. */
export function proxylessPortAuthenticator(): Authenticator {
  return async (call, node) => {
    const role = nodeRole(node);
    let refusal: AuthRefusal | undefined;
    if (role !== 'proxyless') {
      refusal = new AuthRefusal(grpc.status.PERMISSION_DENIED, 'plaintext_not_proxyless', `the plaintext xDS port serves only role=proxyless nodes; node ${node.id} has role ${role}: connect to the TLS xDS port`);
    } else if (call.metadata.get('authorization').length > 0) {
      // A credential sent in cleartext is already exposed; refusing it makes the misconfiguration loud.
      refusal = new AuthRefusal(grpc.status.UNAUTHENTICATED, 'credentials_over_plaintext', 'credentials must not be sent over the plaintext xDS port: use the TLS xDS port');
    }
    if (refusal) {
      authRefusals.inc({ reason: refusal.reason });
      log.warn({ node: node.id, peer: call.peer, reason: refusal.reason, error: refusal.message }, 'xds client refused on the proxyless port');
      return refusal;
    }
    authAdmissions.inc({ mode: 'none' });
    return UNAUTHENTICATED_IDENTITY;
  };
}

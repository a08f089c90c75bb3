/**
 * The xDS server's `authenticate` hook: who is this client, and may it be the node it claims?
 *
 * Credentials, in order: a bearer token in `authorization` metadata (a crossmesh token, verified
 * locally, or else a Kubernetes service account token, reviewed by the claimed cluster's API
 * server), then a verified client certificate. The principal must own the node (binding.ts).
 * Without credentials a stream is admitted only in development mode or, if enabled, for
 * `role: proxyless` nodes; such streams never receive a private key.
 */
import * as grpc from '@grpc/grpc-js';
import { log } from '../../log.js';
import type { MeshSnapshot } from '../../model/snapshot.js';
import type { TokenKeyring } from '../../ca/token-key.js';
import type { StreamIdentity } from '../cache.js';
import type { Authenticator, CallInfo } from '../stream.js';
import { nodeRole, type NodeInfo } from '../types.js';
import { bindPrincipal } from './binding.js';
import { certificatePrincipal } from './client-certificate.js';
import { authAdmissions, authRefusals, type RefusalReason } from './metrics.js';
import { UNAUTHENTICATED_IDENTITY, boundIdentity, describePrincipal, type Principal } from './principal.js';
import type { TokenReviewer } from './token-review.js';
import { isCrossmeshToken, verifyToken } from './tokens.js';

export interface AuthenticatorOptions {
  readonly keyring: TokenKeyring;
  /** The current mesh model (undefined until the first one is loaded: then only credential-less dev streams pass). */
  readonly mesh: () => MeshSnapshot | undefined;
  /** Reviews Kubernetes service account tokens; without it they are refused. */
  readonly tokenReviewer?: TokenReviewer;
  /** Development mode (`--insecure-xds`): admit clients without credentials (they get no secrets). */
  readonly allowUnauthenticated?: boolean;
  /** Admit `role: proxyless` nodes without credentials (grpc-js-xds bootstraps cannot carry any). */
  readonly allowUnauthenticatedProxyless?: boolean;
  readonly now?: () => number;
}

/** An Error that ends the stream with a gRPC status; `reason` labels the refusal metric. */
export class AuthRefusal extends Error {
  constructor(
    readonly code: grpc.status.UNAUTHENTICATED | grpc.status.PERMISSION_DENIED,
    readonly reason: RefusalReason,
    message: string,
  ) {
    super(message);
  }
}

function bearerToken(metadata: grpc.Metadata): string | undefined | Error {
  const values = metadata.get('authorization');
  if (values.length === 0) return undefined;
  if (values.length > 1) return new Error('more than one authorization header');
  const v = values[0];
  const m = typeof v === 'string' ? /^Bearer\s+(\S+)\s*$/i.exec(v) : null;
  if (!m) return new Error('authorization header must be "Bearer <token>"');
  return m[1]!;
}

/** Builds the authenticator; every refusal is logged (subject and node, never the credential) and counted. */
export function createAuthenticator(o: AuthenticatorOptions): Authenticator {
  const now = o.now ?? Date.now;

  const refuse = (node: NodeInfo, call: CallInfo, r: AuthRefusal): AuthRefusal => {
    authRefusals.inc({ reason: r.reason });
    log.warn({ node: node.id, peer: call.peer, reason: r.reason, error: r.message }, 'xds client refused');
    return r;
  };

  const principalOf = async (call: CallInfo, node: NodeInfo, mesh: MeshSnapshot | undefined): Promise<Principal | AuthRefusal | undefined> => {
    const token = bearerToken(call.metadata);
    if (token instanceof Error) return new AuthRefusal(grpc.status.UNAUTHENTICATED, 'invalid_token', token.message);
    if (token !== undefined) {
      if (isCrossmeshToken(token)) {
        const v = await verifyToken(o.keyring, token, now());
        if (!(v instanceof Error)) {
          const s = v.subject;
          return s.kind === 'node'
            ? { mode: 'token', kind: 'node', nodeId: s.nodeId, subject: v.sub, expiresAt: v.expiresAt }
            : { mode: 'token', kind: 'serviceAccount', cluster: s.cluster, namespace: s.namespace, serviceAccount: s.serviceAccount, subject: v.sub, expiresAt: v.expiresAt };
        }
        return new AuthRefusal(grpc.status.UNAUTHENTICATED, v.reason === 'expired' ? 'expired_token' : 'invalid_token', v.message);
      }
      // Not ours: a Kubernetes service account token, reviewed by the cluster the node claims.
      if (!mesh) return new AuthRefusal(grpc.status.UNAUTHENTICATED, 'model_not_loaded', 'the mesh model is not loaded yet; retry shortly');
      const clusterName = node.id.split('/')[0] ?? '';
      const cluster = mesh.clusters.get(clusterName);
      if (!cluster) return new AuthRefusal(grpc.status.PERMISSION_DENIED, 'unknown_node', `node ${node.id} names cluster "${clusterName}", which is not in the mesh`);
      if (!o.tokenReviewer) return new AuthRefusal(grpc.status.UNAUTHENTICATED, 'invalid_token', 'bearer token is not a crossmesh token and Kubernetes token review is disabled');
      const r = await o.tokenReviewer.review(cluster, token);
      if (!r.authenticated) {
        return new AuthRefusal(grpc.status.UNAUTHENTICATED, r.reason === 'unavailable' ? 'tokenreview_unavailable' : 'tokenreview_rejected', r.message);
      }
      return { mode: 'k8s', cluster: cluster.name, namespace: r.namespace, serviceAccount: r.serviceAccount, subject: r.username };
    }
    const cert = certificatePrincipal(call.authContext, now());
    if (cert instanceof Error) return new AuthRefusal(grpc.status.UNAUTHENTICATED, 'invalid_token', cert.message);
    return cert;
  };

  return async (call, node) => {
    const mesh = o.mesh();
    const p = await principalOf(call, node, mesh);
    if (p instanceof AuthRefusal) return refuse(node, call, p);
    if (!p) {
      const proxyless = nodeRole(node) === 'proxyless';
      if (o.allowUnauthenticated || (proxyless && o.allowUnauthenticatedProxyless)) {
        authAdmissions.inc({ mode: 'none' });
        log.info({ node: node.id, peer: call.peer, why: o.allowUnauthenticated ? 'development mode' : 'proxyless' }, 'xds client admitted without credentials; it receives no secrets');
        return UNAUTHENTICATED_IDENTITY;
      }
      return refuse(node, call, new AuthRefusal(grpc.status.UNAUTHENTICATED, 'missing_credentials', 'no credentials: send "authorization: Bearer <token>" metadata or a client certificate issued by the mesh CA'));
    }
    if (!mesh) return refuse(node, call, new AuthRefusal(grpc.status.UNAUTHENTICATED, 'model_not_loaded', 'the mesh model is not loaded yet; retry shortly'));
    const bound = bindPrincipal(p, node.id, mesh);
    if ('reason' in bound) {
      authRefusals.inc({ reason: bound.reason });
      log.warn(
        { node: node.id, peer: call.peer, authenticatedAs: describePrincipal(p), mode: p.mode, reason: bound.reason },
        `xds client authenticated as ${describePrincipal(p)} but claims node ${node.id}: ${bound.message}`,
      );
      return new AuthRefusal(grpc.status.PERMISSION_DENIED, bound.reason, `authenticated as ${describePrincipal(p)}, which may not act as node ${node.id} (${bound.message})`);
    }
    authAdmissions.inc({ mode: p.mode });
    const identity: StreamIdentity = boundIdentity(p, bound, node.id);
    log.info({ node: node.id, mode: p.mode, subject: p.subject, ...('expiresAt' in p ? { expiresAt: p.expiresAt.toISOString() } : {}) }, 'xds client authenticated');
    return identity;
  };
}

/**
 * Everything xDS security needs, assembled once for `crossmesh serve`: the TLS transport (or
 * plaintext in development mode), the token keyring (rotating with the CA root), the
 * authenticator, the secret publisher and the resolver decorator, and `/debug/certs`.
 */
import * as grpc from '@grpc/grpc-js';
import type { AdminServer } from '../../admin/server.js';
import type { CertificateAuthority } from '../../ca/authority.js';
import { TokenKeyring } from '../../ca/token-key.js';
import { log } from '../../log.js';
import type { MeshSnapshot } from '../../model/snapshot.js';
import type { GroupResolver, SnapshotCache, StreamIdentity } from '../cache.js';
import { SecretPublisher } from '../secret-publisher.js';
import type { XdsServer } from '../server.js';
import type { Authenticator } from '../stream.js';
import { SECRET_TYPE } from '../types.js';
import { createAuthenticator } from './authenticator.js';
import { certsHandler } from './certs-endpoint.js';
import { secretGroupFor, withSecretGroups } from './secret-groups.js';
import { XdsServerTls } from './server-tls.js';
import { KubernetesTokenReviewer, type TokenReviewer } from './token-review.js';

export interface XdsSecurityOptions {
  readonly ca: CertificateAuthority;
  readonly cache: SnapshotCache;
  /** `--insecure-xds`: plaintext transport and credential-less clients admitted (they still get no secrets). */
  readonly insecure: boolean;
  /** Admit `role: proxyless` nodes without credentials (no secrets for them either). */
  readonly allowUnauthenticatedProxyless?: boolean;
  /** Namespace for the server certificate's `crossmesh.<namespace>.svc` SAN (default crossmesh-system). */
  readonly namespace?: string;
  /** Extra host names / IPs in the server certificate. */
  readonly hosts?: readonly string[];
  /** Kubernetes token review (default: TokenReview with each cluster's kubeconfig); false disables it. */
  readonly tokenReviewer?: TokenReviewer | false;
  readonly serverCertificateLifetimeMs?: number;
  /** Passed to the secret publisher. */
  readonly idleReleaseMs?: number;
  readonly sweepIntervalMs?: number;
}

/** The assembled security layer. */
export interface XdsSecurity {
  /** xDS transport credentials: TLS with the CA-issued server certificate, or insecure in development mode. */
  readonly credentials: grpc.ServerCredentials;
  readonly authenticate: Authenticator;
  readonly keyring: TokenKeyring;
  readonly publisher: SecretPublisher;
  readonly serverTls: XdsServerTls | undefined;
  /** Supplies the mesh model (binding needs it); until then only credential-less development streams are admitted. */
  setMesh(mesh: () => MeshSnapshot | undefined): void;
  /** The mesh model `setMesh` supplies, if any yet (the injection webhook checks cluster names against it). */
  currentMesh(): MeshSnapshot | undefined;
  /** Decorates a mesh group resolver so SDS follows the authenticated identity. */
  withSecretGroups(base: GroupResolver): GroupResolver;
  /** The same decision as a hook: the SDS group for a node and its stream identity (MeshPublisher's `secretGroup` option). */
  secretGroup(nodeId: string, identity: StreamIdentity | undefined): string;
  /** Hooks into a running control plane: `/debug/certs` and releasing identities no stream uses. */
  attach(plane: { readonly xds: XdsServer; readonly admin: AdminServer }): void;
  close(): void;
}

/** Builds the security layer around an open CA. */
export async function startXdsSecurity(o: XdsSecurityOptions): Promise<XdsSecurity> {
  const activeRoot = (): string => o.ca.trustBundle().roots[0]!.id;
  const keyring = await TokenKeyring.open({ directory: o.ca.directory, rootId: activeRoot() });
  const unsubscribe = o.ca.onChange((e) => {
    if (e.kind !== 'trustBundle') return;
    keyring.syncWithRoot(activeRoot()).catch((err: unknown) => log.error({ err: (err as Error).message }, 'cannot rotate the token signing key with the CA root'));
  });
  let serverTls: XdsServerTls | undefined;
  try {
    serverTls = o.insecure
      ? undefined
      : await XdsServerTls.start({ ca: o.ca, ...(o.namespace ? { namespace: o.namespace } : {}), ...(o.hosts ? { hosts: o.hosts } : {}), ...(o.serverCertificateLifetimeMs ? { lifetimeMs: o.serverCertificateLifetimeMs } : {}) });
  } catch (e) {
    unsubscribe();
    throw e;
  }
  let mesh: () => MeshSnapshot | undefined = () => undefined;
  const meshNow = (): MeshSnapshot | undefined => mesh();
  const tokenReviewer = o.tokenReviewer === false ? undefined : (o.tokenReviewer ?? new KubernetesTokenReviewer());
  const authenticate = createAuthenticator({
    keyring,
    mesh: meshNow,
    ...(tokenReviewer ? { tokenReviewer } : {}),
    allowUnauthenticated: o.insecure,
    allowUnauthenticatedProxyless: o.allowUnauthenticatedProxyless ?? false,
  });
  const publisher = new SecretPublisher({
    cache: o.cache,
    ca: o.ca,
    ...(o.idleReleaseMs !== undefined ? { idleReleaseMs: o.idleReleaseMs } : {}),
    ...(o.sweepIntervalMs !== undefined ? { sweepIntervalMs: o.sweepIntervalMs } : {}),
  });
  return {
    credentials: serverTls ? serverTls.credentials : grpc.ServerCredentials.createInsecure(),
    authenticate,
    keyring,
    publisher,
    serverTls,
    currentMesh: meshNow,
    setMesh(m) {
      mesh = m;
      o.cache.reresolve();
    },
    withSecretGroups(base) {
      return withSecretGroups(base, { publisher, mesh: meshNow });
    },
    secretGroup(nodeId, identity) {
      return secretGroupFor(nodeId, identity, { publisher, mesh: meshNow });
    },
    attach(plane) {
      plane.admin.addRoute('/debug/certs', certsHandler({ ca: o.ca, keyring, ...(serverTls ? { serverTls } : {}) }));
      publisher.trackUsage(() => plane.xds.activeStreams().map((s) => s.groups?.get(SECRET_TYPE)));
    },
    close() {
      unsubscribe();
      publisher.close();
      serverTls?.close();
    },
  };
}

/** The CA stage's public surface: what SDS serving, `/debug/certs` and `crossmesh agent` use. */
export { CertificateAuthority } from './authority.js';
export type { CaEvent, CertificateAuthorityOptions, IssuedCertificateInfo, TrustBundle, TrustBundleRoot, WorkloadCertificate } from './authority.js';
export { DEFAULT_CA_DIRECTORY } from './ca-store.js';
export { systemClock } from './clock.js';
export type { Clock, TimerHandle } from './clock.js';
export { spiffeIdOf } from './identity.js';
export type { WorkloadIdentity } from './identity.js';
export type { KeyAlgorithm } from './keys.js';
export type { RootSource } from './root.js';

/**
 * crossmesh xDS bearer tokens: ES256 JWTs (`iss` and `aud` "crossmesh") signed with the keyring
 * kept beside the CA. A token binds either one node id (`sub: node:<cluster>/<ns>/<name>`) or a
 * service account that several replicas share (`sub: sa:<cluster>/<ns>/<serviceAccount>`).
 * Tokens themselves never reach a log: only their subject and expiry do.
 */
import { randomBytes } from 'node:crypto';
import { SignJWT, decodeJwt, decodeProtectedHeader, errors, jwtVerify } from 'jose';
import type { TokenKeyring } from '../../ca/token-key.js';

/** Issuer and audience of crossmesh tokens. */
export const TOKEN_ISSUER = 'crossmesh';
export const TOKEN_AUDIENCE = 'crossmesh';
const ALG = 'ES256';
/** Accepted clock difference between the signer and the verifier. */
const CLOCK_TOLERANCE_S = 30;

/** Who a token speaks for. */
export type TokenSubject =
  | { readonly kind: 'node'; readonly nodeId: string }
  | { readonly kind: 'serviceAccount'; readonly cluster: string; readonly namespace: string; readonly serviceAccount: string };

/** A freshly signed token. */
export interface IssuedToken {
  readonly token: string;
  readonly subject: string;
  readonly expiresAt: Date;
}

/** A token that verified. */
export interface VerifiedToken {
  readonly subject: TokenSubject;
  /** `sub` as written in the token (safe to log). */
  readonly sub: string;
  readonly expiresAt: Date;
  readonly kid: string;
}

/** Why a token was refused (`expired`, or `invalid` for anything else: signature, claims, format). */
export class TokenError extends Error {
  constructor(
    readonly reason: 'expired' | 'invalid',
    message: string,
  ) {
    super(message);
  }
}

const SEGMENT = /^[A-Za-z0-9][A-Za-z0-9._-]{0,252}$/;

/** The `sub` claim for a subject; throws naming the bad part. */
export function subjectClaim(s: TokenSubject): string {
  const parts = s.kind === 'node' ? s.nodeId.split('/') : [s.cluster, s.namespace, s.serviceAccount];
  if (parts.length !== 3 || !parts.every((p) => SEGMENT.test(p))) {
    const what = s.kind === 'node' ? `node id "${s.nodeId}"` : `service account "${parts.join('/')}"`;
    throw new Error(`${what} must be <cluster>/<namespace>/<name> (letters, digits, ".", "-", "_")`);
  }
  return `${s.kind === 'node' ? 'node' : 'sa'}:${parts.join('/')}`;
}

function parseSubject(sub: string): TokenSubject | undefined {
  const m = /^(node|sa):([^/]+)\/([^/]+)\/([^/]+)$/.exec(sub);
  if (!m || ![m[2], m[3], m[4]].every((p) => SEGMENT.test(p!))) return undefined;
  return m[1] === 'node'
    ? { kind: 'node', nodeId: `${m[2]}/${m[3]}/${m[4]}` }
    : { kind: 'serviceAccount', cluster: m[2]!, namespace: m[3]!, serviceAccount: m[4]! };
}

/** Signs a token for `subject` valid for `ttlMs` (at most the keyring's maximum token lifetime). */
export async function issueToken(keyring: TokenKeyring, subject: TokenSubject, ttlMs: number, now: number = Date.now()): Promise<IssuedToken> {
  if (!Number.isFinite(ttlMs) || ttlMs < 1000) throw new Error(`token lifetime must be at least 1s, got ${String(ttlMs)} ms`);
  if (ttlMs > keyring.maxTokenTtlMs) {
    throw new Error(`token lifetime ${Math.round(ttlMs / 1000)}s exceeds the maximum of ${Math.round(keyring.maxTokenTtlMs / 1000)}s set for this CA's token keys`);
  }
  const sub = subjectClaim(subject);
  const { kid, privateKey } = keyring.signingKey();
  const iat = Math.floor(now / 1000);
  const exp = Math.floor((now + ttlMs) / 1000);
  const token = await new SignJWT({})
    .setProtectedHeader({ alg: ALG, kid, typ: 'JWT' })
    .setIssuer(TOKEN_ISSUER)
    .setAudience(TOKEN_AUDIENCE)
    .setSubject(sub)
    .setIssuedAt(iat)
    .setExpirationTime(exp)
    .setJti(randomBytes(12).toString('base64url'))
    .sign(privateKey);
  return { token, subject: sub, expiresAt: new Date(exp * 1000) };
}

/** True if `token` claims to be a crossmesh token (issuer "crossmesh"); says nothing about validity. */
export function isCrossmeshToken(token: string): boolean {
  try {
    return decodeJwt(token).iss === TOKEN_ISSUER;
  } catch {
    return false;
  }
}

/** Verifies signature (current or not-yet-retired previous key), issuer, audience, expiry and subject. */
export async function verifyToken(keyring: TokenKeyring, token: string, now: number = Date.now()): Promise<VerifiedToken | TokenError> {
  let kid: string;
  try {
    const header = decodeProtectedHeader(token);
    if (header.alg !== ALG || typeof header.kid !== 'string') return new TokenError('invalid', `token header must carry alg ${ALG} and a kid`);
    kid = header.kid;
  } catch {
    return new TokenError('invalid', 'token is not a well-formed JWT');
  }
  const key = await keyring.verificationKey(kid);
  if (!key) return new TokenError('invalid', `token signing key ${kid} is unknown or retired`);
  try {
    const { payload } = await jwtVerify(token, key, {
      algorithms: [ALG],
      issuer: TOKEN_ISSUER,
      audience: TOKEN_AUDIENCE,
      requiredClaims: ['exp', 'sub', 'iat'],
      clockTolerance: CLOCK_TOLERANCE_S,
      currentDate: new Date(now),
    });
    const subject = typeof payload.sub === 'string' ? parseSubject(payload.sub) : undefined;
    if (!subject) return new TokenError('invalid', 'token subject must be node:<cluster>/<ns>/<name> or sa:<cluster>/<ns>/<serviceAccount>');
    return { subject, sub: payload.sub!, expiresAt: new Date(payload.exp! * 1000), kid };
  } catch (e) {
    if (e instanceof errors.JWTExpired) {
      const exp = typeof e.payload.exp === 'number' ? new Date(e.payload.exp * 1000).toISOString() : 'unknown';
      return new TokenError('expired', `token for ${String(e.payload.sub)} expired at ${exp}`);
    }
    if (e instanceof errors.JWSSignatureVerificationFailed) return new TokenError('invalid', 'token signature does not verify');
    if (e instanceof errors.JWTClaimValidationFailed) return new TokenError('invalid', `token claim "${e.claim}" is invalid: ${e.reason}`);
    return new TokenError('invalid', `token rejected: ${e instanceof Error ? e.message : String(e)}`);
  }
}

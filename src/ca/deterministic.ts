/**
 * Shared issuance: replicas that hold the same root compute byte-identical intermediates and
 * leaves, so a proxy moving from one replica to another holds the very certificate the other one
 * would serve (same content, same xDS version: nothing is re-sent, nothing is reissued).
 *
 * Three things make a certificate a function of (root key, identity, time window):
 * - keys: a P-256 scalar derived with HMAC-SHA256 from a secret only root-key holders can compute
 *   (so deriving adds nothing an attacker without the root key could use; the root key already
 *   lets its holder issue any identity);
 * - serials and validity windows: derived from the same secret and aligned to fixed windows;
 * - signatures: ECDSA with RFC 6979 deterministic nonces (RSA PKCS#1 v1.5 is deterministic by
 *   itself). Node's `crypto.sign` draws a random ECDSA nonce, so the signature is computed here:
 *   k per RFC 6979 (HMAC-DRBG), k·G by OpenSSL through `createECDH`, s = k⁻¹(e + r·d) mod n with
 *   BigInt. `crypto.verify` checks every result in the tests, and the RFC's own test vector is
 *   reproduced exactly.
 */
import { createECDH, createHash, createHmac, sign as cryptoSign, type KeyObject } from 'node:crypto';
import { TAG, tlv, unsignedInteger } from './der.js';
import { p256Key, type GeneratedKey } from './keys.js';

interface Curve {
  readonly name: 'prime256v1' | 'secp384r1';
  readonly n: bigint;
  readonly bytes: number;
}

const CURVES: Readonly<Record<string, Curve>> = {
  prime256v1: { name: 'prime256v1', n: BigInt('0xFFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551'), bytes: 32 },
  secp384r1: { name: 'secp384r1', n: BigInt('0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFC7634D81F4372DDF581A0DB248B0A77AECEC196ACCC52973'), bytes: 48 },
};

const scalars = new WeakMap<KeyObject, bigint>();

function toBig(b: Uint8Array): bigint {
  return b.length === 0 ? 0n : BigInt(`0x${Buffer.from(b).toString('hex')}`);
}

function toBytes(v: bigint, bytes: number): Buffer {
  return Buffer.from(v.toString(16).padStart(bytes * 2, '0'), 'hex');
}

function modPow(base: bigint, exp: bigint, mod: bigint): bigint {
  let r = 1n;
  let b = base % mod;
  let e = exp;
  while (e > 0n) {
    if (e & 1n) r = (r * b) % mod;
    b = (b * b) % mod;
    e >>= 1n;
  }
  return r;
}

function curveOf(key: KeyObject): Curve {
  const name = key.asymmetricKeyDetails?.namedCurve ?? '';
  const c = CURVES[name];
  if (!c) throw new Error(`deterministic ECDSA: unsupported curve ${name || 'unknown'} (P-256, P-384)`);
  return c;
}

function scalarOf(key: KeyObject): bigint {
  let d = scalars.get(key);
  if (d === undefined) {
    const jwk = key.export({ format: 'jwk' }) as { d?: string };
    if (!jwk.d) throw new Error('deterministic ECDSA needs a private key');
    d = toBig(Buffer.from(jwk.d, 'base64url'));
    scalars.set(key, d);
  }
  return d;
}

/** ECDSA (r, s) over the digest `h1` with private scalar `x`, nonce per RFC 6979 section 3.2. */
export function rfc6979Sign(curve: 'prime256v1' | 'secp384r1', x: bigint, h1: Buffer, hash: 'sha256' | 'sha384'): { r: bigint; s: bigint } {
  const c = CURVES[curve]!;
  const qlen = c.bytes * 8;
  const bits2int = (b: Buffer): bigint => {
    const v = toBig(b);
    return b.length * 8 > qlen ? v >> BigInt(b.length * 8 - qlen) : v;
  };
  const xOctets = toBytes(x, c.bytes);
  const hOctets = toBytes(bits2int(h1) % c.n, c.bytes);
  const hlen = createHash(hash).digest().length;
  const hmac = (key: Buffer, ...parts: Buffer[]): Buffer => {
    const m = createHmac(hash, key);
    for (const p of parts) m.update(p);
    return m.digest();
  };
  let v: Buffer = Buffer.alloc(hlen, 0x01);
  let k: Buffer = Buffer.alloc(hlen, 0x00);
  k = hmac(k, v, Buffer.of(0x00), xOctets, hOctets);
  v = hmac(k, v);
  k = hmac(k, v, Buffer.of(0x01), xOctets, hOctets);
  v = hmac(k, v);
  const e = bits2int(h1) % c.n;
  for (;;) {
    let t: Buffer = Buffer.alloc(0);
    while (t.length * 8 < qlen) {
      v = hmac(k, v);
      t = Buffer.concat([t, v]);
    }
    const nonce = bits2int(t);
    if (nonce >= 1n && nonce < c.n) {
      const ecdh = createECDH(c.name);
      ecdh.setPrivateKey(toBytes(nonce, c.bytes));
      const point = ecdh.getPublicKey();
      const r = toBig(point.subarray(1, 1 + c.bytes)) % c.n;
      if (r !== 0n) {
        const s = (modPow(nonce, c.n - 2n, c.n) * ((e + r * x) % c.n)) % c.n;
        if (s !== 0n) return { r, s };
      }
    }
    k = hmac(k, v, Buffer.of(0x00));
    v = hmac(k, v);
  }
}

/**
 * Signs `data` so that the same key and data always give the same signature: RFC 6979 ECDSA for
 * EC keys (DER `ECDSA-Sig-Value`, as `crypto.sign` returns), `crypto.sign` for RSA (PKCS#1 v1.5).
 */
export function signDeterministic(hash: 'sha256' | 'sha384', data: Uint8Array, key: KeyObject): Buffer {
  if (key.asymmetricKeyType === 'rsa') return cryptoSign(hash, data, key);
  if (key.asymmetricKeyType !== 'ec') throw new Error(`deterministic signing: unsupported key type ${key.asymmetricKeyType ?? 'unknown'}`);
  const c = curveOf(key);
  const { r, s } = rfc6979Sign(c.name, scalarOf(key), createHash(hash).update(data).digest(), hash);
  return tlv(TAG.SEQUENCE, unsignedInteger(toBytes(r, c.bytes)), unsignedInteger(toBytes(s, c.bytes)));
}

/** The secret shared issuance derives from: HMAC over the root's private key (PKCS#8 DER). */
export function issuanceSecret(rootKey: KeyObject): Buffer {
  return createHmac('sha256', rootKey.export({ type: 'pkcs8', format: 'der' })).update('crossmesh shared issuance v1').digest();
}

/** A sub-secret of `secret` for `label`. */
export function deriveSecret(secret: Buffer, label: string): Buffer {
  return createHmac('sha256', secret).update(label).digest();
}

/** A P-256 key pair derived from `secret` and `label` (scalar in [1, n-1]). */
export function deriveP256(secret: Buffer, label: string): GeneratedKey {
  const n = CURVES.prime256v1!.n;
  const d = (toBig(deriveSecret(secret, `key\u0000${label}`)) % (n - 1n)) + 1n;
  const ecdh = createECDH('prime256v1');
  ecdh.setPrivateKey(toBytes(d, 32));
  return p256Key(ecdh);
}

/** A positive 126-bit serial derived from `secret` and `label` (same form as `randomSerial`). */
export function deriveSerial(secret: Buffer, label: string): Buffer {
  const s = deriveSecret(secret, `serial\u0000${label}`).subarray(0, 16);
  s[0] = (s[0]! & 0x3f) | 0x40;
  return Buffer.from(s);
}

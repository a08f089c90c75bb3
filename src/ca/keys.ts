/**
 * Key pairs from Node's `crypto` and the signature algorithm an issuer key implies.
 * Leaf key material is encoded the cheap way: OpenSSL 3's SPKI encoder costs ~0.1 ms per key
 * (more than generating the key), so the ECDSA P-256 SPKI is the fixed prefix Node itself
 * produces for that curve followed by the raw public point, and the SEC1 private key is framed
 * from the raw scalar (test/ca/keys.test.ts checks both equal OpenSSL's own encodings).
 */
import { createECDH, type ECDH, createPrivateKey, createPublicKey, generateKeyPair, generateKeyPairSync, type KeyObject } from 'node:crypto';
import { promisify } from 'node:util';
import { bitString, children, TAG, tlv } from './der.js';
import { toPem } from './pem.js';

/** Key types crossmesh generates. */
export type KeyAlgorithm = 'ECDSA_P256' | 'RSA_2048';

/** A freshly generated key pair in the forms certificate issuance needs. */
export interface GeneratedKey {
  readonly algorithm: KeyAlgorithm;
  /** DER SubjectPublicKeyInfo, embedded in the certificate. */
  readonly spki: Buffer;
  /** The public point / modulus bytes inside the SPKI BIT STRING (hashed for the key identifier). */
  readonly publicKeyBits: Buffer;
  /** PEM private key: SEC1 `EC PRIVATE KEY` for ECDSA, PKCS#8 `PRIVATE KEY` for RSA. */
  readonly privateKeyPem: string;
}

/** How an issuer key signs: the AlgorithmIdentifier OID for the certificate and the digest. */
export interface SigningAlgorithm {
  readonly oid: string;
  readonly hash: 'sha256' | 'sha384';
  /** RSA AlgorithmIdentifiers carry an explicit NULL parameter (RFC 4055); ECDSA ones carry none. */
  readonly nullParameters: boolean;
  readonly description: string;
}

const generateKeyPairAsync = promisify(generateKeyPair);

const P256_POINT_LEN = 65;
const P256_SPKI_PREFIX: Buffer = (() => {
  const { publicKey } = generateKeyPairSync('ec', { namedCurve: 'prime256v1' });
  const der = publicKey.export({ type: 'spki', format: 'der' });
  return Buffer.from(der.subarray(0, der.length - P256_POINT_LEN + 1)); // keeps the 0x04 point-format byte
})();

// RFC 5915 ECPrivateKey: version 1, the private scalar, [0] the curve (prime256v1), [1] the public point.
const P256_CURVE_PARAM = Buffer.from('a00a06082a8648ce3d030107', 'hex');

/** SEC1 `EC PRIVATE KEY` DER for a P-256 key from its raw parts (what OpenSSL's SEC1 encoder emits). */
export function p256Sec1(d: Buffer, point: Buffer): Buffer {
  return tlv(TAG.SEQUENCE, Uint8Array.of(0x02, 0x01, 0x01), tlv(TAG.OCTET_STRING, d), P256_CURVE_PARAM, tlv(0xa1, bitString(point)));
}

/**
 * Generates an ECDSA P-256 key synchronously (~25 µs: cheaper than a trip to the thread pool).
 * `createECDH` hands out the raw scalar and point directly; `generateKeyPairSync` plus the
 * exports needed to get them (JWK, or OpenSSL's SPKI/PKCS#8 encoders at 0.1 ms+) costs 2-5x more.
 * The key pair is the same kind of object either way: a random scalar on P-256.
 */
export function generateEcP256(): GeneratedKey {
  const ecdh = createECDH('prime256v1');
  ecdh.generateKeys();
  return p256Key(ecdh);
}

/** The encodings of the P-256 key pair held by `ecdh`. */
export function p256Key(ecdh: ECDH): GeneratedKey {
  const point = ecdh.getPublicKey();
  const raw = ecdh.getPrivateKey();
  // getPrivateKey drops leading zero bytes; SEC1 wants the full 32-byte scalar.
  const d = raw.length === 32 ? raw : Buffer.concat([Buffer.alloc(32 - raw.length), raw]);
  if (point.length !== P256_POINT_LEN || point[0] !== 0x04 || d.length !== 32) throw new Error('unexpected P-256 key encoding');
  const spki = Buffer.concat([P256_SPKI_PREFIX, point.subarray(1)]);
  return {
    algorithm: 'ECDSA_P256',
    spki,
    publicKeyBits: point,
    privateKeyPem: toPem(p256Sec1(d, point), 'EC PRIVATE KEY'),
  };
}

/** Generates an RSA 2048 key on the libuv thread pool (tens of ms; never blocks the event loop). */
export async function generateRsa2048(): Promise<GeneratedKey> {
  const { publicKey, privateKey } = await generateKeyPairAsync('rsa', {
    modulusLength: 2048,
    publicKeyEncoding: { type: 'spki', format: 'der' },
    privateKeyEncoding: { type: 'pkcs8', format: 'pem' },
  });
  const spki = publicKey as unknown as Buffer;
  return { algorithm: 'RSA_2048', spki, publicKeyBits: spkiBits(spki), privateKeyPem: privateKey as unknown as string };
}

/** Generates a key of `algorithm`. */
export async function generateKey(algorithm: KeyAlgorithm): Promise<GeneratedKey> {
  return algorithm === 'ECDSA_P256' ? generateEcP256() : generateRsa2048();
}

/** The contents of the subjectPublicKey BIT STRING of a DER SPKI (after the unused-bits octet). */
export function spkiBits(spki: Buffer): Buffer {
  // SPKI = SEQUENCE { AlgorithmIdentifier, BIT STRING }
  const [, bits] = children(spki);
  if (!bits || bits.tag !== 0x03) throw new Error('malformed SubjectPublicKeyInfo');
  return bits.content.subarray(1);
}

/** The signature algorithm an issuer key implies; throws for key types crossmesh cannot sign with. */
export function signingAlgorithmOf(key: KeyObject): SigningAlgorithm {
  const type = key.asymmetricKeyType;
  if (type === 'rsa') return { oid: '1.2.840.113549.1.1.11', hash: 'sha256', nullParameters: true, description: 'sha256WithRSAEncryption' };
  if (type === 'ec') {
    const curve = key.asymmetricKeyDetails?.namedCurve;
    if (curve === 'prime256v1') return { oid: '1.2.840.10045.4.3.2', hash: 'sha256', nullParameters: false, description: 'ecdsa-with-SHA256' };
    if (curve === 'secp384r1') return { oid: '1.2.840.10045.4.3.3', hash: 'sha384', nullParameters: false, description: 'ecdsa-with-SHA384' };
    throw new Error(`unsupported EC curve ${curve ?? 'unknown'} (supported: P-256, P-384)`);
  }
  throw new Error(`unsupported CA key type ${type ?? 'unknown'} (supported: ECDSA P-256/P-384, RSA)`);
}

/** Parses a PEM private key, naming `where` in the error. */
export function parsePrivateKey(pem: string | Buffer, where: string): KeyObject {
  try {
    return createPrivateKey(pem);
  } catch (e) {
    throw new Error(`${where}: not a readable unencrypted PEM private key (${e instanceof Error ? e.message : String(e)})`);
  }
}

/** DER SPKI of a private key's public half (CA keys only; rare, so the slow exporter is fine). */
export function spkiOf(privateKey: KeyObject): Buffer {
  return createPublicKey(privateKey).export({ type: 'spki', format: 'der' });
}

/** The PKCS#8 PEM of a CA private key, for persisting. */
export function privateKeyToPem(key: KeyObject): string {
  return key.export({ type: 'pkcs8', format: 'pem' }) as string;
}

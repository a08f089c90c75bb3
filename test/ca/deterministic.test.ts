/** Deterministic ECDSA (RFC 6979) and key/serial derivation for shared issuance across replicas. */
import { createHash, generateKeyPairSync, randomBytes, verify } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { deriveP256, deriveSerial, rfc6979Sign, signDeterministic } from '../../src/ca/deterministic.js';

describe('deterministic signatures', () => {
  it('reproduces RFC 6979 A.2.5 (P-256, SHA-256, "sample")', () => {
    const x = BigInt('0xC9AFA9D845BA75166B5C215767B1D6934E50C3DB36E89B127B8A622B120F6721');
    const { r, s } = rfc6979Sign('prime256v1', x, createHash('sha256').update('sample').digest(), 'sha256');
    expect(r.toString(16).toUpperCase()).toBe('EFD48B2AACB6A8FD1140DD9CD45E81D69D2C877B56AAF991C34D0EA84EAF3716');
    expect(s.toString(16).toUpperCase()).toBe('F7CB1C942D657C41D436C7A1B6E29F65F3E900DBB9AFF4064DC4AB2F843ACDA8');
  });

  for (const [curve, hash] of [['prime256v1', 'sha256'], ['secp384r1', 'sha384']] as const) {
    it(`signs with ${curve}: OpenSSL verifies, and the same input gives the same bytes`, () => {
      const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: curve });
      for (let i = 0; i < 20; i++) {
        const data = randomBytes(100 + i);
        const sig = signDeterministic(hash, data, privateKey);
        expect(verify(hash, data, publicKey, sig)).toBe(true);
        expect(signDeterministic(hash, data, privateKey).equals(sig)).toBe(true);
      }
    });
  }

  it('derives the same P-256 key and serial from the same secret and label, others from others', () => {
    const secret = randomBytes(32);
    const a = deriveP256(secret, 'leaf/a');
    expect(deriveP256(secret, 'leaf/a')).toEqual(a);
    expect(deriveP256(secret, 'leaf/b').spki.equals(a.spki)).toBe(false);
    expect(deriveP256(randomBytes(32), 'leaf/a').spki.equals(a.spki)).toBe(false);
    const serial = deriveSerial(secret, 'x');
    expect(serial).toHaveLength(16);
    expect(serial[0]! & 0xc0).toBe(0x40);
    expect(deriveSerial(secret, 'x').equals(serial)).toBe(true);
  });
});

/** The cheap ECDSA key encodings must equal what OpenSSL's own encoders produce for the same key. */
import { createECDH, createPrivateKey, createPublicKey } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { generateEcP256, generateRsa2048, p256Key, spkiBits } from '../../src/ca/keys.js';

describe('key encodings', () => {
  it('ECDSA P-256: SEC1 private key and SPKI are byte-identical to Node/OpenSSL exports', () => {
    for (let i = 0; i < 50; i++) {
      const k = generateEcP256();
      const priv = createPrivateKey(k.privateKeyPem);
      expect(priv.export({ type: 'sec1', format: 'pem' })).toBe(k.privateKeyPem);
      expect(createPublicKey(priv).export({ type: 'spki', format: 'der' }).toString('hex')).toBe(k.spki.toString('hex'));
      expect(k.publicKeyBits).toHaveLength(65);
      expect(spkiBits(k.spki).equals(k.publicKeyBits)).toBe(true);
    }
  });

  it('ECDSA P-256: a private scalar with leading zero bytes keeps its full 32-byte encoding', () => {
    const ecdh = createECDH('prime256v1');
    ecdh.setPrivateKey(Buffer.from('0000' + '5a'.repeat(30), 'hex'));
    expect(ecdh.getPrivateKey().length).toBe(30);
    const k = p256Key(ecdh);
    expect(createPrivateKey(k.privateKeyPem).export({ type: 'sec1', format: 'pem' })).toBe(k.privateKeyPem);
    expect(createPublicKey(k.privateKeyPem).export({ type: 'spki', format: 'der' }).equals(k.spki)).toBe(true);
  });

  it('RSA 2048: PKCS#8 key and SPKI belong together', async () => {
    const k = await generateRsa2048();
    const priv = createPrivateKey(k.privateKeyPem);
    expect(priv.asymmetricKeyDetails?.modulusLength).toBe(2048);
    expect(createPublicKey(priv).export({ type: 'spki', format: 'der' }).equals(k.spki)).toBe(true);
    expect(spkiBits(k.spki).length).toBeGreaterThan(256);
  });
});

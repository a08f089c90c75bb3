/**
 * The per-leaf fast path. For one issuer, everything constant in a workload certificate
 * (version, signature algorithm, issuer name, empty subject, keyUsage, extKeyUsage,
 * basicConstraints, authorityKeyIdentifier) is encoded once with @peculiar/asn1-x509; each leaf
 * then only frames its serial, validity, public key, SAN and key identifier, and is signed with
 * `crypto.sign`. Running every leaf through the generic ASN.1 serializer costs ~0.8 ms (10x
 * key generation); this costs a few µs. test/ca/leaf-template.test.ts checks the output is
 * byte-identical to the library encoding the same certificate.
 */
import { createHash, sign } from 'node:crypto';
import { signDeterministic } from './deterministic.js';
import { AsnConvert, OctetString } from '@peculiar/asn1-schema';
import * as x509 from '@peculiar/asn1-x509';
import { algorithmIdentifier, type Signer } from './ca-certificate.js';
import { bitString, TAG, tlv, unsignedInteger, x509Time } from './der.js';
import type { GeneratedKey, KeyAlgorithm } from './keys.js';

/** The variable part of one workload certificate. */
export interface LeafFields {
  /** Positive serial, big-endian. */
  readonly serial: Buffer;
  readonly notBefore: Date;
  readonly notAfter: Date;
  /** The single URI SAN (a SPIFFE ID). */
  readonly uri: string;
  readonly key: GeneratedKey;
}

const VERSION_V3 = Buffer.from([0xa0, 0x03, 0x02, 0x01, 0x02]);
const OID_SAN = Buffer.from([0x06, 0x03, 0x55, 0x1d, 0x11]);
const OID_SKI = Buffer.from([0x06, 0x03, 0x55, 0x1d, 0x0e]);
const CRITICAL = Buffer.from([0x01, 0x01, 0xff]);
const URI_TAG = 0x86; // GeneralName [6] IMPLICIT IA5String

function encodeExtension(extnID: string, critical: boolean, value: unknown): Buffer {
  return Buffer.from(AsnConvert.serialize(new x509.Extension({ extnID, critical, extnValue: new OctetString(AsnConvert.serialize(value)) })));
}

/** Leaf keyUsage by key type: ECDSA keys only sign; RSA keys may also encipher (RSA key exchange). */
function keyUsageFlags(alg: KeyAlgorithm): number {
  return alg === 'RSA_2048' ? x509.KeyUsageFlags.digitalSignature | x509.KeyUsageFlags.keyEncipherment : x509.KeyUsageFlags.digitalSignature;
}

/** Pre-encoded constant parts of every leaf one issuer signs. */
export class LeafTemplate {
  private readonly sigAlg: Buffer;
  private readonly issuerAndAlg: Buffer;
  private readonly emptySubject: Buffer;
  private readonly fixedExtensions: Record<KeyAlgorithm, Buffer>;

  /** Pre-encodes the constant parts for `signer`. */
  constructor(private readonly signer: Signer) {
    this.sigAlg = Buffer.from(AsnConvert.serialize(algorithmIdentifier(signer.algorithm)));
    this.issuerAndAlg = Buffer.concat([this.sigAlg, signer.nameDer]);
    this.emptySubject = Buffer.from(AsnConvert.serialize(new x509.Name([])));
    const shared = [
      encodeExtension(x509.id_ce_extKeyUsage, false, new x509.ExtendedKeyUsage([x509.id_kp_serverAuth, x509.id_kp_clientAuth])),
      encodeExtension(x509.id_ce_basicConstraints, true, new x509.BasicConstraints({ cA: false })),
      encodeExtension(x509.id_ce_authorityKeyIdentifier, false, new x509.AuthorityKeyIdentifier({ keyIdentifier: new x509.KeyIdentifier(signer.keyId) })),
    ];
    const withKeyUsage = (alg: KeyAlgorithm) => Buffer.concat([encodeExtension(x509.id_ce_keyUsage, true, new x509.KeyUsage(keyUsageFlags(alg))), ...shared]);
    this.fixedExtensions = { ECDSA_P256: withKeyUsage('ECDSA_P256'), RSA_2048: withKeyUsage('RSA_2048') };
  }

  /** The DER TBSCertificate for `f` (exposed so tests can compare it with the library's encoding). */
  tbs(f: LeafFields): Buffer {
    const ski = createHash('sha1').update(f.key.publicKeyBits).digest();
    const skiExt = tlv(TAG.SEQUENCE, OID_SKI, tlv(TAG.OCTET_STRING, tlv(TAG.OCTET_STRING, ski)));
    const sanExt = tlv(TAG.SEQUENCE, OID_SAN, CRITICAL, tlv(TAG.OCTET_STRING, tlv(TAG.SEQUENCE, tlv(URI_TAG, Buffer.from(f.uri, 'latin1')))));
    return tlv(
      TAG.SEQUENCE,
      VERSION_V3,
      unsignedInteger(f.serial),
      this.issuerAndAlg,
      tlv(TAG.SEQUENCE, x509Time(f.notBefore), x509Time(f.notAfter)),
      this.emptySubject,
      f.key.spki,
      tlv(0xa3, tlv(TAG.SEQUENCE, this.fixedExtensions[f.key.algorithm], skiExt, sanExt)),
    );
  }

  /** Encodes and signs one leaf certificate; returns its DER. */
  build(f: LeafFields): Buffer {
    if (!/^[\x21-\x7e]+$/.test(f.uri)) throw new Error(`URI SAN must be printable ASCII: ${JSON.stringify(f.uri)}`);
    const tbs = this.tbs(f);
    const signature = this.signer.deterministic ? signDeterministic(this.signer.algorithm.hash, tbs, this.signer.key) : sign(this.signer.algorithm.hash, tbs, this.signer.key);
    return tlv(TAG.SEQUENCE, tbs, this.sigAlg, bitString(signature));
  }
}

/**
 * "certs": workload certificate issuance through the real CA API (key generation, X.509
 * encoding, signing, chain PEM), beside the floor measured in the same run: bare key
 * generation plus one signature with Node's crypto. Also shows that opening the CA for a
 * 10,000-workload mesh issues nothing.
 *
 * Counts: 10,000 ECDSA P-256 certificates; RSA 2048 key generation costs ~100-200 ms per key
 * on this class of machine, so RSA issues CROSSMESH_BENCH_RSA_COUNT certificates (default 100).
 * One extra row encodes 1,000 leaves with the ASN.1 library's generic serializer alone, the
 * approach the CA does not use, to show why (see docs/identity.md).
 */
import { createPrivateKey, generateKeyPairSync, sign, X509Certificate } from 'node:crypto';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { intermediatePaths } from '../../src/ca/ca-store.js';
import { CertificateAuthority, type KeyAlgorithm, type WorkloadIdentity } from '../../src/ca/index.js';
import { issuingCa } from '../../src/ca/issuing-ca.js';
import { parsePrivateKey } from '../../src/ca/keys.js';
import { createRoot } from '../../src/ca/root.js';
import { issueWithLibraryOnly } from '../certs-library-path.js';
import type { BenchRow, BenchScenario } from '../types.js';

const ECDSA_COUNT = 10_000;
const RSA_COUNT = Number(process.env.CROSSMESH_BENCH_RSA_COUNT ?? 100);
const LIBRARY_PATH_COUNT = 1_000;
const MESH_WORKLOADS = 10_000;
const CLUSTERS = 10;

interface Measured {
  readonly perSecond: number;
  readonly cpuMsEach: number;
  readonly wallMs: number;
}

function identity(i: number): WorkloadIdentity {
  const cluster = `cluster${i % CLUSTERS}`;
  return { cluster, trustDomain: cluster, namespace: `ns${i % 50}`, serviceAccount: `sa-${i}` };
}

async function measure(count: number, one: (i: number) => unknown): Promise<Measured> {
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  for (let i = 0; i < count; i++) await one(i);
  const wallMs = performance.now() - t0;
  const cpu = process.cpuUsage(cpu0);
  return { perSecond: (count * 1000) / wallMs, cpuMsEach: (cpu.user + cpu.system) / 1000 / count, wallMs };
}

/** The floor: what Node's crypto alone costs per certificate (one key pair, one signature). */
function baseline(algorithm: KeyAlgorithm, count: number): Promise<Measured> {
  const issuer = algorithm === 'ECDSA_P256' ? generateKeyPairSync('ec', { namedCurve: 'prime256v1' }) : generateKeyPairSync('rsa', { modulusLength: 2048 });
  const tbs = Buffer.alloc(420, 0x5a); // about the size of a leaf TBSCertificate
  return measure(count, () => {
    if (algorithm === 'ECDSA_P256') generateKeyPairSync('ec', { namedCurve: 'prime256v1' });
    else generateKeyPairSync('rsa', { modulusLength: 2048 });
    sign('sha256', tbs, issuer.privateKey);
  });
}

async function issueMany(algorithm: KeyAlgorithm, count: number, dir: string, shared = false): Promise<Measured> {
  // Shared issuance (replicas of one Secret root): derived keys and serials, RFC 6979 signatures.
  const secretRoot = shared ? await createRoot(algorithm, 3650 * 24 * 3_600_000, Date.now()) : undefined;
  const ca = await CertificateAuthority.open({
    directory: dir,
    keyAlgorithm: algorithm,
    ...(secretRoot ? { sharedIssuance: true, root: { kind: 'secret' as const, secret: 'bench/root', certPem: secretRoot.root.certPem, keyPem: secretRoot.keyPem } } : {}),
  });
  try {
    for (let c = 0; c < CLUSTERS; c++) await ca.getWorkloadCertificate({ ...identity(c), serviceAccount: 'warmup' }); // intermediates exist
    let last: Awaited<ReturnType<CertificateAuthority['getWorkloadCertificate']>> | undefined;
    const m = await measure(count, async (i) => {
      last = await ca.getWorkloadCertificate(identity(i));
    });
    // The figures are only worth something if what was produced is a valid chain with the right key.
    if (!last) throw new Error('nothing issued');
    const [leafPem, interPem] = last.certificateChainPem.split(/(?<=-----END CERTIFICATE-----\n)/);
    const leaf = new X509Certificate(leafPem!);
    const inter = new X509Certificate(interPem!);
    if (!leaf.verify(inter.publicKey) || !leaf.checkPrivateKey(createPrivateKey(last.privateKey)) || leaf.subjectAltName !== `URI:${last.spiffeId}`) {
      throw new Error('issued certificate failed verification');
    }
    if (ca.listIssued().length !== count + CLUSTERS) throw new Error(`expected ${count + CLUSTERS} issued, got ${ca.listIssued().length}`);
    return m;
  } finally {
    ca.close();
  }
}

async function withDir<T>(fn: (dir: string) => Promise<T>): Promise<T> {
  const dir = await mkdtemp(join(tmpdir(), 'crossmesh-bench-certs-'));
  try {
    return await fn(dir);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

export const scenario: BenchScenario = {
  name: 'certs',
  description: `issue ${ECDSA_COUNT} ECDSA P-256 and ${RSA_COUNT} RSA 2048 workload certificates vs bare crypto key generation + signature; lazy CA start-up`,
  async run(): Promise<BenchRow[]> {
    const rows: BenchRow[] = [];
    const s = 'certs';

    const ecBase = await baseline('ECDSA_P256', ECDSA_COUNT);
    const ec = await withDir((d) => issueMany('ECDSA_P256', ECDSA_COUNT, d));
    const ecOk = ec.perSecond >= 1000 && ec.perSecond * 4 >= ecBase.perSecond;
    rows.push({ scenario: s, metric: `ECDSA P-256 issuance (${ECDSA_COUNT})`, value: ec.perSecond, baseline: ecBase.perSecond, unit: 'certs/s', target: '>= 1000/s and >= 1/4 of baseline', pass: ecOk });
    rows.push({ scenario: s, metric: 'ECDSA P-256 CPU per certificate', value: ec.cpuMsEach, baseline: ecBase.cpuMsEach, unit: 'ms', target: '<= 4x baseline', pass: ec.cpuMsEach <= 4 * ecBase.cpuMsEach });
    // Baseline: the random issuance just measured (what one replica alone does).
    const shared = await withDir((d) => issueMany('ECDSA_P256', ECDSA_COUNT, d, true));
    rows.push({ scenario: s, metric: `ECDSA P-256 shared issuance, replicas of one root (${ECDSA_COUNT})`, value: shared.perSecond, baseline: ec.perSecond, unit: 'certs/s', target: '>= 1000/s', pass: shared.perSecond >= 1000 });

    // The road not taken: the generic ASN.1 serializer for every leaf (same keys, same fields).
    const lib = await withDir(async (d) => {
      const ca = await CertificateAuthority.open({ directory: d });
      const wc = await ca.getWorkloadCertificate(identity(0));
      ca.close();
      const p = intermediatePaths(d, wc.rootId, identity(0).cluster);
      const inter = issuingCa(new X509Certificate(await readFile(p.cert)), parsePrivateKey(await readFile(p.key), p.key), p.cert);
      const now = Date.now();
      return measure(LIBRARY_PATH_COUNT, (i) => issueWithLibraryOnly(inter.signer, `spiffe://cluster0/ns/ns0/sa/lib-${i}`, now));
    });
    rows.push({ scenario: s, metric: `ECDSA via asn1-x509 serializer only (${LIBRARY_PATH_COUNT}, not used)`, value: lib.perSecond, baseline: ecBase.perSecond, unit: 'certs/s' });

    const rsaBase = await baseline('RSA_2048', RSA_COUNT);
    const rsa = await withDir((d) => issueMany('RSA_2048', RSA_COUNT, d));
    rows.push({ scenario: s, metric: `RSA 2048 issuance (${RSA_COUNT})`, value: rsa.perSecond, baseline: rsaBase.perSecond, unit: 'certs/s' });
    rows.push({ scenario: s, metric: 'RSA 2048 CPU per certificate', value: rsa.cpuMsEach, baseline: rsaBase.cpuMsEach, unit: 'ms', target: '<= 1.5x baseline', pass: rsa.cpuMsEach <= 1.5 * rsaBase.cpuMsEach });

    // Lazy issuance: opening the CA (generating its root) for a 10,000-workload mesh issues nothing;
    // the baseline is what issuing every certificate up front would have cost, from the run above.
    await withDir(async (d) => {
      const t0 = performance.now();
      const ca = await CertificateAuthority.open({ directory: d });
      const startupMs = performance.now() - t0;
      const issuedAtStart = ca.listIssued().length;
      const t1 = performance.now();
      await ca.getWorkloadCertificate(identity(MESH_WORKLOADS - 1));
      const firstMs = performance.now() - t1;
      ca.close();
      const eagerMs = (MESH_WORKLOADS * 1000) / ec.perSecond;
      rows.push({ scenario: s, metric: `CA start-up, ${MESH_WORKLOADS}-workload mesh`, value: startupMs, baseline: eagerMs, unit: 'ms', target: 'nothing issued at start', pass: issuedAtStart === 0 });
      rows.push({ scenario: s, metric: 'certificates issued at start-up', value: issuedAtStart, unit: 'certs', target: '0', pass: issuedAtStart === 0 });
      rows.push({ scenario: s, metric: 'first request (creates intermediate + leaf)', value: firstMs, unit: 'ms' });
    });
    return rows;
  },
};

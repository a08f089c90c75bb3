/**
 * Client-certificate authentication (mTLS on the xDS port), development mode and the proxyless
 * exception: unauthenticated streams receive listeners/clusters but never a secret.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as grpc from '@grpc/grpc-js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CertificateAuthority } from '../../src/ca/index.js';
import { issueToken } from '../../src/xds/auth/tokens.js';
import { CLUSTER, Client, SECRET, node, startSecureServer, type SecureServer } from '../auth/support.js';

const REVIEWS = 'cluster1/default/reviews-v1-0';
const clients: Client[] = [];
function track(c: Client): Client {
  clients.push(c);
  return c;
}
afterAll(() => {
  for (const c of clients) c.close();
});

describe('client certificates', () => {
  let s: SecureServer;
  beforeAll(async () => {
    s = await startSecureServer();
  });
  afterAll(async () => {
    await s?.close();
  });

  it('a CA-issued leaf of the workload\'s service account authenticates and gets its secrets', async () => {
    const leaf = await s.ca.getWorkloadCertificate({ cluster: 'cluster1', trustDomain: 'cluster1', namespace: 'default', serviceAccount: 'bookinfo-reviews' });
    const c = track(new Client(s.address, { rootPem: s.rootPem, certChainPem: leaf.certificateChainPem, keyPem: leaf.privateKey }));
    const st = c.open();
    st.send({ typeUrl: SECRET, names: ['default', 'ROOTCA'], node: node(REVIEWS) });
    const r = await st.nextOf(SECRET);
    expect(r.resources.map((x) => x.name).sort()).toEqual(['ROOTCA', 'default']);
    const proxies = (await (await fetch(`${s.admin.url}/debug/proxies`)).json()) as { proxies: { nodeId: string; identity: string }[] };
    expect(proxies.proxies.find((p) => p.nodeId === REVIEWS)?.identity).toBe('cert:spiffe://cluster1/ns/default/sa/bookinfo-reviews');
    st.close();
  });

  it('another service account\'s certificate claiming the node is refused', async () => {
    const leaf = await s.ca.getWorkloadCertificate({ cluster: 'cluster1', trustDomain: 'cluster1', namespace: 'default', serviceAccount: 'bookinfo-ratings' });
    const c = track(new Client(s.address, { rootPem: s.rootPem, certChainPem: leaf.certificateChainPem, keyPem: leaf.privateKey }));
    const st = c.open();
    st.send({ typeUrl: SECRET, names: ['default'], node: node(REVIEWS) });
    const status = await st.endsWithin(5000);
    expect(status?.code).toBe(grpc.status.PERMISSION_DENIED);
    expect(status?.details).toContain('spiffe://cluster1/ns/default/sa/bookinfo-ratings');
  });

  it('a certificate from a different root does not authenticate', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'crossmesh-foreign-'));
    const foreign = await CertificateAuthority.open({ directory: dir });
    try {
      const leaf = await foreign.getWorkloadCertificate({ cluster: 'cluster1', trustDomain: 'cluster1', namespace: 'default', serviceAccount: 'bookinfo-reviews' });
      const c = track(new Client(s.address, { rootPem: s.rootPem, certChainPem: leaf.certificateChainPem, keyPem: leaf.privateKey }));
      const st = c.open();
      st.send({ typeUrl: SECRET, names: ['default'], node: node(REVIEWS) });
      expect((await st.endsWithin(5000))?.code).toBe(grpc.status.UNAUTHENTICATED);
    } finally {
      foreign.close();
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('the xDS server presents a certificate from the mesh root; a client trusting another root cannot connect', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'crossmesh-foreign-'));
    const foreign = await CertificateAuthority.open({ directory: dir });
    try {
      const c = track(new Client(s.address, { rootPem: foreign.trustBundle().pem }));
      const { token } = await issueToken(s.security.keyring, { kind: 'node', nodeId: REVIEWS }, 60_000);
      const st = c.open(undefined, token);
      st.send({ typeUrl: SECRET, names: ['default'], node: node(REVIEWS) });
      expect((await st.endsWithin(5000))?.code).toBe(grpc.status.UNAVAILABLE);
    } finally {
      foreign.close();
      await rm(dir, { recursive: true, force: true });
    }
  });
});

describe('development mode (--insecure-xds)', () => {
  let s: SecureServer;
  beforeAll(async () => {
    s = await startSecureServer({ security: { insecure: true } });
  });
  afterAll(async () => {
    await s?.close();
  });

  it('admits a client without credentials, serves it clusters, but never a secret', async () => {
    const c = track(new Client(s.address));
    const st = c.open();
    st.send({ typeUrl: CLUSTER, node: node(REVIEWS) });
    expect((await st.nextOf(CLUSTER)).resources).toHaveLength(1);
    st.send({ typeUrl: SECRET, names: ['default', 'ROOTCA'] });
    await expect(st.nextOf(SECRET, 500)).rejects.toThrow(/no xDS response/);
    const proxies = (await (await fetch(`${s.admin.url}/debug/proxies`)).json()) as { proxies: { nodeId: string; identity: string; groups: Record<string, string> }[] };
    const p = proxies.proxies.find((x) => x.nodeId === REVIEWS)!;
    expect(p.identity).toBe('none');
    expect(p.groups.sds).toBe('sds:none');
    // Nothing was issued for it.
    expect(s.ca.listIssued()).toEqual([]);
    st.close();
  });

  it('still serves secrets to an authenticated owner', async () => {
    const { token } = await issueToken(s.security.keyring, { kind: 'node', nodeId: REVIEWS }, 60_000);
    const st = track(new Client(s.address)).open(undefined, token);
    st.send({ typeUrl: SECRET, names: ['default'], node: node(REVIEWS) });
    expect((await st.nextOf(SECRET)).resources.map((x) => x.name)).toEqual(['default']);
    st.close();
  });
});

describe('proxyless clients without credentials (flag enabled)', () => {
  let s: SecureServer;
  beforeAll(async () => {
    s = await startSecureServer({ security: { allowUnauthenticatedProxyless: true } });
  });
  afterAll(async () => {
    await s?.close();
  });

  it('a proxyless node is admitted over TLS without credentials and gets no secret', async () => {
    const st = track(new Client(s.address, { rootPem: s.rootPem })).open();
    st.send({ typeUrl: CLUSTER, node: node(REVIEWS, 'proxyless') });
    expect((await st.nextOf(CLUSTER)).resources).toHaveLength(1);
    st.send({ typeUrl: SECRET, names: ['default'] });
    await expect(st.nextOf(SECRET, 500)).rejects.toThrow(/no xDS response/);
    st.close();
  });

  it('a sidecar without credentials is still refused', async () => {
    const st = track(new Client(s.address, { rootPem: s.rootPem })).open();
    st.send({ typeUrl: CLUSTER, node: node(REVIEWS, 'sidecar') });
    expect((await st.endsWithin(5000))?.code).toBe(grpc.status.UNAUTHENTICATED);
  });
});

/**
 * The compose control plane, in process on 127.0.0.1: crossmesh with TLS xDS and token
 * authentication serving examples/compose, as the "crossmesh" service of docker-compose.yml runs it.
 *
 * - Every Envoy of the simulation, presenting exactly what its bootstrap carries (the token the
 *   one-shot bootstrap service mints with the server's CA directory, the inline root, the pinned
 *   server name, node id, role and locality), is admitted and served resources that pass the guard.
 * - A node id absent from the topology gets no configuration, and the log and /debug/proxies (or
 *   the stream status, when authentication already refuses it) say which id and why.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as tls from 'node:tls';
import * as grpc from '@grpc/grpc-js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CertificateAuthority } from '../../src/ca/index.js';
import { buildBootstrapForNode } from '../../src/cli/bootstrap.js';
import { startControlPlane, type ControlPlane } from '../../src/cli/serve.js';
import { translatorFor } from '../../src/translate/index.js';
import { VIRTUAL_INBOUND_LISTENER, VIRTUAL_OUTBOUND_LISTENER } from '../../src/translate/listeners.js';
import { validateEncoded } from '../../src/translate/validate.js';
import { startXdsSecurity, type XdsSecurity } from '../../src/xds/auth/security.js';
import { issueToken } from '../../src/xds/auth/tokens.js';
import { SnapshotCache } from '../../src/xds/cache.js';
import { MeshPublisher } from '../../src/xds/mesh-publisher.js';
import { messageType } from '../../src/xds/protos.js';
import { CLUSTER_TYPE, LISTENER_TYPE, ROUTE_TYPE, SECRET_TYPE } from '../../src/xds/types.js';
import { Client, captureLogs, node as anonymousNode, until } from '../auth/support.js';
import { TOPOLOGY_DIR, bootstrapPlan, composeTopology, runTimeValues, storeOf, type PlannedBootstrap } from './support.js';

const plan = bootstrapPlan();
const GHOST = 'cluster1/default/ghost-0';

interface Plane {
  readonly dir: string;
  readonly ca: CertificateAuthority;
  readonly security: XdsSecurity;
  readonly plane: ControlPlane;
  publisher?: MeshPublisher;
  close(): Promise<void>;
}

/** crossmesh serving the compose topology, as `serve` wires it (TLS unless `insecure`). */
async function startComposePlane(insecure: boolean): Promise<Plane> {
  const dir = await mkdtemp(join(tmpdir(), 'crossmesh-compose-plane-'));
  const ca = await CertificateAuthority.open({ directory: dir });
  const cache = new SnapshotCache({ debounceMs: 5 });
  const security = await startXdsSecurity({ ca, cache, insecure, tokenReviewer: false, namespace: 'crossmesh-system', hosts: ['127.0.0.1', 'crossmesh'] });
  const store = storeOf(await composeTopology());
  const p: Plane = {
    dir,
    ca,
    security,
    plane: undefined as unknown as ControlPlane,
    async close() {
      p.publisher?.close();
      await p.plane?.close();
      ca.close();
      await rm(dir, { recursive: true, force: true });
    },
  };
  (p as { plane: ControlPlane }).plane = await startControlPlane({
    cache,
    security,
    xdsPort: 0,
    adminPort: 0,
    loadMesh: async (ctx) => {
      ctx.security!.setMesh(() => store.current);
      p.publisher = MeshPublisher.attach(store, ctx.cache, { secretGroup: (proxy, identity) => ctx.security!.secretGroup(proxy.nodeId, identity) });
    },
  });
  return p;
}

/** The node as Envoy sends it from a bootstrap (`node` section, metadata as a Struct). */
function nodeFromBootstrap(b: Record<string, any>): Record<string, unknown> {
  return {
    id: b.node.id,
    cluster: b.node.cluster,
    metadata: { fields: Object.fromEntries(Object.entries(b.node.metadata as Record<string, string>).map(([k, v]) => [k, { stringValue: v }])) },
    ...(b.node.locality ? { locality: b.node.locality } : {}),
    user_agent_name: 'envoy',
  };
}

const clients: Client[] = [];
afterAll(() => {
  for (const c of clients) c.close();
});

function guardOf(typeUrl: string, resources: { json: Record<string, unknown> }[]): string[] {
  const name = typeUrl.slice(typeUrl.lastIndexOf('/') + 1);
  const T = messageType(name);
  return resources.flatMap((r) => validateEncoded(name, T.encode(T.fromObject(r.json)).finish()).map((v) => `${String(r.json.name)}: ${v.path}: ${v.message}`));
}

describe('compose control plane (TLS, tokens from the bootstrap service)', () => {
  let p: Plane;
  const bootstraps = new Map<string, Record<string, any>>();

  beforeAll(async () => {
    p = await startComposePlane(false);
    // What scripts/compose/write-bootstraps.sh does in the bootstrap service, with the server's CA directory.
    for (const e of plan.entries) {
      const { bootstrap } = await buildBootstrapForNode({ node: e.node, role: e.role, xdsAddress: plan.xdsAddress, config: [TOPOLOGY_DIR], tokenTtl: plan.tokenTtl, caDir: p.dir, namespace: 'crossmesh-system', adminPort: '15000' });
      bootstraps.set(e.service, bootstrap);
    }
  }, 60_000);
  afterAll(async () => {
    await p?.close();
  });

  it('presents a server certificate Envoy accepts under the name its bootstrap pins, and under "crossmesh"', async () => {
    const port = Number(p.plane.xdsAddress.split(':').pop());
    for (const b of bootstraps.values()) {
      const tlsCtx = (b.static_resources.clusters as Record<string, any>[])[0]!.transport_socket.typed_config;
      const root = runTimeValues(b).trustedCa.inline_string as string;
      for (const servername of [tlsCtx.sni as string, 'crossmesh']) {
        const ok = await new Promise<boolean>((resolve, reject) => {
          const s = tls.connect({ host: '127.0.0.1', port, servername, ca: root, ALPNProtocols: ['h2'] }, () => {
            resolve(s.authorized && s.alpnProtocol === 'h2');
            s.end();
          });
          s.on('error', reject);
        });
        expect(ok, servername).toBe(true);
      }
    }
  });

  it.each(plan.entries.map((e) => [e.service, e] as [string, PlannedBootstrap]))('%s: admitted with its bootstrap token and served resources that pass the guard', async (service, e) => {
    const b = bootstraps.get(service)!;
    const token = (runTimeValues(b).authorization.value as string).replace(/^Bearer /, '');
    const c = new Client(p.plane.xdsAddress, { rootPem: runTimeValues(b).trustedCa.inline_string });
    clients.push(c);
    const s = c.open(undefined, token);
    s.send({ typeUrl: CLUSTER_TYPE, node: nodeFromBootstrap(b) });
    const proxy = async () => (await (await fetch(`${p.plane.adminUrl}/debug/proxies`)).json()) as { proxies: { nodeId: string; identity: string | null; resolverError: string | null }[] };
    await until(async () => (await proxy()).proxies.some((x) => x.nodeId === e.node), 5000, `${e.node} on /debug/proxies`);
    const entry = (await proxy()).proxies.find((x) => x.nodeId === e.node)!;
    expect(entry.identity).toMatch(/^token:spiffe:\/\//);
    if (translatorFor(e.role) instanceof Error) {
      // Not served by this build's translator: the stream stays open, unconfigured, and says why.
      expect(entry.resolverError).toContain(`role "${e.role}" is not translated yet`);
      await expect(s.nextOf(CLUSTER_TYPE, 300)).rejects.toThrow(/no xDS response/);
      return;
    }
    expect(entry.resolverError).toBeNull();
    const cds = await s.nextOf(CLUSTER_TYPE);
    s.send({ typeUrl: CLUSTER_TYPE, nonce: cds.nonce, version: cds.version });
    expect(guardOf(CLUSTER_TYPE, cds.resources)).toEqual([]);
    s.send({ typeUrl: LISTENER_TYPE });
    const lds = await s.nextOf(LISTENER_TYPE);
    expect(guardOf(LISTENER_TYPE, lds.resources)).toEqual([]);
    if (e.role === 'sidecar') {
      expect(cds.resources.length).toBeGreaterThan(0);
      // Capture's two listeners, and the HTTP listener of port 9080 (every compose service's port).
      expect(lds.resources.map((r) => r.name).sort()).toEqual(['0.0.0.0_9080', VIRTUAL_INBOUND_LISTENER, VIRTUAL_OUTBOUND_LISTENER].sort());
      s.send({ typeUrl: LISTENER_TYPE, nonce: lds.nonce, version: lds.version });
      // That listener routes by Host over RDS named by the port.
      s.send({ typeUrl: ROUTE_TYPE, names: ['9080'] });
      const rds = await s.nextOf(ROUTE_TYPE);
      expect(rds.resources.map((r) => r.name)).toEqual(['9080']);
      expect(guardOf(ROUTE_TYPE, rds.resources)).toEqual([]);
      expect(JSON.stringify(rds.resources[0]!.json)).toContain('"reviews.default.svc.cluster.local:9080"');
      s.send({ typeUrl: ROUTE_TYPE, names: ['9080'], nonce: rds.nonce, version: rds.version });
      // The owner of the node gets its own certificate over the same stream (mTLS between sidecars).
      s.send({ typeUrl: SECRET_TYPE, names: ['default', 'ROOTCA'] });
      expect((await s.nextOf(SECRET_TYPE)).resources.map((r) => r.name).sort()).toEqual(['ROOTCA', 'default']);
    }
  });

  it('refuses a node id absent from the topology even with a valid token, naming the id and why', async () => {
    const logs = captureLogs();
    try {
      const { token } = await issueToken(p.security.keyring, { kind: 'node', nodeId: GHOST }, 60_000);
      const c = new Client(p.plane.xdsAddress, { rootPem: p.ca.trustBundle().pem });
      clients.push(c);
      const s = c.open(undefined, token);
      s.send({ typeUrl: CLUSTER_TYPE, node: anonymousNode(GHOST) });
      const status = await s.endsWithin(5000);
      expect(status?.code).toBe(grpc.status.PERMISSION_DENIED);
      expect(status?.details).toContain(GHOST);
      expect(status?.details).toContain('names no workload in the mesh');
      expect(logs.lines.some((l) => l.includes(GHOST) && l.includes('names no workload in the mesh') && l.includes('"reason":"unknown_node"'))).toBe(true);
      // The refused stream is not a proxy, but /debug/proxies still says which id was refused and why.
      const body = (await (await fetch(`${p.plane.adminUrl}/debug/proxies`)).json()) as {
        proxies: { nodeId: string }[];
        refused: { nodeId: string; code: string; reason: string }[];
      };
      expect(body.proxies.some((x) => x.nodeId === GHOST)).toBe(false);
      expect(body.refused[0]).toMatchObject({ nodeId: GHOST, code: 'PERMISSION_DENIED' });
      expect(body.refused[0]!.reason).toContain('names no workload in the mesh');
    } finally {
      logs.restore();
    }
  });
});

describe('compose control plane, development mode (--insecure-xds)', () => {
  let p: Plane;
  beforeAll(async () => {
    p = await startComposePlane(true);
  });
  afterAll(async () => {
    await p?.close();
  });

  it('gives a node id absent from the topology no configuration; the log and /debug/proxies say which id and why', async () => {
    const logs = captureLogs();
    try {
      const c = new Client(p.plane.xdsAddress);
      clients.push(c);
      const s = c.open();
      s.send({ typeUrl: CLUSTER_TYPE, node: anonymousNode(GHOST) });
      await expect(s.nextOf(CLUSTER_TYPE, 500)).rejects.toThrow(/no xDS response/);
      const why = `node ${GHOST}: no workload "ghost-0" in namespace "default" of cluster "cluster1"`;
      const proxies = (await (await fetch(`${p.plane.adminUrl}/debug/proxies`)).json()) as { proxies: { nodeId: string; resolverError: string | null; groups: unknown }[] };
      expect(proxies.proxies.find((x) => x.nodeId === GHOST)).toMatchObject({ resolverError: why, groups: null });
      expect(logs.lines.some((l) => l.includes('no configuration for node') && l.includes(`"node":"${GHOST}"`) && l.includes(why.replace(/"/g, '\\"')))).toBe(true);
      // A known node on the same server is configured meanwhile.
      const ok = c.open();
      ok.send({ typeUrl: CLUSTER_TYPE, node: anonymousNode('cluster1/default/productpage-v1-0') });
      expect((await ok.nextOf(CLUSTER_TYPE)).resources.length).toBeGreaterThan(0);
    } finally {
      logs.restore();
    }
  });
});

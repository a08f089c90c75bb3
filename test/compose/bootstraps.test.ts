/**
 * envoy-configs/: one committed bootstrap per Envoy of docker-compose.yml. Each parses as
 * envoy.config.bootstrap.v3.Bootstrap, passes the protoc-gen-validate guard (as committed and with
 * the real run-time values in place), and equals what `crossmesh bootstrap` generates for its node
 * apart from the token and the root.
 *
 * After an intended change to the bootstrap generator or the topology, rewrite the files with
 * `UPDATE_ENVOY_CONFIGS=1 npx vitest run test/compose/bootstraps.test.ts` and review the diff.
 */
import { mkdtemp, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { validateEncoded } from '../../src/translate/validate.js';
import { fromProtoJson } from '../../src/xds/proto-json.js';
import { messageType } from '../../src/xds/protos.js';
import { ENVOY_CONFIGS, PLACEHOLDER, bootstrapPlan, generateBootstrap, runTimeValues, type PlannedBootstrap } from './support.js';

const BOOTSTRAP = 'envoy.config.bootstrap.v3.Bootstrap';
const plan = bootstrapPlan();
let caDir: string;
const generated = new Map<string, Awaited<ReturnType<typeof generateBootstrap>>>();

beforeAll(async () => {
  caDir = await mkdtemp(join(tmpdir(), 'crossmesh-compose-ca-'));
  for (const p of plan.entries) generated.set(p.service, await generateBootstrap(p, plan, caDir));
  if (process.env.UPDATE_ENVOY_CONFIGS === '1') {
    for (const [service, g] of generated) await writeFile(join(ENVOY_CONFIGS, `${service}.yaml`), g.committed);
  }
}, 60_000);
afterAll(async () => {
  if (caDir) await rm(caDir, { recursive: true, force: true });
});

/** Encodes through the proto3-JSON reader and returns the guard's violations. */
function guard(obj: unknown): string[] {
  const bytes = messageType(BOOTSTRAP).encode(fromProtoJson(BOOTSTRAP, obj)).finish();
  return validateEncoded(BOOTSTRAP, bytes).map((v) => `${v.path}: ${v.message}`);
}

describe('envoy-configs/', () => {
  it('holds exactly one bootstrap per Envoy that write-bootstraps.sh generates', async () => {
    const files = (await readdir(ENVOY_CONFIGS)).filter((f) => f.endsWith('.yaml')).sort();
    expect(files).toEqual(plan.entries.map((p) => `${p.service}.yaml`).sort());
    expect(plan.entries).toHaveLength(10);
  });

  it.each(plan.entries.map((p) => [p.service, p] as [string, PlannedBootstrap]))('%s parses as a Bootstrap, passes the guard and equals the generator output but for the run-time values', async (service, p) => {
    const text = await readFile(join(ENVOY_CONFIGS, `${service}.yaml`), 'utf8');
    const committed = parse(text) as Record<string, any>;
    expect(guard(committed)).toEqual([]);
    expect(committed.node).toMatchObject({ id: p.node, cluster: p.node.split('/')[0], metadata: { role: p.role } });

    const g = generated.get(service)!;
    expect(text).toBe(g.committed);
    // The placeholders stand exactly where the generator puts the token and the root ...
    const placeholders = runTimeValues(committed);
    expect(placeholders.authorization.value).toBe(`Bearer ${PLACEHOLDER}`);
    expect(placeholders.trustedCa.inline_string).toBe(PLACEHOLDER);
    const real = runTimeValues(g.real);
    expect(real.authorization.value).toMatch(/^Bearer [\w-]+\.[\w-]+\.[\w-]+$/);
    expect(real.trustedCa.inline_string).toMatch(/^-----BEGIN CERTIFICATE-----/);
    // ... and nothing else differs: putting the real values in gives the generator's object.
    placeholders.authorization.value = real.authorization.value;
    placeholders.trustedCa.inline_string = real.trustedCa.inline_string;
    expect(committed).toEqual(g.real);
    expect(guard(committed)).toEqual([]);
  });

  it('keeps mTLS and authentication on: TLS to crossmesh, its server name pinned, a token per node', () => {
    const tokens = new Set<string>();
    for (const [service, g] of generated) {
      const xds = (g.real.static_resources.clusters as Record<string, any>[]).find((c) => c.name === 'xds-grpc')!;
      const tls = xds.transport_socket.typed_config;
      expect(tls['@type'], service).toBe('type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.UpstreamTlsContext');
      expect(tls.sni, service).toBe('crossmesh.crossmesh-system.svc');
      expect(tls.common_tls_context.validation_context.match_typed_subject_alt_names, service).toEqual([{ san_type: 'DNS', matcher: { exact: 'crossmesh.crossmesh-system.svc' } }]);
      tokens.add(runTimeValues(g.real).authorization.value);
    }
    expect(tokens.size).toBe(generated.size);
  });
});

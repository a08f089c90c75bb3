/**
 * The compose commands themselves, run as processes from the built CLI on 127.0.0.1 (what the
 * containers run, minus Docker): `crossmesh serve` with the crossmesh service's flags, the
 * Dockerfile's HEALTHCHECK command, and scripts/compose/write-bootstraps.sh. Then an Envoy's view
 * of it: a stream presenting a generated bootstrap's token is served, and copying the first step's
 * policy into the watched policy directory changes what it is served as the step script says.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { parse } from 'yaml';
import { CLUSTER_TYPE, ENDPOINT_TYPE } from '../../src/xds/types.js';
import { Client, until } from '../auth/support.js';
import { ENVOY_CONFIGS, PLACEHOLDER, REPO, TOPOLOGY_DIR, WRITE_BOOTSTRAPS, bootstrapPlan, loadCompose, runTimeValues } from './support.js';

const MAIN = join(REPO, 'dist/src/cli/main.js');
const built = existsSync(MAIN);
const plan = bootstrapPlan();
let dir: string;
let serve: ChildProcess | undefined;
let xdsAddress = '';
let adminUrl = '';
const clients: Client[] = [];

/** Runs a command to completion (bounded), resolving with its exit code and output. */
function run(cmd: string, args: string[], env: NodeJS.ProcessEnv = process.env, timeoutMs = 60_000): Promise<{ code: number | null; out: string; err: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { env, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout!.on('data', (c: Buffer) => (out += c.toString()));
    child.stderr!.on('data', (c: Buffer) => (err += c.toString()));
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`${cmd} ${args.join(' ')} did not finish within ${timeoutMs} ms: ${err}`));
    }, timeoutMs);
    child.once('exit', (code) => {
      clearTimeout(timer);
      resolve({ code, out, err });
    });
  });
}

beforeAll(async () => {
  if (!built) return;
  dir = await mkdtemp(join(tmpdir(), 'crossmesh-compose-cli-'));
  // The policy directory as the image seeds it, before any step.
  const policies = join(dir, 'policies');
  for (const d of [policies, join(dir, 'ca'), join(dir, 'bootstraps')]) mkdirSync(d, { recursive: true });
  writeFileSync(join(policies, '00-readme.yaml'), '# Policies applied at run time are copied into this directory; crossmesh reloads it.\n');
  // The crossmesh service's command, with the container's paths and 0.0.0.0 replaced (loopback, free ports).
  const cmd = loadCompose().services.crossmesh!.command!.map((a) =>
    a === '/etc/crossmesh/topology' ? TOPOLOGY_DIR : a === '/etc/crossmesh/policies' ? policies : a === plan.caDir ? join(dir, 'ca') : a === '0.0.0.0' ? '127.0.0.1' : a,
  );
  serve = spawn(process.execPath, [MAIN, ...cmd, '--xds-port', '0', '--admin-port', '0', '--debounce-ms', '20'], { stdio: ['ignore', 'ignore', 'pipe'] });
  await new Promise<void>((resolve, reject) => {
    let err = '';
    const timer = setTimeout(() => reject(new Error(`serve did not start: ${err}`)), 20_000);
    serve!.stderr!.on('data', (c: Buffer) => {
      err += c.toString();
      const m = /xDS on (\S+) \(TLS.*admin on (\S+)/.exec(err);
      if (m) {
        clearTimeout(timer);
        xdsAddress = m[1]!;
        adminUrl = m[2]!;
        resolve();
      }
    });
    serve!.once('exit', (code) => reject(new Error(`serve exited ${code}: ${err}`)));
  });
}, 30_000);

afterAll(async () => {
  for (const c of clients) c.close();
  if (serve && serve.exitCode === null) {
    const exited = new Promise((r) => serve!.once('exit', r));
    serve.kill('SIGTERM');
    await Promise.race([exited, new Promise((r) => setTimeout(r, 5000))]);
    if (serve.exitCode === null) serve.kill('SIGKILL');
  }
  if (dir) await rm(dir, { recursive: true, force: true });
});

it.skipIf(!built)("the Dockerfile's HEALTHCHECK command passes against serve's /healthz and fails when nothing answers", async () => {
  const dockerfile = readFileSync(join(REPO, 'Dockerfile'), 'utf8');
  const cmd = JSON.parse(/^\s+CMD (\[.*\])$/m.exec(dockerfile.slice(dockerfile.indexOf('HEALTHCHECK')))![1]!) as string[];
  expect(cmd[0]).toBe('node');
  const check = (url: string) => run(process.execPath, cmd.slice(1), { ...process.env, CROSSMESH_HEALTHCHECK_URL: url }, 10_000);
  expect((await check(`${adminUrl}/healthz`)).code).toBe(0);
  expect((await check('http://127.0.0.1:1/healthz')).code).toBe(1);
});

it.skipIf(!built)('write-bootstraps.sh writes every bootstrap; each equals its envoy-configs/ copy but for the token and root, and its token is admitted', async () => {
  const out = join(dir, 'bootstraps');
  const r = await run('sh', [WRITE_BOOTSTRAPS], { ...process.env, OUT: out, TOPOLOGY: TOPOLOGY_DIR, CA_DIR: join(dir, 'ca'), CROSSMESH: `${process.execPath} ${MAIN}` }, 120_000);
  expect(r.err).not.toMatch(/error/i);
  expect(r.code).toBe(0);
  expect(r.out).toContain('wrote 10 Envoy bootstraps');
  for (const p of plan.entries) {
    const written = parse(readFileSync(join(out, p.service, 'envoy.yaml'), 'utf8')) as Record<string, any>;
    const committed = parse(readFileSync(join(ENVOY_CONFIGS, `${p.service}.yaml`), 'utf8')) as Record<string, any>;
    const v = runTimeValues(written);
    expect(v.authorization.value, p.service).toMatch(/^Bearer [\w-]+\.[\w-]+\.[\w-]+$/);
    v.authorization.value = `Bearer ${PLACEHOLDER}`;
    v.trustedCa.inline_string = PLACEHOLDER;
    expect(written, p.service).toEqual(committed);
  }
  // productpage's sidecar, with what its bootstrap carries, is admitted and configured.
  const b = parse(readFileSync(join(out, 'cluster1-productpage-envoy', 'envoy.yaml'), 'utf8')) as Record<string, any>;
  const c = new Client(xdsAddress, { rootPem: runTimeValues(b).trustedCa.inline_string });
  clients.push(c);
  const s = c.open(undefined, (runTimeValues(b).authorization.value as string).slice('Bearer '.length));
  s.send({ typeUrl: CLUSTER_TYPE, node: { id: b.node.id, cluster: b.node.cluster, metadata: { fields: { role: { stringValue: 'sidecar' } } }, locality: b.node.locality } });
  const cds = await s.nextOf(CLUSTER_TYPE, 10_000);
  expect(cds.resources.map((x) => x.name)).toContain('outbound|9080||reviews.default.svc.cluster.local');
  s.send({ typeUrl: CLUSTER_TYPE, nonce: cds.nonce, version: cds.version });

  // Step 1 as scripts/compose/step1-virtual-mesh.sh does it: copy the VirtualMesh into the policy
  // directory; productpage's configuration then reaches cluster2 through 172.30.0.12 (its gateway on wan).
  const reviews = 'outbound|9080||reviews.default.svc.cluster.local';
  s.send({ typeUrl: ENDPOINT_TYPE, names: [reviews] });
  const before = await s.nextOf(ENDPOINT_TYPE, 10_000);
  s.send({ typeUrl: ENDPOINT_TYPE, names: [reviews], nonce: before.nonce, version: before.version });
  const dump = async () => (await fetch(`${adminUrl}/debug/config_dump?node=${encodeURIComponent(b.node.id)}`)).text();
  expect(await dump()).not.toContain('"172.30.0.12"');
  copyFileSync(join(TOPOLOGY_DIR, 'steps', 'virtual-mesh.yaml'), join(dir, 'policies', 'virtual-mesh.yaml'));
  await until(async () => (await dump()).includes('"172.30.0.12"'), 10_000, "cluster2's gateway in productpage's configuration");
  const metrics = await (await fetch(`${adminUrl}/metrics`)).text();
  expect(metrics).toMatch(/^crossmesh_config_valid 1$/m);
}, 150_000);

/**
 * The built `crossmesh serve`, as `npm start` runs it: TLS on the xDS port by default, the
 * embedded mesh served, clients without credentials refused, a token holder configured, and a
 * clean exit on SIGTERM.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as grpc from '@grpc/grpc-js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Client, CLUSTER } from '../auth/support.js';

const CLI = join(process.cwd(), 'dist/src/cli/main.js');
const NODE = 'cluster1/default/productpage-v1-0';

describe('crossmesh serve (built CLI)', () => {
  let dir: string;
  let proc: ChildProcess;
  let xdsAddress = '';
  let adminUrl = '';
  let stderr = '';

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'crossmesh-cli-'));
    proc = spawn(process.execPath, [CLI, 'serve', '--xds-port', '0', '--admin-port', '0', '--ca-dir', join(dir, 'ca')], {
      env: { ...process.env, CROSSMESH_LOG_LEVEL: 'warn' },
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`serve did not start:\n${stderr}`)), 15_000);
      proc.stderr!.on('data', (d: Buffer) => {
        stderr += d.toString();
        const m = /xDS on (\S+) \(TLS, [^)]*\), admin on (\S+)/.exec(stderr);
        if (m) {
          clearTimeout(timer);
          xdsAddress = m[1]!;
          adminUrl = m[2]!;
          resolve();
        }
      });
      proc.on('exit', (code) => reject(new Error(`serve exited with ${code}:\n${stderr}`)));
    });
  }, 20_000);

  afterAll(() => {
    if (proc.exitCode === null) proc.kill('SIGKILL');
    rmSync(dir, { recursive: true, force: true });
  });

  it('serves the embedded mesh over TLS to a token holder and refuses anonymous clients', async () => {
    expect((await fetch(`${adminUrl}/readyz`)).status).toBe(200);
    const rootDir = join(dir, 'ca', 'roots');
    const rootPem = readFileSync(join(rootDir, readdirSync(rootDir)[0]!, 'cert.pem'), 'utf8');

    const anonymous = new Client(xdsAddress, { rootPem });
    const refused = anonymous.open();
    refused.send({ typeUrl: CLUSTER, node: { id: NODE } });
    expect((await refused.status).code).toBe(grpc.status.UNAUTHENTICATED);
    anonymous.close();

    const token = spawnSync(process.execPath, [CLI, 'token', '--node', NODE, '--ca-dir', join(dir, 'ca'), '--ttl', '10m'], { encoding: 'utf8' });
    expect(token.status).toBe(0);
    const owner = new Client(xdsAddress, { rootPem });
    const s = owner.open(undefined, token.stdout.trim());
    s.send({ typeUrl: CLUSTER, node: { id: NODE } });
    const cds = await s.nextOf(CLUSTER);
    expect(cds.resources.map((r) => r.name)).toContain('outbound|9080||reviews.default.svc.cluster.local');
    owner.close();
  });

  it('exits cleanly on SIGTERM', async () => {
    const exited = new Promise<number | null>((resolve) => proc.once('exit', (code) => resolve(code)));
    proc.kill('SIGTERM');
    expect(await exited).toBe(0);
    expect(stderr).toContain('SIGTERM received, shutting down');
  });
});

/**
 * `/readyz` answers 200 only once the mesh is loaded. The secret publisher puts the CA's trust
 * bundle into the cache as soon as xDS security starts, before the mesh loader has read a file, so
 * "the cache was filled once" is already true then: readiness taken from it said ready while
 * crossmesh had no mesh yet (the chaos benchmark saw a restarted `serve` answer /readyz 200 about
 * 300 ms before its configuration was loaded).
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, expect, it } from 'vitest';
import { CertificateAuthority } from '../../src/ca/index.js';
import { meshLoader } from '../../src/cli/mesh-loader.js';
import { startControlPlane, type ControlPlane, type MeshLoader } from '../../src/cli/serve.js';
import { startXdsSecurity, type XdsSecurity } from '../../src/xds/auth/security.js';
import { SnapshotCache } from '../../src/xds/cache.js';

const dir = mkdtempSync(join(tmpdir(), 'crossmesh-ready-'));
let ca: CertificateAuthority | undefined;
let security: XdsSecurity | undefined;
let plane: ControlPlane | undefined;

afterAll(async () => {
  await plane?.close();
  ca?.close();
  rmSync(dir, { recursive: true, force: true });
});

it('answers 503 while the mesh loader runs (the trust bundle already in the cache) and 200 once the mesh is loaded', async () => {
  ca = await CertificateAuthority.open({ directory: join(dir, 'ca') });
  const cache = new SnapshotCache({ debounceMs: 5 });
  security = await startXdsSecurity({ ca, cache, insecure: false, tokenReviewer: false });
  expect(cache.isReady()).toBe(true);
  const load = meshLoader();
  const seen: number[] = [];
  const loadMesh: MeshLoader = async (ctx) => {
    seen.push((await fetch(`${ctx.admin.url}/readyz`)).status);
    const handle = await load(ctx);
    seen.push((await fetch(`${ctx.admin.url}/readyz`)).status);
    return handle;
  };
  plane = await startControlPlane({ cache, security, xdsPort: 0, adminPort: 0, loadMesh, configPaths: [] });
  expect(seen).toEqual([503, 503]);
  expect((await fetch(`${plane.adminUrl}/readyz`)).status).toBe(200);
  expect((await fetch(`${plane.adminUrl}/debug/config`)).status).toBe(200);
});

/**
 * Access policy with global access policy enabled, enforced by grpc-js-xds servers through the RBAC
 * crossmesh serves: an allowed service account gets through; one allowed only another method gets
 * PERMISSION_DENIED from the server; one no policy names is not even offered the service; adding an
 * AccessPolicy at run time (hot reload of the config file) lets them through within 2 s.
 */
import * as grpc from '@grpc/grpc-js';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { ACCESS_BASE, ACCESS_GRANTED, ACCESS_WORKLOADS } from './claims.js';

// grpc-js-xds registers its RBAC filter only when this is set before it loads.
process.env.GRPC_XDS_EXPERIMENTAL_RBAC = 'true';
const h: typeof import('./harness.js') = await import('./harness.js');

let sim: Awaited<ReturnType<typeof h.Sim.start>>;
let allowed: grpc.Client;
let limited: grpc.Client;
let stranger: grpc.Client;

beforeAll(async () => {
  sim = await h.Sim.start({
    globalAccessPolicy: true,
    workloads: ACCESS_WORKLOADS,
    policies: ACCESS_BASE,
  });
  await sim.startServer('echo-2-0');
  [allowed, limited, stranger] = await Promise.all([sim.client('client-allowed'), sim.client('client-limited'), sim.client('client-stranger')]);
}, 20_000);

afterAll(async () => {
  await sim?.close();
});

it('lets the allowed service account through and denies the others', { timeout: 15_000 }, async () => {
  await h.until(allowed, h.from('echo-2-0'), 8000, 5);
  expect(h.tally(await h.calls(allowed, 20))).toEqual({ 'echo-2-0': 20 });
  const denied = await h.calls(limited, 10, 2);
  expect(denied.every((o) => !o.ok && o.code === grpc.status.PERMISSION_DENIED), JSON.stringify(denied.slice(0, 2))).toBe(true);
  // No policy names "stranger": crossmesh does not even offer it the service.
  const unknown = await h.call(stranger, 1500);
  expect(unknown.ok).toBe(false);
});

it('lets them through within 2 s of an AccessPolicy added by hot reload', { timeout: 15_000 }, async () => {
  await sim.writePolicies(ACCESS_GRANTED);
  const t0 = Date.now();
  await h.until(limited, h.from('echo-2-0'), 2000 - (Date.now() - t0), 3);
  await h.until(stranger, h.from('echo-2-0'), 2000 - (Date.now() - t0), 3);
  expect(Date.now() - t0).toBeLessThan(2000);
});

/**
 * TrafficPolicy route features on real Envoy, each measured with real HTTP requests from the
 * client pod through its sidecar to the web pods (policies-mesh.ts): request timeout, fault
 * injection (abort and delay, as shares of many requests), mirroring, CORS preflight, header
 * manipulation, the documented route order of matchers, and prefixes on a path segment boundary.
 */
import { beforeAll, expect, it } from 'vitest';
import { WEB, podOf, policyMeshHooks, statusCounts, webPolicy, type PolicyMesh } from './policies-mesh.js';
import { envoySuite } from './support.js';

/** Marks the routes a policy makes: its answers carry `x-route: <name>`, so a test sees which route matched. */
function tag(name: string): string {
  return `  headerManipulation:\n    appendResponseHeaders: {x-route: ${name}}`;
}

envoySuite('TrafficPolicy route features on real Envoy', () => {
  const mesh = policyMeshHooks();
  // Set by beforeAll: every test below runs on the started mesh.
  let pm: PolicyMesh;
  beforeAll(() => {
    pm = mesh();
  });

  it('without policies every web pod answers (the baseline the other tests change)', async () => {
    const rs = await pm.client.requests({ url: `${WEB}/`, count: 30, concurrency: 3, timeoutMs: 5000 });
    expect(statusCounts(rs)).toEqual({ 200: 30 });
    expect(new Set(rs.map(podOf))).toEqual(new Set(['web-0', 'web-1', 'web-2']));
  }, 30_000);

  it('requestTimeout: a slower app gets 504 after the policy timeout; a faster one its answer', async () => {
    await pm.setPolicies({ 'timeout.yaml': webPolicy('timeout', '  requestTimeout: 400ms') });
    const slow = await pm.client.requests({ url: `${WEB}/`, count: 6, concurrency: 3, timeoutMs: 5000, headers: { 'x-demo-delay': '1500' } });
    expect(statusCounts(slow)).toEqual({ 504: 6 });
    // Envoy answers at its timeout, not when the app would have: 400 ms, give or take the machine.
    for (const r of slow) {
      expect(r.latencyMs).toBeGreaterThanOrEqual(390);
      expect(r.latencyMs).toBeLessThan(1200);
      expect(r.body).toMatch(/upstream request timeout/);
    }
    const fast = await pm.client.requests({ url: `${WEB}/`, count: 6, concurrency: 3, timeoutMs: 5000, headers: { 'x-demo-delay': '50' } });
    expect(statusCounts(fast)).toEqual({ 200: 6 });
  }, 60_000);

  it('faultInjection abort 30 %: the share of 503s over 600 requests is within 6 points of 30 %, and the app never sees them', async () => {
    await pm.setPolicies({ 'fault.yaml': webPolicy('fault', '  faultInjection:\n    abort: {httpStatus: 503}\n    percentage: 30') });
    pm.clearLogs();
    const n = 600;
    const rs = await pm.client.requests({ url: `${WEB}/`, count: n, concurrency: 8, timeoutMs: 5000 });
    const counts = statusCounts(rs);
    const aborted = counts['503'] ?? 0;
    expect(aborted + (counts['200'] ?? 0), JSON.stringify(counts)).toBe(n);
    // Binomial(600, 0.3): standard deviation 1.9 points; 6 points is more than 3 of them.
    console.log(`fault abort 30 %: measured ${((100 * aborted) / n).toFixed(1)} % over ${n} requests`);
    expect(Math.abs((100 * aborted) / n - 30)).toBeLessThanOrEqual(6);
    expect(rs.find((r) => r.status === 503)!.body).toMatch(/fault filter abort/);
    // The aborted requests never left the client's sidecar (apps log a request just after answering it).
    await new Promise((r) => setTimeout(r, 300));
    const served = ['web-0', 'web-1', 'web-2'].reduce((sum, p) => sum + pm.served(p).length, 0);
    expect(served).toBe(n - aborted);
  }, 60_000);

  it('faultInjection delay 400 ms for 50 %: the share of requests slower than 400 ms is within 10 points of 50 % over 200', async () => {
    await pm.setPolicies({ 'fault.yaml': webPolicy('fault', '  faultInjection:\n    fixedDelay: 400ms\n    percentage: 50') });
    const n = 200;
    const rs = await pm.client.requests({ url: `${WEB}/`, count: n, concurrency: 20, timeoutMs: 5000 });
    expect(statusCounts(rs)).toEqual({ [200]: n });
    const delayed = rs.filter((r) => r.latencyMs >= 400).length;
    // Binomial(200, 0.5): standard deviation 3.5 points; 10 points is nearly 3 of them.
    console.log(`fault delay 50 %: measured ${((100 * delayed) / n).toFixed(1)} % ≥ 400 ms over ${n} requests`);
    expect(Math.abs((100 * delayed) / n - 50)).toBeLessThanOrEqual(10);
    // The undelayed ones are fast: the delay comes from the policy, not from a loaded machine.
    const fast = rs.filter((r) => r.latencyMs < 400).map((r) => r.latencyMs).sort((a, b) => a - b);
    expect(fast[Math.floor(fast.length / 2)]!).toBeLessThan(150);
  }, 60_000);

  it('mirror: the shadow receives a copy of every request, the caller only the primary\'s answer', async () => {
    await pm.setPolicies({ 'mirror.yaml': webPolicy('mirror', '  mirror:\n    kubeService: {name: shadow, namespace: default, clusterName: c1}\n    percentage: 100') });
    pm.clearLogs();
    const n = 40;
    const rs = await pm.client.requests({ url: `${WEB}/mirrored`, count: n, concurrency: 4, timeoutMs: 5000 });
    expect(statusCounts(rs)).toEqual({ 200: n });
    // Every answer is web's; none is the shadow's.
    expect(rs.every((r) => /^web-\d$/.test(podOf(r) ?? ''))).toBe(true);
    // Copies are sent without waiting, and an app logs a request once its answer is sent: give the last ones a moment.
    await new Promise((r) => setTimeout(r, 500));
    const primary = ['web-0', 'web-1', 'web-2'].flatMap((p) => pm.served(p)).map((s) => s.requestId).sort();
    expect(primary.length).toBe(n);
    const shadow = pm.served('shadow-0');
    expect(shadow.length).toBe(n);
    expect(shadow.every((s) => s.path === '/mirrored')).toBe(true);
    // Each copy is a copy of a primary request (same x-request-id).
    expect(shadow.map((s) => s.requestId).sort()).toEqual(primary);
    // With the shadow failing, callers still get the primary's answer.
    const failing = await pm.client.requests({ url: `${WEB}/mirrored`, count: 10, concurrency: 2, timeoutMs: 5000, headers: { 'x-demo-status': '500', 'x-demo-pods': 'shadow-0' } });
    expect(statusCounts(failing)).toEqual({ 200: 10 });
  }, 60_000);

  it('corsPolicy: a preflight from an allowed origin is answered by Envoy per policy; another origin gets no CORS grant', async () => {
    await pm.setPolicies({
      'cors.yaml': webPolicy(
        'cors',
        `  corsPolicy:
    allowOrigins: [{exact: "https://app.example.com"}, {regex: "https://.*\\\\.trusted\\\\.example"}]
    allowMethods: [GET, POST]
    allowHeaders: [x-custom]
    exposeHeaders: [x-demo-pod]
    maxAge: 60s
    allowCredentials: true`,
      ),
    });
    pm.clearLogs();
    const preflight = (origin: string) =>
      pm.client.request(`${WEB}/api`, { method: 'OPTIONS', timeoutMs: 5000, headers: { origin, 'access-control-request-method': 'POST', 'access-control-request-headers': 'x-custom' } });
    const ok = await preflight('https://app.example.com');
    expect(ok.status).toBe(200);
    expect(ok.headers?.['access-control-allow-origin']).toBe('https://app.example.com');
    expect(ok.headers?.['access-control-allow-methods']).toBe('GET,POST');
    expect(ok.headers?.['access-control-allow-headers']).toBe('x-custom');
    expect(ok.headers?.['access-control-max-age']).toBe('60');
    expect(ok.headers?.['access-control-allow-credentials']).toBe('true');
    const regex = await preflight('https://shop.trusted.example');
    expect(regex.headers?.['access-control-allow-origin']).toBe('https://shop.trusted.example');
    // Envoy answered the preflights itself: no app saw them.
    expect(['web-0', 'web-1', 'web-2'].flatMap((p) => pm.served(p)).filter((s) => s.method === 'OPTIONS')).toEqual([]);
    // An origin the policy does not allow gets no grant (the request passes on to the app).
    const other = await preflight('https://evil.example');
    expect(other.headers?.['access-control-allow-origin']).toBeUndefined();
    // A simple request from the allowed origin gets the grant and the exposed headers on the app's answer.
    const simple = await pm.client.request(`${WEB}/api`, { timeoutMs: 5000, headers: { origin: 'https://app.example.com' } });
    expect(simple.status).toBe(200);
    expect(simple.headers?.['access-control-allow-origin']).toBe('https://app.example.com');
    expect(simple.headers?.['access-control-expose-headers']).toBe('x-demo-pod');
  }, 60_000);

  it('headerManipulation: request headers added and removed before the app, response headers added and removed before the caller', async () => {
    await pm.setPolicies({
      'headers.yaml': webPolicy(
        'headers',
        `  headerManipulation:
    appendRequestHeaders: {x-policy: added}
    removeRequestHeaders: [x-secret]
    appendResponseHeaders: {x-served-by: crossmesh}
    removeResponseHeaders: [x-demo-pod]`,
      ),
    });
    const r = await pm.client.request(`${WEB}/`, { timeoutMs: 5000, headers: { 'x-demo-echo': '1', 'x-secret': 'hunter2', 'x-kept': 'yes' }, maxBodyBytes: 65536 });
    expect(r.status).toBe(200);
    const seen = (JSON.parse(r.body!) as { headers: Record<string, string> }).headers;
    expect(seen['x-policy']).toBe('added');
    expect(seen['x-secret']).toBeUndefined();
    expect(seen['x-kept']).toBe('yes');
    expect(r.headers?.['x-served-by']).toBe('crossmesh');
    expect(r.headers?.['x-demo-pod']).toBeUndefined();
    // Appended, not replaced: a caller's own x-policy value stays beside the policy's.
    const both = await pm.client.request(`${WEB}/`, { timeoutMs: 5000, headers: { 'x-demo-echo': '1', 'x-policy': 'mine' }, maxBodyBytes: 65536 });
    expect((JSON.parse(both.body!) as { headers: Record<string, string> }).headers['x-policy']).toMatch(/^mine, ?added$/);
  }, 60_000);

  it('matchers in the documented order: exact path, then regex, then longer prefix, then more conditions, then the catch-all; first match wins', async () => {
    // Every matcher below matches GET /api/users/42 with the header end-user: jason.
    await pm.setPolicies({
      'm-prefix.yaml': webPolicy('m-prefix', `  httpRequestMatchers:\n  - prefix: /api\n${tag('prefix')}`),
      'm-prefix-header.yaml': webPolicy('m-prefix-header', `  httpRequestMatchers:\n  - prefix: /api\n    headers: [{name: end-user, value: jason}]\n${tag('prefix+header')}`),
      'm-longer.yaml': webPolicy('m-longer', `  httpRequestMatchers:\n  - prefix: /api/users\n    method: POST\n${tag('longer+method')}`),
      'm-regex.yaml': webPolicy('m-regex', `  httpRequestMatchers:\n  - regex: "/api/users/[0-9]+"\n    headers: [{name: x-regex}]\n${tag('regex')}`),
      'm-exact.yaml': webPolicy('m-exact', `  httpRequestMatchers:\n  - exact: /api/users/42\n    method: GET\n${tag('exact')}`),
      'm-all.yaml': webPolicy('m-all', tag('catch-all')),
    });
    const route = async (p: string, headers: Record<string, string> = {}, method = 'GET'): Promise<string> => {
      const rs = await pm.client.requests({ url: `${WEB}${p}`, method, headers, count: 3, concurrency: 3, timeoutMs: 5000 });
      const seen = new Set(rs.map((r) => `${r.status} ${String(r.headers?.['x-route'])}`));
      expect(seen.size, `${method} ${p} ${JSON.stringify(headers)}: ${[...seen].join(', ')}`).toBe(1);
      return [...seen][0]!;
    };
    // The exact path (with its method) wins over the regex and every prefix.
    expect(await route('/api/users/42', { 'end-user': 'jason', 'x-regex': '1' })).toBe('200 exact');
    // Another method: the exact route does not match, the regex (with its header) comes next.
    expect(await route('/api/users/42', { 'end-user': 'jason', 'x-regex': '1' }, 'PUT')).toBe('200 regex');
    // The longer prefix (with its method) before the shorter ones.
    expect(await route('/api/users/7', { 'end-user': 'jason' }, 'POST')).toBe('200 longer+method');
    // Equal prefixes: the one with more conditions first, then the bare one.
    expect(await route('/api/users/42', { 'end-user': 'jason' }, 'PUT')).toBe('200 prefix+header');
    expect(await route('/api/users/42', {}, 'PUT')).toBe('200 prefix');
    // Nothing but the catch-all matches /other.
    expect(await route('/other', { 'end-user': 'jason' })).toBe('200 catch-all');
  }, 60_000);

  it('prefix /api matches /api, /api/, /api/x and /api?q on a segment boundary, not /apix; prefix /docs/ only below it', async () => {
    await pm.setPolicies({
      'p-api.yaml': webPolicy('p-api', `  httpRequestMatchers:\n  - prefix: /api\n${tag('api')}`),
      'p-docs.yaml': webPolicy('p-docs', `  httpRequestMatchers:\n  - prefix: /docs/\n${tag('docs')}`),
      'p-all.yaml': webPolicy('p-all', tag('catch-all')),
    });
    const routeOf = async (p: string): Promise<string> => {
      const r = await pm.client.request(`${WEB}${p}`, { timeoutMs: 5000 });
      return `${r.status} ${String(r.headers?.['x-route'])}`;
    };
    for (const p of ['/api', '/api/', '/api/x', '/api?q=1']) expect(await routeOf(p), p).toBe('200 api');
    for (const p of ['/apix', '/ap', '/api-v2/x']) expect(await routeOf(p), p).toBe('200 catch-all');
    // A prefix ending in / is Envoy's plain prefix: /docs/ and below, not /docs.
    expect(await routeOf('/docs/a')).toBe('200 docs');
    expect(await routeOf('/docs')).toBe('200 catch-all');
  }, 60_000);
});

/**
 * The dashboard's topology view in a real browser: a control plane on the default mesh (mesh
 * loader, xDS security in development mode) with real xDS streams, and Debian's Chromium driven
 * headless by playwright-core. Checks what a reader sees: the three clusters with their networks,
 * the east-west gateways and the ingress, the 75/15/10 traffic shift and the failover order, a
 * connected proxy green with its ACKs in the side panel, then the same proxy red once it NACKs.
 *
 * Screenshots go to a temporary folder; with CROSSMESH_UPDATE_SCREENSHOTS=1 they replace
 * docs/images/dashboard-topology.png and docs/images/dashboard-topology-nack.png.
 *
 * Chromium is installed by scripts/install-tools.sh. In CI (CI set) a missing /usr/bin/chromium
 * fails the test; elsewhere the test is skipped and says why.
 */
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import * as grpc from '@grpc/grpc-js';
import { chromium, type Browser, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CertificateAuthority } from '../../src/ca/index.js';
import { meshLoader } from '../../src/cli/mesh-loader.js';
import { startControlPlane, type ControlPlane } from '../../src/cli/serve.js';
import { startXdsSecurity, type XdsSecurity } from '../../src/xds/auth/security.js';
import { issueToken } from '../../src/xds/auth/tokens.js';
import { SnapshotCache } from '../../src/xds/cache.js';
import { CLUSTER_TYPE, ENDPOINT_TYPE } from '../../src/xds/types.js';
import { until } from '../auth/support.js';
import { testNode, XdsTestClient, type SotwTestStream } from '../support/xds-client.js';

const CHROMIUM = '/usr/bin/chromium';
// Without these Chromium waits on network services this machine cannot reach (and hangs).
const CHROMIUM_ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'];
const HAVE_CHROMIUM = existsSync(CHROMIUM);
const RUN = HAVE_CHROMIUM || !!process.env.CI;

const PRODUCTPAGE = 'cluster1/default/productpage-v1-0';
const DETAILS = 'cluster2/default/productpage-v1-0';
const EW2 = 'cluster2/crossmesh-system/east-west-gateway-0';
const REVIEWS = 'outbound|9080||reviews.default.svc.cluster.local';
const NACK_ERROR = 'envoy rejected the endpoints: priority 3 has no healthy host';
const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
// Colours the stylesheet gives proxy nodes (dashboard-style.ts): green connected, red NACK.
const GREEN = 'rgb(191, 229, 200)';
const RED = 'rgb(244, 166, 166)';

const node = (page: Page, id: string) => page.locator(`svg.topology g.proxy[data-node="${id}"]`);
const fillOf = (page: Page, id: string) => node(page, id).locator('rect').evaluate((r) => getComputedStyle(r).fill);

const TITLE = 'topology view in headless Chromium';
describe.skipIf(!RUN)(RUN ? TITLE : `${TITLE} (skipped: ${CHROMIUM} is absent; scripts/install-tools.sh installs it)`, () => {
  let caDir: string;
  let shots: string;
  let ca: CertificateAuthority;
  let security: XdsSecurity;
  let plane: ControlPlane;
  let client: XdsTestClient;
  let browser: Browser;
  const streams: SotwTestStream[] = [];
  const pageErrors: string[] = [];

  /** A stream for `id` with its token, its CDS ACKed. */
  async function connect(id: string, role?: string): Promise<SotwTestStream> {
    const { token } = await issueToken(security.keyring, { kind: 'node', nodeId: id }, 60_000);
    const md = new grpc.Metadata();
    md.set('authorization', `Bearer ${token}`);
    const s = client.sotw(undefined, md);
    streams.push(s);
    s.send({ typeUrl: CLUSTER_TYPE, node: testNode(id, role ? { role } : {}) });
    s.ack(await s.next());
    return s;
  }

  beforeAll(async () => {
    if (!HAVE_CHROMIUM) throw new Error(`${CHROMIUM} is missing and CI is set: scripts/install-tools.sh should have installed Debian's chromium`);
    caDir = mkdtempSync(join(tmpdir(), 'crossmesh-topology-'));
    shots = process.env.CROSSMESH_UPDATE_SCREENSHOTS === '1' ? join(ROOT, 'docs', 'images') : join(caDir, 'shots');
    mkdirSync(shots, { recursive: true });
    ca = await CertificateAuthority.open({ directory: join(caDir, 'ca') });
    const cache = new SnapshotCache({ debounceMs: 5 });
    security = await startXdsSecurity({ ca, cache, insecure: true, tokenReviewer: false });
    plane = await startControlPlane({ cache, security, xdsPort: 0, adminPort: 0, loadMesh: meshLoader() });
    client = new XdsTestClient(plane.xdsAddress);
    await connect(PRODUCTPAGE);
    await connect(DETAILS);
    await connect(EW2, 'gateway');
    browser = await chromium.launch({ executablePath: CHROMIUM, args: CHROMIUM_ARGS, headless: true, timeout: 20_000 });
  }, 45_000);
  afterAll(async () => {
    await browser?.close();
    for (const s of streams) s.close();
    client?.close();
    await plane?.close();
    ca?.close();
    if (caDir) rmSync(caDir, { recursive: true, force: true });
  });

  async function open(): Promise<Page> {
    const page = await browser.newPage({ viewport: { width: 1760, height: 1100 } });
    page.setDefaultTimeout(10_000);
    page.on('pageerror', (e) => pageErrors.push(`page error: ${e.message}`));
    page.on('console', (m) => {
      // Failed loads are checked with their URL below (the browser's own favicon request may 404).
      if (m.type() === 'error' && !m.text().startsWith('Failed to load resource')) pageErrors.push(`console: ${m.text()}`);
    });
    page.on('response', (r) => {
      if (r.status() >= 400 && new URL(r.url()).pathname !== '/favicon.ico') pageErrors.push(`HTTP ${r.status()} for ${r.url()}`);
    });
    page.on('requestfailed', (r) => pageErrors.push(`request failed: ${r.url()} ${r.failure()?.errorText ?? ''}`));
    await page.goto(`${plane.adminUrl}/`);
    await page.locator('svg.topology').waitFor();
    return page;
  }

  it('draws the default mesh: clusters with networks, gateways, services by locality, policy edges; a connected proxy is green and its panel shows its ACKs', async () => {
    const page = await open();
    expect(await page.locator('svg.topology g.cluster').evaluateAll((gs) => gs.map((g) => g.getAttribute('data-cluster')))).toEqual(['cluster1', 'cluster2', 'cluster3']);
    const clusterText = await page.locator('svg.topology g.cluster .cluster-name').allTextContents();
    expect(clusterText.map((t) => t.replace(/\s+/g, ' '))).toEqual(['cluster1 network net1', 'cluster2 network net2', 'cluster3 network net1']);
    for (const c of ['cluster1', 'cluster2', 'cluster3']) {
      await expect(node(page, `${c}/crossmesh-system/east-west-gateway-0`).count()).resolves.toBe(1);
      expect(await node(page, `${c}/crossmesh-system/east-west-gateway-0`).textContent()).toContain('east-west gateway east-west :15443');
    }
    expect(await node(page, 'cluster1/crossmesh-system/ingress-gateway-0').textContent()).toContain('ingress gateway ingress :8080');
    // reviews v3 runs only in cluster2, in its own locality group.
    const reviews2 = page.locator('svg.topology g.service[data-service="cluster2/default/reviews"]');
    expect(await reviews2.locator('.locality').allTextContents()).toEqual(['eu-west / eu-west-1a']);
    expect(await reviews2.locator('g.proxy').evaluateAll((gs) => gs.map((g) => g.getAttribute('data-node')))).toEqual(['cluster2/default/reviews-v3-0']);

    // The "simple" shift, drawn as three labelled edges, and the failover chain in priority order.
    const shift = await page.locator('svg.topology g.edge-traffic-shift[data-policy="crossmesh-system/simple"] .edge-label').allTextContents();
    expect(shift.sort()).toEqual(['10% v2', '15% v1', '75% v3']);
    const failover = await page.locator('svg.topology g.edge-failover .edge-label').allTextContents();
    expect(failover).toEqual(['failover 1→2', 'failover 2→3']);
    const failoverTitles = await page.locator('svg.topology g.edge-failover title').allTextContents();
    expect(failoverTitles).toEqual([
      'crossmesh-system/reviews-failover: cluster2/default/reviews → cluster1/default/reviews (failover 1→2)',
      'crossmesh-system/reviews-failover: cluster1/default/reviews → cluster3/default/reviews (failover 2→3)',
    ]);
    expect(await page.locator('#topology .edge-list').textContent()).toContain('reviews-failover.default.global:9080: 1. cluster2/default/reviews → 2. cluster1/default/reviews → 3. cluster3/default/reviews');
    // Access edges are many: drawn once asked for.
    expect(await page.locator('svg.topology g.edge-access').count()).toBe(0);
    await page.locator('#topology input[data-edge-kind="access"]').check();
    await until(async () => (await page.locator('svg.topology g.edge-access').count()) > 0, 5000, 'access edges drawn');
    expect(await page.locator('svg.topology g.edge-access[data-policy="crossmesh-system/ingress-gateway"] .edge-label').allTextContents()).toEqual(['allows', 'allows']);
    await page.locator('#topology input[data-edge-kind="access"]').uncheck();
    await until(async () => (await page.locator('svg.topology g.edge-access').count()) === 0, 5000, 'access edges hidden');

    // Stream state colours: connected green, no stream grey.
    await until(async () => (await node(page, PRODUCTPAGE).getAttribute('data-state')) === 'connected', 8000, 'productpage connected');
    expect(await fillOf(page, PRODUCTPAGE)).toBe(GREEN);
    expect(await fillOf(page, EW2)).toBe(GREEN);
    expect(await node(page, 'cluster3/default/ratings-v1-0').getAttribute('data-state')).toBe('absent');

    await node(page, PRODUCTPAGE).click();
    const panel = page.locator('#topology-panel');
    await panel.waitFor();
    expect(await panel.locator('p.node').textContent()).toBe(PRODUCTPAGE);
    expect(await panel.textContent()).toContain('spiffe://cluster1/ns/default/sa/bookinfo-productpage');
    expect(await page.locator('#topology-panel-state').textContent()).toBe('connected');
    const cdsRow = (await panel.locator('tbody tr').allTextContents()).find((r) => r.startsWith('CDS'));
    expect(cdsRow).toMatch(/^CDSACK[0-9a-f]{8}\d+$/);
    expect(await panel.locator('a.node').getAttribute('href')).toBe(`/debug/config_dump?node=${encodeURIComponent(PRODUCTPAGE)}`);
    const policies = await panel.locator('ul.lines').last().textContent();
    expect(policies).toContain('AccessPolicy crossmesh-system/productpage (allows it to call');
    expect(policies).toContain('AccessPolicy crossmesh-system/ingress-gateway (allows callers in)');
    // The selected proxy's access edges are drawn even while the kind is hidden.
    expect(await page.locator('svg.topology g.edge-access.highlight[data-policy="crossmesh-system/ingress-gateway"]').count()).toBe(1);

    await page.screenshot({ path: join(shots, 'dashboard-topology.png'), fullPage: false });

    // From the keyboard: a gateway's panel lists what it exports; × closes the panel.
    await node(page, EW2).focus();
    await page.keyboard.press('Enter');
    await until(async () => (await panel.locator('p.node').textContent()) === EW2, 5000, 'gateway panel');
    expect(await panel.textContent()).toContain('east-west gateway crossmesh-system/east-west, port 15443');
    expect(await panel.locator('h3', { hasText: 'Exports' }).textContent()).toMatch(/^Exports \(\d+\)$/);
    expect(await panel.textContent()).toContain('reviews.default:9080 subset version-v3');
    await panel.locator('button.panel-close').click();
    await until(async () => (await page.locator('#topology-panel').count()) === 0, 5000, 'panel closed');
    expect(readFileSync(join(shots, 'dashboard-topology.png')).subarray(1, 4).toString()).toBe('PNG');
    expect(pageErrors).toEqual([]);
    await page.close();
  }, 60_000);

  it('turns a proxy red when it NACKs what it is served, and its panel shows the error', async () => {
    const page = await open();
    await until(async () => (await node(page, DETAILS).getAttribute('data-state')) === 'connected', 8000, 'cluster2 productpage connected');
    expect(await fillOf(page, DETAILS)).toBe(GREEN);

    // The sidecar asks for endpoints and rejects the version it is sent.
    const s = streams[1]!;
    s.send({ typeUrl: ENDPOINT_TYPE, names: [REVIEWS] });
    const eds = await s.next();
    s.send({ typeUrl: ENDPOINT_TYPE, names: [REVIEWS], nonce: eds.nonce, version: '', error: NACK_ERROR });

    // The page polls every 3 s: within two polls the node is red.
    await until(async () => (await node(page, DETAILS).getAttribute('data-state')) === 'nack', 10_000, 'cluster2 productpage drawn as NACK');
    expect(await fillOf(page, DETAILS)).toBe(RED);
    expect(await fillOf(page, PRODUCTPAGE)).toBe(GREEN);
    await node(page, DETAILS).click();
    const panel = page.locator('#topology-panel');
    await panel.waitFor();
    expect(await page.locator('#topology-panel-state').textContent()).toBe('NACK');
    const edsRow = (await panel.locator('tbody tr').allTextContents()).find((r) => r.startsWith('EDS'));
    expect(edsRow).toContain('NACK');
    expect(edsRow).toContain(`${eds.version_info.slice(0, 8)}: ${NACK_ERROR}`);
    await page.screenshot({ path: join(shots, 'dashboard-topology-nack.png'), fullPage: false });
    expect(pageErrors).toEqual([]);
    await page.close();
  }, 60_000);
});

/**
 * The read-only web dashboard at `/` of the admin server: one HTML page, its script modules and
 * its stylesheet, all served from this process (no CDN, fonts or external scripts: control planes
 * run offline). The script reads the JSON debug endpoints and renders them; it posts nothing.
 *
 * The script is TypeScript in src/admin/browser/, compiled by `npm run build` (tsconfig.browser.json)
 * into dist/browser/; its modules are read from there once, when the routes are made.
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import type { ServerResponse } from 'node:http';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { AdminHandler } from './server.js';
import { DASHBOARD_STYLE } from './dashboard-style.js';

export const DASHBOARD_SCRIPT_PATH = '/dashboard.js';
export const DASHBOARD_STYLE_PATH = '/dashboard.css';

/**
 * Only this origin's script, style and fetches; no inline code, plugins, frames, forms or base
 * rewriting, so data that slipped into markup still could not run.
 */
export const DASHBOARD_CSP = [
  "default-src 'none'",
  "script-src 'self'",
  "style-src 'self'",
  "connect-src 'self'",
  "img-src 'self'",
  "base-uri 'none'",
  "form-action 'none'",
  "frame-ancestors 'none'",
].join('; ');

// Static links to the raw endpoints stay usable without JavaScript.
const DASHBOARD_HTML = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>crossmesh dashboard</title>
<link rel="stylesheet" href="${DASHBOARD_STYLE_PATH}">
<script type="module" src="${DASHBOARD_SCRIPT_PATH}"></script>
</head>
<body>
<header class="top">
<h1>crossmesh</h1>
<nav>
<a href="#topology">topology</a><a href="#proxies">proxies</a><a href="#discovery">clusters</a><a href="#config">config</a><a href="#translation">translation</a><a href="#policies">policies</a><a href="#certs">certificates</a><a href="/metrics">metrics</a>
</nav>
<input id="filter" type="search" placeholder="filter proxies by node id" aria-label="filter proxies by node id" autocomplete="off">
<button id="pause" type="button" aria-pressed="false">Pause</button>
</header>
<main id="app">
<p>Loading&hellip; This page needs JavaScript; the same data is at
<a href="/readyz">/readyz</a>, <a href="/debug/proxies">/debug/proxies</a>, <a href="/debug/topology">/debug/topology</a>, <a href="/debug/discovery">/debug/discovery</a>,
<a href="/debug/config">/debug/config</a>, <a href="/debug/translation">/debug/translation</a>,
<a href="/debug/policies">/debug/policies</a>, <a href="/debug/certs">/debug/certs</a>.</p>
</main>
</body>
</html>
`;

function send(res: ServerResponse, contentType: string, body: string): void {
  res.writeHead(200, {
    'content-type': contentType,
    'content-security-policy': DASHBOARD_CSP,
    'x-content-type-options': 'nosniff',
    'x-frame-options': 'DENY',
    'referrer-policy': 'no-referrer',
    'cache-control': 'no-cache',
  });
  res.end(body);
}

/** The folder holding package.json: two levels above src/admin/, three above dist/src/admin/. */
function packageRoot(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (;;) {
    if (existsSync(join(dir, 'package.json'))) return dir;
    const up = dirname(dir);
    if (up === dir) throw new Error(`no package.json above ${fileURLToPath(import.meta.url)}`);
    dir = up;
  }
}

/** Where `npm run build` puts the compiled browser modules. */
export function dashboardScriptDir(): string {
  return join(packageRoot(), 'dist', 'browser');
}

/** The compiled browser modules, by the path they are served at (`/dashboard.js`, `/topology.js`, ...). */
export function dashboardModules(dir = dashboardScriptDir()): ReadonlyMap<string, string> {
  const out = new Map<string, string>();
  if (!existsSync(dir)) return out;
  for (const f of readdirSync(dir).sort()) if (f.endsWith('.js')) out.set(`/${f}`, readFileSync(join(dir, f), 'utf8'));
  return out;
}

/** The dashboard's routes (page, script modules, stylesheet) for the admin server to register. */
export function dashboardRoutes(): ReadonlyMap<string, AdminHandler> {
  const modules = dashboardModules();
  const routes = new Map<string, AdminHandler>([
    ['/', (_req, res) => send(res, 'text/html; charset=utf-8', DASHBOARD_HTML)],
    [DASHBOARD_STYLE_PATH, (_req, res) => send(res, 'text/css; charset=utf-8', DASHBOARD_STYLE)],
  ]);
  for (const [path, source] of modules) routes.set(path, (_req, res) => send(res, 'text/javascript; charset=utf-8', source));
  if (!modules.has(DASHBOARD_SCRIPT_PATH)) {
    // A checkout that was never built: say so where the page looks, rather than a bare 404.
    const missing = `// the dashboard script is not built: run \`npm run build\` (it compiles src/admin/browser/ into ${dashboardScriptDir()})\n`;
    routes.set(DASHBOARD_SCRIPT_PATH, (_req, res) => {
      res.writeHead(503, { 'content-type': 'text/javascript; charset=utf-8', 'content-security-policy': DASHBOARD_CSP, 'cache-control': 'no-cache' });
      res.end(missing);
    });
  }
  return routes;
}

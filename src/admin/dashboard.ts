/**
 * The read-only web dashboard at `/` of the admin server: one HTML page, its script and its
 * stylesheet, all served from this process (no CDN, fonts or external scripts: control planes
 * run offline). The script reads the JSON debug endpoints and renders them; it posts nothing.
 */
import type { ServerResponse } from 'node:http';
import type { AdminHandler } from './server.js';
import { DASHBOARD_SCRIPT } from './dashboard-script.js';
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
<script src="${DASHBOARD_SCRIPT_PATH}" defer></script>
</head>
<body>
<header class="top">
<h1>crossmesh</h1>
<nav>
<a href="#proxies">proxies</a><a href="#discovery">clusters</a><a href="#config">config</a><a href="#translation">translation</a><a href="#policies">policies</a><a href="#certs">certificates</a><a href="/metrics">metrics</a>
</nav>
<input id="filter" type="search" placeholder="filter proxies by node id" aria-label="filter proxies by node id" autocomplete="off">
<button id="pause" type="button" aria-pressed="false">Pause</button>
</header>
<main id="app">
<p>Loading&hellip; This page needs JavaScript; the same data is at
<a href="/readyz">/readyz</a>, <a href="/debug/proxies">/debug/proxies</a>, <a href="/debug/discovery">/debug/discovery</a>,
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

/** The dashboard's routes (page, script, stylesheet) for the admin server to register. */
export function dashboardRoutes(): ReadonlyMap<string, AdminHandler> {
  return new Map<string, AdminHandler>([
    ['/', (_req, res) => send(res, 'text/html; charset=utf-8', DASHBOARD_HTML)],
    [DASHBOARD_SCRIPT_PATH, (_req, res) => send(res, 'text/javascript; charset=utf-8', DASHBOARD_SCRIPT)],
    [DASHBOARD_STYLE_PATH, (_req, res) => send(res, 'text/css; charset=utf-8', DASHBOARD_STYLE)],
  ]);
}

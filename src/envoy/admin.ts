/**
 * A small client for Envoy's admin API, over a unix socket (`admin.address.pipe.path` in the
 * bootstrap: reachable from the host namespace whatever namespace Envoy runs in) or host:port.
 * Every call is bounded; a non-200 answer is an error carrying Envoy's text.
 */
import { localRequest, type LocalEndpoint } from '../netsim/local-http.js';

export type AdminTarget = LocalEndpoint;

/** A counter or gauge value by stat name (histograms are left out). */
export type EnvoyStats = Map<string, number>;

/** Bound of one admin call unless the client is given another. */
export const ADMIN_TIMEOUT_MS = 5000;

interface JsonStats {
  readonly stats?: readonly ({ readonly name?: string; readonly value?: number | string } | { readonly histograms?: unknown })[];
}

/** Parses `/stats?format=json` into name → value (counters and gauges). */
export function parseJsonStats(body: string): EnvoyStats {
  const out: EnvoyStats = new Map();
  for (const s of (JSON.parse(body) as JsonStats).stats ?? []) {
    if ('name' in s && s.name !== undefined && s.value !== undefined && !Number.isNaN(Number(s.value))) out.set(s.name, Number(s.value));
  }
  return out;
}

/** Parses the text form of `/stats` (`name: value` lines) into name → value, skipping histograms. */
export function parseTextStats(body: string): EnvoyStats {
  const out: EnvoyStats = new Map();
  for (const line of body.split('\n')) {
    const m = /^([^:\s]+): (-?\d+(?:\.\d+)?)$/.exec(line.trim());
    if (m) out.set(m[1]!, Number(m[2]));
  }
  return out;
}

export class EnvoyAdmin {
  constructor(
    readonly target: AdminTarget,
    private readonly timeoutMs = ADMIN_TIMEOUT_MS,
  ) {}

  /** GETs an admin path and returns status and body text (no status check). */
  async raw(path: string, method = 'GET'): Promise<{ status: number; body: string }> {
    const res = await localRequest(this.target, method, path, { timeoutMs: this.timeoutMs });
    return { status: res.status, body: res.body };
  }

  /** GETs an admin path; the body text, or throws on a non-200 answer. */
  async get(path: string): Promise<string> {
    const res = await this.raw(path);
    if (res.status !== 200) throw new Error(`envoy admin ${path}: HTTP ${res.status}: ${res.body.slice(0, 500)}`);
    return res.body;
  }

  /** POSTs an admin path (e.g. `/logging?level=debug`, `/healthcheck/fail`); the body text. */
  async post(path: string): Promise<string> {
    const res = await this.raw(path, 'POST');
    if (res.status !== 200) throw new Error(`envoy admin POST ${path}: HTTP ${res.status}: ${res.body.slice(0, 500)}`);
    return res.body;
  }

  private async json<T>(path: string): Promise<T> {
    return JSON.parse(await this.get(path)) as T;
  }

  /** The server state from `/ready`: `LIVE` once ready (`PRE_INITIALIZING`, `INITIALIZING`, `DRAINING` otherwise). */
  async ready(): Promise<{ ready: boolean; state: string }> {
    const res = await this.raw('/ready');
    const state = res.body.trim();
    return { ready: res.status === 200 && state === 'LIVE', state };
  }

  /** `/config_dump` parsed, endpoints included unless `includeEds` is false; `resource`/`mask` passed through. */
  configDump(opts: { includeEds?: boolean; resource?: string; mask?: string } = {}): Promise<{ configs: Record<string, unknown>[] }> {
    const q = new URLSearchParams();
    if (opts.includeEds !== false) q.set('include_eds', '');
    if (opts.resource) q.set('resource', opts.resource);
    if (opts.mask) q.set('mask', opts.mask);
    const query = q.toString().replace(/include_eds=(&|$)/, 'include_eds$1');
    return this.json(`/config_dump${query ? `?${query}` : ''}`);
  }

  /** Counters and gauges from `/stats?format=json` (`filter` is Envoy's regex filter). */
  async stats(filter?: string): Promise<EnvoyStats> {
    const q = filter ? `&filter=${encodeURIComponent(filter)}` : '';
    return parseJsonStats(await this.get(`/stats?format=json${q}`));
  }

  /** `/certs` parsed: the certificates Envoy holds, with SANs and expiry. */
  certs(): Promise<{ certificates: Record<string, unknown>[] }> {
    return this.json('/certs');
  }

  /** `/clusters?format=json` parsed: every cluster with its hosts and their health. */
  clusters(): Promise<{ cluster_statuses?: Record<string, unknown>[] }> {
    return this.json('/clusters?format=json');
  }

  /** `/server_info` parsed (version, state, command line options). */
  serverInfo(): Promise<Record<string, unknown>> {
    return this.json('/server_info');
  }
}

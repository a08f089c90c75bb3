/** `crossmesh status`: every connected proxy, its ACKed version per type and its last NACK, from the admin API. */
import type { Command } from 'commander';
import { DEFAULT_ADMIN_URL, fetchAdminJson } from '../admin/client.js';
import type { ProxyStatus, StreamRefusal } from '../xds/stream.js';

const TYPES = ['sds', 'cds', 'eds', 'lds', 'rds'] as const;

/** Renders proxies as an aligned text table (one row per stream). */
export function formatStatusTable(proxies: readonly ProxyStatus[]): string {
  if (proxies.length === 0) return 'no proxies connected\n';
  const header = ['NODE', 'ROLE', 'MODE', 'GROUP', ...TYPES.map((t) => t.toUpperCase()), 'LAST NACK'];
  const rows = proxies.map((p) => {
    const cells = TYPES.map((t) => {
      const st = p.types[t];
      if (!st) return '-';
      const acked = st.ackedVersion ? st.ackedVersion.slice(0, 8) : 'none';
      return st.ackedVersion === st.lastSentVersion || !st.lastSentVersion ? acked : `${acked} (sent ${st.lastSentVersion.slice(0, 8)})`;
    });
    const nacks = TYPES.map((t) => [t, p.types[t]?.lastNack] as const)
      .filter(([, n]) => n)
      .sort((a, b) => (a[1]!.at < b[1]!.at ? 1 : -1));
    const last = nacks[0];
    const nack = last ? `${last[0]} ${last[1]!.at}: ${last[1]!.error.replace(/\s+/g, ' ').slice(0, 80)}` : '-';
    const group = p.resolverError ? `ERROR: ${p.resolverError}` : (p.groups?.cds ?? Object.values(p.groups ?? {})[0] ?? '-');
    return [p.nodeId, p.role, `${p.mode}/${p.service}`, group, ...cells, nack];
  });
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const line = (cells: string[]): string => cells.map((c, i) => (i === cells.length - 1 ? c : c.padEnd(widths[i]!))).join('  ');
  return [line(header), ...rows.map(line)].join('\n') + '\n';
}

/** Renders refused streams (most recent first), or nothing when there are none. */
export function formatRefusals(refused: readonly StreamRefusal[]): string {
  if (refused.length === 0) return '';
  return ['', 'REFUSED STREAMS (most recent first)', ...refused.map((r) => `${r.at}  ${r.nodeId}  ${r.code}  ${r.peer}  ${r.reason}`)].join('\n') + '\n';
}

/** Adds `crossmesh status`. */
export function register(program: Command): void {
  program
    .command('status')
    .description('list connected proxies with their ACKed version per type and last NACK')
    .option('--admin <url>', 'admin server base URL', DEFAULT_ADMIN_URL)
    .option('--json', 'print the raw /debug/proxies JSON')
    .action(async (flags: { admin: string; json?: boolean }) => {
      const body = await fetchAdminJson<{ proxies: ProxyStatus[]; refused?: StreamRefusal[] }>(flags.admin, '/debug/proxies');
      process.stdout.write(flags.json ? JSON.stringify(body, null, 2) + '\n' : formatStatusTable(body.proxies) + formatRefusals(body.refused ?? []));
    });
}

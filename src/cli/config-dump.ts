/** `crossmesh config-dump <node-id>`: the resources a connected proxy is served, as JSON, from the admin API. */
import type { Command } from 'commander';
import { DEFAULT_ADMIN_URL, fetchAdminJson } from '../admin/client.js';

/** Adds `crossmesh config-dump`. */
export function register(program: Command): void {
  program
    .command('config-dump')
    .description('print the resources a connected proxy is served (JSON; private keys redacted)')
    .argument('<node-id>', 'Envoy node.id, e.g. cluster1/default/reviews-v1-0')
    .option('--admin <url>', 'admin server base URL', DEFAULT_ADMIN_URL)
    .action(async (nodeId: string, flags: { admin: string }) => {
      const body = await fetchAdminJson<unknown>(flags.admin, `/debug/config_dump?node=${encodeURIComponent(nodeId)}`);
      process.stdout.write(JSON.stringify(body, null, 2) + '\n');
    });
}

#!/usr/bin/env node
/** The `crossmesh` command: each subcommand lives in its own file and only wires stages together. */
import { Command } from 'commander';
import { LOG_FORMATS, parseLogFormat } from '../log-format.js';
import { setLogFormat } from '../log.js';
import { registerCommands } from './commands.js';

const program = new Command();
program
  .name('crossmesh')
  .description('Multi-cluster xDS control plane for Envoy and proxyless gRPC')
  .showHelpAfterError()
  .enablePositionalOptions();

await registerCommands(program, process.argv[2]);
// Every command logs the same way: readable lines on a terminal, JSON for collectors.
for (const c of program.commands) c.option('--log-format <format>', `log lines as ${LOG_FORMATS.join(' | ')} (default auto: text on a terminal, else JSON; env CROSSMESH_LOG_FORMAT)`);
program.hook('preAction', (_program, action) => {
  const f = action.opts().logFormat as string | undefined;
  if (f !== undefined) setLogFormat(parseLogFormat(f, '--log-format'));
});

program.parseAsync(process.argv).catch((err: unknown) => {
  process.stderr.write(`crossmesh: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exit(1);
});

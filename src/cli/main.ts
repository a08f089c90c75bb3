#!/usr/bin/env node
/** The `crossmesh` command: each subcommand lives in its own file and only wires stages together. */
import { Command } from 'commander';
import { registerCommands } from './commands.js';

const program = new Command();
program
  .name('crossmesh')
  .description('Multi-cluster xDS control plane for Envoy and proxyless gRPC')
  .showHelpAfterError()
  .enablePositionalOptions();

registerCommands(program);

program.parseAsync(process.argv).catch((err: unknown) => {
  process.stderr.write(`crossmesh: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exit(1);
});

/**
 * The list of subcommands; one `register` per command file. A command's module is loaded only
 * when that command runs: each pulls in a different part of crossmesh, and loading all of them
 * cost 1.6 s of CPU at every start, paid by every process of a mesh (capture, agent, demo-app).
 */
import type { Command } from 'commander';

type Register = (program: Command) => void;

const COMMANDS: Readonly<Record<string, () => Promise<{ register: Register }>>> = {
  validate: () => import('./validate.js'),
  serve: () => import('./serve.js'),
  status: () => import('./status.js'),
  'config-dump': () => import('./config-dump.js'),
  token: () => import('./token.js'),
  bootstrap: () => import('./bootstrap.js'),
  agent: () => import('./agent.js'),
  'demo-app': () => import('./demo-app.js'),
  demo: () => import('./demo.js'),
  capture: () => import('./capture.js'),
  sim: () => import('./sim.js'),
  explain: () => import('./explain.js'),
  crds: () => import('./crds.js'),
  inject: () => import('./inject.js'),
};

/** Adds the subcommand `name` to the program, or every subcommand when `name` is none of them (help, a mistyped command). */
export async function registerCommands(program: Command, name?: string): Promise<void> {
  const one = name === undefined ? undefined : COMMANDS[name];
  const modules = await Promise.all((one ? [one] : Object.values(COMMANDS)).map((load) => load()));
  for (const m of modules) m.register(program);
}

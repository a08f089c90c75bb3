/** The list of subcommands; one `register` per command file. */
import type { Command } from 'commander';

type Register = (program: Command) => void;

const registrations: Register[] = [];

/** Adds every subcommand to the program. */
export function registerCommands(program: Command): void {
  for (const register of registrations) register(program);
}

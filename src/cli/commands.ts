/** The list of subcommands; one `register` per command file. */
import type { Command } from 'commander';
import { register as registerValidate } from './validate.js';
import { register as registerServe } from './serve.js';
import { register as registerStatus } from './status.js';
import { register as registerConfigDump } from './config-dump.js';
import { register as registerToken } from './token.js';
import { register as registerBootstrap } from './bootstrap.js';
import { register as registerAgent } from './agent.js';
import { register as registerDemoApp } from './demo-app.js';
import { register as registerDemo } from './demo.js';
import { register as registerCapture } from './capture.js';
import { register as registerSim } from './sim.js';
import { register as registerExplain } from './explain.js';
import { register as registerCrds } from './crds.js';
import { register as registerInject } from './inject.js';

type Register = (program: Command) => void;

const registrations: Register[] = [registerValidate, registerServe, registerStatus, registerConfigDump, registerToken, registerBootstrap, registerAgent, registerDemoApp, registerDemo, registerCapture, registerSim, registerExplain, registerCrds, registerInject];

/** Adds every subcommand to the program. */
export function registerCommands(program: Command): void {
  for (const register of registrations) register(program);
}

/**
 * Runs the capture rules of src/capture/iptables.ts against the kernel: reads the nat and raw
 * tables (`iptables -t nat -S`, `-t raw -S`), then feeds one atomic `iptables-restore --noflush` per family. Every
 * command is bounded; a failure names the command and carries its stderr, and the two causes
 * users hit first (no iptables installed, no NET_ADMIN) get their own message.
 */
import { spawnSync } from 'node:child_process';
import { captureRules, removalRules, type CaptureOptions, type IpFamily } from './iptables.js';

const COMMAND_TIMEOUT_MS = 15_000;

/** The binaries of one family. */
function tools(family: IpFamily): { save: string; restore: string } {
  return family === 'ipv4' ? { save: 'iptables', restore: 'iptables-restore' } : { save: 'ip6tables', restore: 'ip6tables-restore' };
}

/** Runs one command (bounded), returns stdout, or throws an error naming it and why it failed. */
export function run(command: string, args: readonly string[], input?: string): string {
  const shown = [command, ...args].join(' ');
  const r = spawnSync(command, args, { encoding: 'utf8', timeout: COMMAND_TIMEOUT_MS, ...(input !== undefined ? { input } : {}) });
  const err = r.error as NodeJS.ErrnoException | undefined;
  if (err?.code === 'ENOENT') throw new Error(`${command} not found: install iptables (e.g. apt-get install iptables) in the image that applies the capture rules`);
  if (err?.code === 'ETIMEDOUT') throw new Error(`${shown} did not finish within ${COMMAND_TIMEOUT_MS / 1000} s`);
  if (err) throw new Error(`${shown} could not run: ${err.message}`);
  if (r.status !== 0) {
    const stderr = (r.stderr ?? '').trim();
    if (/permission denied|you must be root|operation not permitted/i.test(stderr)) {
      throw new Error(`${shown} is not permitted (${stderr}): run as root or with CAP_NET_ADMIN in the pod's network namespace (an init container with NET_ADMIN)`);
    }
    throw new Error(`${shown} failed (exit ${r.status ?? r.signal}): ${stderr || '(no output)'}`);
  }
  return r.stdout ?? '';
}

/** One table of one family, as `iptables -t <table> -S` prints it. */
function table(family: IpFamily, name: 'nat' | 'raw'): string {
  return run(tools(family).save, ['-t', name, '-S']);
}

/** Installs (or replaces) the capture rules for each family; returns what was fed to iptables-restore. */
export function applyCapture(options: CaptureOptions, families: readonly IpFamily[]): string[] {
  return families.map((family) => {
    const input = captureRules(options, family, table(family, 'nat'), table(family, 'raw'));
    run(tools(family).restore, ['--noflush'], input);
    return input;
  });
}

/** Removes crossmesh's chains and the jumps into them for each family; returns the inputs run (empty: nothing there). */
export function removeCapture(families: readonly IpFamily[]): string[] {
  return families.map((family) => {
    const input = removalRules(table(family, 'nat'), table(family, 'raw'));
    if (input !== '') run(tools(family).restore, ['--noflush'], input);
    return input;
  });
}

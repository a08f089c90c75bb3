/**
 * `crossmesh validate [--config PATH ...]`: loads the configuration exactly as `serve` would and
 * prints every error and warning as `file:line: message`; exits 1 when there are errors.
 */
import type { Command } from 'commander';
import { configPathsOrDefault } from '../config/default-mesh.js';
import { formatDiagnostic } from '../config/diagnostics.js';
import { loadConfig } from '../config/loader.js';
import { originKey } from '../config/mesh-config.js';
import { failoverConfigProblems } from '../translate/failover.js';

export interface ValidateOutput {
  out(line: string): void;
  err(line: string): void;
}

const stdio: ValidateOutput = {
  out: (line) => process.stdout.write(`${line}\n`),
  err: (line) => process.stderr.write(`${line}\n`),
};

function plural(n: number, word: string): string {
  return `${n} ${word}${n === 1 ? '' : 's'}`;
}

/** Validates the given paths (or the embedded default mesh); returns the exit code. */
export async function runValidate(paths: readonly string[] | undefined, io: ValidateOutput = stdio): Promise<number> {
  const result = await loadConfig(configPathsOrDefault(paths));
  for (const e of result.errors) io.err(formatDiagnostic(e));
  for (const w of result.warnings) {
    const line = formatDiagnostic(w);
    // Mark warnings after the location so the line still starts with file:line.
    const at = line.indexOf(': ');
    io.err(`${line.slice(0, at)}: warning: ${line.slice(at + 2)}`);
  }
  if (result.errors.length || !result.config) {
    io.out(`invalid: ${plural(result.errors.length, 'error')}, ${plural(result.warnings.length, 'warning')}`);
    return 1;
  }
  const c = result.config;
  // Policies serve leaves out because Envoy would refuse them (invalid RE2, protected headers).
  for (const r of c.refused) io.err(formatDiagnostic(r));
  // FailoverServices whose aggregate serve would refuse to push (self-containing, nested, cyclic, duplicate).
  const failover = failoverConfigProblems(c.policies.failoverServices);
  for (const p of failover) {
    const at = c.origins.get(originKey('FailoverService', `${p.namespace}/${p.name}`));
    io.err(`${at ? `${at.file}:${at.line}` : '(unknown file)'}: FailoverService ${p.name}: ${p.message}`);
  }
  if (failover.length || c.refused.length) {
    io.out(`invalid: ${plural(failover.length + c.refused.length, 'error')}, ${plural(result.warnings.length, 'warning')}`);
    return 1;
  }
  const policies = c.policies.virtualMeshes.length + c.policies.trafficPolicies.length + c.policies.accessPolicies.length + c.policies.failoverServices.length;
  io.out(
    `valid: ${plural(c.files.length, 'file')}, ${plural(c.clusters.length, 'cluster')}, ${plural(c.services.length, 'service')}, ` +
      `${plural(c.workloads.length, 'workload')}, ${plural(c.gateways.length, 'gateway')}, ${policies} ${policies === 1 ? 'policy' : 'policies'}; ` +
      `${plural(result.warnings.length, 'warning')} (version ${c.version})`,
  );
  return 0;
}

function collect(value: string, previous: string[]): string[] {
  return [...previous, value];
}

/** Adds `validate` to the program. */
export function register(program: Command): void {
  program
    .command('validate')
    .description('check configuration files: print every error and warning as file:line: message, exit 1 on errors')
    .option('-c, --config <path>', 'a YAML file or a directory of them (repeatable; default: the embedded default mesh)', collect, [] as string[])
    .action(async (opts: { config: string[] }) => {
      process.exitCode = await runValidate(opts.config);
    });
}

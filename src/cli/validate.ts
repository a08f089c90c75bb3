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
import { checkRootSecret, secretLabel, type ManagementCluster } from '../ca/root-secret.js';
import { managementClusterOf, managementOptions, secretWithoutManagementCluster, type ManagementFlags } from './token.js';

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

export interface ValidateOptions {
  /** `--management-kubeconfig`: where a VirtualMesh's root CA Secret is looked up (and its content checked). */
  readonly management?: ManagementCluster;
}

/** Validates the given paths (or the embedded default mesh); returns the exit code. */
export async function runValidate(paths: readonly string[] | undefined, io: ValidateOutput = stdio, options: ValidateOptions = {}): Promise<number> {
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
  // A root CA kept in a Kubernetes Secret: without a management cluster serve cannot start; with
  // one, an existing Secret's content is checked (a missing one is created by the first replica).
  const rootProblems: string[] = [];
  for (const vm of c.policies.virtualMeshes) {
    const rca = vm.mtls.rootCertificateAuthority;
    if (rca.kind !== 'secret') continue;
    const ref = { namespace: rca.namespace, name: rca.name };
    if (!options.management) {
      rootProblems.push(secretWithoutManagementCluster(c, vm.namespace, vm.name, secretLabel(ref)));
      continue;
    }
    const at = c.origins.get(originKey('VirtualMesh', `${vm.namespace}/${vm.name}`));
    const where = `${at ? `${at.file}:${at.line}: ` : ''}VirtualMesh ${vm.namespace}/${vm.name}: spec.mtlsConfig.shared.rootCertificateAuthority.secret`;
    try {
      const found = await checkRootSecret(options.management, ref);
      io.out(found ? `root CA: secret ${secretLabel(ref)} holds root ${found.rootId}` : `root CA: secret ${secretLabel(ref)} does not exist yet; the first crossmesh serve creates it with a generated root`);
    } catch (e) {
      rootProblems.push(`${where}: ${(e as Error).message}`);
    }
  }
  for (const p of rootProblems) io.err(p);
  if (failover.length || c.refused.length || rootProblems.length) {
    io.out(`invalid: ${plural(failover.length + c.refused.length + rootProblems.length, 'error')}, ${plural(result.warnings.length, 'warning')}`);
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
  const command = program
    .command('validate')
    .description('check configuration files: print every error and warning as file:line: message, exit 1 on errors')
    .option('-c, --config <path>', 'a YAML file or a directory of them (repeatable; default: the embedded default mesh)', collect, [] as string[]);
  managementOptions(command, 'a VirtualMesh rootCertificateAuthority.secret is looked up there and its content checked (never created)')
    .action(async (opts: { config: string[] } & ManagementFlags) => {
      const management = managementClusterOf(opts);
      process.exitCode = await runValidate(opts.config, stdio, management ? { management } : {});
    });
}

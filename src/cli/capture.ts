/**
 * `crossmesh capture [--print | --apply | --remove]`: the iptables rules that send a pod's TCP
 * through its sidecar (outbound to 15001, inbound to 15006), as istio-iptables does. `--print`
 * (the default) writes the iptables-restore input; `--apply` installs it in the current network
 * namespace (idempotent); `--remove` takes crossmesh's chains out again. Run it in the pod's
 * namespace: an init container with NET_ADMIN, or `ip netns exec <pod> crossmesh capture --apply`.
 */
import type { Command } from 'commander';
import { applyCapture, removeCapture } from '../capture/apply.js';
import { captureRules, checkCaptureOptions, cidrFamily, DEFAULT_CAPTURE, type CaptureOptions, type IpFamily } from '../capture/iptables.js';
import type { CliOutput } from './token.js';

export interface CaptureFlags {
  print?: boolean;
  apply?: boolean;
  remove?: boolean;
  ipv6?: boolean;
  proxyUid: string;
  outboundPort: string;
  inboundPort: string;
  excludeInboundPorts: string;
  excludeOutboundPorts: string;
  excludeOutboundCidrs: string;
}

const stdio: CliOutput = {
  out: (t) => process.stdout.write(t),
  err: (t) => process.stderr.write(t),
};

/** A whole number within [min, max], or an error naming the flag. */
function integer(value: string, flag: string, min: number, max: number): number {
  const n = Number(value);
  if (!/^\d+$/.test(value.trim()) || n < min || n > max) throw new Error(`${flag} must be a whole number ${min}-${max}, got "${value}"`);
  return n;
}

/** A comma-separated list (empty string: none). */
function list(value: string): string[] {
  return value
    .split(',')
    .map((v) => v.trim())
    .filter((v) => v !== '');
}

/** The capture options the flags ask for; every error names its flag. */
export function captureOptionsOf(flags: CaptureFlags): CaptureOptions {
  const options: CaptureOptions = {
    proxyUid: integer(flags.proxyUid, '--proxy-uid', 0, 0xfffffffe),
    outboundPort: integer(flags.outboundPort, '--outbound-port', 1, 65535),
    inboundPort: integer(flags.inboundPort, '--inbound-port', 1, 65535),
    excludeInboundPorts: list(flags.excludeInboundPorts).map((p) => integer(p, '--exclude-inbound-ports', 1, 65535)),
    excludeOutboundPorts: list(flags.excludeOutboundPorts).map((p) => integer(p, '--exclude-outbound-ports', 1, 65535)),
    excludeOutboundCidrs: list(flags.excludeOutboundCidrs).map((c) => {
      try {
        cidrFamily(c);
        return c;
      } catch (e) {
        throw new Error(`--exclude-outbound-cidrs: ${(e as Error).message}`);
      }
    }),
  };
  if (options.outboundPort === options.inboundPort) throw new Error(`--outbound-port and --inbound-port must differ (both ${options.inboundPort})`);
  if (!flags.ipv6) {
    const v6 = options.excludeOutboundCidrs.filter((c) => cidrFamily(c) === 'ipv6');
    if (v6.length) throw new Error(`--exclude-outbound-cidrs: ${v6.join(', ')} is IPv6; add --ipv6 to install IPv6 rules`);
  }
  return checkCaptureOptions(options);
}

/** Runs `crossmesh capture`; returns the exit code. */
export function runCapture(flags: CaptureFlags, io: CliOutput = stdio): number {
  const modes = (['print', 'apply', 'remove'] as const).filter((m) => flags[m]);
  if (modes.length > 1) throw new Error(`--${modes.join(', --')} are exclusive: give one`);
  const mode = modes[0] ?? 'print';
  const families: IpFamily[] = flags.ipv6 ? ['ipv4', 'ipv6'] : ['ipv4'];
  if (mode === 'remove') {
    const inputs = removeCapture(families);
    families.forEach((f, i) => io.err(inputs[i] === '' ? `capture: no crossmesh rules in the ${f} nat and raw tables\n` : `capture: removed crossmesh's ${f} chains and jumps\n`));
    return 0;
  }
  const options = captureOptionsOf(flags);
  if (mode === 'print') {
    for (const f of families) io.out(`# ${f === 'ipv4' ? 'iptables' : 'ip6tables'}-restore --noflush\n${captureRules(options, f)}`);
    return 0;
  }
  applyCapture(options, families);
  io.err(`capture: applied (${families.join(' + ')}): outbound TCP -> ${options.outboundPort}, inbound TCP -> ${options.inboundPort}, uid ${options.proxyUid} not captured\n`);
  return 0;
}

/** Adds `crossmesh capture`. */
export function register(program: Command): void {
  program
    .command('capture')
    .description('print, apply or remove the iptables rules that capture a pod\'s TCP into its sidecar (run in the pod\'s network namespace)')
    .option('--print', 'print the iptables-restore input (default)')
    .option('--apply', 'install the rules in this network namespace (iptables-restore --noflush; idempotent)')
    .option('--remove', 'delete crossmesh\'s chains and the jumps into them')
    .option('--ipv6', 'also IPv6 rules (ip6tables)')
    .option('--proxy-uid <uid>', 'uid Envoy runs as; its own traffic is not captured', String(DEFAULT_CAPTURE.proxyUid))
    .option('--outbound-port <port>', 'Envoy\'s outbound listener', String(DEFAULT_CAPTURE.outboundPort))
    .option('--inbound-port <port>', 'Envoy\'s inbound listener', String(DEFAULT_CAPTURE.inboundPort))
    .option('--exclude-inbound-ports <ports>', 'comma-separated inbound ports not captured (the two listener ports are always excluded)', DEFAULT_CAPTURE.excludeInboundPorts.join(','))
    .option('--exclude-outbound-ports <ports>', 'comma-separated outbound destination ports not captured', '')
    .option('--exclude-outbound-cidrs <cidrs>', 'comma-separated outbound destination CIDRs not captured', '')
    .action((flags: CaptureFlags) => {
      try {
        process.exitCode = runCapture(flags);
      } catch (e) {
        process.stderr.write(`crossmesh capture: ${e instanceof Error ? e.message : String(e)}\n`);
        process.exitCode = 1;
      }
    });
}

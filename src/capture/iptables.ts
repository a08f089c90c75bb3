/**
 * Transparent capture for a sidecar, as istio-iptables does it: the pod's outbound TCP is
 * redirected to Envoy's outbound listener (15001) and its inbound TCP to the inbound listener
 * (15006). Pure: options in, `iptables-restore` input out (tables nat and raw, chains CROSSMESH_*), so the
 * exact rules are unit-tested and printed by `crossmesh capture --print`; src/capture/apply.ts runs them.
 *
 * Why each outbound rule is there, in order:
 *  - source 127.0.0.6 over lo RETURNs: Envoy's inbound side reaches the app on the pod's own
 *    address from that source (Istio's convention), which must not be captured again;
 *  - the proxy uid to a non-loopback destination over lo goes to the inbound port: a pod calling
 *    its own service through its sidecar comes back in through the inbound listener;
 *  - anything else from the proxy uid RETURNs: Envoy's own upstream connections must not loop;
 *  - 127.0.0.1 (::1) RETURNs: loopback traffic inside the pod is not mesh traffic;
 *  - excluded CIDRs and ports RETURN; everything else is redirected to the outbound port.
 * Inbound: excluded ports (Envoy admin 15000, health 15021, stats 15090, and the proxy's own
 * listener ports, which would loop) RETURN; everything else is redirected to the inbound port.
 *
 * Table raw: the proxy's own TCP leaving the pod is tracked in conntrack zone 1337 in its original
 * direction (`CT --zone-orig`). Envoy passing a captured connection through to its original
 * destination uses the app's 4-tuple space (same source address, same destination, and Linux picks
 * connect() ports from one sequence per destination); an attempt nobody answers leaves an entry
 * without NAT for 120 s (SYN_SENT), and an app SYN that later gets the same source port matched it,
 * skipped table nat and left the pod un-redirected (docs/capture.md, "Conntrack zone"). In its own
 * zone the proxy's entry cannot match the app's SYN; replies still match, their direction stays in
 * the default zone.
 */
import { isIP } from 'node:net';

export type IpFamily = 'ipv4' | 'ipv6';

export interface CaptureOptions {
  /** Uid Envoy runs as; its traffic is not captured (default 1337). */
  readonly proxyUid: number;
  /** Envoy's outbound listener port (default 15001). */
  readonly outboundPort: number;
  /** Envoy's inbound listener port (default 15006). */
  readonly inboundPort: number;
  /** Inbound destination ports left alone, in addition to the two listener ports. */
  readonly excludeInboundPorts: readonly number[];
  /** Outbound destination ports left alone. */
  readonly excludeOutboundPorts: readonly number[];
  /** Outbound destination CIDRs left alone (each applies to the family it belongs to). */
  readonly excludeOutboundCidrs: readonly string[];
}

/** Envoy admin, health and Prometheus stats ports: never redirected inbound. */
export const DEFAULT_EXCLUDED_INBOUND_PORTS: readonly number[] = [15000, 15021, 15090];

export const DEFAULT_CAPTURE: CaptureOptions = {
  proxyUid: 1337,
  outboundPort: 15001,
  inboundPort: 15006,
  excludeInboundPorts: DEFAULT_EXCLUDED_INBOUND_PORTS,
  excludeOutboundPorts: [],
  excludeOutboundCidrs: [],
};

/** The chains crossmesh owns in table nat, and the built-in chain each is jumped to from (if any). */
export const CHAINS = {
  output: 'CROSSMESH_OUTPUT',
  inbound: 'CROSSMESH_INBOUND',
  redirect: 'CROSSMESH_REDIRECT',
  inRedirect: 'CROSSMESH_IN_REDIRECT',
} as const;

/** The jumps from built-in chains into crossmesh's, as `-A` rule bodies (without `-A`). */
export const JUMPS: readonly string[] = [`OUTPUT -p tcp -j ${CHAINS.output}`, `PREROUTING -p tcp -j ${CHAINS.inbound}`];

/** crossmesh's chain in table raw: puts the proxy's outgoing connections in their own conntrack zone. */
export const RAW_CHAIN = 'CROSSMESH_RAW_OUTPUT';

/** The jump into RAW_CHAIN from raw OUTPUT, as an `-A` rule body. */
export const RAW_JUMP = `OUTPUT -p tcp -j ${RAW_CHAIN}`;

/** Conntrack zone of the proxy's connections in their original direction (its uid, unused by Istio's DNS zones 1 and 2). */
export const PROXY_CONNTRACK_ZONE = 1337;

/** Checks a port number, throwing with the flag name. */
export function checkPort(port: number, what: string): number {
  if (!Number.isInteger(port) || port < 1 || port > 65535) throw new Error(`${what} must be a port number (1-65535), got ${JSON.stringify(port)}`);
  return port;
}

/** The family of `a.b.c.d/n` or `x::y/n`, or an error saying what a CIDR looks like. */
export function cidrFamily(cidr: string): IpFamily {
  const m = /^([^/]+)\/(\d{1,3})$/.exec(cidr);
  const kind = m ? isIP(m[1]!) : 0;
  const bits = m ? Number(m[2]) : NaN;
  if (!m || kind === 0 || bits > (kind === 4 ? 32 : 128)) throw new Error(`"${cidr}" is not a CIDR (a.b.c.d/n or x::y/n)`);
  return kind === 4 ? 'ipv4' : 'ipv6';
}

/** Validates every field; returns the options with ports de-duplicated in the given order. */
export function checkCaptureOptions(o: CaptureOptions): CaptureOptions {
  if (!Number.isInteger(o.proxyUid) || o.proxyUid < 0 || o.proxyUid > 0xfffffffe) throw new Error(`proxy uid must be a uid (0-4294967294), got ${JSON.stringify(o.proxyUid)}`);
  checkPort(o.outboundPort, 'outbound port');
  checkPort(o.inboundPort, 'inbound port');
  if (o.outboundPort === o.inboundPort) throw new Error(`outbound and inbound ports must differ (both ${o.inboundPort})`);
  for (const p of o.excludeInboundPorts) checkPort(p, 'an excluded inbound port');
  for (const p of o.excludeOutboundPorts) checkPort(p, 'an excluded outbound port');
  for (const c of o.excludeOutboundCidrs) cidrFamily(c);
  const unique = (ps: readonly number[]): number[] => [...new Set(ps)];
  return { ...o, excludeInboundPorts: unique(o.excludeInboundPorts), excludeOutboundPorts: unique(o.excludeOutboundPorts), excludeOutboundCidrs: [...new Set(o.excludeOutboundCidrs)] };
}

/** `-D` lines for every jump from a built-in chain into a CROSSMESH_ chain in `iptables -t nat -S` output. */
function jumpDeletions(natRules: string): string[] {
  return natRules
    .split('\n')
    .filter((l) => /^-A (OUTPUT|PREROUTING|INPUT|POSTROUTING) .*-j CROSSMESH_\S+\s*$/.test(l))
    .map((l) => l.replace(/^-A /, '-D ').trimEnd());
}

/**
 * The capture rules for one family as `iptables-restore --noflush` input (tables nat and raw).
 * Declaring the chains flushes them, and the jumps found in `existingNat` / `existingRaw`
 * (`iptables -t nat -S`, `-t raw -S`) are deleted before they are added again, so applying twice
 * leaves one set, in one atomic transaction.
 */
export function captureRules(options: CaptureOptions, family: IpFamily = 'ipv4', existingNat = '', existingRaw = ''): string {
  const o = checkCaptureOptions(options);
  const loopback = family === 'ipv4' ? '127.0.0.1/32' : '::1/128';
  const passthroughSource = family === 'ipv4' ? '127.0.0.6/32' : '::6/128';
  const inboundExcluded = [...new Set([...o.excludeInboundPorts, o.outboundPort, o.inboundPort])];
  const lines = [
    '*nat',
    ...Object.values(CHAINS).map((c) => `:${c} - [0:0]`),
    ...jumpDeletions(existingNat),
    `-A ${CHAINS.redirect} -p tcp -j REDIRECT --to-ports ${o.outboundPort}`,
    `-A ${CHAINS.inRedirect} -p tcp -j REDIRECT --to-ports ${o.inboundPort}`,
    ...inboundExcluded.map((p) => `-A ${CHAINS.inbound} -p tcp -m tcp --dport ${p} -j RETURN`),
    `-A ${CHAINS.inbound} -p tcp -j ${CHAINS.inRedirect}`,
    `-A ${CHAINS.output} -s ${passthroughSource} -o lo -j RETURN`,
    `-A ${CHAINS.output} ! -d ${loopback} -o lo -m owner --uid-owner ${o.proxyUid} -j ${CHAINS.inRedirect}`,
    `-A ${CHAINS.output} -m owner --uid-owner ${o.proxyUid} -j RETURN`,
    `-A ${CHAINS.output} -d ${loopback} -j RETURN`,
    ...o.excludeOutboundCidrs.filter((c) => cidrFamily(c) === family).map((c) => `-A ${CHAINS.output} -d ${c} -j RETURN`),
    ...o.excludeOutboundPorts.map((p) => `-A ${CHAINS.output} -p tcp -m tcp --dport ${p} -j RETURN`),
    `-A ${CHAINS.output} -j ${CHAINS.redirect}`,
    ...JUMPS.map((j) => `-A ${j}`),
    'COMMIT',
    '*raw',
    `:${RAW_CHAIN} - [0:0]`,
    ...jumpDeletions(existingRaw),
    // Only connections leaving the pod: they share the app's destinations and can go unanswered.
    `-A ${RAW_CHAIN} ! -o lo -m owner --uid-owner ${o.proxyUid} -j CT --zone-orig ${PROXY_CONNTRACK_ZONE}`,
    `-A ${RAW_JUMP}`,
    'COMMIT',
  ];
  return `${lines.join('\n')}\n`;
}

/** The removal of one table's crossmesh jumps and chains (`iptables -t <table> -S` in), or nothing. */
function tableRemoval(table: 'nat' | 'raw', rules: string): string[] {
  const jumps = jumpDeletions(rules);
  const chains = rules
    .split('\n')
    .map((l) => /^-N (CROSSMESH_\S+)\s*$/.exec(l)?.[1])
    .filter((c): c is string => c !== undefined);
  if (jumps.length === 0 && chains.length === 0) return [];
  return [`*${table}`, ...jumps, ...chains.map((c) => `-F ${c}`), ...chains.map((c) => `-X ${c}`), 'COMMIT'];
}

/**
 * What undoes crossmesh's rules, given the current nat and raw tables as `iptables -t nat -S` and
 * `-t raw -S` print them: every jump into a CROSSMESH_ chain deleted, then every CROSSMESH_ chain
 * flushed and deleted. Empty when there is nothing to remove (so the result can be fed to
 * `iptables-restore --noflush`).
 */
export function removalRules(natRules: string, rawRules = ''): string {
  const lines = [...tableRemoval('nat', natRules), ...tableRemoval('raw', rawRules)];
  return lines.length === 0 ? '' : `${lines.join('\n')}\n`;
}

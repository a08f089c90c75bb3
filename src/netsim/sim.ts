/**
 * A simulated multi-cluster world of Linux network namespaces, built from a plain spec:
 *
 * - one bridge per cluster network (its subnet), and a shared `wan` bridge;
 * - a pod = a namespace with `eth0` on its cluster network and, for gateways, `eth1` on wan;
 * - per cluster network a NAT router namespace (`router-<network>`): `eth0` on the cluster bridge
 *   is the pods' default gateway, `eth1` on wan; forwarding and MASQUERADE only inside it, and
 *   wan may only answer connections opened from inside. So a pod reaches wan addresses (another
 *   cluster's east-west gateway) but never another cluster's pod subnet (ENETUNREACH: no router
 *   has a route there);
 * - a `client` namespace on wan only, outside the mesh.
 *
 * Nothing gets an address in the host namespace and nothing forwards there: test traffic stays in
 * namespaces this simulation created. close() removes everything; call it in afterAll/finally
 * (the process-exit handlers and the next start's cleanupLeftovers are only a safety net).
 */
import { mkdirSync } from 'node:fs';
import * as path from 'node:path';
import { startDriver, type Driver } from './driver.js';
import { runCommand } from './exec.js';
import { cidrIn, hostAt, isHostIn, parseSubnet, type Subnet } from './ipv4.js';
import { onProcessExit } from './last-resort.js';
import { forEachLimited } from './pool.js';
import { cleanupLeftovers, inventory, removeRun } from './leftovers.js';
import { PROJECT_PREFIX, claimRunPrefix, type RunNames } from './names.js';
import { addLeg, addRoute, createBridge, createNamespace, setSysctls, writeNamespaceEtc } from './netns.js';
import { spawnInNamespace, type NsProcess } from './process.js';

export interface NetworkSpec {
  /** Cluster network name (pods name it in `network`). */
  readonly name: string;
  /** e.g. 10.1.0.0/24. */
  readonly subnet: string;
  /** The router's address on it, the pods' default gateway (default: first host). */
  readonly gateway?: string;
  /** The router's address on wan (default: picked from the top of the wan subnet). */
  readonly routerWanAddress?: string;
}

export interface PodSpec {
  /** Node name: lowercase letters, digits, '-'; not `client` nor `router-*`. */
  readonly name: string;
  readonly network: string;
  readonly address: string;
  /** A second leg on wan with this address (east-west and ingress gateways). */
  readonly wanAddress?: string;
  /** Extra hosts-file entries of this pod: name → address. */
  readonly hosts?: Readonly<Record<string, string>>;
  /** Sysctls set inside this pod's namespace. */
  readonly sysctls?: Readonly<Record<string, string>>;
}

export interface SimulationSpec {
  readonly networks: readonly NetworkSpec[];
  /** Default 10.200.0.0/24. */
  readonly wan?: { readonly subnet: string };
  readonly pods: readonly PodSpec[];
  /** The `client` namespace on wan (default address: last host of wan). */
  readonly client?: { readonly wanAddress?: string; readonly hosts?: Readonly<Record<string, string>> };
  /** Hosts-file entries of every namespace: name → address. */
  readonly hosts?: Readonly<Record<string, string>>;
  /** Project prefix of the names (default `cmx`); tests of leftovers may use their own. */
  readonly projectPrefix?: string;
}

/** One namespace of the world. */
export interface SimNode {
  readonly name: string;
  readonly kind: 'pod' | 'router' | 'client';
  readonly namespace: string;
  /** Cluster network and address on it (pods, routers). */
  readonly network?: string;
  readonly address?: string;
  readonly wanAddress?: string;
}

export interface RunOptions {
  readonly uid?: number;
  readonly gid?: number;
  readonly env?: NodeJS.ProcessEnv;
  readonly cwd?: string;
  /** Default: `<workDir>/logs/<node>-<n>.log`. */
  readonly logFile?: string;
}

/** Timings of the build, for benchmarks and reports. */
export interface SimulationTimings {
  readonly setupMs: number;
  readonly namespaces: number;
}

const NODE_NAME = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;
const DEFAULT_WAN = '10.200.0.0/24';
/** Namespaces built at once. */
const BUILD_PARALLELISM = 4;

interface Plan {
  readonly node: SimNode;
  readonly legs: { network: string; ifname: string; cidr: string }[];
  readonly defaultVia?: string;
  readonly sysctls: Record<string, string>;
  readonly hosts: Map<string, string[]>;
  readonly router?: boolean;
}

function hostsMap(...sources: (Readonly<Record<string, string>> | undefined)[]): Map<string, string[]> {
  const byAddress = new Map<string, string[]>();
  for (const source of sources) {
    for (const [name, address] of Object.entries(source ?? {})) {
      const names = byAddress.get(address) ?? [];
      if (!names.includes(name)) names.push(name);
      byAddress.set(address, names);
    }
  }
  return byAddress;
}

/** Checks the spec and lays out every namespace, or throws naming the first problem. */
function plan(spec: SimulationSpec, names: RunNames): { wan: Subnet; subnets: Map<string, Subnet>; plans: Plan[] } {
  const wan = parseSubnet(spec.wan?.subnet ?? DEFAULT_WAN);
  const subnets = new Map<string, Subnet>();
  const used = new Set<string>();
  const claim = (address: string, subnet: Subnet, what: string): string => {
    if (!isHostIn(subnet, address)) throw new Error(`${what}: ${address} is not a host address of ${subnet.text}`);
    if (used.has(address)) throw new Error(`${what}: address ${address} is used twice`);
    used.add(address);
    return address;
  };
  let wanTop = -1;
  const nextWan = (): string => {
    for (;;) {
      const a = hostAt(wan, wanTop--);
      if (!used.has(a)) return a;
    }
  };
  const plans: Plan[] = [];
  const seen = new Set<string>();
  const node = (name: string): void => {
    if (seen.has(name)) throw new Error(`node name ${name} is used twice`);
    seen.add(name);
  };
  // Explicit wan addresses first, so the automatic ones avoid them.
  for (const p of spec.pods) if (p.wanAddress) claim(p.wanAddress, wan, `pod ${p.name} wanAddress`);
  for (const n of spec.networks) if (n.routerWanAddress) claim(n.routerWanAddress, wan, `network ${n.name} routerWanAddress`);
  if (spec.client?.wanAddress) claim(spec.client.wanAddress, wan, 'client wanAddress');
  const clientWan = spec.client?.wanAddress ?? claim(nextWan(), wan, 'client');
  node('client');
  plans.push({
    node: { name: 'client', kind: 'client', namespace: names.namespace('client'), wanAddress: clientWan },
    legs: [{ network: 'wan', ifname: 'eth0', cidr: cidrIn(wan, clientWan) }],
    sysctls: {},
    hosts: hostsMap(spec.hosts, spec.client?.hosts, { client: clientWan }),
  });
  const gateways = new Map<string, string>();
  for (const n of spec.networks) {
    if (!NODE_NAME.test(n.name) || n.name === 'wan') throw new Error(`network name ${JSON.stringify(n.name)} must be a DNS label other than wan`);
    if (subnets.has(n.name)) throw new Error(`network ${n.name} is declared twice`);
    const subnet = parseSubnet(n.subnet);
    subnets.set(n.name, subnet);
    const gw = claim(n.gateway ?? hostAt(subnet, 1), subnet, `network ${n.name} gateway`);
    gateways.set(n.name, gw);
    const routerWan = n.routerWanAddress ?? claim(nextWan(), wan, `network ${n.name} router`);
    const name = `router-${n.name}`;
    node(name);
    plans.push({
      node: { name, kind: 'router', namespace: names.namespace(name), network: n.name, address: gw, wanAddress: routerWan },
      legs: [
        { network: n.name, ifname: 'eth0', cidr: cidrIn(subnet, gw) },
        { network: 'wan', ifname: 'eth1', cidr: cidrIn(wan, routerWan) },
      ],
      sysctls: { 'net.ipv4.ip_forward': '1' },
      hosts: hostsMap(spec.hosts),
      router: true,
    });
  }
  for (const p of spec.pods) {
    if (!NODE_NAME.test(p.name) || p.name === 'client' || p.name.startsWith('router-')) {
      throw new Error(`pod name ${JSON.stringify(p.name)} must be a DNS label, not client nor router-*`);
    }
    node(p.name);
    const subnet = subnets.get(p.network);
    if (!subnet) throw new Error(`pod ${p.name}: no network ${JSON.stringify(p.network)} (networks: ${[...subnets.keys()].join(', ')})`);
    claim(p.address, subnet, `pod ${p.name} address`);
    const legs = [{ network: p.network, ifname: 'eth0', cidr: cidrIn(subnet, p.address) }];
    if (p.wanAddress) legs.push({ network: 'wan', ifname: 'eth1', cidr: cidrIn(wan, p.wanAddress) });
    plans.push({
      node: { name: p.name, kind: 'pod', namespace: names.namespace(p.name), network: p.network, address: p.address, ...(p.wanAddress ? { wanAddress: p.wanAddress } : {}) },
      legs,
      defaultVia: gateways.get(p.network)!,
      sysctls: { ...(p.sysctls ?? {}) },
      hosts: hostsMap(spec.hosts, p.hosts, { [p.name]: p.address }),
    });
  }
  return { wan, subnets, plans };
}

/** The router's rules: NAT out of wan, and from wan only answers to connections opened from inside. */
const ROUTER_RULES = [
  '*nat',
  '-A POSTROUTING -o eth1 -j MASQUERADE',
  'COMMIT',
  '*filter',
  '-A FORWARD -i eth1 -o eth0 -m conntrack --ctstate ESTABLISHED,RELATED -j ACCEPT',
  '-A FORWARD -i eth1 -j DROP',
  'COMMIT',
  '',
].join('\n');

async function build(p: Plan, bridges: ReadonlyMap<string, string>, names: RunNames): Promise<void> {
  const ns = p.node.namespace;
  await createNamespace(ns);
  for (const leg of p.legs) await addLeg(ns, { hostIf: names.veth(), bridge: bridges.get(leg.network)!, ifname: leg.ifname, cidr: leg.cidr });
  if (p.defaultVia) await addRoute(ns, 'default', p.defaultVia);
  await setSysctls(ns, p.sysctls);
  if (p.router) {
    await runCommand('ip', ['netns', 'exec', ns, 'iptables-restore'], { input: ROUTER_RULES }).catch((err: Error) => {
      throw new Error(`${err.message} (iptables missing? install it: bash scripts/install-tools.sh)`);
    });
  }
  writeNamespaceEtc(ns, p.hosts);
}

/** A built world; see startSimulation. */
export class Simulation {
  private readonly processes = new Set<NsProcess>();
  private readonly drivers = new Map<string, Promise<Driver>>();
  private logCount = 0;
  private closing: Promise<void> | undefined;

  constructor(
    private readonly names: RunNames,
    private readonly projectPrefix: string,
    private readonly byName: ReadonlyMap<string, SimNode>,
    private readonly unregisterExit: () => void,
    /** How long building took. */
    readonly timings: SimulationTimings,
  ) {}

  /** The run prefix every name of this world starts with. */
  get prefix(): string {
    return this.names.prefix;
  }

  /** Directory of this run's logs and driver sockets (removed by close()). */
  get workDir(): string {
    return this.names.workDir;
  }

  /** Every node: pods, routers (`router-<network>`) and `client`. */
  get nodes(): readonly SimNode[] {
    return [...this.byName.values()];
  }

  /** A node by name, or throws listing the names. */
  node(name: string): SimNode {
    const n = this.byName.get(name);
    if (!n) throw new Error(`no node ${JSON.stringify(name)} in the simulation (nodes: ${[...this.byName.keys()].join(', ')})`);
    return n;
  }

  /** The network namespace of a node, for `ip netns exec`. */
  namespace(name: string): string {
    return this.node(name).namespace;
  }

  /** Starts `command args` in a node's namespace (as `opts.uid`); the process is stopped by close(). */
  run(name: string, command: string, args: readonly string[], opts: RunOptions = {}): NsProcess {
    this.assertOpen();
    const node = this.node(name);
    const logFile = opts.logFile ?? path.join(this.workDir, 'logs', `${node.name}-${this.logCount++}.log`);
    const proc = spawnInNamespace(command, args, { ...opts, netns: node.namespace, logFile });
    this.processes.add(proc);
    void proc.exited.then(() => this.processes.delete(proc));
    return proc;
  }

  /** The HTTP driver inside a node's namespace (started on first use, one per node and uid). */
  driver(name: string, opts: { uid?: number } = {}): Promise<Driver> {
    this.assertOpen();
    const node = this.node(name);
    const key = `${node.name}#${opts.uid ?? ''}`;
    let driver = this.drivers.get(key);
    if (!driver) {
      const n = this.drivers.size;
      driver = startDriver({
        netns: node.namespace,
        socketPath: path.join(this.workDir, 'sock', `d${n}.sock`),
        logFile: path.join(this.workDir, 'logs', `driver-${node.name}-${n}.log`),
        ...(opts.uid !== undefined ? { uid: opts.uid } : {}),
      });
      this.drivers.set(key, driver);
      driver.then((d) => this.processes.add(d.process), () => this.drivers.delete(key));
    }
    return driver;
  }

  /** Stops every process (SIGTERM, then SIGKILL) and removes every namespace, link and file of this run; idempotent. */
  close(): Promise<void> {
    this.closing ??= (async () => {
      await Promise.allSettled([...this.drivers.values()]);
      await Promise.all([...this.processes].map((p) => p.stop(2000)));
      try {
        removeRun(this.prefix, this.projectPrefix);
      } finally {
        this.unregisterExit();
      }
    })();
    return this.closing;
  }

  /** What of this run still exists (empty lists after close()). */
  remains(): ReturnType<typeof inventory> {
    return inventory(this.projectPrefix, this.prefix);
  }

  private assertOpen(): void {
    if (this.closing) throw new Error(`simulation ${this.prefix} is closed`);
  }
}

/** Removes dead earlier runs, then builds the world of `spec`; on a failure it removes what it built and rethrows. */
export async function startSimulation(spec: SimulationSpec): Promise<Simulation> {
  if (process.getuid?.() !== 0) throw new Error('the network simulation needs root (network namespaces, veths, bridges)');
  const started = performance.now();
  const projectPrefix = spec.projectPrefix ?? PROJECT_PREFIX;
  cleanupLeftovers(projectPrefix);
  const names = claimRunPrefix(new Set(), projectPrefix);
  const unregisterExit = onProcessExit(() => removeRun(names.prefix, projectPrefix));
  try {
    const layout = plan(spec, names);
    mkdirSync(path.join(names.workDir, 'logs'), { recursive: true, mode: 0o755 });
    mkdirSync(path.join(names.workDir, 'sock'), { recursive: true, mode: 0o1777 });
    const bridges = new Map<string, string>([['wan', names.bridge()], ...[...layout.subnets.keys()].map((n) => [n, names.bridge()] as [string, string])]);
    await Promise.all([...bridges.values()].map(createBridge));
    await forEachLimited(layout.plans, BUILD_PARALLELISM, (p) => build(p, bridges, names));
    const byName = new Map(layout.plans.map((p) => [p.node.name, p.node]));
    return new Simulation(names, projectPrefix, byName, unregisterExit, { setupMs: Math.round(performance.now() - started), namespaces: layout.plans.length });
  } catch (err) {
    try {
      removeRun(names.prefix, projectPrefix);
    } finally {
      unregisterExit();
    }
    throw err;
  }
}

/**
 * What the compose checks read: docker-compose.yml, the compose topology (examples/compose), the
 * bootstrap plan in scripts/compose/write-bootstraps.sh, the committed bootstraps in envoy-configs/,
 * and the generator that must reproduce them.
 */
import { copyFileSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parse, stringify } from 'yaml';
import { buildBootstrapForNode } from '../../src/cli/bootstrap.js';
import { loadConfig } from '../../src/config/loader.js';
import type { MeshConfig } from '../../src/config/mesh-config.js';
import { staticEvents } from '../../src/discovery/static/static-discovery.js';
import { ModelStore } from '../../src/model/store.js';
import { MeshView } from '../../src/translate/mesh-view.js';
import { hostsEntries } from '../../src/translate/service-addresses.js';

export const REPO = join(import.meta.dirname, '../..');
export const COMPOSE_FILE = join(REPO, 'docker-compose.yml');
export const TOPOLOGY_DIR = join(REPO, 'examples/compose');
export const ENVOY_CONFIGS = join(REPO, 'envoy-configs');
export const WRITE_BOOTSTRAPS = join(REPO, 'scripts/compose/write-bootstraps.sh');
/** The run-time values a committed bootstrap cannot carry (token, mesh root) read this instead. */
export const PLACEHOLDER = 'REPLACED-AT-START';

/** A compose service, as far as these checks read it. */
export interface ComposeService {
  image?: string;
  build?: { context?: string; dockerfile?: string };
  command?: string[];
  entrypoint?: string[];
  environment?: Record<string, string>;
  network_mode?: string;
  networks?: Record<string, { ipv4_address?: string } | null>;
  ports?: string[];
  volumes?: (string | { type: string; source: string; target: string; read_only?: boolean; volume?: { subpath?: string } })[];
  depends_on?: Record<string, { condition: string }>;
  user?: string;
  cap_add?: string[];
  restart?: string;
  healthcheck?: { disable?: boolean };
  /** `HOST: IP` mapping or `"HOST:IP"` / `"HOST=IP"` strings, as Compose accepts them. */
  extra_hosts?: Record<string, string> | string[];
}

export interface ComposeFile {
  name: string;
  services: Record<string, ComposeService>;
  networks: Record<string, { ipam: { config: { subnet: string; ip_range?: string }[] } }>;
  volumes: Record<string, unknown>;
}

/** docker-compose.yml with its YAML merge keys (`<<: *crossmesh`) applied, as Compose applies them. */
export function loadCompose(): ComposeFile {
  return parse(readFileSync(COMPOSE_FILE, 'utf8'), { merge: true }) as ComposeFile;
}

/** A service's extra_hosts as name -> address (either Compose form); throws on a name given twice. */
export function extraHosts(s: ComposeService): Map<string, string> {
  const out = new Map<string, string>();
  const entries = Array.isArray(s.extra_hosts)
    ? s.extra_hosts.map((e) => {
        const m = /^([^:=]+)[:=](.+)$/.exec(e);
        if (!m) throw new Error(`extra_hosts entry "${e}" is not HOST:IP or HOST=IP`);
        return [m[1]!, m[2]!] as const;
      })
    : Object.entries(s.extra_hosts ?? {});
  for (const [name, ip] of entries) {
    if (out.has(name)) throw new Error(`extra_hosts names ${name} twice`);
    out.set(name, String(ip));
  }
  return out;
}

/** One line of write-bootstraps.sh: which Envoy service gets which node id and role. */
export interface PlannedBootstrap {
  readonly service: string;
  readonly node: string;
  readonly role: 'sidecar' | 'gateway' | 'ingress';
}

/** The `write <service> <node> <role>` lines and the settings of write-bootstraps.sh. */
export function bootstrapPlan(): { entries: PlannedBootstrap[]; xdsAddress: string; tokenTtl: string; caDir: string } {
  const text = readFileSync(WRITE_BOOTSTRAPS, 'utf8');
  const setting = (name: string): string => {
    // NAME=value, or NAME=${NAME:-default} for the container paths the tests override.
    const m = new RegExp(`^${name}=(?:\\$\\{${name}:-(\\S+)\\}|(\\S+))$`, 'm').exec(text);
    if (!m) throw new Error(`write-bootstraps.sh sets no ${name}`);
    return (m[1] ?? m[2])!;
  };
  const entries = [...text.matchAll(/^write (\S+) +(\S+) +(\S+)$/gm)].map((m) => ({ service: m[1]!, node: m[2]!, role: m[3]! as PlannedBootstrap['role'] }));
  return { entries, xdsAddress: setting('XDS_ADDRESS'), tokenTtl: setting('TOKEN_TTL'), caDir: setting('CA_DIR') };
}

/** The compose topology, loaded as `crossmesh serve --config examples/compose` loads it. */
export async function composeTopology(extra: readonly string[] = []): Promise<MeshConfig> {
  const r = await loadConfig([TOPOLOGY_DIR, ...extra]);
  if (!r.config) throw new Error(`examples/compose does not load:\n${r.errors.map((e) => `${e.file}:${e.line}: ${e.message}`).join('\n')}`);
  return r.config;
}

// Bootstraps are deep proto3-JSON objects; these helpers walk known paths in them.
type Obj = Record<string, any>;

/** Where the two run-time values sit in a bootstrap `crossmesh bootstrap` prints. */
export function runTimeValues(b: Obj): { authorization: Obj; trustedCa: Obj } {
  const authorization = (b.dynamic_resources.ads_config.grpc_services[0].initial_metadata as Obj[]).find((m) => m.key === 'authorization');
  const xds = (b.static_resources.clusters as Obj[]).find((c) => c.name === 'xds-grpc');
  const trustedCa = xds?.transport_socket?.typed_config?.common_tls_context?.validation_context?.trusted_ca;
  if (!authorization || !trustedCa) throw new Error('bootstrap has no authorization metadata or no inline trusted CA on the xds-grpc cluster');
  return { authorization, trustedCa };
}

/** The header comment of a committed bootstrap: what it is and where it differs from the running one. */
export function bootstrapHeader(p: PlannedBootstrap, xdsAddress: string, tokenTtl: string): string {
  return [
    `# Envoy bootstrap of "${p.service}" in docker-compose.yml (node ${p.node}, role ${p.role}).`,
    `# It is what \`crossmesh bootstrap --node ${p.node} --role ${p.role} --xds-address ${xdsAddress}`,
    `# --config examples/compose --token-ttl ${tokenTtl}\` prints, except for two values that exist only`,
    `# at run time and read ${PLACEHOLDER} here:`,
    '#   - the "authorization: Bearer <token>" initial metadata: a token bound to this node id, signed',
    '#     by the key crossmesh keeps beside its CA (the "ca" volume);',
    '#   - trusted_ca.inline_string on the xds-grpc cluster: the mesh root, generated on first start.',
    '# At `docker compose up` the one-shot "bootstrap" service (scripts/compose/write-bootstraps.sh)',
    '# writes the real file into this Envoy\'s own subdirectory of the "bootstraps" volume.',
    '# test/compose/bootstraps.test.ts checks that this copy equals the generator\'s output.',
    '',
  ].join('\n');
}

/**
 * What `crossmesh bootstrap` prints for `p` with the CA in `caDir`: the real object, and the
 * committed form (placeholders in place of the token and the root, header comment, YAML).
 */
export async function generateBootstrap(p: PlannedBootstrap, plan: { xdsAddress: string; tokenTtl: string }, caDir: string): Promise<{ real: Obj; committed: string }> {
  const { bootstrap } = await buildBootstrapForNode({
    node: p.node,
    role: p.role,
    xdsAddress: plan.xdsAddress,
    config: [TOPOLOGY_DIR],
    tokenTtl: plan.tokenTtl,
    caDir,
    namespace: 'crossmesh-system',
    adminPort: '15000',
  });
  const real = structuredClone(bootstrap) as Obj;
  const placeholder = bootstrap as Obj;
  const v = runTimeValues(placeholder);
  v.authorization.value = `Bearer ${PLACEHOLDER}`;
  v.trustedCa.inline_string = PLACEHOLDER;
  return { real, committed: bootstrapHeader(p, plan.xdsAddress, plan.tokenTtl) + stringify(placeholder, { lineWidth: 0 }) };
}

/** One change a step script makes to the policy directory. */
export type StepAction = { readonly op: 'apply'; readonly source: string; readonly target: string } | { readonly op: 'remove'; readonly target: string };

/** The step scripts in order, each with its `apply <source> <target>` / `remove <target>` lines. */
export function stepScripts(): { readonly script: string; readonly actions: StepAction[] }[] {
  const dir = join(REPO, 'scripts/compose');
  return readdirSync(dir)
    .filter((f) => /^step\d+-.*\.sh$/.test(f))
    .sort()
    .map((script) => {
      const actions: StepAction[] = [];
      for (const line of readFileSync(join(dir, script), 'utf8').split('\n')) {
        const a = /^apply (\S+) (\S+)$/.exec(line);
        const r = /^remove (\S+)$/.exec(line);
        if (a) actions.push({ op: 'apply', source: a[1]!, target: a[2]! });
        else if (r) actions.push({ op: 'remove', target: r[1]! });
      }
      return { script, actions };
    });
}

/**
 * The policy directory after each step, replayed into `dir` (what crossmesh's policy volume holds
 * after running the steps in order): calls `visit` with the step name after each step.
 */
export async function replaySteps(dir: string, visit: (step: string) => Promise<void>): Promise<void> {
  for (const { script, actions } of stepScripts()) {
    for (const a of actions) {
      if (a.op === 'apply') copyFileSync(join(TOPOLOGY_DIR, 'steps', a.source), join(dir, a.target));
      else rmSync(join(dir, a.target), { force: true });
    }
    await visit(script);
  }
}

/** A model store holding a loaded configuration, as `serve` builds it. */
export function storeOf(config: MeshConfig): ModelStore {
  return new ModelStore({ declarations: { clusters: config.clusters, gateways: config.gateways, policies: config.policies }, events: staticEvents(config).events });
}

/**
 * The names an app in `cluster`/`namespace` must resolve, as crossmesh computes them
 * (translate/service-addresses.ts hostsEntries), over the topology alone and after every step: a
 * container's hosts file is fixed when it is created, and the steps run without recreating it.
 * Throws when a name would change address from one state to the next (a hosts file could not follow).
 */
export async function appHosts(cluster: string, namespace: string): Promise<Map<string, string>> {
  const out = new Map<string, string>();
  const add = (state: string, config: MeshConfig): void => {
    for (const e of hostsEntries(new MeshView(storeOf(config).current), cluster, namespace)) {
      for (const name of e.names) {
        const known = out.get(name);
        if (known !== undefined && known !== e.address) throw new Error(`${cluster}/${namespace}: ${name} is ${known} before ${state}, ${e.address} after it`);
        out.set(name, e.address);
      }
    }
  };
  add('topology', await composeTopology());
  const dir = await mkdtemp(join(tmpdir(), 'crossmesh-compose-hosts-'));
  try {
    await replaySteps(dir, async (step) => add(step, await composeTopology([dir])));
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
  return out;
}

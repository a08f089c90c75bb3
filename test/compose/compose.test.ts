/**
 * docker-compose.yml, the Dockerfile, the compose topology (examples/compose) and the bootstrap
 * plan (scripts/compose/write-bootstraps.sh) agree: images, Envoy services and their node ids,
 * the capture init services, networks, subnets, addresses, service addresses (extra_hosts) and
 * ports. No Docker engine runs here, so this is what keeps the simulation users run from drifting.
 */
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { DEFAULT_CAPTURE } from '../../src/capture/iptables.js';
import type { MeshConfig } from '../../src/config/mesh-config.js';
import { ENVOY_VERSION } from '../../src/envoy/binary.js';
import { objectKey, type Workload } from '../../src/model/types.js';
import { parseHostPort, parseNodeId } from '../../src/translate/bootstrap.js';
import { REPO, appHosts, bootstrapPlan, composeTopology, extraHosts, loadCompose, type ComposeService } from './support.js';

const ENVOY_IMAGE = /^envoyproxy\/envoy:v\d+\.\d+\.\d+$/;
const CROSSMESH_IMAGE = 'crossmesh:compose';
const compose = loadCompose();
const plan = bootstrapPlan();
let topology: MeshConfig;

beforeAll(async () => {
  topology = await composeTopology();
});

function ipv4ToInt(a: string): number {
  return a.split('.').reduce((n, o) => n * 256 + Number(o), 0);
}

function inCidr(address: string, cidr: string): boolean {
  const [base, bits] = cidr.split('/');
  const size = 2 ** (32 - Number(bits));
  const start = ipv4ToInt(base!);
  return ipv4ToInt(address) >= start && ipv4ToInt(address) < start + size;
}

function flag(command: readonly string[] | undefined, name: string): string | undefined {
  const i = (command ?? []).indexOf(name);
  return i >= 0 ? command![i + 1] : undefined;
}

function workloadOf(nodeId: string): Workload | undefined {
  return topology.workloads.find((w) => objectKey(w) === nodeId);
}

const envoyServices = Object.entries(compose.services).filter(([, s]) => s.image !== CROSSMESH_IMAGE);
const crossmeshServices = Object.entries(compose.services).filter(([, s]) => s.image === CROSSMESH_IMAGE);
/** Services that run the demo app (one workload each). */
const appServices = crossmeshServices.filter(([, s]) => s.command?.[0] === 'demo-app');
/** The capture init services (`crossmesh capture ...`). */
const initServices = crossmeshServices.filter(([, s]) => s.command?.[0] === 'capture');

/** The container whose network namespace an Envoy runs in: its app for a sidecar, itself for a gateway. */
function netnsOwner(name: string, s: ComposeService): [string, ComposeService] {
  const m = /^service:(.+)$/.exec(s.network_mode ?? '');
  if (!m) return [name, s];
  const owner = compose.services[m[1]!];
  if (!owner) throw new Error(`${name}: network_mode names no service ${m[1]}`);
  return [m[1]!, owner];
}

describe('docker-compose.yml', () => {
  it('uses only two images: crossmesh built from this repository and a pinned Envoy', () => {
    for (const [name, s] of Object.entries(compose.services)) {
      if (s.image === CROSSMESH_IMAGE) expect(s.build, name).toEqual({ context: '.', dockerfile: 'Dockerfile' });
      else {
        expect(s.image, name).toMatch(ENVOY_IMAGE);
        expect(s.build, name).toBeUndefined();
      }
    }
    expect(new Set(envoyServices.map(([, s]) => s.image)).size).toBe(1);
    expect(crossmeshServices.length).toBeGreaterThan(0);
  });

  it('runs the Envoy version the tests run on real Envoy (src/envoy/binary.ts ENVOY_VERSION)', () => {
    expect(new Set(envoyServices.map(([, s]) => s.image))).toEqual(new Set([`envoyproxy/envoy:v${ENVOY_VERSION}`]));
  });

  it('has an Envoy bootstrap for every Envoy service and an Envoy service for every bootstrap', () => {
    expect(envoyServices.map(([n]) => n).sort()).toEqual(plan.entries.map((p) => p.service).sort());
    for (const [name, s] of envoyServices) {
      expect(s.command?.slice(0, 2), name).toEqual(['-c', '/etc/envoy/envoy.yaml']);
      // Each Envoy sees only its own subdirectory of the bootstraps volume (its own token).
      expect(s.volumes, name).toEqual([{ type: 'volume', source: 'bootstraps', target: '/etc/envoy', read_only: true, volume: { subpath: name } }]);
      expect(s.depends_on?.bootstrap, name).toEqual({ condition: 'service_completed_successfully' });
      // The uid the capture rules let through (Envoy's own connections are not sent back into it).
      expect(s.user, name).toBe(String(DEFAULT_CAPTURE.proxyUid));
    }
  });

  it("precedes every sidecar with an init service that installs the capture rules in its app's network namespace", () => {
    const sidecars = plan.entries.filter((p) => p.role === 'sidecar').map((p) => p.service);
    expect(initServices.map(([n]) => n).sort()).toEqual(appServices.map(([n]) => `${n}-init`).sort());
    for (const service of sidecars) {
      const sidecar = compose.services[service]!;
      const [app] = netnsOwner(service, sidecar);
      const init = compose.services[`${app}-init`];
      expect(init, `${app}-init`).toBeDefined();
      // Same network namespace as the app and its sidecar, root with NET_ADMIN there, run once.
      expect(init!.network_mode, `${app}-init`).toBe(`service:${app}`);
      expect(init!.networks, `${app}-init`).toBeUndefined();
      expect(init!.cap_add, `${app}-init`).toEqual(['NET_ADMIN']);
      expect(init!.user, `${app}-init`).toBe('root');
      expect(init!.command, `${app}-init`).toEqual(['capture', '--apply']);
      expect(init!.restart, `${app}-init`).toBe('no');
      expect(init!.healthcheck, `${app}-init`).toEqual({ disable: true });
      expect(init!.depends_on, `${app}-init`).toEqual({ [app]: { condition: 'service_started' } });
      // The sidecar starts only once the rules are in.
      expect(sidecar.depends_on?.[`${app}-init`], service).toEqual({ condition: 'service_completed_successfully' });
    }
    // Nothing else runs as root or with extra capabilities; gateways have no capture rules.
    const privileged = Object.entries(compose.services).filter(([, s]) => s.user === 'root' || s.cap_add?.length).map(([n]) => n).sort();
    expect(privileged).toEqual(initServices.map(([n]) => n).sort());
  });

  it('has the step scripts start each app again with its init service, before its sidecar', () => {
    const dir = join(REPO, 'scripts/compose');
    let starts = 0;
    for (const f of readdirSync(dir).filter((x) => x.endsWith('.sh'))) {
      for (const line of readFileSync(join(dir, f), 'utf8').split('\n')) {
        const m = /^docker compose start (.+)$/.exec(line.trim());
        if (!m) continue;
        starts++;
        const names = m[1]!.split(/\s+/);
        for (const [app] of appServices.filter(([n]) => names.includes(n))) {
          expect(names.indexOf(`${app}-init`), `${f}: ${app}-init`).toBeGreaterThan(names.indexOf(app));
          if (names.includes(`${app}-envoy`)) expect(names.indexOf(`${app}-envoy`), `${f}: ${app}-envoy`).toBeGreaterThan(names.indexOf(`${app}-init`));
        }
      }
    }
    expect(starts).toBeGreaterThan(0);
  });

  it("resolves, in every app container, exactly the names crossmesh gives its cluster's services, to their addresses", async () => {
    const expected = new Map<string, Map<string, string>>();
    for (const [name, s] of appServices) {
      const cluster = flag(s.command, '--cluster')!;
      const namespace = flag(s.command, '--namespace') ?? 'default';
      const key = `${cluster}/${namespace}`;
      if (!expected.has(key)) expected.set(key, await appHosts(cluster, namespace));
      expect(Object.fromEntries(extraHosts(s)), name).toEqual(Object.fromEntries(expected.get(key)!));
      // Every service it calls resolves (to its virtual address, which capture hands to the sidecar).
      for (const called of (flag(s.command, '--calls') ?? '').split(',').filter(Boolean)) {
        expect(extraHosts(s).get(`${called.split(':')[0]}.${namespace}.svc.cluster.local`), `${name} calls ${called}`).toBeDefined();
      }
    }
    // The topology pins each cluster's service addresses (spec.clusterIP, inside spec.serviceCIDR).
    for (const svc of topology.services) {
      const cidr = topology.clusters.find((c) => c.name === svc.cluster)?.serviceCidr;
      expect(svc.address, `${svc.cluster}/${svc.namespace}/${svc.name}`).toBeDefined();
      expect(cidr && inCidr(svc.address!, cidr), `${svc.address} in ${cidr}`).toBe(true);
    }
    // Sidecars and init services share their app's hosts file; nothing else sets one.
    const withHosts = Object.entries(compose.services).filter(([, s]) => s.extra_hosts !== undefined).map(([n]) => n).sort();
    expect(withHosts).toEqual(appServices.map(([n]) => n).sort());
  });

  it('names in every bootstrap a node id that the topology has as a Workload (and Gateway for gateway roles)', () => {
    for (const p of plan.entries) {
      const w = workloadOf(p.node);
      expect(w, `${p.service}: ${p.node}`).toBeDefined();
      if (p.role === 'sidecar') continue;
      const type = p.role === 'gateway' ? 'EastWest' : 'Ingress';
      const g = topology.gateways.find((x) => x.cluster === w!.cluster && x.namespace === w!.namespace && x.workload === w!.name);
      expect(g?.type, `${p.service}: ${type} Gateway for ${p.node}`).toBe(type);
    }
    // And every workload of the topology runs in compose (an app with a sidecar, or a gateway).
    expect(topology.workloads.map(objectKey).sort()).toEqual(plan.entries.map((p) => p.node).sort());
  });

  it("puts each workload at its container's address on its cluster network, in that network's subnet", () => {
    const used = new Map<string, string>();
    for (const p of plan.entries) {
      const w = workloadOf(p.node)!;
      const [owner, s] = netnsOwner(p.service, compose.services[p.service]!);
      const net = compose.networks[w.cluster];
      expect(net, `network ${w.cluster}`).toBeDefined();
      const address = s.networks?.[w.cluster]?.ipv4_address;
      expect(address, `${owner} on ${w.cluster}`).toBe(w.address);
      const { subnet, ip_range } = net!.ipam.config[0]!;
      expect(inCidr(address!, subnet), `${address} in ${subnet}`).toBe(true);
      if (ip_range) expect(inCidr(address!, ip_range), `${address} outside the dynamic range ${ip_range}`).toBe(false);
      const key = `${w.cluster}/${address}`;
      expect(used.get(key), `${address} used twice`).toBeUndefined();
      used.set(key, owner);
    }
  });

  it('keeps the clusters apart: each container joins only its own cluster network and wan', () => {
    const clusterNetworks = topology.clusters.map((c) => c.name).sort();
    expect(Object.keys(compose.networks).sort()).toEqual([...clusterNetworks, 'wan'].sort());
    for (const p of plan.entries) {
      const { cluster } = parseNodeId(p.node);
      const [owner, s] = netnsOwner(p.service, compose.services[p.service]!);
      expect(Object.keys(s.networks ?? {}).sort(), owner).toEqual([cluster, 'wan'].sort());
    }
    // Sidecars (and their init services) share their app's network namespace and have no network of their own.
    for (const name of [...plan.entries.filter((x) => x.role === 'sidecar').map((p) => p.service), ...initServices.map(([n]) => n)]) {
      const s = compose.services[name]!;
      expect(s.network_mode, name).toMatch(/^service:/);
      expect(s.networks, name).toBeUndefined();
    }
  });

  it("puts each east-west gateway on wan at its Cluster's spec.gateway address, listening on that port", () => {
    for (const p of plan.entries.filter((x) => x.role === 'gateway')) {
      const w = workloadOf(p.node)!;
      const cluster = topology.clusters.find((c) => c.name === w.cluster)!;
      const gw = topology.gateways.find((g) => g.cluster === w.cluster && g.workload === w.name)!;
      const wan = compose.services[p.service]!.networks?.wan?.ipv4_address;
      expect(wan, p.service).toBe(cluster.gateway?.address);
      expect(gw.port, p.service).toBe(cluster.gateway?.port);
      const { subnet, ip_range } = compose.networks.wan!.ipam.config[0]!;
      expect(inCidr(wan!, subnet)).toBe(true);
      expect(inCidr(wan!, ip_range!)).toBe(false);
    }
    expect(plan.entries.filter((x) => x.role === 'gateway').map((x) => parseNodeId(x.node).cluster).sort()).toEqual(topology.clusters.map((c) => c.name).sort());
  });

  it('publishes the ingress gateway port on the host as 8080, and the admin port 18080, on loopback only', () => {
    const ingress = plan.entries.filter((x) => x.role === 'ingress');
    expect(ingress.map((x) => parseNodeId(x.node).cluster)).toEqual(['cluster1']);
    const w = workloadOf(ingress[0]!.node)!;
    const gw = topology.gateways.find((g) => g.cluster === w.cluster && g.workload === w.name)!;
    expect(compose.services[ingress[0]!.service]!.ports).toEqual([`127.0.0.1:8080:${gw.port}`]);
    expect(compose.services.crossmesh!.ports).toEqual(['127.0.0.1:18080:18080']);
    const published = Object.entries(compose.services).filter(([, s]) => s.ports?.length).map(([n]) => n).sort();
    expect(published).toEqual(['crossmesh', ingress[0]!.service].sort());
  });

  it('runs each workload as the demo app it names: service, version, cluster, pod, port and calls', () => {
    const bySidecar = new Map(plan.entries.filter((p) => p.role === 'sidecar').map((p) => [netnsOwner(p.service, compose.services[p.service]!)[0], p]));
    expect([...bySidecar.keys()].sort()).toEqual(appServices.map(([n]) => n).sort());
    for (const [name, s] of appServices) {
      const w = workloadOf(bySidecar.get(name)!.node)!;
      const cmd = s.command!;
      expect(flag(cmd, '--name'), name).toBe(w.labels.app);
      expect(flag(cmd, '--version'), name).toBe(w.labels.version);
      expect(flag(cmd, '--cluster'), name).toBe(w.cluster);
      expect(flag(cmd, '--pod'), name).toBe(w.name);
      // The app listens on 127.0.0.1:<targetPort> (demo-app defaults: 127.0.0.1, 9080) behind its sidecar.
      expect(flag(cmd, '--listen') ?? '127.0.0.1', name).toBe('127.0.0.1');
      const port = Number(flag(cmd, '--port') ?? 9080);
      const services = topology.services.filter((svc) => svc.cluster === w.cluster && svc.namespace === w.namespace && Object.entries(svc.selector).every(([k, v]) => w.labels[k] === v));
      expect(services.map((svc) => svc.name), name).toEqual([w.labels.app]);
      expect(services[0]!.ports.map((p) => p.targetPort), name).toEqual([port]);
      expect(s.environment?.CROSSMESH_HEALTHCHECK_URL, name).toBe(`http://127.0.0.1:${port}/healthz`);
      // Every service it calls exists in the mesh.
      for (const called of (flag(cmd, '--calls') ?? '').split(',').filter(Boolean)) {
        expect(topology.services.some((svc) => svc.name === called.split(':')[0]), `${name} calls ${called}`).toBe(true);
      }
    }
    // The bookinfo call graph of the seed: productpage -> details, reviews; reviews v2/v3 -> ratings.
    const calls = Object.fromEntries(appServices.map(([n, s]) => [n, flag(s.command, '--calls') ?? '']));
    expect(calls).toEqual({
      'cluster1-productpage': 'details,reviews',
      'cluster1-details': '',
      'cluster1-reviews-v1': '',
      'cluster1-reviews-v2': 'ratings',
      'cluster1-ratings': '',
      'cluster2-reviews-v3': 'ratings',
      'cluster2-ratings': '',
    });
  });

  it('runs crossmesh on every cluster network, serving on 0.0.0.0 under the name the bootstraps dial', () => {
    const cm = compose.services.crossmesh!;
    const cmd = cm.command!;
    expect(cmd[0]).toBe('serve');
    expect(flag(cmd, '--host')).toBe('0.0.0.0');
    expect(cmd).not.toContain('--insecure-xds');
    const { host, port } = parseHostPort(plan.xdsAddress);
    expect(host).toBe('crossmesh');
    expect(flag(cmd, '--xds-host-name')).toBe(host);
    expect(Number(flag(cmd, '--xds-port') ?? 18000)).toBe(port);
    expect(flag(cmd, '--ca-dir')).toBe(plan.caDir);
    // Every Envoy is on some cluster network crossmesh is on (Docker DNS resolves "crossmesh" there).
    expect(Object.keys(cm.networks ?? {}).sort()).toEqual(topology.clusters.map((c) => c.name).sort());
    for (const [net, n] of Object.entries(cm.networks ?? {})) expect(inCidr(n!.ipv4_address!, compose.networks[net]!.ipam.config[0]!.subnet)).toBe(true);
    // It serves the topology (read-only) plus the policy directory the steps copy into.
    const configs = cmd.flatMap((a, i) => (a === '--config' ? [cmd[i + 1]!] : []));
    expect(configs).toEqual(['/etc/crossmesh/topology', '/etc/crossmesh/policies']);
    expect(cm.volumes).toContain('./examples/compose:/etc/crossmesh/topology:ro');
    expect(cm.volumes).toContain('policies:/etc/crossmesh/policies');
    expect(cm.volumes).toContain(`ca:${plan.caDir}`);
  });

  it('generates the bootstraps once crossmesh is healthy, from the same topology and CA, with no network', () => {
    const b = compose.services.bootstrap!;
    expect(b.entrypoint).toEqual(['/bin/sh', '/scripts/write-bootstraps.sh']);
    expect(b.network_mode).toBe('none');
    expect(b.depends_on).toEqual({ crossmesh: { condition: 'service_healthy' } });
    expect(b.volumes).toEqual(['./scripts/compose/write-bootstraps.sh:/scripts/write-bootstraps.sh:ro', './examples/compose:/etc/crossmesh/topology:ro', `ca:${plan.caDir}`, 'bootstraps:/bootstraps']);
    // The CA volume is mounted nowhere else: no Envoy or app can read the CA or token signing keys.
    const withCa = Object.entries(compose.services).filter(([, s]) => (s.volumes ?? []).some((v) => (typeof v === 'string' ? v.startsWith('ca:') : v.source === 'ca'))).map(([n]) => n).sort();
    expect(withCa).toEqual(['bootstrap', 'crossmesh']);
  });
});

describe('Dockerfile', () => {
  const text = readFileSync(join(REPO, 'Dockerfile'), 'utf8');
  const from = [...text.matchAll(/^FROM (\S+)/gm)].map((m) => m[1]!);

  it('is multi-stage on a pinned Node 20 slim tag, installs with npm ci and ships production dependencies only', () => {
    expect(from.length).toBeGreaterThanOrEqual(2);
    for (const image of from) expect(image).toMatch(/^node:20\.\d+\.\d+-[a-z]+-slim$/);
    expect(text).toMatch(/^RUN npm ci\b/m);
    expect(text).toMatch(/npm prune --omit=dev/);
    expect(text).toMatch(/^COPY --from=build \/app\/node_modules/m);
  });

  it('installs iptables (pinned) in the runtime image, for crossmesh capture, and cleans the apt lists', () => {
    const runtime = text.slice(text.lastIndexOf('\nFROM '));
    expect(runtime).toMatch(/^RUN apt-get update \\\n && apt-get install -y --no-install-recommends iptables=\d[\w.+~:-]*-\d+ \\\n && rm -rf \/var\/lib\/apt\/lists\/\*$/m);
    // Installed before the runtime user is set: the image stays non-root by default.
    expect(runtime.indexOf('apt-get install')).toBeLessThan(runtime.lastIndexOf('\nUSER '));
  });

  it('runs as a non-root user, checks /healthz with node (no curl in slim), and has crossmesh as entrypoint', () => {
    const users = [...text.matchAll(/^USER (\S+)/gm)].map((m) => m[1]);
    expect(users.at(-1)).toBe('node');
    expect(text).toMatch(/^HEALTHCHECK .*\\\n\s+CMD \["node", "-e", ".*\/healthz/m);
    expect(text.split('\n').filter((l) => !l.startsWith('#')).join('\n')).not.toMatch(/curl|wget/);
    expect(text).toMatch(/^ENTRYPOINT \["crossmesh"\]$/m);
  });

  it('leaves tests, local CA keys and build output out of the build context', () => {
    const ignored = readFileSync(join(REPO, '.dockerignore'), 'utf8').split('\n').map((l) => l.trim());
    for (const p of ['node_modules', 'dist', '.crossmesh', '.git', 'test']) expect(ignored).toContain(p);
  });
});

/**
 * "model": 3 clusters × 2,000 services × 10 endpoints (60,000 endpoints) as YAML files.
 * Load + validate against the baseline of parsing the same YAML with the `yaml` library alone;
 * model memory against holding the bare parsed documents; one endpoint change (apply + change
 * set) against rebuilding the whole model.
 */
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseAllDocuments } from 'yaml';
import { loadConfig } from '../../src/config/loader.js';
import type { MeshConfig } from '../../src/config/mesh-config.js';
import { ClusterState } from '../../src/discovery/kubernetes/cluster-state.js';
import { applyConfig, StaticDiscovery } from '../../src/discovery/static/static-discovery.js';
import { ModelStore } from '../../src/model/store.js';
import type { Workload } from '../../src/model/types.js';
import { podJson } from '../kube-pods.js';
import { writeTopology } from '../model-topology.js';
import type { BenchRow, BenchScenario } from '../types.js';
import { exposeGc } from '../measure.js';

const SIZE = { clusters: 3, servicesPerCluster: 2000, endpointsPerService: 10 };
const CHANGES = 200;
const WARMUP = 50;
const RUNS = 2;
const KUBE_PODS = 10_000;

const gc = exposeGc();

function heapAfterGc(): number {
  gc();
  gc();
  return process.memoryUsage().heapUsed;
}

async function bareParse(files: readonly string[]): Promise<unknown[]> {
  const out: unknown[] = [];
  for (const f of files) {
    const docs = parseAllDocuments(await readFile(f, 'utf8'));
    if (!Array.isArray(docs)) continue;
    for (const d of docs) out.push(d.toJS());
  }
  return out;
}

async function timed<T>(fn: () => Promise<T> | T): Promise<{ ms: number; value: T }> {
  const t = performance.now();
  const value = await fn();
  return { ms: performance.now() - t, value };
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)]!;
}

function percentile(xs: number[], p: number): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor((s.length * p) / 100))]!;
}

/**
 * Heap that Kubernetes discovery keeps for KUBE_PODS pods (its ClusterState: managedFields dropped)
 * against holding the same parsed API objects as listed.
 */
function kubePodMemory(): { kept: number; raw: number } {
  const cluster = { name: 'k1', network: 'n1', trustDomain: 'k1', locality: { region: 'r', zone: 'z', subzone: '' } };
  let base = heapAfterGc();
  let raw: unknown[] | undefined = Array.from({ length: KUBE_PODS }, (_, i) => JSON.parse(podJson(i)) as unknown);
  const rawBytes = heapAfterGc() - base;
  raw = undefined;
  void raw;
  base = heapAfterGc();
  const state = new ClusterState(cluster);
  state.replace('pods', Array.from({ length: KUBE_PODS }, (_, i) => JSON.parse(podJson(i)) as { metadata?: { name?: string } }));
  const kept = heapAfterGc() - base;
  if (state.pods.size !== KUBE_PODS) throw new Error(`discovery state holds ${state.pods.size} pods`);
  return { kept, raw: rawBytes };
}

function buildModel(config: MeshConfig): ModelStore {
  const store = new ModelStore();
  applyConfig(store, new StaticDiscovery(), config);
  return store;
}

export const scenario: BenchScenario = {
  name: 'model',
  description: '3 clusters x 2,000 services x 10 endpoints: load+validate vs bare YAML parse, model memory, one endpoint change',
  async run(): Promise<BenchRow[]> {
    const dir = await mkdtemp(join(tmpdir(), 'crossmesh-bench-model-'));
    try {
      const { files, bytes } = await writeTopology(dir, SIZE);
      console.error(`  generated ${(bytes / 1e6).toFixed(1)} MB of YAML in ${files.length} files`);

      // Alternate the two so neither benefits from running second; keep the best of each.
      let bare = Infinity;
      let load = Infinity;
      let documents = 0;
      for (let i = 0; i < RUNS; i++) {
        heapAfterGc();
        const b = await timed(() => bareParse(files));
        bare = Math.min(bare, b.ms);
        documents = b.value.length;
        heapAfterGc();
        const l = await timed(() => loadConfig([dir]));
        if (l.value.errors.length) throw new Error(`generated topology did not load: ${l.value.errors[0]?.message}`);
        load = Math.min(load, l.ms);
      }

      // Memory: everything the control plane keeps (config objects + snapshot + store indexes)
      // against holding the bare parsed documents, each measured after GC.
      let base = heapAfterGc();
      let raw: unknown[] | undefined = await bareParse(files);
      const rawBytes = heapAfterGc() - base;
      raw = undefined;
      void raw;
      base = heapAfterGc();
      const reloaded = await loadConfig([dir]);
      const loaded = reloaded.config!;
      const built = await timed(() => buildModel(loaded));
      const store = built.value;
      const modelBytes = heapAfterGc() - base;
      const endpoints = [...store.current.endpoints.values()].reduce((n, e) => n + e.length, 0);
      if (endpoints !== SIZE.clusters * SIZE.servicesPerCluster * SIZE.endpointsPerService) throw new Error(`model has ${endpoints} endpoints`);

      // One endpoint change at a time: flip a workload's health, apply, compute the change set.
      const workloads = loaded.workloads;
      const times: number[] = [];
      let seed = 12345;
      // The first WARMUP changes let the JIT settle; they are not counted.
      for (let i = 0; i < WARMUP + CHANGES; i++) {
        seed = (seed * 1103515245 + 12345) & 0x7fffffff;
        const w = workloads[seed % workloads.length]!;
        const cur = store.current.workloads.get(`${w.cluster}/${w.namespace}/${w.name}`)!;
        const next: Workload = { ...cur, health: cur.health === 'HEALTHY' ? 'UNHEALTHY' : 'HEALTHY' };
        const t = performance.now();
        const cs = store.applyEvents([{ kind: 'upsertWorkload', workload: next }]);
        if (i >= WARMUP) times.push(performance.now() - t);
        if (cs.endpoints.length !== 1) throw new Error(`one endpoint change touched ${cs.endpoints.length} services`);
      }
      const rebuild = await timed(() => buildModel(loaded));
      void rebuild.value;

      const kube = kubePodMemory();
      const med = median(times);
      const p99 = percentile(times, 99);
      console.error(`  ${documents} documents; load ${load.toFixed(0)} ms, bare parse ${bare.toFixed(0)} ms; model build ${built.ms.toFixed(0)} ms`);
      return [
        { scenario: 'model', metric: 'load + validate (60k endpoints)', value: load, unit: 'ms', baseline: bare, target: '< 3x bare YAML parse', pass: load < 3 * bare },
        { scenario: 'model', metric: 'model build from config', value: built.ms, unit: 'ms', baseline: bare },
        { scenario: 'model', metric: 'heap: config + model (vs bare parsed docs)', value: modelBytes / 1e6, unit: 'MB', baseline: rawBytes / 1e6 },
        { scenario: 'model', metric: 'kubernetes discovery state per 10k pods (vs parsed API objects)', value: kube.kept / 1e6, unit: 'MB', baseline: kube.raw / 1e6 },
        { scenario: 'model', metric: 'one endpoint change, median', value: med, unit: 'ms', baseline: rebuild.ms, target: '< 5 ms', pass: med < 5 },
        { scenario: 'model', metric: 'one endpoint change, p99', value: p99, unit: 'ms', baseline: rebuild.ms, target: '< 5 ms', pass: p99 < 5 },
      ];
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  },
};

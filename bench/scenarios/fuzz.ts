/**
 * "fuzz": a bounded, reproducible fuzz run of the two places crossmesh parses what others wrote:
 * the xDS request path (DiscoveryRequest/DeltaDiscoveryRequest bytes through the decoder and real
 * streams, bench/fuzz-xds-target.ts) and the configuration loader (YAML files through loadConfig,
 * bench/fuzz-loader-target.ts). The committed corpus (bench/fuzz-corpus/) is replayed first, then
 * mutated inputs run until the time budget is spent. Each figure stands beside the bare library
 * on the same inputs (protobufjs decode; `yaml` parse).
 *
 * CROSSMESH_FUZZ_SECONDS (default 24) is the whole budget, split between the two targets;
 * CROSSMESH_FUZZ_SEED (default 16) picks the inputs: input N of a seed is always the same bytes.
 * CROSSMESH_FUZZ_KEEP=1 also saves inputs with an outcome not seen before into the corpus's
 * found/ folders. A crash is written to the corpus's crashes/ folder and fails the run.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loaderSeeds, readLoaderCorpus, readXdsCorpus, saveLoaderInput, saveXdsInput, type LoaderCorpusEntry, type LoaderInput, type XdsCorpusEntry } from '../fuzz-corpus.js';
import { bareParse, LoaderPath } from '../fuzz-loader-target.js';
import { Prng } from '../fuzz-prng.js';
import { XdsRequestPath, type XdsInput } from '../fuzz-xds-target.js';
import { mutateXds } from '../fuzz-xds-mutate.js';
import { mutateLoaderInput, seedDocuments } from '../fuzz-yaml-mutate.js';
import type { BenchRow, BenchScenario } from '../types.js';

const SECONDS = Number(process.env.CROSSMESH_FUZZ_SECONDS ?? 24);
const SEED = process.env.CROSSMESH_FUZZ_SEED ?? '16';
const KEEP = process.env.CROSSMESH_FUZZ_KEEP === '1';
/** Per-input bounds: far above what a sane input takes, low enough that a hang or quadratic blow-up shows. */
const XDS_MAX_MS = 2000;
const LOADER_MAX_MS = 5000;
/** Crashes saved per target and run: one bug tends to crash many inputs. */
const MAX_SAVED_CRASHES = 5;
/** Found inputs kept per target (CROSSMESH_FUZZ_KEEP), and their size: the corpus stays small. */
const MAX_FOUND = 24;
const MAX_FOUND_BYTES = 16 * 1024;

/** What one target's run adds up to. */
interface Tally {
  inputs: number;
  replayed: number;
  pathMs: number;
  bareMs: number;
  slowestMs: number;
  slowest: string;
  accepted: number;
  crashes: string[];
  found: number;
}

function tally(): Tally {
  return { inputs: 0, replayed: 0, pathMs: 0, bareMs: 0, slowestMs: 0, slowest: '', accepted: 0, crashes: [], found: 0 };
}

function note(t: Tally, name: string, ms: number): void {
  t.inputs++;
  t.pathMs += ms;
  if (ms > t.slowestMs) {
    t.slowestMs = ms;
    t.slowest = name;
  }
}

async function fuzzXds(deadline: number, t: Tally): Promise<void> {
  const corpus = readXdsCorpus(['seed', 'found', 'crashes']);
  const path = await XdsRequestPath.open();
  const seen = new Set<string>();
  try {
    const one = async (name: string, input: XdsInput, replay: boolean): Promise<void> => {
      const b = performance.now();
      path.bareDecode(input.mode, input.bytes);
      t.bareMs += performance.now() - b;
      const s = performance.now();
      const out = await path.run(input);
      const ms = performance.now() - s;
      note(t, name, ms);
      if (!out.decodeRefused) t.accepted++;
      const crash = out.crash ?? (ms > XDS_MAX_MS ? `took ${ms.toFixed(0)} ms (bound ${XDS_MAX_MS} ms)` : undefined);
      if (crash) {
        const saved = replay || t.crashes.length >= MAX_SAVED_CRASHES ? name : saveXdsInput('crashes', name, input, crash.split('\n')[0]!);
        t.crashes.push(`${saved}: ${crash}`);
        return;
      }
      const outcome = `${input.mode} ${input.service} ${input.stage} ${out.status} ${out.decodeRefused ? 'refused' : 'decoded'} ${out.responses > 0 ? 'answered' : 'silent'}`;
      if (replay || seen.has(outcome)) return void seen.add(outcome);
      seen.add(outcome);
      if (KEEP && t.found < MAX_FOUND && input.bytes.length <= MAX_FOUND_BYTES) {
        saveXdsInput('found', name, input, outcome);
        t.found++;
      }
    };
    for (const c of corpus) await one(c.name, c.input, true);
    t.replayed = corpus.length;
    for (let i = 0; performance.now() < deadline; i++) {
      const { input } = mutateXds(new Prng(SEED, 'xds', i), corpus);
      await one(`xds-seed${SEED}-${i}`, input, false);
    }
  } finally {
    await path.close();
  }
}

/** The first error's message with names, numbers and quoted values taken out: what kind of refusal it is. */
function errorClass(message: string | undefined): string {
  return (message ?? 'accepted').replace(/"[^"]*"|'[^']*'|\d+/g, '_').slice(0, 50);
}

async function fuzzLoader(deadline: number, t: Tally): Promise<void> {
  const seeds = loaderSeeds();
  const stored = readLoaderCorpus(['found', 'crashes']);
  const corpus: LoaderCorpusEntry[] = [...seeds, ...stored];
  const docs = seedDocuments(seeds);
  const dir = mkdtempSync(join(tmpdir(), 'crossmesh-fuzz-'));
  const path = new LoaderPath(dir, LOADER_MAX_MS);
  const seen = new Set<string>();
  try {
    const one = async (name: string, input: LoaderInput, replay: boolean): Promise<void> => {
      const b = performance.now();
      bareParse(input);
      t.bareMs += performance.now() - b;
      const out = await path.run(input);
      note(t, name, out.ms);
      if (out.accepted) t.accepted++;
      if (out.crash) {
        const saved = replay || t.crashes.length >= MAX_SAVED_CRASHES ? name : saveLoaderInput('crashes', name, input, out.crash);
        t.crashes.push(`${saved}: ${out.crash}`);
        return;
      }
      const outcome = out.accepted ? 'accepted' : errorClass(out.firstError);
      if (replay || seen.has(outcome)) return void seen.add(outcome);
      seen.add(outcome);
      const size = input.files.reduce((n, f) => n + Buffer.byteLength(f.text), 0);
      if (KEEP && t.found < MAX_FOUND && size <= MAX_FOUND_BYTES) {
        saveLoaderInput('found', name, input, `first error: ${out.firstError ?? 'none (accepted)'}`);
        t.found++;
      }
    };
    for (const c of corpus) await one(c.name, c.input, true);
    t.replayed = corpus.length;
    for (let i = 0; performance.now() < deadline; i++) {
      const { input } = mutateLoaderInput(new Prng(SEED, 'loader', i), corpus, docs);
      await one(`loader-seed${SEED}-${i}`, input, false);
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

function rows(target: string, t: Tally, unit: string, bare: string, maxMs: number): BenchRow[] {
  return [
    { scenario: 'fuzz', metric: `${target}: ${unit}/s (baseline: ${bare} of the same inputs)`, value: (t.inputs / t.pathMs) * 1000, unit: `${unit}/s`, baseline: (t.inputs / t.bareMs) * 1000 },
    { scenario: 'fuzz', metric: `${target}: inputs run (corpus ${t.replayed}), ${t.accepted} ${target === 'xDS' ? 'decoded' : 'accepted'}`, value: t.inputs, unit: 'inputs' },
    { scenario: 'fuzz', metric: `${target}: crashes`, value: t.crashes.length, unit: 'inputs', target: '0', pass: t.crashes.length === 0 },
    { scenario: 'fuzz', metric: `${target}: slowest input (${t.slowest})`, value: t.slowestMs, unit: 'ms', target: `< ${maxMs} ms`, pass: t.slowestMs < maxMs },
  ];
}

export const scenario: BenchScenario = {
  name: 'fuzz',
  description: `bounded fuzz of the xDS request decoder path and the config loader (${SECONDS} s, seed ${SEED}; CROSSMESH_FUZZ_SECONDS, CROSSMESH_FUZZ_SEED)`,
  async run(): Promise<BenchRow[]> {
    console.error(`  seed ${SEED}, ${SECONDS} s; replay one input with its seed and index (input N of a seed is always the same)`);
    const xds = tally();
    const loader = tally();
    const started = performance.now();
    await fuzzXds(started + (SECONDS * 1000) / 2, xds);
    await fuzzLoader(started + SECONDS * 1000, loader);
    if (KEEP) console.error(`  kept ${xds.found} xDS and ${loader.found} loader inputs with new outcomes in bench/fuzz-corpus/*/found`);
    const crashes = [...xds.crashes, ...loader.crashes];
    if (crashes.length) throw new Error(`${crashes.length} crashing input(s), saved under bench/fuzz-corpus/*/crashes:\n${crashes.slice(0, 10).join('\n\n')}`);
    return [...rows('xDS', xds, 'requests', 'bare protobufjs decode', XDS_MAX_MS), ...rows('loader', loader, 'configs', 'bare yaml parse', LOADER_MAX_MS)];
  },
};

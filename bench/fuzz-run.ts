/**
 * One fuzz target's run: the committed corpus replayed, then mutated inputs until the deadline,
 * each timed through crossmesh's path and through the bare library, crashes saved for replay.
 * Runs inside a worker (bench/fuzz-worker.ts) so the scenario can stop a run that hangs; the
 * input in flight is published in shared memory for that case.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loaderSeeds, readLoaderCorpus, readXdsCorpus, saveLoaderInput, saveXdsInput, type LoaderCorpusEntry, type LoaderInput } from './fuzz-corpus.js';
import { bareParse, LoaderPath } from './fuzz-loader-target.js';
import { Prng } from './fuzz-prng.js';
import { XdsRequestPath, type XdsInput } from './fuzz-xds-target.js';
import { mutateXds } from './fuzz-xds-mutate.js';
import { mutateLoaderInput, seedDocuments } from './fuzz-yaml-mutate.js';

/** The two targets. */
export type FuzzTarget = 'xds' | 'loader';

/**
 * Per-input time bound: a fixed allowance plus a multiple of the bare library's time on the same
 * input. Another process loading the machine slows both; quadratic work in crossmesh shows.
 */
export const INPUT_BOUND: Readonly<Record<FuzzTarget, { readonly ms: number; readonly bareFactor: number }>> = {
  xds: { ms: 2000, bareFactor: 30 },
  loader: { ms: 5000, bareFactor: 30 },
};

function boundMs(target: FuzzTarget, bareMs: number): number {
  return INPUT_BOUND[target].ms + INPUT_BOUND[target].bareFactor * bareMs;
}
/** Crashes saved per target and run: one bug tends to crash many inputs. */
const MAX_SAVED_CRASHES = 5;
/** Found inputs kept per target (`keep`), and their size: the corpus stays small. */
const MAX_FOUND = 24;
const MAX_FOUND_BYTES = 16 * 1024;

/** What one target's run adds up to. */
export interface Tally {
  inputs: number;
  replayed: number;
  pathMs: number;
  bareMs: number;
  slowestMs: number;
  slowest: string;
  /** Inputs that took longer than their bound (each also a crash). */
  overBound: number;
  accepted: number;
  crashes: string[];
  found: number;
}

export interface FuzzOptions {
  readonly target: FuzzTarget;
  readonly seed: string;
  /** performance.timeOrigin-based epoch ms at which no new input starts. */
  readonly deadline: number;
  /** Save inputs with outcomes not seen before into the corpus's found/ folder. */
  readonly keep: boolean;
  /** [inputs started, index of the input in flight (corpus entry k as -(k + 1))]. */
  readonly progress: Int32Array;
}

/** Name a generated input is saved and reported under. */
export function inputName(target: FuzzTarget, seed: string, index: number): string {
  return `${target}-seed${seed}-${index}`;
}

function now(): number {
  return performance.timeOrigin + performance.now();
}

function started(o: FuzzOptions, index: number): void {
  Atomics.store(o.progress, 1, index);
  Atomics.add(o.progress, 0, 1);
}

function newTally(): Tally {
  return { inputs: 0, replayed: 0, pathMs: 0, bareMs: 0, slowestMs: 0, slowest: '', overBound: 0, accepted: 0, crashes: [], found: 0 };
}

/** Counts one input's times; returns why it was too slow, if it was. */
function note(t: Tally, target: FuzzTarget, name: string, ms: number, bareMs: number): string | undefined {
  t.inputs++;
  t.pathMs += ms;
  t.bareMs += bareMs;
  if (ms > t.slowestMs) {
    t.slowestMs = ms;
    t.slowest = name;
  }
  const bound = boundMs(target, bareMs);
  if (ms <= bound) return undefined;
  t.overBound++;
  return `took ${ms.toFixed(0)} ms (bound ${bound.toFixed(0)} ms: ${INPUT_BOUND[target].ms} ms + ${INPUT_BOUND[target].bareFactor}x the bare library's ${bareMs.toFixed(1)} ms)`;
}

/** Whether an input with this outcome is to be kept in found/ (`keep`, an outcome not seen before, room and size left); counts it. */
function keepIfNew(o: FuzzOptions, t: Tally, seen: Set<string>, outcome: string, replay: boolean, bytes: number): boolean {
  const fresh = !seen.has(outcome);
  seen.add(outcome);
  if (!fresh || replay || !o.keep || t.found >= MAX_FOUND || bytes > MAX_FOUND_BYTES) return false;
  t.found++;
  return true;
}

/** Replays the corpus, then generated inputs until the deadline, publishing the index of each before it runs. */
async function drive<I>(o: FuzzOptions, t: Tally, corpus: readonly { name: string; input: I }[], generate: (rng: Prng) => I, one: (name: string, input: I, replay: boolean) => Promise<void>): Promise<void> {
  for (const [k, c] of corpus.entries()) {
    started(o, -k - 1);
    await one(c.name, c.input, true);
  }
  t.replayed = corpus.length;
  for (let i = 0; now() < o.deadline; i++) {
    started(o, i);
    await one(inputName(o.target, o.seed, i), generate(new Prng(o.seed, o.target, i)), false);
  }
}

function xdsCorpus(): ReturnType<typeof readXdsCorpus> {
  return readXdsCorpus(['seed', 'found', 'crashes']);
}

function loaderCorpus(): LoaderCorpusEntry[] {
  return [...loaderSeeds(), ...readLoaderCorpus(['found', 'crashes'])];
}

/** Input `index` of a seed, generated again (the same bytes the run generated), or the corpus entry a negative index names. */
export function regenerate(target: FuzzTarget, seed: string, index: number): { name: string; xds?: XdsInput; loader?: LoaderInput } {
  if (target === 'xds') {
    const corpus = xdsCorpus();
    if (index < 0) return { name: corpus[-index - 1]!.name, xds: corpus[-index - 1]!.input };
    return { name: inputName(target, seed, index), xds: mutateXds(new Prng(seed, target, index), corpus).input };
  }
  const corpus = loaderCorpus();
  if (index < 0) return { name: corpus[-index - 1]!.name, loader: corpus[-index - 1]!.input };
  return { name: inputName(target, seed, index), loader: mutateLoaderInput(new Prng(seed, target, index), corpus, seedDocuments(loaderSeeds())).input };
}

/** Runs the xDS target until the deadline. */
export async function runXds(o: FuzzOptions): Promise<Tally> {
  const t = newTally();
  const corpus = xdsCorpus();
  const path = await XdsRequestPath.open();
  const seen = new Set<string>();
  try {
    const one = async (name: string, input: XdsInput, replay: boolean): Promise<void> => {
      const b = performance.now();
      path.bareDecode(input.mode, input.bytes);
      const bareMs = performance.now() - b;
      const s = performance.now();
      const out = await path.run(input);
      const slow = note(t, 'xds', name, performance.now() - s, bareMs);
      if (!out.decodeRefused) t.accepted++;
      const crash = out.crash ?? slow;
      if (crash) {
        const saved = replay || t.crashes.length >= MAX_SAVED_CRASHES ? name : saveXdsInput('crashes', name, input, crash.split('\n')[0]!);
        t.crashes.push(`${saved}: ${crash}`);
        return;
      }
      const outcome = `${input.mode} ${input.service} ${input.stage} auth:${input.auth ?? 'none'} ${out.status} ${out.decodeRefused ? 'refused' : 'decoded'} ${out.responses > 0 ? 'answered' : 'silent'}`;
      if (keepIfNew(o, t, seen, outcome, replay, input.bytes.length)) saveXdsInput('found', name, input, outcome);
    };
    await drive(o, t, corpus, (rng) => mutateXds(rng, corpus).input, one);
  } finally {
    await path.close();
  }
  return t;
}

/** The first error's message with names, numbers and quoted values taken out: what kind of refusal it is. */
function errorClass(message: string | undefined): string {
  return (message ?? 'accepted').replace(/"[^"]*"|'[^']*'|\d+/g, '_').slice(0, 50);
}

/** Runs the loader target until the deadline. */
export async function runLoader(o: FuzzOptions): Promise<Tally> {
  const t = newTally();
  const corpus = loaderCorpus();
  const docs = seedDocuments(loaderSeeds());
  const dir = mkdtempSync(join(tmpdir(), 'crossmesh-fuzz-'));
  const path = new LoaderPath(dir);
  const seen = new Set<string>();
  try {
    const one = async (name: string, input: LoaderInput, replay: boolean): Promise<void> => {
      const b = performance.now();
      bareParse(input);
      const bareMs = performance.now() - b;
      const out = await path.run(input);
      const slow = note(t, 'loader', name, out.ms, bareMs);
      if (out.accepted) t.accepted++;
      const crash = out.crash ?? slow;
      if (crash) {
        const saved = replay || t.crashes.length >= MAX_SAVED_CRASHES ? name : saveLoaderInput('crashes', name, input, crash);
        t.crashes.push(`${saved}: ${crash}`);
        return;
      }
      const outcome = out.accepted ? 'accepted' : errorClass(out.firstError);
      const size = input.files.reduce((n, f) => n + Buffer.byteLength(f.text), 0);
      if (keepIfNew(o, t, seen, outcome, replay, size)) saveLoaderInput('found', name, input, `first error: ${out.firstError ?? 'none (accepted)'}`);
    };
    await drive(o, t, corpus, (rng) => mutateLoaderInput(rng, corpus, docs).input, one);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  return t;
}

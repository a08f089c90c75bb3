/**
 * The fuzz corpus on disk (bench/fuzz-corpus/): what the mutators start from and what a run leaves
 * for replay. xDS inputs are JSON files: seeds written as DiscoveryRequest objects (readable,
 * encoded here), found and crashing inputs as base64 bytes. Loader inputs are folders of YAML
 * files; their seeds are the example meshes and test fixtures where they already live.
 */
import { mkdirSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { defaultMeshDir } from '../src/config/default-mesh.js';
import { messageType } from '../src/xds/protos.js';
import type { XdsInput, XdsService } from './fuzz-xds-target.js';

/** An xDS input with the name it is stored (or generated) under. */
export interface XdsCorpusEntry {
  readonly name: string;
  readonly input: XdsInput;
}

/** A configuration as the loader sees it: the YAML files of one `--config` directory. */
export interface LoaderInput {
  readonly files: readonly { readonly name: string; readonly text: string }[];
}

/** A loader input with the name it is stored (or generated) under. */
export interface LoaderCorpusEntry {
  readonly name: string;
  readonly input: LoaderInput;
}

/** Folders of the corpus: seeds (xDS only), inputs worth keeping, and crashes a run found. */
export type CorpusFolder = 'seed' | 'found' | 'crashes';

/** The repository root (above examples/default). */
export function repoRoot(): string {
  return dirname(dirname(defaultMeshDir()));
}

/** bench/fuzz-corpus/<target>/<folder> of this checkout. */
export function corpusDir(target: 'xds' | 'loader', folder: CorpusFolder): string {
  return join(repoRoot(), 'bench', 'fuzz-corpus', target, folder);
}

function listDir(dir: string): string[] {
  try {
    return readdirSync(dir).sort();
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw e;
  }
}

interface StoredXds {
  readonly mode: XdsInput['mode'];
  readonly service: XdsService;
  readonly stage: XdsInput['stage'];
  /** Absent: development mode (see XdsInput.auth). */
  readonly auth?: 'none' | 'token';
  readonly note?: string;
  /** Seeds: the request as a protobufjs object (keepCase field names, Struct values camelCase). */
  readonly request?: Record<string, unknown>;
  /** Found and crashing inputs: the exact bytes. */
  readonly base64?: string;
}

function encodeRequest(mode: XdsInput['mode'], request: Record<string, unknown>): Buffer {
  const type = messageType(mode === 'sotw' ? 'envoy.service.discovery.v3.DiscoveryRequest' : 'envoy.service.discovery.v3.DeltaDiscoveryRequest');
  const problem = type.verify(request);
  if (problem) throw new Error(`not a ${type.name}: ${problem}`);
  return Buffer.from(type.encode(type.fromObject(request)).finish());
}

/** The xDS inputs of some folders, in name order. */
export function readXdsCorpus(folders: readonly CorpusFolder[]): XdsCorpusEntry[] {
  const out: XdsCorpusEntry[] = [];
  for (const folder of folders) {
    const dir = corpusDir('xds', folder);
    for (const f of listDir(dir).filter((n) => n.endsWith('.json'))) {
      const s = JSON.parse(readFileSync(join(dir, f), 'utf8')) as StoredXds;
      let bytes: Buffer;
      try {
        bytes = s.base64 !== undefined ? Buffer.from(s.base64, 'base64') : encodeRequest(s.mode, s.request ?? {});
      } catch (e) {
        throw new Error(`${join(dir, f)}: ${(e as Error).message}`);
      }
      out.push({ name: `${folder}/${f}`, input: { mode: s.mode, service: s.service, stage: s.stage, ...(s.auth ? { auth: s.auth } : {}), bytes } });
    }
  }
  return out;
}

/** Writes an xDS input as bytes into a folder; returns its path. */
export function saveXdsInput(folder: CorpusFolder, name: string, input: XdsInput, note: string): string {
  const dir = corpusDir('xds', folder);
  mkdirSync(dir, { recursive: true });
  const file = join(dir, `${name}.json`);
  const stored: StoredXds = { mode: input.mode, service: input.service, stage: input.stage, auth: input.auth ?? 'none', note, base64: input.bytes.toString('base64') };
  writeFileSync(file, `${JSON.stringify(stored, null, 1)}\n`);
  return file;
}

function yamlFiles(dir: string): string[] {
  return listDir(dir).filter((n) => /\.ya?ml$/i.test(n) && statSync(join(dir, n)).isFile());
}

function readFolder(dir: string): LoaderInput {
  return { files: yamlFiles(dir).map((name) => ({ name, text: readFileSync(join(dir, name), 'utf8') })) };
}

/**
 * The loader's seeds: each example mesh as a whole (examples/compose with its steps applied) and
 * every example and fixture file alone.
 */
export function loaderSeeds(): LoaderCorpusEntry[] {
  const root = repoRoot();
  const out: LoaderCorpusEntry[] = [];
  const dirs = ['examples/default', 'examples/compose', 'examples/compose/steps', 'test/fixtures/seed', 'test/fixtures/policies'];
  out.push({ name: 'examples/default', input: readFolder(join(root, 'examples/default')) });
  const compose = readFolder(join(root, 'examples/compose'));
  const steps = readFolder(join(root, 'examples/compose/steps'));
  // virtual-mesh-rbac.yaml is the walkthrough's replacement for virtual-mesh.yaml, not an addition.
  const applied = steps.files.filter((f) => f.name !== 'virtual-mesh-rbac.yaml').map((f) => ({ name: `step-${f.name}`, text: f.text }));
  out.push({ name: 'examples/compose+steps', input: { files: [...compose.files, ...applied] } });
  for (const d of dirs) {
    for (const name of yamlFiles(join(root, d))) {
      out.push({ name: relative(root, join(root, d, name)), input: { files: [{ name, text: readFileSync(join(root, d, name), 'utf8') }] } });
    }
  }
  return out;
}

/** The loader inputs stored in some corpus folders (one folder of YAML files each), in name order. */
export function readLoaderCorpus(folders: readonly Exclude<CorpusFolder, 'seed'>[]): LoaderCorpusEntry[] {
  const out: LoaderCorpusEntry[] = [];
  for (const folder of folders) {
    const dir = corpusDir('loader', folder);
    for (const name of listDir(dir)) {
      if (statSync(join(dir, name)).isDirectory()) out.push({ name: `${folder}/${name}`, input: readFolder(join(dir, name)) });
    }
  }
  return out;
}

/** Writes a loader input as a folder of YAML files (with a NOTE.txt saying where it came from); returns the folder. */
export function saveLoaderInput(folder: Exclude<CorpusFolder, 'seed'>, name: string, input: LoaderInput, note: string): string {
  const dir = join(corpusDir('loader', folder), name);
  mkdirSync(dir, { recursive: true });
  for (const f of input.files) writeFileSync(join(dir, f.name), f.text);
  writeFileSync(join(dir, 'NOTE.txt'), `${note}\n`);
  return dir;
}

/** Issue 16: the loader's fuzz corpus (example meshes, fixtures, bench/fuzz-corpus/loader) replayed through loadConfig: never a throw, every problem at file:line. */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { loaderSeeds, readLoaderCorpus } from '../../bench/fuzz-corpus.js';
import { LoaderPath } from '../../bench/fuzz-loader-target.js';

const dir = mkdtempSync(join(tmpdir(), 'crossmesh-fuzz-test-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('loader fuzz corpus', () => {
  it('every stored input loads or is refused with errors at file:line', async () => {
    const path = new LoaderPath(dir);
    const stored = readLoaderCorpus(['found', 'crashes']);
    const crashes: string[] = [];
    for (const c of [...loaderSeeds(), ...stored]) {
      const out = await path.run(c.input);
      if (out.crash) crashes.push(`${c.name}: ${out.crash}`);
    }
    expect(crashes).toEqual([]);
  });

  it('the example meshes, the seeds of every mutation, load', async () => {
    const path = new LoaderPath(dir);
    for (const c of loaderSeeds().filter((s) => s.name.startsWith('examples/'))) {
      const out = await path.run(c.input);
      expect({ name: c.name, accepted: out.accepted, firstError: out.firstError }).toEqual({ name: c.name, accepted: true, firstError: undefined });
    }
  });

  it('an ordinary refusal (an unknown kind) comes back at its file:line and is not counted as a crash', async () => {
    const path = new LoaderPath(dir);
    const out = await path.run({ files: [{ name: 'a.yaml', text: 'apiVersion: crossmesh.io/v1alpha1\nkind: Nope\n' }] });
    expect(out).toMatchObject({ accepted: false, errors: 1 });
    expect(out.crash).toBeUndefined();
  });
});

/**
 * Where the embedded default mesh (`examples/default/`) lives, found from this module both when
 * running from `src/` (tests) and from `dist/src/` (the built CLI).
 */
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

let cached: string | undefined;

/** Absolute path of the embedded default mesh directory. */
export function defaultMeshDir(): string {
  if (cached) return cached;
  let dir = dirname(fileURLToPath(import.meta.url));
  for (;;) {
    const candidate = join(dir, 'examples', 'default');
    if (existsSync(join(dir, 'package.json')) && existsSync(candidate)) return (cached = candidate);
    const parent = dirname(dir);
    if (parent === dir) throw new Error('cannot find the embedded default mesh (examples/default) above ' + fileURLToPath(import.meta.url));
    dir = parent;
  }
}

/** The `--config` paths to use: the given ones, or the embedded default mesh when none are given. */
export function configPathsOrDefault(paths: readonly string[] | undefined): string[] {
  return paths && paths.length ? [...paths] : [defaultMeshDir()];
}

/**
 * Envoy's rule for regular expressions, checked with RE2 itself: Envoy compiles every
 * `safe_regex` as `re2::RE2(regex, re2::RE2::Quiet)` and refuses the whole resource when the
 * pattern is not valid RE2 (look-ahead, backreferences, ...) or when its compiled program is larger
 * than `re2.max_program_size.error_level` (default 100; envoy source/common/common/regex.cc).
 * No JavaScript RE2 package exposes the program size, so crossmesh builds a small addon over the
 * RE2 sources of the pinned `re2` npm package (native/re2_program.cc, binding.gyp) and asks it.
 */
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

/**
 * Envoy's default `re2.max_program_size.error_level`. crossmesh's bootstraps set no runtime
 * override, so this is the limit every Envoy it configures applies.
 */
export const ENVOY_MAX_PROGRAM_SIZE = 100;

/** What RE2 says of a pattern compiled as Envoy compiles it. */
export interface Re2Result {
  readonly ok: boolean;
  /** RE2's error text ('' when ok). */
  readonly error: string;
  /** RE2::ProgramSize(), -1 when the pattern does not compile. */
  readonly programSize: number;
}

interface Re2Addon {
  check(pattern: string): Re2Result;
}

const ADDON = join('build', 'Release', 're2_program.node');

let addon: Re2Addon | undefined;

/** The addon, from the repository (or installed package) root: the nearest directory above with binding.gyp. */
function loadAddon(): Re2Addon {
  if (addon) return addon;
  const here = dirname(fileURLToPath(import.meta.url));
  for (let dir = here; ; dir = dirname(dir)) {
    if (existsSync(join(dir, 'binding.gyp'))) {
      const file = join(dir, ADDON);
      if (!existsSync(file)) throw new Error(`the RE2 addon ${file} is not built: run \`npm ci\` (or \`npx node-gyp rebuild\`) in ${dir}`);
      addon = createRequire(import.meta.url)(file) as Re2Addon;
      return addon;
    }
    if (dirname(dir) === dir) throw new Error(`no binding.gyp above ${here}: cannot find the RE2 addon`);
  }
}

const results = new Map<string, Re2Result>();

/** RE2's verdict and program size for `pattern` (memoized: the guard asks about the same patterns for every group). */
export function re2Check(pattern: string): Re2Result {
  let r = results.get(pattern);
  if (!r) {
    r = loadAddon().check(pattern);
    results.set(pattern, r);
  }
  return r;
}

/** Why Envoy would refuse `pattern` as a safe_regex, or undefined when it accepts it; `limit` is the program-size limit in force. */
export function envoyRegexProblem(pattern: string, limit: number = ENVOY_MAX_PROGRAM_SIZE): string | undefined {
  const r = re2Check(pattern);
  if (!r.ok) return `regex ${JSON.stringify(pattern)} is not valid RE2 (Envoy refuses it): ${r.error}`;
  if (r.programSize > limit) {
    return `regex ${JSON.stringify(pattern)} compiles to an RE2 program of size ${r.programSize}, over Envoy's limit of ${limit} (re2.max_program_size.error_level): simplify it`;
  }
  return undefined;
}

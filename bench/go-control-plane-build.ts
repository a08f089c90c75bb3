/**
 * Builds bench/go-control-plane (the go-control-plane fan-out server) with the machine's Go, from the
 * Go module proxy, into bench/go-control-plane/bin (git-ignored). The build is skipped while the
 * binary's stamp matches the hash of main.go, go.mod, go.sum and `go version`.
 * Run alone: node dist/bench/go-control-plane-build.js
 */
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
// Compiled to dist/bench; the Go sources stay in the source tree's bench/.
const SOURCE = resolve(here, '..', '..', 'bench', 'go-control-plane');
const SOURCES = ['main.go', 'go.mod', 'go.sum'];
/** A cold build downloads go-control-plane and grpc-go and compiles them: minutes on 2 busy cores. */
const BUILD_TIMEOUT_MS = 15 * 60_000;

function goVersion(): string {
  const r = spawnSync('go', ['version'], { encoding: 'utf8', timeout: 30_000 });
  if (r.error || r.status !== 0) {
    const why = r.error ? r.error.message : r.stderr.trim();
    throw new Error(`the fan-out comparison with go-control-plane needs Go on PATH (Go 1.26 or later, which grpc-go 1.85 requires; it builds ${SOURCE} from the Go module proxy): ${why}`);
  }
  return r.stdout.trim();
}

/** Returns the path of the built go-control-plane fan-out server, building it first if its sources changed. */
export function ensureGoControlPlaneServer(log: (line: string) => void = (l) => console.error(l)): string {
  const version = goVersion();
  const hash = createHash('sha256').update(version);
  for (const f of SOURCES) hash.update(`\0${f}\0`).update(readFileSync(join(SOURCE, f)));
  const stamp = hash.digest('hex');
  const bin = join(SOURCE, 'bin', 'gcp-fanout');
  const stampFile = `${bin}.stamp`;
  if (existsSync(bin) && existsSync(stampFile) && readFileSync(stampFile, 'utf8').trim() === stamp) return bin;
  mkdirSync(dirname(bin), { recursive: true });
  log(`    building ${bin} with ${version} (first build downloads modules and may take minutes)`);
  const started = Date.now();
  // -mod=readonly: go.sum pins every module; a build never rewrites go.mod behind the user's back.
  // -buildvcs=false: the sources sit inside crossmesh's git checkout, whose state is no business of
  // the binary (and stamping it fails where git is missing or the checkout belongs to another user).
  const r = spawnSync('go', ['build', '-mod=readonly', '-buildvcs=false', '-trimpath', '-o', bin, '.'], {
    cwd: SOURCE,
    encoding: 'utf8',
    timeout: BUILD_TIMEOUT_MS,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  if (r.error || r.status !== 0) {
    throw new Error(`go build of ${SOURCE} failed${r.error ? `: ${r.error.message}` : ` (exit ${r.status})`}\n${r.stderr}`);
  }
  writeFileSync(stampFile, `${stamp}\n`);
  log(`    built in ${((Date.now() - started) / 1000).toFixed(1)} s`);
  return bin;
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  console.log(ensureGoControlPlaneServer());
}

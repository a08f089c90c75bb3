/**
 * `npm run bench [-- name ...]`: runs every scenario in bench/scenarios (or the named ones), each
 * in a process of its own when there are several, and prints one table with each figure beside
 * its same-run baseline.
 */
import { spawnSync } from 'node:child_process';
import { readdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import type { BenchRow, BenchScenario } from './types.js';

const here = dirname(fileURLToPath(import.meta.url));

async function loadScenarios(): Promise<BenchScenario[]> {
  const dir = join(here, 'scenarios');
  const files = readdirSync(dir).filter((f) => f.endsWith('.js')).sort();
  const scenarios: BenchScenario[] = [];
  for (const f of files) {
    const mod = (await import(pathToFileURL(join(dir, f)).href)) as { scenario?: BenchScenario };
    if (mod.scenario) scenarios.push(mod.scenario);
  }
  return scenarios;
}

function fmt(n: number | undefined): string {
  if (n === undefined) return '';
  if (Math.abs(n) >= 100) return n.toFixed(0);
  if (Math.abs(n) >= 1) return n.toFixed(2);
  return n.toPrecision(3);
}

function printTable(rows: BenchRow[]): void {
  const header = ['scenario', 'metric', 'value', 'baseline', 'ratio', 'unit', 'target', 'ok'];
  const body = rows.map((r) => [
    r.scenario,
    r.metric,
    fmt(r.value),
    fmt(r.baseline),
    r.baseline ? `${(r.value / r.baseline).toFixed(2)}x` : '',
    r.unit,
    r.target ?? '',
    r.pass === undefined ? '' : r.pass ? 'yes' : 'NO',
  ]);
  const widths = header.map((h, i) => Math.max(h.length, ...body.map((b) => b[i]!.length)));
  const line = (cells: string[]) => cells.map((c, i) => c.padEnd(widths[i]!)).join('  ');
  console.log(line(header));
  console.log(widths.map((w) => '-'.repeat(w)).join('  '));
  for (const b of body) console.log(line(b));
}

/** Runs one scenario in this process; a failure is reported and leaves no rows. */
async function runHere(s: BenchScenario): Promise<BenchRow[]> {
  console.error(`running ${s.name}: ${s.description}`);
  const started = Date.now();
  try {
    return await s.run();
  } catch (err) {
    console.error(`scenario ${s.name} failed: ${err instanceof Error ? err.stack : String(err)}`);
    process.exitCode = 1;
    return [];
  } finally {
    console.error(`  done in ${((Date.now() - started) / 1000).toFixed(1)} s`);
  }
}

/**
 * Runs one scenario in a child process of its own: what one scenario leaves behind (a large heap,
 * sockets still closing) must not show in the next one's latencies.
 */
function runIsolated(s: BenchScenario): BenchRow[] {
  const child = spawnSync(process.execPath, [...process.execArgv, fileURLToPath(import.meta.url), ROWS_FLAG, s.name], { stdio: ['ignore', 'pipe', 'inherit'], maxBuffer: 16 * 1024 * 1024 });
  if (child.status !== 0) process.exitCode = 1;
  const lines = child.stdout.toString().split('\n');
  // Whatever else the scenario printed (logs) goes on, to stderr beside its progress lines.
  for (const l of lines) if (l !== '' && !l.startsWith(ROWS_PREFIX)) process.stderr.write(`${l}\n`);
  const line = lines.find((l) => l.startsWith(ROWS_PREFIX));
  if (!line) {
    console.error(`scenario ${s.name} printed no figures (exit ${child.status ?? child.signal})`);
    process.exitCode = 1;
    return [];
  }
  return JSON.parse(line.slice(ROWS_PREFIX.length)) as BenchRow[];
}

/** Internal: a child run prints its rows as one JSON line instead of the table. */
const ROWS_FLAG = '--rows-json';
const ROWS_PREFIX = 'crossmesh-bench-rows ';

async function main(): Promise<void> {
  const args = process.argv.slice(2);
  const child = args[0] === ROWS_FLAG;
  const wanted = child ? args.slice(1) : args;
  const all = await loadScenarios();
  const unknown = wanted.filter((w) => !all.some((s) => s.name === w));
  if (unknown.length) {
    console.error(`unknown scenario(s): ${unknown.join(', ')}; known: ${all.map((s) => s.name).join(', ')}`);
    process.exit(2);
  }
  const chosen = wanted.length ? all.filter((s) => wanted.includes(s.name)) : all;
  if (child) {
    const rows: BenchRow[] = [];
    for (const s of chosen) rows.push(...(await runHere(s)));
    console.log(`${ROWS_PREFIX}${JSON.stringify(rows)}`);
    return;
  }
  const rows: BenchRow[] = [];
  // One scenario runs here; several run one process each.
  if (chosen.length === 1) rows.push(...(await runHere(chosen[0]!)));
  else for (const s of chosen) rows.push(...runIsolated(s));
  printTable(rows);
}

await main();

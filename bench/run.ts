/**
 * `npm run bench [-- name ...]`: runs every scenario in bench/scenarios (or the named ones) and
 * prints one table with each figure beside its same-run baseline.
 */
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

async function main(): Promise<void> {
  const wanted = process.argv.slice(2);
  const all = await loadScenarios();
  const unknown = wanted.filter((w) => !all.some((s) => s.name === w));
  if (unknown.length) {
    console.error(`unknown scenario(s): ${unknown.join(', ')}; known: ${all.map((s) => s.name).join(', ')}`);
    process.exit(2);
  }
  const chosen = wanted.length ? all.filter((s) => wanted.includes(s.name)) : all;
  const rows: BenchRow[] = [];
  for (const s of chosen) {
    console.error(`running ${s.name}: ${s.description}`);
    const started = Date.now();
    try {
      rows.push(...(await s.run()));
    } catch (err) {
      console.error(`scenario ${s.name} failed: ${err instanceof Error ? err.stack : String(err)}`);
      process.exitCode = 1;
    }
    console.error(`  done in ${((Date.now() - started) / 1000).toFixed(1)} s`);
  }
  printTable(rows);
}

await main();

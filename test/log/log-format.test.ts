/**
 * Issue 17, item 3: logs are JSON when not on a terminal, readable lines on one (`--log-format`
 * overrides), with the same redaction either way. Driven through the built CLI and the real
 * logger in child processes (the logger writes to fd 2).
 */
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parseLogFormat, renderLogLine } from '../../src/log-format.js';

const CLI = join(process.cwd(), 'dist/src/cli/main.js');
const LOG = join(process.cwd(), 'dist/src/log.js');

/** Runs `crossmesh serve` until its start-up line, then stops it; returns what it wrote to stderr. */
function serveStderr(args: readonly string[], env: Record<string, string> = {}): Promise<string> {
  const dir = mkdtempSync(join(tmpdir(), 'crossmesh-logfmt-'));
  const proc = spawn(process.execPath, [CLI, 'serve', '--xds-port', '0', '--admin-port', '0', '--ca-dir', join(dir, 'ca'), ...args], {
    env: { ...process.env, CROSSMESH_LOG_LEVEL: 'info', ...env },
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let stderr = '';
  return new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => {
      proc.kill('SIGKILL');
      reject(new Error(`serve did not start:\n${stderr}`));
    }, 30_000);
    proc.stderr!.on('data', (d: Buffer) => {
      stderr += d.toString();
      if (/xDS on \S+/.test(stderr) && stderr.endsWith('\n')) {
        clearTimeout(timer);
        proc.kill('SIGTERM');
      }
    });
    proc.on('exit', () => {
      clearTimeout(timer);
      rmSync(dir, { recursive: true, force: true });
      resolve(stderr);
    });
  });
}

/** Logs one record with secrets through the real logger in a child process, in `format`. */
function logWithSecrets(format: string): string {
  const script = `import(${JSON.stringify(LOG)}).then(({ log, setLogFormat }) => { setLogFormat(${JSON.stringify(format)}); log.warn({ node: 'c1/ns/a b', token: 's3cret-token', headers: { authorization: 'Bearer s3cret-bearer' }, cert: { privateKey: 's3cret-key' }, err: new Error('boom') }, 'refused\\nforged line'); log.flush(); })`;
  const r = spawnSync(process.execPath, ['-e', script], { env: { ...process.env, CROSSMESH_LOG_LEVEL: 'info' }, encoding: 'utf8', timeout: 30_000 });
  return r.stderr;
}

describe('log format', () => {
  it('serve --log-format text writes readable lines: time, level, message, key=value', async () => {
    const out = await serveStderr(['--log-format', 'text']);
    const lines = out.trim().split('\n');
    expect(lines.length).toBeGreaterThan(1);
    expect(out).not.toMatch(/^\{/m);
    expect(lines.some((l) => /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z INFO  mesh loaded .*clusters=\d+/.test(l))).toBe(true);
  }, 40_000);

  it('without a terminal the default is JSON lines (what collectors parse)', async () => {
    const out = await serveStderr([]);
    const lines = out.trim().split('\n').filter((l) => l.startsWith('{'));
    expect(lines.length).toBeGreaterThan(1);
    for (const l of lines) expect(JSON.parse(l)).toHaveProperty('msg');
    expect(lines.some((l) => (JSON.parse(l) as { msg: string }).msg === 'mesh loaded')).toBe(true);
  }, 40_000);

  it('on a terminal (a pty) the default is readable lines', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'crossmesh-logtty-'));
    // `script` runs serve on a pseudo-terminal and copies what it writes to our stdout.
    const cmd = `CROSSMESH_LOG_LEVEL=info NO_COLOR=1 ${process.execPath} ${CLI} serve --xds-port 0 --admin-port 0 --ca-dir ${join(dir, 'ca')}`;
    const proc = spawn('script', ['-qefc', cmd, '/dev/null'], { stdio: ['pipe', 'pipe', 'ignore'], detached: true });
    let out = '';
    try {
      await new Promise<void>((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`no start-up line on the terminal within 30 s:\n${out}`)), 30_000);
        proc.stdout!.on('data', (d: Buffer) => {
          out += d.toString();
          if (/mesh loaded/.test(out)) {
            clearTimeout(timer);
            resolve();
          }
        });
      });
      expect(out).toMatch(/Z INFO  mesh loaded /);
      expect(out).not.toMatch(/"msg":"mesh loaded"/);
    } finally {
      try {
        process.kill(-proc.pid!, 'SIGKILL');
      } catch {
        // already gone
      }
      rmSync(dir, { recursive: true, force: true });
    }
  }, 40_000);

  it.each(['json', 'text'])('%s: tokens, bearer headers and keys are redacted, a message cannot forge a line', { timeout: 40_000 }, (format) => {
    const out = logWithSecrets(format);
    expect(out).toContain('[redacted]');
    expect(out).not.toMatch(/s3cret/);
    expect(out.trim().split('\n')[0]).toContain('forged line');
    if (format === 'text') {
      expect(out).toMatch(/WARN  refused\\u000aforged line node="c1\/ns\/a b"/);
      expect(out).toContain('err=boom');
    } else {
      expect((JSON.parse(out.trim().split('\n')[0]!) as { msg: string }).msg).toBe('refused\nforged line');
    }
  });

  it('an unknown format is refused naming the accepted ones', () => {
    expect(() => parseLogFormat('yaml', '--log-format')).toThrow('--log-format: unknown log format "yaml"; use one of json, text, auto');
    const r = spawnSync(process.execPath, [CLI, 'validate', '--config', 'examples/default', '--log-format', 'yaml'], { encoding: 'utf8', timeout: 30_000 });
    expect(r.stderr).toContain('unknown log format "yaml"');
    expect(r.status).toBe(1);
  }, 40_000);

  it('renders non-JSON input unchanged and nested values as JSON', () => {
    expect(renderLogLine('not json')).toBe('not json\n');
    expect(renderLogLine(JSON.stringify({ level: 50, time: 0, msg: 'x', a: { b: [1] }, s: '' }))).toBe('1970-01-01T00:00:00.000Z ERROR x a={"b":[1]} s=""\n');
  });
});

/**
 * `crossmesh demo` as a user runs it (the built CLI): the live view shows the 75/15/10 split, the
 * failover of cluster1's reviews to cluster3 and their return, then it exits 0 having started no
 * child process and freed every address it bound; Ctrl-C ends it early, cleanly.
 */
import { execFileSync, spawn } from 'node:child_process';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { expect, it } from 'vitest';

const CLI = join(process.cwd(), 'dist/src/cli/main.js');

async function runDemo(args: string[], onLine?: (line: string, pid: number) => void): Promise<{ code: number | null; lines: string[]; children: string }> {
  const child = spawn(process.execPath, [CLI, 'demo', ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  const lines: string[] = [];
  let children = '';
  let buf = '';
  child.stdout.on('data', (d: Buffer) => {
    buf += d.toString();
    let i: number;
    while ((i = buf.indexOf('\n')) >= 0) {
      const line = buf.slice(0, i);
      buf = buf.slice(i + 1);
      lines.push(line);
      if (line.startsWith('[') && children === '') {
        try {
          children = execFileSync('ps', ['-o', 'pid=', '--ppid', String(child.pid)]).toString().trim() || 'none';
        } catch {
          children = 'none'; // ps exits 1 when it lists nothing
        }
      }
      onLine?.(line, child.pid!);
    }
  });
  const code = await new Promise<number | null>((resolve) => {
    const t = setTimeout(() => child.kill('SIGKILL'), 25_000);
    child.on('exit', (c) => {
      clearTimeout(t);
      resolve(c);
    });
  });
  return { code, lines, children };
}

async function canBind(address: string, port: number): Promise<boolean> {
  const s = createServer();
  return new Promise((resolve) => {
    s.once('error', () => resolve(false));
    s.listen(port, address, () => s.close(() => resolve(true)));
  });
}

it('shows the split, the failover and the recovery, then exits 0 leaving nothing behind', { timeout: 30_000 }, async () => {
  const { code, lines, children } = await runDemo(['--duration', '9s']);
  const text = lines.join('\n');
  expect(code, text).toBe(0);
  expect(lines[0]).toMatch(/^crossmesh demo: xDS 127\.0\.0\.1:\d+ .*13 gRPC workloads in 3 clusters/);
  const stop = lines.findIndex((l) => l.includes('>>> stopping reviews-v1-0, reviews-v2-0 in cluster1'));
  const restart = lines.findIndex((l) => l.includes('>>> restarting'));
  expect(stop, text).toBeGreaterThan(1);
  expect(restart, text).toBeGreaterThan(stop);
  // Before: cluster2's v3 (through its gateway) and cluster1's v1/v2 answer.
  expect(lines.slice(2, stop).some((l) => l.includes('reviews-v3-0@cluster2 (v3)') && l.includes('reviews-v1-0@cluster1 (v1)')), text).toBe(true);
  // Failover: cluster3 (same region, next zone) takes cluster1's share.
  expect(lines.slice(stop, restart).some((l) => l.includes('reviews-v1-0@cluster3 (v1)') && !l.includes('@cluster1')), text).toBe(true);
  // Recovery: cluster1 answers again.
  expect(lines.slice(restart + 1).some((l) => l.includes('reviews-v1-0@cluster1 (v1)')), text).toBe(true);
  expect(lines.at(-1)).toMatch(/^done: \d+ RPCs, \d+ errors; answers: reviews-v3-0@cluster2 \(v3\) \d+/);
  expect(children).toBe('none');
  expect(await canBind('127.0.1.12', 9080)).toBe(true);
  expect(await canBind('127.0.2.100', 15443)).toBe(true);
});

it('stops cleanly on Ctrl-C', { timeout: 30_000 }, async () => {
  let sent = false;
  const { code, lines } = await runDemo(['--duration', '60s'], (line, pid) => {
    if (!sent && line.startsWith('[')) {
      sent = true;
      process.kill(pid, 'SIGINT');
    }
  });
  expect(code).toBe(0);
  expect(lines.at(-1)).toMatch(/^interrupted: \d+ RPCs/);
});

/** `crossmesh sim` refuses bad flags with a message naming the flag, before building anything. */
import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { expect, it } from 'vitest';
import { repoRoot } from '../../src/envoy/binary.js';
import { envoySuite } from './support.js';

function sim(args: string[]): Promise<{ code: number; stderr: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, [join(repoRoot(), 'dist', 'src', 'cli', 'main.js'), 'sim', ...args], { timeout: 20_000 }, (err, _out, stderr) => resolve({ code: err ? Number((err as { code?: number }).code ?? 1) : 0, stderr }));
  });
}

envoySuite('crossmesh sim', () => {
  it('names a bad --ads or --duration and exits 1 without starting a pod', async () => {
    const ads = await sim(['--ads', 'grpc', '--duration', '1s']);
    expect(ads.code).toBe(1);
    expect(ads.stderr).toContain('--ads must be sotw or delta, got "grpc"');
    const duration = await sim(['--duration', 'soon']);
    expect(duration.code).toBe(1);
    expect(duration.stderr).toMatch(/--duration: /);
    expect(duration.stderr).not.toContain('starting');
  }, 30_000);
});

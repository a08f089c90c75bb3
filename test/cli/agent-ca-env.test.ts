/**
 * `crossmesh agent --ca-env VAR`: an injected pod's agent reads the mesh root from its
 * environment (the webhook puts it there); a missing or non-PEM variable, or both --ca-file and
 * --ca-env, fail before anything connects, naming the flag.
 */
import { describe, expect, it } from 'vitest';
import { runAgent, type AgentFlags } from '../../src/cli/agent.js';

const base: AgentFlags = { node: 'cluster1/shop/web-0', xdsAddress: '127.0.0.1:1', out: '/nonexistent-crossmesh-agent-out', token: 'a.b.c' };
const quiet = { out: () => undefined, err: () => undefined };

describe('crossmesh agent --ca-env', () => {
  it('refuses an unset variable, a variable without a certificate, and --ca-file together with --ca-env', async () => {
    delete process.env.CROSSMESH_TEST_UNSET_ROOT;
    await expect(runAgent({ ...base, caEnv: 'CROSSMESH_TEST_UNSET_ROOT' }, quiet)).rejects.toThrow('--ca-env CROSSMESH_TEST_UNSET_ROOT: the environment variable is not set');
    process.env.CROSSMESH_TEST_BAD_ROOT = 'not a certificate';
    await expect(runAgent({ ...base, caEnv: 'CROSSMESH_TEST_BAD_ROOT' }, quiet)).rejects.toThrow('--ca-env CROSSMESH_TEST_BAD_ROOT: no PEM certificate in it');
    await expect(runAgent({ ...base, caEnv: 'CROSSMESH_TEST_BAD_ROOT', caFile: '/x.pem' }, quiet)).rejects.toThrow('--ca-file and --ca-env are exclusive: give one');
    delete process.env.CROSSMESH_TEST_BAD_ROOT;
  });
});

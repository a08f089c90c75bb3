/**
 * The token signing keyring beside the CA: private files, reuse across restarts, rotation with the
 * CA root (old tokens verify until they expire, then not), and key changes made by another process.
 */
import { mkdtemp, readdir, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { TokenKeyring } from '../../src/ca/token-key.js';
import { TokenError, issueToken, verifyToken } from '../../src/xds/auth/tokens.js';
import { FakeClock } from '../ca/fake-clock.js';

const HOUR = 3_600_000;
let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'crossmesh-keys-'));
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('TokenKeyring', () => {
  it('keeps keys in a 0700 directory as 0600 files and reuses them after a restart', async () => {
    const a = await TokenKeyring.open({ directory: dir, rootId: 'root-a' });
    const kid = a.signingKey().kid;
    expect((await stat(join(dir, 'token-keys'))).mode & 0o777).toBe(0o700);
    for (const f of await readdir(join(dir, 'token-keys'))) expect((await stat(join(dir, 'token-keys', f))).mode & 0o777).toBe(0o600);
    const b = await TokenKeyring.open({ directory: dir, rootId: 'root-a' });
    expect(b.signingKey().kid).toBe(kid);
    const t = await issueToken(a, { kind: 'node', nodeId: 'c1/ns/n' }, HOUR);
    expect(await verifyToken(b, t.token)).toMatchObject({ sub: 'node:c1/ns/n' });
  });

  it('rotates when the CA root changes; the old key verifies until its tokens have expired', async () => {
    const clock = new FakeClock(Date.now());
    const ring = await TokenKeyring.open({ directory: dir, rootId: 'root-a', maxTokenTtlMs: 2 * HOUR, clock });
    const old = await issueToken(ring, { kind: 'node', nodeId: 'c1/ns/n' }, 2 * HOUR, clock.now());
    const oldKid = ring.signingKey().kid;
    expect(await ring.syncWithRoot('root-a')).toBe(false);
    expect(await ring.syncWithRoot('root-b')).toBe(true);
    expect(ring.signingKey().kid).not.toBe(oldKid);
    expect(await verifyToken(ring, old.token, clock.now())).toMatchObject({ kid: oldKid });

    // Restarting keeps the previous key (and the rotation) too.
    const reopened = await TokenKeyring.open({ directory: dir, rootId: 'root-b', clock });
    expect(reopened.signingKey().kid).toBe(ring.signingKey().kid);
    expect(await verifyToken(reopened, old.token, clock.now())).toMatchObject({ kid: oldKid });

    // Past the maximum token lifetime the old key is retired: even an unexpired-looking token fails.
    clock.advance(2 * HOUR + 1000);
    const r = await verifyToken(ring, old.token, clock.now() - 3 * HOUR);
    expect(r).toBeInstanceOf(TokenError);
    expect((r as TokenError).message).toMatch(/unknown or retired/);
  });

  it('a verifier picks up a key another process rotated to', async () => {
    const server = await TokenKeyring.open({ directory: dir, rootId: 'root-a' });
    const cli = await TokenKeyring.open({ directory: dir, rootId: 'root-a' });
    await cli.rotate();
    const t = await issueToken(cli, { kind: 'serviceAccount', cluster: 'c1', namespace: 'ns', serviceAccount: 'sa' }, HOUR);
    expect(await verifyToken(server, t.token)).toMatchObject({ subject: { kind: 'serviceAccount', cluster: 'c1', namespace: 'ns', serviceAccount: 'sa' } });
  });

  it('refuses lifetimes above the maximum and malformed subjects', async () => {
    const ring = await TokenKeyring.open({ directory: dir, rootId: 'r', maxTokenTtlMs: HOUR });
    await expect(issueToken(ring, { kind: 'node', nodeId: 'c1/ns/n' }, 2 * HOUR)).rejects.toThrow(/exceeds the maximum/);
    await expect(issueToken(ring, { kind: 'node', nodeId: 'just-a-name' }, HOUR)).rejects.toThrow(/must be <cluster>\/<namespace>\/<name>/);
  });

  it('refuses tokens with the wrong audience or algorithm', async () => {
    const ring = await TokenKeyring.open({ directory: dir, rootId: 'r' });
    const { SignJWT } = await import('jose');
    const { kid, privateKey } = ring.signingKey();
    const wrongAud = await new SignJWT({}).setProtectedHeader({ alg: 'ES256', kid }).setIssuer('crossmesh').setAudience('someone-else').setSubject('node:c1/ns/n').setIssuedAt().setExpirationTime('1h').sign(privateKey);
    expect(await verifyToken(ring, wrongAud)).toMatchObject({ reason: 'invalid', message: expect.stringMatching(/aud/) });
    const noAlg = `${Buffer.from(JSON.stringify({ alg: 'none', kid })).toString('base64url')}.${wrongAud.split('.')[1]}.`;
    expect(await verifyToken(ring, noAlg)).toMatchObject({ reason: 'invalid' });
  });
});

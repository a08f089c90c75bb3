/**
 * The key crossmesh signs xDS bearer tokens with, kept beside the CA:
 *
 *   <ca dir>/token-keys/state.json     which key signs now, which older keys still verify, and until when
 *   <ca dir>/token-keys/<kid>.pem 0600 ECDSA P-256 private keys (PKCS#8)
 *
 * The signing key rotates with the CA (a new active root means a new signing key) or on demand.
 * A replaced key keeps verifying until every token it could have signed has expired (tokens are
 * capped at `maxTokenTtlMs`), so a rotation never cuts off a proxy whose token is still valid.
 * Several processes share the directory (`crossmesh serve` verifies, `crossmesh token` signs):
 * a verifier that meets an unknown key id re-reads the directory.
 */
import { createHash, createPrivateKey, createPublicKey, generateKeyPairSync, type KeyObject } from 'node:crypto';
import { readFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { log } from '../log.js';
import { ensurePrivateDir, writeFileAtomic } from './atomic-file.js';
import { systemClock, type Clock } from './clock.js';

const DAY = 24 * 60 * 60 * 1000;
/** Longest token lifetime accepted by default (also how long a replaced key keeps verifying). */
export const DEFAULT_MAX_TOKEN_TTL_MS = 90 * DAY;
const KID = /^[0-9a-f]{16}$/;

interface KeyRecord {
  readonly kid: string;
  readonly createdAt: number;
  /** Undefined for the current key; for a replaced one, when its last token has expired. */
  readonly retireAt?: number;
}

interface KeyState {
  readonly version: 1;
  readonly current: string;
  /** Root CA id the current key was created under (rotation follows the root). */
  readonly rootId: string;
  readonly maxTokenTtlMs: number;
  readonly keys: readonly KeyRecord[];
}

/** A signing key. */
export interface TokenSigningKey {
  readonly kid: string;
  readonly privateKey: KeyObject;
}

/** What `/debug/certs` shows of the token keys: never key material. */
export interface TokenKeyInfo {
  readonly kid: string;
  readonly status: 'current' | 'previous';
  readonly createdAt: Date;
  readonly retireAt: Date | null;
}

export interface TokenKeyringOptions {
  /** The CA directory; keys live in its `token-keys/` subdirectory. */
  readonly directory: string;
  /** Active root id of the CA: a different one than recorded rotates the signing key. */
  readonly rootId: string;
  /** Longest token lifetime; used when the keyring is first created. Default 90 days. */
  readonly maxTokenTtlMs?: number;
  readonly clock?: Clock;
}

function kidOf(key: KeyObject): string {
  const spki = createPublicKey(key).export({ type: 'spki', format: 'der' });
  return createHash('sha256').update(spki).digest('hex').slice(0, 16);
}

/** The token signing keys of one CA directory. Create with `TokenKeyring.open`. */
export class TokenKeyring {
  private state!: KeyState;
  private readonly privateKeys = new Map<string, KeyObject>();
  private readonly publicKeys = new Map<string, KeyObject>();
  private lastReload = 0;
  private writes: Promise<void> = Promise.resolve();

  private constructor(
    private readonly dir: string,
    private readonly clock: Clock,
  ) {}

  /** Loads the keyring (creating it on first use) and rotates if the CA root changed. */
  static async open(o: TokenKeyringOptions): Promise<TokenKeyring> {
    const dir = join(o.directory, 'token-keys');
    const ring = new TokenKeyring(dir, o.clock ?? systemClock());
    await ensurePrivateDir(dir);
    const state = await ring.readState();
    if (!state) {
      const maxTtl = o.maxTokenTtlMs ?? DEFAULT_MAX_TOKEN_TTL_MS;
      if (!Number.isFinite(maxTtl) || maxTtl < 1000) throw new Error(`maxTokenTtlMs must be at least 1000 ms, got ${String(o.maxTokenTtlMs)}`);
      const key = await ring.createKey();
      ring.state = { version: 1, current: key.kid, rootId: o.rootId, maxTokenTtlMs: maxTtl, keys: [{ kid: key.kid, createdAt: ring.clock.now() }] };
      await ring.persist();
      log.info({ kid: key.kid, directory: dir }, 'created xDS token signing key');
    } else {
      ring.state = state;
      await ring.loadKeys();
      await ring.syncWithRoot(o.rootId);
    }
    return ring;
  }

  /** Longest lifetime a token may have. */
  get maxTokenTtlMs(): number {
    return this.state.maxTokenTtlMs;
  }

  /** The key new tokens are signed with. */
  signingKey(): TokenSigningKey {
    const kid = this.state.current;
    const privateKey = this.privateKeys.get(kid);
    if (!privateKey) throw new Error(`token signing key ${kid} is not loaded`);
    return { kid, privateKey };
  }

  /**
   * The public key of `kid` if it may still verify tokens (current, or replaced and not yet
   * retired). An unknown kid triggers one re-read of the directory (at most once a second):
   * another process may have rotated.
   */
  async verificationKey(kid: string): Promise<KeyObject | undefined> {
    const found = this.usableKey(kid);
    if (found || !KID.test(kid)) return found;
    const now = this.clock.now();
    if (now - this.lastReload < 1000) return undefined;
    this.lastReload = now;
    try {
      await this.reload();
    } catch (e) {
      log.warn({ err: (e as Error).message }, 'cannot re-read token signing keys');
    }
    return this.usableKey(kid);
  }

  /** Rotates when the CA's active root is not the one the current key was made under. */
  async syncWithRoot(rootId: string): Promise<boolean> {
    if (this.state.rootId === rootId) return false;
    await this.rotate(rootId, 'the CA root changed');
    return true;
  }

  /** Makes a new signing key current; the old one verifies until its tokens have expired. */
  async rotate(rootId: string = this.state.rootId, reason = 'requested'): Promise<void> {
    const now = this.clock.now();
    const key = await this.createKey();
    const keys: KeyRecord[] = [];
    for (const k of this.state.keys) {
      if (k.kid === this.state.current) keys.push({ kid: k.kid, createdAt: k.createdAt, retireAt: now + this.state.maxTokenTtlMs });
      else if (k.retireAt !== undefined && k.retireAt > now) keys.push(k);
    }
    keys.push({ kid: key.kid, createdAt: now });
    const previous = this.state.current;
    this.state = { ...this.state, current: key.kid, rootId, keys };
    await this.persist();
    await this.prune();
    log.info({ kid: key.kid, previous, reason }, 'rotated xDS token signing key; the previous key verifies until its tokens expire');
  }

  /** Keys and their status (no key material). */
  list(): TokenKeyInfo[] {
    return this.state.keys.map((k) => ({
      kid: k.kid,
      status: k.kid === this.state.current ? ('current' as const) : ('previous' as const),
      createdAt: new Date(k.createdAt),
      retireAt: k.retireAt === undefined ? null : new Date(k.retireAt),
    }));
  }

  /** Re-reads state.json and any key files not loaded yet. */
  async reload(): Promise<void> {
    const state = await this.readState();
    if (!state) throw new Error(`${join(this.dir, 'state.json')}: missing`);
    this.state = state;
    await this.loadKeys();
  }

  private usableKey(kid: string): KeyObject | undefined {
    const rec = this.state.keys.find((k) => k.kid === kid);
    if (!rec) return undefined;
    if (rec.retireAt !== undefined && rec.retireAt <= this.clock.now()) return undefined;
    return this.publicKeys.get(kid);
  }

  private async createKey(): Promise<TokenSigningKey> {
    const { privateKey } = generateKeyPairSync('ec', { namedCurve: 'prime256v1' });
    const kid = kidOf(privateKey);
    await writeFileAtomic(join(this.dir, `${kid}.pem`), privateKey.export({ type: 'pkcs8', format: 'pem' }) as string, 0o600);
    this.privateKeys.set(kid, privateKey);
    this.publicKeys.set(kid, createPublicKey(privateKey));
    return { kid, privateKey };
  }

  private async loadKeys(): Promise<void> {
    const now = this.clock.now();
    for (const k of this.state.keys) {
      if (this.privateKeys.has(k.kid)) continue;
      if (k.retireAt !== undefined && k.retireAt <= now) continue;
      const path = join(this.dir, `${k.kid}.pem`);
      let pem: string;
      try {
        pem = await readFile(path, 'utf8');
      } catch (e) {
        if (k.kid === this.state.current) throw new Error(`${path}: cannot read the current token signing key (${(e as Error).message})`);
        log.warn({ kid: k.kid, path }, 'previous token signing key file missing; tokens it signed are no longer accepted');
        continue;
      }
      let key: KeyObject;
      try {
        key = createPrivateKey(pem);
      } catch (e) {
        throw new Error(`${path}: not a readable PEM private key (${(e as Error).message})`);
      }
      if (kidOf(key) !== k.kid) throw new Error(`${path}: key does not match its key id ${k.kid}`);
      this.privateKeys.set(k.kid, key);
      this.publicKeys.set(k.kid, createPublicKey(key));
    }
  }

  private async prune(): Promise<void> {
    const live = new Set(this.state.keys.map((k) => k.kid));
    for (const kid of [...this.privateKeys.keys()]) {
      if (live.has(kid)) continue;
      this.privateKeys.delete(kid);
      this.publicKeys.delete(kid);
      await rm(join(this.dir, `${kid}.pem`), { force: true });
    }
  }

  private async readState(): Promise<KeyState | undefined> {
    const path = join(this.dir, 'state.json');
    let text: string;
    try {
      text = await readFile(path, 'utf8');
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      throw new Error(`${path}: cannot read (${(e as Error).message})`);
    }
    let s: Partial<KeyState>;
    try {
      s = JSON.parse(text) as Partial<KeyState>;
    } catch (e) {
      throw new Error(`${path}: not valid JSON (${(e as Error).message})`);
    }
    const ok =
      s.version === 1 &&
      typeof s.current === 'string' &&
      KID.test(s.current) &&
      typeof s.rootId === 'string' &&
      typeof s.maxTokenTtlMs === 'number' &&
      Array.isArray(s.keys) &&
      s.keys.every((k) => typeof k?.kid === 'string' && KID.test(k.kid) && typeof k.createdAt === 'number' && (k.retireAt === undefined || typeof k.retireAt === 'number')) &&
      s.keys.some((k) => k.kid === s.current);
    if (!ok) throw new Error(`${path}: malformed token key state (expected version 1 with current, rootId, maxTokenTtlMs and keys)`);
    return s as KeyState;
  }

  private persist(): Promise<void> {
    const text = `${JSON.stringify(this.state, null, 2)}\n`;
    const write = this.writes.catch(() => undefined).then(() => writeFileAtomic(join(this.dir, 'state.json'), text, 0o600));
    this.writes = write;
    return write;
  }
}

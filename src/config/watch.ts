/**
 * Hot reload: watches the config files and directories, reloads after changes settle, hands a
 * valid new configuration to the caller, and keeps the last good one when a change is invalid
 * (reported in the log, in metrics and in the status object `/debug/config` shows). A file is read
 * only once it has not been written for a while, a load during which files changed is done again,
 * and a periodic comparison with the disk catches missed events: what is applied converges to
 * what is on disk, never to a half-written file.
 */
import { watch, type FSWatcher } from 'node:fs';
import { stat } from 'node:fs/promises';
import { basename, dirname, resolve } from 'node:path';
import { Counter, Gauge } from 'prom-client';
import { log } from '../log.js';
import { formatDiagnostic } from './diagnostics.js';
import { ConfigLoadWorker } from './load-worker.js';
import { expandConfigPaths, type InlineDocument } from './loader.js';
import type { LoadResult, MeshConfig } from './mesh-config.js';

const reloads = new Counter({
  name: 'crossmesh_config_reloads_total',
  help: 'Configuration reloads after file changes, by result (applied, unchanged, invalid).',
  labelNames: ['result'] as const,
});
const configValid = new Gauge({
  name: 'crossmesh_config_valid',
  help: '1 when the configuration files on disk are valid, 0 when the last load found errors (the last good config keeps serving).',
});
const lastGoodTime = new Gauge({
  name: 'crossmesh_config_last_good_timestamp_seconds',
  help: 'When the configuration in force was loaded.',
});

/** What `/debug/config` shows. */
export interface ConfigStatus {
  readonly paths: readonly string[];
  /** The configuration in force, if any load ever succeeded. */
  readonly lastGood: {
    readonly version: string;
    readonly loadedAt: string;
    readonly files: readonly string[];
    readonly warnings: readonly string[];
    /** Policies left out of it because Envoy would refuse them, as `file:line: ...`. */
    readonly refused: readonly string[];
  } | null;
  /** The most recent load attempt. */
  readonly lastAttempt: { readonly at: string; readonly ok: boolean; readonly errors: readonly string[]; readonly warnings: readonly string[] } | null;
  readonly reloads: { readonly applied: number; readonly unchanged: number; readonly invalid: number };
}

export interface WatchOptions {
  /** Quiet period after the last file event before reloading (default 150 ms). */
  readonly debounceMs?: number;
  /**
   * A file written less than this long ago is not read yet: reading waits until every file's size
   * and mtime have been still this long, so a file being copied in is not loaded half-written
   * (default: the debounce period, so a file that was quiet through the debounce is read at once;
   * files written atomically, by rename, are complete whatever this is).
   */
  readonly settleMs?: number;
  /**
   * How often the files are compared with what was last loaded (size, mtime, inode), reloading on
   * any difference: file events can be missed (network and container file systems, writes through
   * another path), and this makes the watcher converge to what is on disk anyway (default 5 s; 0 = never).
   */
  readonly resyncMs?: number;
  /** A load taking longer is abandoned and reported as invalid (default 60 s). */
  readonly loadTimeoutMs?: number;
  /** Called with the result of a load that found errors. */
  readonly onInvalid?: (result: LoadResult) => void;
  /**
   * Documents that are not files (policy objects from a Kubernetes API server), loaded with the
   * files on every reload; the source calls `reload()` when they change.
   */
  readonly documents?: DocumentSource;
}

/** Supplies inline documents to every load, and may load more than once to leave out documents that fail. */
export interface DocumentSource {
  /** Loads the files plus this source's documents through `load`; resolves with the load to apply. */
  resolve(load: (documents: readonly InlineDocument[]) => Promise<LoadResult>): Promise<LoadResult>;
}

export interface ConfigWatcher {
  /** The configuration in force (the last valid one), if any. */
  readonly config: MeshConfig | undefined;
  /** Status for `/debug/config`. */
  status(): ConfigStatus;
  /** Reloads now (also what file events trigger); resolves when done. */
  reload(): Promise<LoadResult>;
  /** Stops watching. */
  close(): void;
}

const YAML_FILE = /\.ya?ml$/i;
/** Longest wait for files to settle; a file written to without pause for longer is read anyway (and re-read once it changes again). */
const MAX_SETTLE_MS = 10_000;

/** What the files of a load look like on disk: equal keys, same files and contents as far as stat can tell. */
interface Fingerprint {
  readonly key: string;
  /** mtime (ms since epoch) of the most recently written file, 0 if none. */
  readonly newestMtimeMs: number;
}

/** Stats every file `paths` stand for (the same expansion the loader uses). */
async function fingerprint(paths: readonly string[]): Promise<Fingerprint> {
  const { files, errors } = await expandConfigPaths(paths);
  const parts: string[] = errors.map((e) => `!${e.file}`);
  let newestMtimeMs = 0;
  for (const f of files) {
    try {
      const st = await stat(f, { bigint: true });
      parts.push(`${f}\u0000${st.size}\u0000${st.mtimeNs}\u0000${st.ino}`);
      newestMtimeMs = Math.max(newestMtimeMs, Number(st.mtimeNs / 1_000_000n));
    } catch {
      parts.push(`!${f}`);
    }
  }
  return { key: parts.join('\u0001'), newestMtimeMs };
}

/**
 * Loads `paths` and keeps watching them. `onChange` runs for each later valid load whose content
 * differs from the configuration in force; the initial configuration is `watcher.config`.
 */
export async function watchConfig(
  paths: readonly string[],
  onChange: (config: MeshConfig, result: LoadResult) => void,
  options: WatchOptions = {},
): Promise<ConfigWatcher> {
  const debounceMs = options.debounceMs ?? 150;
  const settleMs = options.settleMs ?? debounceMs;
  const resyncMs = options.resyncMs ?? 5000;
  // Parsing and validation run on a worker thread: the event loop keeps serving xDS during any reload.
  const loader = new ConfigLoadWorker(options.loadTimeoutMs !== undefined ? { timeoutMs: options.loadTimeoutMs } : {});
  let current: MeshConfig | undefined;
  let lastGood: ConfigStatus['lastGood'] = null;
  let lastAttempt: ConfigStatus['lastAttempt'] = null;
  const counts = { applied: 0, unchanged: 0, invalid: 0 };
  let closed = false;
  let timer: NodeJS.Timeout | undefined;
  let running: Promise<LoadResult> | undefined;
  let again = false;
  /** Fingerprint of the files as the last finished load read them. */
  let loadedKey: string | undefined;

  /** Waits until no file was written in the last settleMs, then returns their fingerprint. */
  const settle = async (): Promise<Fingerprint> => {
    const deadline = Date.now() + MAX_SETTLE_MS;
    for (;;) {
      const f = await fingerprint(paths);
      const quietFor = Date.now() - f.newestMtimeMs;
      if (quietFor >= settleMs || closed) return f;
      if (Date.now() >= deadline) {
        log.warn({ paths, settleMs }, 'configuration files keep changing; reading them as they are');
        return f;
      }
      await new Promise((r) => setTimeout(r, Math.max(10, settleMs - quietFor)));
    }
  };

  /**
   * One load of files that are settled and did not change while being read: a load during which
   * they changed may have read a mix, so it is discarded and done again.
   */
  const loadSettled = async (): Promise<LoadResult> => {
    for (;;) {
      const before = await settle();
      const result = options.documents ? await options.documents.resolve((documents) => loader.load(paths, documents)) : await loader.load(paths);
      const after = await fingerprint(paths);
      if (after.key === before.key || closed) {
        loadedKey = after.key;
        return result;
      }
      log.info({ paths }, 'configuration files changed while being read; reading them again');
    }
  };

  const watchers = new Map<string, FSWatcher>();
  /** Directory → names that matter in it ('*' = every YAML file). */
  const interest = new Map<string, Set<string>>();
  for (const p of paths) {
    const abs = resolve(p);
    let isDir = false;
    try {
      isDir = (await stat(abs)).isDirectory();
    } catch {
      // Missing now; watch its parent so its creation is noticed.
    }
    const dir = isDir ? abs : dirname(abs);
    const set = interest.get(dir) ?? new Set<string>();
    set.add(isDir ? '*' : basename(abs));
    interest.set(dir, set);
  }

  const schedule = () => {
    if (closed) return;
    clearTimeout(timer);
    timer = setTimeout(() => void reload(), debounceMs);
  };

  const startWatching = (dir: string) => {
    if (closed || watchers.has(dir)) return;
    const names = interest.get(dir)!;
    try {
      // Watching the directory (not the file) survives editors that save by writing a new file and renaming it over the old one.
      const w = watch(dir, { persistent: true }, (_event, filename) => {
        const name = filename?.toString();
        if (!name || names.has(name) || (names.has('*') && YAML_FILE.test(name))) schedule();
      });
      w.on('error', (err) => {
        log.warn({ err, dir }, 'config watch failed; retrying');
        w.close();
        watchers.delete(dir);
        setTimeout(() => {
          startWatching(dir);
          schedule();
        }, 1000).unref();
      });
      watchers.set(dir, w);
    } catch (err) {
      log.warn({ err, dir }, 'cannot watch config directory; retrying');
      setTimeout(() => startWatching(dir), 1000).unref();
    }
  };

  const apply = (result: LoadResult, initial: boolean) => {
    const now = new Date().toISOString();
    const warnings = result.warnings.map(formatDiagnostic);
    const errors = result.errors.map(formatDiagnostic);
    lastAttempt = { at: now, ok: errors.length === 0, errors, warnings };
    if (!result.config) {
      counts.invalid++;
      reloads.inc({ result: 'invalid' });
      configValid.set(0);
      log.error({ errors, keptVersion: current?.version ?? null }, `configuration invalid (${errors.length} error(s)); ${current ? 'keeping the last good configuration' : 'no configuration in force'}`);
      options.onInvalid?.(result);
      return;
    }
    configValid.set(1);
    if (current && current.version === result.config.version) {
      counts.unchanged++;
      reloads.inc({ result: 'unchanged' });
      return;
    }
    current = result.config;
    const refused = current.refused.map(formatDiagnostic);
    lastGood = { version: current.version, loadedAt: now, files: current.files, warnings, refused };
    lastGoodTime.set(Date.now() / 1000);
    if (warnings.length) log.warn({ warnings }, `configuration has ${warnings.length} warning(s)`);
    if (refused.length) log.error({ refused }, `${refused.length} policy problem(s) Envoy would refuse: those policies are left out, the rest serves`);
    if (initial) return;
    counts.applied++;
    reloads.inc({ result: 'applied' });
    log.info({ version: current.version, files: current.files.length }, 'configuration reloaded');
    try {
      onChange(current, result);
    } catch (err) {
      log.error({ err }, 'applying the reloaded configuration failed');
    }
  };

  const reload = async (): Promise<LoadResult> => {
    if (running) {
      again = true;
      return running;
    }
    running = (async () => {
      let result: LoadResult;
      do {
        again = false;
        result = await loadSettled();
        if (!closed) apply(result, false);
      } while (again && !closed);
      return result;
    })();
    try {
      return await running;
    } finally {
      running = undefined;
    }
  };

  apply(await loadSettled(), true);
  for (const dir of interest.keys()) startWatching(dir);
  const resync =
    resyncMs > 0
      ? setInterval(() => {
          if (running || closed) return;
          fingerprint(paths).then(
            (f) => {
              if (f.key !== loadedKey && !running && !closed) {
                log.info({ paths }, 'configuration files differ from what was loaded (a file event was missed); reloading');
                void reload();
              }
            },
            (err: unknown) => log.warn({ err }, 'checking the configuration files failed'),
          );
        }, resyncMs)
      : undefined;
  resync?.unref();

  return {
    get config() {
      return current;
    },
    status: () => ({ paths: [...paths], lastGood, lastAttempt, reloads: { ...counts } }),
    reload,
    close: () => {
      closed = true;
      clearTimeout(timer);
      clearInterval(resync);
      loader.close();
      for (const w of watchers.values()) w.close();
      watchers.clear();
    },
  };
}

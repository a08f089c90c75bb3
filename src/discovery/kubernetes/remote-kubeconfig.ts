/**
 * Kubeconfigs that arrive in remote-cluster Secrets (remote-secrets.ts), checked before use.
 *
 * Whoever can write a Secret in crossmesh's namespace is not necessarily trusted to run commands
 * or read files as crossmesh; yet a kubeconfig can do both: an exec plugin (`users[].user.exec`)
 * runs a command, an auth-provider (gcp, azure) runs its `cmd-path` or reads a token file, and
 * `tokenFile`, `client-certificate`, `client-key` and `certificate-authority` read local files
 * (whose contents then go to a server the Secret's author chose). So each of these is refused
 * unless the operator allow-listed it (`serve --remote-secret-allow-exec/-path/-auth-provider`).
 *
 * The checks run on the parsed YAML before the client library sees it: the library reads a
 * `token-file` while parsing, so checking its result would already be too late.
 */
import { realpathSync } from 'node:fs';
import { isAbsolute, resolve, sep } from 'node:path';
import * as k8s from '@kubernetes/client-node';
import { parse } from 'yaml';
import { checkKubeConfig, type LoadedKubeConfig } from './kubeconfig.js';

/** What a Secret's kubeconfig may use beyond inline credentials (all empty by default). */
export interface RemoteKubeconfigAllowList {
  /** Exec-plugin commands allowed, exactly as written in `exec.command` (e.g. `aws`, `/usr/bin/gke-gcloud-auth-plugin`). */
  readonly execCommands?: readonly string[];
  /** Directories whose files `tokenFile`, `client-certificate`, `client-key` and `certificate-authority` may name. */
  readonly pathPrefixes?: readonly string[];
  /** Auth-provider names allowed (`auth-provider.name`, e.g. `oidc`). */
  readonly authProviders?: readonly string[];
}

type Obj = Record<string, unknown>;

function isObj(v: unknown): v is Obj {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** `dir` with a trailing separator, so `/a/b` does not admit `/a/bc/...`. */
function asPrefix(dir: string): string {
  return dir.endsWith(sep) ? dir : dir + sep;
}

/** `path` with symlinks resolved where it exists (a missing file cannot leak anything; judged as written). */
function realOrSelf(path: string): string {
  try {
    return realpathSync(path);
  } catch {
    return path;
  }
}

/** True when `file` (absolute) lies inside one of `dirs`, both as written and with symlinks resolved. */
function underAllowedDir(file: string, dirs: readonly string[]): boolean {
  const written = resolve(file);
  const real = realOrSelf(written);
  return dirs.some((d) => written.startsWith(asPrefix(resolve(d))) && real.startsWith(asPrefix(realOrSelf(resolve(d)))));
}

/**
 * The reasons `doc` (a parsed kubeconfig) may not be used under `allow`; empty when it may.
 * Each reason names the entry and field, e.g. `users[0] (admin): exec plugin "aws" is not allowed`.
 */
export function remoteKubeconfigRefusals(doc: unknown, allow: RemoteKubeconfigAllowList): string[] {
  const reasons: string[] = [];
  if (!isObj(doc)) return ['not a kubeconfig (expected a YAML mapping with clusters, users and contexts)'];
  const paths = allow.pathPrefixes ?? [];
  const checkPath = (where: string, field: string, value: unknown): void => {
    if (value === undefined || value === null || value === '') return;
    if (typeof value !== 'string') {
      reasons.push(`${where}: ${field} must be a string`);
      return;
    }
    if (!isAbsolute(value)) {
      reasons.push(`${where}: ${field} "${value}" is a relative path (a Secret has no directory to resolve it against; use the inline *-data field)`);
      return;
    }
    if (!underAllowedDir(value, paths)) {
      reasons.push(
        `${where}: ${field} "${value}" reads a local file, which is not allowed${paths.length ? ` outside ${paths.join(', ')}` : ''} (use the inline *-data field, or allow the directory with --remote-secret-allow-path)`,
      );
    }
  };
  const clusters = Array.isArray(doc.clusters) ? doc.clusters : [];
  clusters.forEach((entry: unknown, i) => {
    if (!isObj(entry)) return;
    const where = `clusters[${i}]${typeof entry.name === 'string' ? ` (${entry.name})` : ''}`;
    const c = isObj(entry.cluster) ? entry.cluster : {};
    checkPath(where, 'certificate-authority', c['certificate-authority']);
  });
  const users = Array.isArray(doc.users) ? doc.users : [];
  users.forEach((entry: unknown, i) => {
    if (!isObj(entry)) return;
    const where = `users[${i}]${typeof entry.name === 'string' ? ` (${entry.name})` : ''}`;
    const u = isObj(entry.user) ? entry.user : {};
    checkPath(where, 'client-certificate', u['client-certificate']);
    checkPath(where, 'client-key', u['client-key']);
    checkPath(where, 'tokenFile', u.tokenFile);
    checkPath(where, 'token-file', u['token-file']);
    if (u.exec !== undefined && u.exec !== null) {
      const command = isObj(u.exec) ? u.exec.command : undefined;
      if (typeof command !== 'string' || command === '') {
        reasons.push(`${where}: exec plugin without a command`);
      } else if (!(allow.execCommands ?? []).includes(command)) {
        reasons.push(
          `${where}: exec plugin "${command}" is not allowed (it would run as crossmesh; allow it with --remote-secret-allow-exec ${command}, or put a token or client certificate in the kubeconfig)`,
        );
      }
    }
    if (u['auth-provider'] !== undefined && u['auth-provider'] !== null) {
      const name = isObj(u['auth-provider']) ? u['auth-provider'].name : undefined;
      if (typeof name !== 'string' || !(allow.authProviders ?? []).includes(name)) {
        reasons.push(
          `${where}: auth-provider "${String(name ?? '')}" is not allowed (providers run commands or read files as crossmesh; allow it with --remote-secret-allow-auth-provider ${String(name ?? '<name>')})`,
        );
      }
    }
  });
  return reasons;
}

/**
 * Parses and checks the kubeconfig text of a Secret key and selects its current-context. Throws
 * an Error starting with `where` (e.g. `Secret crossmesh-system/remote-cluster2, key cluster2`)
 * that lists every refused field, or says what is missing.
 */
export function loadRemoteKubeConfig(text: string, where: string, allow: RemoteKubeconfigAllowList): LoadedKubeConfig {
  let doc: unknown;
  try {
    doc = parse(text);
  } catch (err) {
    throw new Error(`${where}: not valid YAML: ${(err as Error).message.split('\n')[0]}`);
  }
  const refusals = remoteKubeconfigRefusals(doc, allow);
  if (refusals.length > 0) throw new Error(`${where}: kubeconfig refused: ${refusals.join('; ')}`);
  const kc = new k8s.KubeConfig();
  try {
    kc.loadFromString(text);
  } catch (err) {
    throw new Error(`${where}: kubeconfig cannot be loaded: ${(err as Error).message}`);
  }
  return checkKubeConfig(kc, undefined, where, 'from the Secret', { context: 'its current-context' });
}

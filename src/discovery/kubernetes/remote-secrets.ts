/**
 * Remote clusters registered by Secrets (Istio's remote-secret pattern): Secrets in crossmesh's
 * namespace of the management cluster labelled `crossmesh.io/remote-cluster: "true"`, each data
 * key a cluster name and its value that cluster's kubeconfig. Listed and watched with discovery's
 * Reflector; every change (a Secret added, edited, deleted) yields the new set of registrations,
 * which the DiscoveryManager turns into started, restarted or stopped cluster discovery.
 *
 * A key whose kubeconfig is unusable or refused (remote-kubeconfig.ts) is reported, naming the
 * Secret and key, in the log and in status(); the other keys and Secrets keep working.
 */
import { createHash } from 'node:crypto';
import * as k8s from '@kubernetes/client-node';
import { log } from '../../log.js';
import { withSignal, type ListRequest, type ResourceApi } from './api-resources.js';
import type { BackoffOptions } from './backoff.js';
import type { LoadedKubeConfig } from './kubeconfig.js';
import { Reflector, type ReflectorHandlers } from './reflector.js';
import { loadRemoteKubeConfig, type RemoteKubeconfigAllowList } from './remote-kubeconfig.js';

/** The label that marks a Secret as holding remote-cluster kubeconfigs (value `"true"`). */
export const REMOTE_SECRET_LABEL = 'crossmesh.io/remote-cluster';

/** A cluster name as a Cluster document takes it (DNS-1123). */
const CLUSTER_NAME = /^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$/;

/** One cluster registered by one Secret key, with its checked kubeconfig. */
export interface RemoteClusterRegistration {
  readonly cluster: string;
  /** `<namespace>/<name>` of the Secret. */
  readonly secret: string;
  readonly key: string;
  readonly kube: LoadedKubeConfig;
  /** SHA-256 of the kubeconfig text: a changed Secret value restarts the cluster's discovery. */
  readonly fingerprint: string;
}

/** What status() says about one Secret key. */
export interface RemoteSecretKeyStatus {
  readonly secret: string;
  readonly key: string;
  readonly cluster: string;
  /** `registered`: in use; `refused`: its kubeconfig is unusable; `duplicate`: another Secret key names the same cluster. */
  readonly state: 'registered' | 'refused' | 'duplicate';
  readonly server?: string;
  readonly error?: string;
}

/** What status() reports for `/debug/discovery`. */
export interface RemoteSecretsStatus {
  readonly namespace: string;
  readonly labelSelector: string;
  readonly synced: boolean;
  readonly lastError?: string;
  readonly keys: readonly RemoteSecretKeyStatus[];
}

export interface RemoteSecretsOptions {
  /** Namespace the Secrets live in (`serve --namespace`). */
  readonly namespace: string;
  readonly allow: RemoteKubeconfigAllowList;
  /** Called with the whole set of registrations whenever it changed. */
  readonly onChange: (registrations: readonly RemoteClusterRegistration[]) => void;
  /** Quiet period after an event before the set is recomputed (default 20 ms). */
  readonly debounceMs?: number;
  readonly backoff?: Partial<BackoffOptions>;
  readonly requestTimeoutMs?: number;
  readonly watchTimeoutSeconds?: number;
}

/** A Secret as far as this watcher reads it. */
type SecretObject = k8s.V1Secret;

/** One key's judgement, cached by the fingerprint of its value so an unchanged key is not re-parsed. */
interface Judged {
  readonly fingerprint: string;
  readonly result: LoadedKubeConfig | Error;
}

/** List/watch access to the labelled Secrets of one namespace. */
function secretsApi(kc: k8s.KubeConfig, namespace: string): ResourceApi<SecretObject, 'secrets'> {
  const core = kc.makeApiClient(k8s.CoreV1Api);
  const labelSelector = `${REMOTE_SECRET_LABEL}=true`;
  return {
    kind: 'secrets',
    watchPath: `/api/v1/namespaces/${encodeURIComponent(namespace)}/secrets?labelSelector=${encodeURIComponent(labelSelector)}`,
    list: async (r: ListRequest) => {
      const list = await core.listNamespacedSecret(
        { namespace, labelSelector, limit: r.limit, ...(r.continueToken ? { _continue: r.continueToken } : {}) },
        withSignal(r.signal),
      );
      const cont = list.metadata?._continue;
      return { items: list.items ?? [], resourceVersion: list.metadata?.resourceVersion ?? '', ...(cont ? { continueToken: cont } : {}) };
    },
  };
}

function secretKeyOf(s: SecretObject): string {
  return `${s.metadata?.namespace ?? ''}/${s.metadata?.name ?? ''}`;
}

/** Watches the remote-cluster Secrets of one namespace and reports the clusters they register. */
export class RemoteSecretWatcher {
  private readonly secrets = new Map<string, SecretObject>();
  private readonly judged = new Map<string, Judged>();
  private readonly reflector: Reflector<SecretObject, 'secrets'>;
  private keys: RemoteSecretKeyStatus[] = [];
  private lastFingerprints = '';
  private synced = false;
  private lastError: string | undefined;
  private timer: NodeJS.Timeout | undefined;
  private stopped = false;
  private readonly syncWaiters: (() => void)[] = [];

  constructor(
    kc: k8s.KubeConfig,
    private readonly options: RemoteSecretsOptions,
  ) {
    const handlers: ReflectorHandlers<SecretObject, 'secrets'> = {
      listStarted: () => undefined,
      listed: (_kind, items) => {
        this.secrets.clear();
        for (const s of items) this.secrets.set(secretKeyOf(s), s);
        this.synced = true;
        this.lastError = undefined;
        this.schedule();
      },
      event: (_kind, type, object) => {
        if (type === 'DELETED') this.secrets.delete(secretKeyOf(object));
        else this.secrets.set(secretKeyOf(object), object);
        this.schedule();
      },
      failed: (_kind, error) => {
        // Once per outage (the reflector logs each retry itself): the clusters already registered keep running.
        if (this.lastError === undefined) log.error({ namespace: options.namespace, err: error.message }, 'remote-cluster Secrets cannot be read; the clusters they registered keep running');
        this.lastError = error.message;
        // Unblock whoever waits for the first list: the failure is the answer for now.
        this.releaseWaiters();
      },
    };
    this.reflector = new Reflector(kc, secretsApi(kc, options.namespace), handlers, {
      backoff: { initialMs: options.backoff?.initialMs ?? 500, maxMs: options.backoff?.maxMs ?? 30_000 },
      requestTimeoutMs: options.requestTimeoutMs ?? 30_000,
      watchTimeoutSeconds: options.watchTimeoutSeconds ?? 300 + Math.floor(Math.random() * 300),
      pageSize: 100,
    });
  }

  /** Starts list/watch in the background. */
  start(): void {
    this.reflector.start();
  }

  /** Stops watching; the registrations already reported stay with their owner. */
  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    this.releaseWaiters();
    await this.reflector.stop();
  }

  /** Resolves true once the first list was reported, false if it failed or `timeoutMs` passed first. */
  whenSynced(timeoutMs: number): Promise<boolean> {
    if ((this.synced && !this.timer) || this.stopped) return Promise.resolve(this.synced);
    return new Promise((resolve) => {
      const timer = setTimeout(() => resolve(this.synced && !this.timer), timeoutMs);
      this.syncWaiters.push(() => {
        clearTimeout(timer);
        resolve(this.synced && !this.timer);
      });
    });
  }

  /** For `/debug/discovery`. */
  status(): RemoteSecretsStatus {
    return {
      namespace: this.options.namespace,
      labelSelector: `${REMOTE_SECRET_LABEL}=true`,
      synced: this.synced,
      ...(this.lastError !== undefined ? { lastError: this.lastError } : {}),
      keys: this.keys,
    };
  }

  private releaseWaiters(): void {
    for (const w of this.syncWaiters.splice(0)) w();
  }

  private schedule(): void {
    if (this.stopped || this.timer) return;
    this.timer = setTimeout(() => {
      this.timer = undefined;
      this.recompute();
      this.releaseWaiters();
    }, this.options.debounceMs ?? 20);
  }

  /** Judges every key of every Secret, picks one registration per cluster, and reports a changed set. */
  private recompute(): void {
    if (this.stopped) return;
    const registrations: RemoteClusterRegistration[] = [];
    const keys: RemoteSecretKeyStatus[] = [];
    const owner = new Map<string, string>();
    const seen = new Set<string>();
    // Sorted, so that of two Secrets naming the same cluster the same one wins on every replica.
    for (const secretKey of [...this.secrets.keys()].sort()) {
      const data = this.secrets.get(secretKey)?.data ?? {};
      for (const key of Object.keys(data).sort()) {
        const where = `Secret ${secretKey}, key ${key}`;
        const id = `${secretKey}\u0000${key}`;
        seen.add(id);
        const text = Buffer.from(data[key] ?? '', 'base64').toString('utf8');
        const fingerprint = createHash('sha256').update(text).digest('hex');
        let judged = this.judged.get(id);
        if (judged?.fingerprint !== fingerprint) {
          judged = { fingerprint, result: this.judge(key, text, where) };
          this.judged.set(id, judged);
          if (judged.result instanceof Error) log.error({ secret: secretKey, key, err: judged.result.message }, 'remote-cluster Secret refused');
        }
        if (judged.result instanceof Error) {
          keys.push({ secret: secretKey, key, cluster: key, state: 'refused', error: judged.result.message });
          continue;
        }
        const first = owner.get(key);
        if (first !== undefined) {
          const error = `${where}: cluster ${key} is already registered by ${first}; this key is ignored`;
          keys.push({ secret: secretKey, key, cluster: key, state: 'duplicate', error });
          continue;
        }
        owner.set(key, where);
        keys.push({ secret: secretKey, key, cluster: key, state: 'registered', server: judged.result.server });
        registrations.push({ cluster: key, secret: secretKey, key, kube: judged.result, fingerprint });
      }
    }
    for (const id of [...this.judged.keys()]) if (!seen.has(id)) this.judged.delete(id);
    this.keys = keys;
    const fingerprints = registrations.map((r) => `${r.cluster}\u0000${r.secret}\u0000${r.key}\u0000${r.fingerprint}`).join('\n');
    if (fingerprints === this.lastFingerprints) return;
    this.lastFingerprints = fingerprints;
    log.info({ clusters: registrations.map((r) => `${r.cluster} (${r.secret})`) }, 'remote-cluster Secrets changed');
    try {
      this.options.onChange(registrations);
    } catch (err) {
      log.error({ err: err instanceof Error ? err.message : String(err) }, 'applying remote-cluster Secrets failed');
    }
  }

  /** The checked kubeconfig of one key, or the Error saying why it cannot be used. */
  private judge(key: string, text: string, where: string): LoadedKubeConfig | Error {
    if (!CLUSTER_NAME.test(key)) {
      return new Error(`${where}: "${key}" is not a cluster name (expected a DNS-1123 name: lowercase letters, digits, "-" and ".")`);
    }
    try {
      return loadRemoteKubeConfig(text, where, this.options.allow);
    } catch (err) {
      return err instanceof Error ? err : new Error(String(err));
    }
  }
}

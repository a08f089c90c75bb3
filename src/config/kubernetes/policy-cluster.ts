/**
 * The management cluster `serve --policies-kubeconfig` reads policies from: its policy source
 * (list/watch, per-object verdicts), the Lease that elects the one replica writing status, and
 * the status writer, wired together. Every replica serves the policies; only the Lease holder
 * writes `status`.
 */
import { randomBytes } from 'node:crypto';
import { hostname } from 'node:os';
import { LeaderElector } from '../../discovery/kubernetes/lease.js';
import { loadKubeConfig, type LoadedKubeConfig } from '../../discovery/kubernetes/kubeconfig.js';
import { loadManagementCluster } from '../../ca/root-secret.js';
import type { RemoteKubeconfigAllowList } from '../../discovery/kubernetes/remote-kubeconfig.js';
import type { RemoteSecretsOptions } from '../../discovery/kubernetes/remote-secrets.js';
import { log } from '../../log.js';
import type { MeshConfig } from '../mesh-config.js';
import { KubernetesPolicySource, type ObjectProblem, type PolicySourceOptions } from './policy-source.js';
import { PolicyStatusWriter } from './status-writer.js';

/** Where and how policies are read from a management cluster. */
export interface PolicyClusterOptions {
  /** Kubeconfig file of the management cluster (`--policies-kubeconfig`; `~` expanded), or `in-cluster` (the pod's ServiceAccount). */
  readonly kubeconfig: string;
  /** Context in it (`--policies-context`; default its current-context). */
  readonly context?: string;
  /** Namespace of the status-writer Lease (default crossmesh-system). */
  readonly leaseNamespace?: string;
  /** Name of the Lease (default crossmesh-policy-status). */
  readonly leaseName?: string;
  /** This replica's identity in the Lease (default `<hostname>-<random>`). */
  readonly identity?: string;
  /** How long `serve` waits for the first list before starting without the cluster's policies (default 30 s; not ready until then). */
  readonly syncTimeoutMs?: number;
  readonly leaseDurationMs?: number;
  readonly renewDeadlineMs?: number;
  readonly retryPeriodMs?: number;
  /** List/watch timings (tests shorten them). */
  readonly watch?: Pick<PolicySourceOptions, 'backoff' | 'requestTimeoutMs' | 'watchTimeoutSeconds' | 'pageSize' | 'debounceMs'>;
  /**
   * Also register remote clusters from Secrets labelled `crossmesh.io/remote-cluster: "true"` in
   * `leaseNamespace` of this cluster (`serve --remote-secrets`), with what their kubeconfigs may use.
   */
  readonly remoteSecrets?: { readonly allow: RemoteKubeconfigAllowList; readonly watch?: Pick<RemoteSecretsOptions, 'backoff' | 'requestTimeoutMs' | 'watchTimeoutSeconds' | 'debounceMs'> };
}

export const DEFAULT_LEASE_NAME = 'crossmesh-policy-status';

/** `--policies-kubeconfig in-cluster`: the pod's ServiceAccount, as `--management-kubeconfig in-cluster` reads it. */
const IN_CLUSTER = 'in-cluster';

function inCluster(context: string | undefined): LoadedKubeConfig {
  const m = loadManagementCluster(IN_CLUSTER, context, '--policies-kubeconfig');
  return { kubeConfig: m.kubeConfig, source: m.source, context: m.kubeConfig.getCurrentContext(), server: m.server };
}

/** Policies from a management cluster, with status written by the Lease holder. */
export class PolicyCluster {
  readonly source: KubernetesPolicySource;
  readonly elector: LeaderElector;
  readonly writer: PolicyStatusWriter;
  readonly kube: LoadedKubeConfig;
  private reload: (() => void) | undefined;

  private constructor(options: PolicyClusterOptions, extraProblems: ((config: MeshConfig) => readonly ObjectProblem[]) | undefined) {
    this.kube = options.kubeconfig === IN_CLUSTER ? inCluster(options.context) : loadKubeConfig({ kubeconfig: options.kubeconfig, ...(options.context ? { context: options.context } : {}) }, 'policies', {
      kubeconfig: '--policies-kubeconfig',
      context: '--policies-context',
    });
    const kc = this.kube.kubeConfig;
    this.source = new KubernetesPolicySource(kc, {
      ...options.watch,
      onChange: () => this.reload?.(),
      onVerdicts: () => void this.writer.sync(),
      ...(extraProblems ? { extraProblems } : {}),
    });
    this.writer = new PolicyStatusWriter(kc, { entries: () => this.source.list(), canWrite: () => this.elector.leading });
    this.elector = new LeaderElector(kc, {
      namespace: options.leaseNamespace ?? 'crossmesh-system',
      name: options.leaseName ?? DEFAULT_LEASE_NAME,
      identity: options.identity ?? `${hostname()}-${randomBytes(4).toString('hex')}`,
      ...(options.leaseDurationMs !== undefined ? { leaseDurationMs: options.leaseDurationMs } : {}),
      ...(options.renewDeadlineMs !== undefined ? { renewDeadlineMs: options.renewDeadlineMs } : {}),
      ...(options.retryPeriodMs !== undefined ? { retryPeriodMs: options.retryPeriodMs } : {}),
      onChange: (leading) => {
        if (!leading) return;
        // A new leader trusts only what the objects say, and corrects what its predecessor left.
        this.writer.reset();
        void this.writer.sync();
      },
    });
  }

  /** Loads the kubeconfig (throwing an error naming the file and context) and starts list/watch and the Lease. */
  static start(options: PolicyClusterOptions, extraProblems?: (config: MeshConfig) => readonly ObjectProblem[]): PolicyCluster {
    const pc = new PolicyCluster(options, extraProblems);
    pc.source.start();
    pc.elector.start();
    log.info({ server: pc.kube.server, context: pc.kube.context, kubeconfig: pc.kube.source }, 'reading policies from the management cluster');
    return pc;
  }

  /** What to call when the objects changed (the config watcher's reload). */
  onReload(reload: () => void): void {
    this.reload = reload;
  }

  /** For `/debug/policies`. */
  status(): object {
    return { server: this.kube.server, context: this.kube.context, ...this.source.status(), lease: this.elector.status(), statusWrites: this.writer.stats() };
  }

  /** Stops watching, writing and (releasing) the Lease. */
  async stop(): Promise<void> {
    await this.source.stop();
    await this.writer.close();
    await this.elector.stop();
  }
}

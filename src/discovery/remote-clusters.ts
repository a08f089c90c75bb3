/**
 * Merges the clusters registered by remote-cluster Secrets into a loaded configuration, so the rest
 * of discovery (and the model) treats them like clusters declared with `discovery.kubernetes`.
 *
 * - A Cluster the configuration declares without `discovery.kubernetes` keeps its network, trust
 *   domain, locality and gateway; the Secret supplies how to reach its API server. (Its Services
 *   and Workloads in files, if any, give way to what the API server reports.)
 * - A Cluster the configuration declares **with** `discovery.kubernetes` keeps it: the files were
 *   written by whoever runs crossmesh, and a Secret must not redirect that cluster elsewhere. The
 *   Secret key is reported as a conflict.
 * - A cluster the configuration does not declare joins with the defaults a bare Cluster document
 *   gets: network and trust domain equal to its name, no gateway.
 */
import { originKey, type MeshConfig } from '../config/mesh-config.js';
import type { Cluster } from '../model/types.js';
import type { RemoteClusterRegistration } from './kubernetes/remote-secrets.js';

/** A Secret key whose cluster the configuration already discovers by its own kubeconfig. */
export interface RemoteClusterConflict {
  readonly cluster: string;
  readonly secret: string;
  readonly key: string;
  readonly error: string;
}

/** The configuration with the Secrets' clusters in it, and which clusters are Secret-registered. */
export interface WithRemoteClusters {
  readonly config: MeshConfig;
  /** Cluster name → the registration it runs from. */
  readonly remote: ReadonlyMap<string, RemoteClusterRegistration>;
  readonly conflicts: readonly RemoteClusterConflict[];
}

const NO_LOCALITY = Object.freeze({ region: '', zone: '', subzone: '' });

/** Adds (or completes) a Cluster for every registration the configuration does not discover itself. */
export function withRemoteClusters(config: MeshConfig, registrations: readonly RemoteClusterRegistration[]): WithRemoteClusters {
  if (registrations.length === 0) return { config, remote: new Map(), conflicts: [] };
  const declared = new Map(config.clusters.map((c) => [c.name, c] as const));
  const remote = new Map<string, RemoteClusterRegistration>();
  const conflicts: RemoteClusterConflict[] = [];
  const added: Cluster[] = [];
  for (const r of registrations) {
    const d = declared.get(r.cluster);
    if (d?.discovery?.kubernetes) {
      const origin = config.origins.get(originKey('Cluster', r.cluster));
      conflicts.push({
        cluster: r.cluster,
        secret: r.secret,
        key: r.key,
        error: `Secret ${r.secret}, key ${r.key}: cluster ${r.cluster} is declared with discovery.kubernetes${origin ? ` in ${origin.file}:${origin.line}` : ''}; that declaration is used and the Secret is ignored`,
      });
      continue;
    }
    remote.set(r.cluster, r);
    if (!d) added.push({ name: r.cluster, network: r.cluster, trustDomain: r.cluster, locality: NO_LOCALITY, discovery: { kubernetes: {} } });
  }
  const clusters = [
    ...config.clusters.map((c) => (remote.has(c.name) ? { ...c, discovery: { kubernetes: {} } } : c)),
    ...added,
  ];
  return { config: { ...config, clusters }, remote, conflicts };
}

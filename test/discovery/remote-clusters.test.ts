/**
 * Clusters registered by remote-cluster Secrets, as the DiscoveryManager applies them (sources
 * substituted): an undeclared cluster joins with a bare Cluster's defaults; a declared static
 * Cluster keeps its network and gains the Secret's discovery (and gets its file topology back when
 * the Secret goes); a Cluster the files discover by their own kubeconfig is not redirected (the
 * Secret key is reported); a changed kubeconfig restarts the source, a removed one empties the cluster.
 */
import { describe, expect, it } from 'vitest';
import * as k8s from '@kubernetes/client-node';
import { loadConfig } from '../../src/config/loader.js';
import type { MeshConfig } from '../../src/config/mesh-config.js';
import { DiscoveryManager } from '../../src/discovery/manager.js';
import type { KubernetesSource } from '../../src/discovery/kubernetes/kubernetes-source.js';
import type { LoadedKubeConfig } from '../../src/discovery/kubernetes/kubeconfig.js';
import type { RemoteClusterRegistration } from '../../src/discovery/kubernetes/remote-secrets.js';
import { ModelStore } from '../../src/model/store.js';
import type { Cluster, Service } from '../../src/model/types.js';
import { BASE_TOPOLOGY, tempDir } from '../config/helpers.js';

const tmp = tempDir('crossmesh-remote-clusters-');

function registration(cluster: string, server: string, secret = 'crossmesh-system/remotes'): RemoteClusterRegistration {
  const kubeConfig = new k8s.KubeConfig();
  const kube: LoadedKubeConfig = { kubeConfig, source: `Secret ${secret}`, context: cluster, server };
  return { cluster, secret, key: cluster, kube, fingerprint: server };
}

function ratings(cluster: string): Service {
  return { name: 'ratings', namespace: 'default', cluster, ports: [{ name: 'http', port: 9080, targetPort: 9080, protocol: 'HTTP' }], selector: { app: 'ratings' }, labels: {} } as Service;
}

/** A manager whose sources report one `ratings` service and record the server they were given. */
function manager(store: ModelStore): { discovery: DiscoveryManager; started: string[]; stopped: string[] } {
  const started: string[] = [];
  const stopped: string[] = [];
  const discovery = new DiscoveryManager(store, {
    kubeconfigCheckMs: 0,
    createKubernetesSource: (cluster: Cluster, options): KubernetesSource => ({
      name: `kubernetes:${cluster.name}`,
      async start(sink) {
        started.push(`${cluster.name}@${options?.kubeConfig?.server ?? 'files'}`);
        sink([{ kind: 'replaceCluster', cluster: cluster.name, services: [ratings(cluster.name)], workloads: [] }]);
      },
      async stop() {
        stopped.push(cluster.name);
      },
      status: () => undefined,
    }),
  });
  return { discovery, started, stopped };
}

async function config(extra = ''): Promise<MeshConfig> {
  const file = tmp.write(`mesh-${Math.random().toString(36).slice(2)}.yaml`, BASE_TOPOLOGY + extra);
  const r = await loadConfig([file]);
  if (!r.config) throw new Error(r.errors.map((e) => e.message).join('; '));
  return r.config;
}

describe('remote clusters from Secrets in the DiscoveryManager', () => {
  it('an undeclared cluster joins with the defaults; a removed Secret empties it and drops the cluster', async () => {
    const store = new ModelStore();
    const { discovery, started, stopped } = manager(store);
    await discovery.setRemoteClusters([registration('east', 'https://192.0.2.10:6443')]);
    await discovery.apply(await config());
    expect(started).toEqual(['east@https://192.0.2.10:6443']);
    expect(store.current.clusters.get('east')).toMatchObject({ name: 'east', network: 'east', trustDomain: 'east' });
    expect(store.current.services.has('east/default/ratings')).toBe(true);
    expect(discovery.status().kubernetes).toEqual([{ cluster: 'east', error: 'starting', registeredBy: 'Secret crossmesh-system/remotes, key east' }]);

    // A new kubeconfig (rotated credentials, moved server) restarts that cluster's source.
    await discovery.setRemoteClusters([registration('east', 'https://192.0.2.11:6443')]);
    expect(stopped).toEqual(['east']);
    expect(started).toEqual(['east@https://192.0.2.10:6443', 'east@https://192.0.2.11:6443']);

    await discovery.setRemoteClusters([]);
    expect(stopped).toEqual(['east', 'east']);
    expect(store.current.clusters.has('east')).toBe(false);
    expect(store.current.services.has('east/default/ratings')).toBe(false);
    expect(store.current.services.has('c1/default/reviews')).toBe(true);
    await discovery.close();
  });

  it('a declared static Cluster keeps its network and gains the discovery; without the Secret its files serve again', async () => {
    const store = new ModelStore();
    const { discovery, started } = manager(store);
    await discovery.apply(await config());
    expect(store.current.services.has('c1/default/reviews')).toBe(true);
    await discovery.setRemoteClusters([registration('c1', 'https://192.0.2.20:6443')]);
    expect(started).toEqual(['c1@https://192.0.2.20:6443']);
    expect(store.current.clusters.get('c1')).toMatchObject({ network: 'n1', locality: { region: 'r1', zone: 'z1' } });
    expect(store.current.services.has('c1/default/ratings')).toBe(true);
    expect(store.current.services.has('c1/default/reviews')).toBe(false);
    expect(discovery.status().staticClusters).toEqual([]);

    await discovery.setRemoteClusters([]);
    expect(store.current.services.has('c1/default/reviews')).toBe(true);
    expect(store.current.services.has('c1/default/ratings')).toBe(false);
    expect(discovery.status().staticClusters).toEqual(['c1']);
    await discovery.close();
  });

  it('a Cluster the files discover by their own kubeconfig is not redirected by a Secret; the key is reported with file:line', async () => {
    const store = new ModelStore();
    const { discovery, started } = manager(store);
    const kubeconfig = tmp.write('west.kubeconfig', 'apiVersion: v1\nkind: Config\n');
    const cfg = await config(`---
apiVersion: crossmesh.io/v1alpha1
kind: Cluster
metadata: {name: west}
spec:
  discovery: {kubernetes: {kubeconfig: ${JSON.stringify(kubeconfig)}}}
`);
    await discovery.apply(cfg);
    await discovery.setRemoteClusters([registration('west', 'https://192.0.2.30:6443', 'crossmesh-system/west')]);
    expect(started).toEqual(['west@files']);
    const conflicts = discovery.status().remoteConflicts;
    expect(conflicts).toHaveLength(1);
    expect(conflicts[0]!.error).toMatch(
      /^Secret crossmesh-system\/west, key west: cluster west is declared with discovery.kubernetes in .*mesh-.*\.yaml:\d+; that declaration is used and the Secret is ignored$/,
    );
    await discovery.close();
    tmp.remove();
  });
});

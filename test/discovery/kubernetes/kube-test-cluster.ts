/** Shared fixtures for the Kubernetes discovery tests: a Cluster pointing at a fake API server, fast timings. */
import { rmSync } from 'node:fs';
import { dirname } from 'node:path';
import type { Cluster, Locality } from '../../../src/model/types.js';
import type { KubernetesDiscoveryOptions } from '../../../src/discovery/kubernetes/index.js';
import { FakeKubeApiServer } from '../../support/fake-kube-apiserver.js';

/** Backoffs and timeouts short enough that every resilience test finishes in a second or two. */
export const FAST: KubernetesDiscoveryOptions = {
  backoff: { initialMs: 20, maxMs: 200 },
  batchWindowMs: 5,
  requestTimeoutMs: 1000,
  watchTimeoutSeconds: 60,
  pageSize: 2,
};

export const DEFAULT_LOCALITY: Locality = { region: 'us-east', zone: 'us-east-1a', subzone: '' };

/** A Cluster whose discovery points at `kubeconfig`. */
export function kubeCluster(name: string, kubeconfig: string, context?: string, locality: Locality = DEFAULT_LOCALITY): Cluster {
  return {
    name,
    network: `${name}-net`,
    trustDomain: name,
    locality,
    discovery: { kubernetes: { kubeconfig, ...(context ? { context } : {}) } },
  };
}

/** A fake API server and a kubeconfig for it in a temp dir; `cleanup` removes both. */
export async function fakeApiServer(host = '127.0.0.1'): Promise<{ server: FakeKubeApiServer; kubeconfig: string; cleanup: () => Promise<void> }> {
  const server = await FakeKubeApiServer.start({ host });
  const kubeconfig = server.writeKubeconfig();
  return {
    server,
    kubeconfig,
    cleanup: async () => {
      await server.close();
      rmSync(dirname(kubeconfig), { recursive: true, force: true });
    },
  };
}

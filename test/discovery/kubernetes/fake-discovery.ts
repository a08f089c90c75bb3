/** Per-test fixture: Kubernetes discovery of cluster `east` against a fake API server, its events applied to a real ModelStore. */
import { afterEach, beforeEach } from 'vitest';
import { startKubernetesDiscovery, type KubernetesDiscovery } from '../../../src/discovery/kubernetes/index.js';
import { EMPTY_POLICIES } from '../../../src/model/policies.js';
import { ModelStore } from '../../../src/model/store.js';
import type { FakeKubeApiServer } from '../../support/fake-kube-apiserver.js';
import { TopologyRecorder } from '../../support/kube-topology-recorder.js';
import { FAST, fakeApiServer, kubeCluster } from './kube-test-cluster.js';

/** What a test sees; valid inside each test (a fresh server, store and recorder per test). */
export interface FakeDiscovery {
  readonly server: FakeKubeApiServer;
  readonly store: ModelStore;
  readonly rec: TopologyRecorder;
  /** Starts discovery and waits for its first full state. */
  start(): Promise<void>;
}

/** Registers beforeEach/afterEach that set up and tear down a fake API server, a store and discovery. */
export function useFakeDiscovery(): FakeDiscovery {
  let server: FakeKubeApiServer | undefined;
  let kubeconfig = '';
  let cleanup: (() => Promise<void>) | undefined;
  let discovery: KubernetesDiscovery | undefined;
  let rec: TopologyRecorder | undefined;
  let store: ModelStore | undefined;

  beforeEach(async () => {
    ({ server, kubeconfig, cleanup } = await fakeApiServer());
    rec = new TopologyRecorder();
    store = new ModelStore({ declarations: { clusters: [kubeCluster('east', kubeconfig)], gateways: [], policies: EMPTY_POLICIES } });
  });

  afterEach(async () => {
    await discovery?.stop();
    discovery = undefined;
    await cleanup?.();
  });

  return {
    get server() {
      return server!;
    },
    get store() {
      return store!;
    },
    get rec() {
      return rec!;
    },
    async start() {
      discovery = await startKubernetesDiscovery(
        kubeCluster('east', kubeconfig),
        (events) => {
          store!.applyEvents(events);
          rec!.sink(events);
        },
        FAST,
      );
      await rec!.waitFor('initial replaceCluster', () => rec!.ofKind('replaceCluster').length === 1);
    },
  };
}

/** Kubernetes discovery behind the common DiscoverySource interface. */
import { afterEach, describe, expect, it } from 'vitest';
import { kubernetesSource } from '../../../src/discovery/kubernetes/index.js';
import type { TopologyEvent } from '../../../src/model/types.js';
import { pod } from '../../support/kube-objects.js';
import { FAST, fakeApiServer, kubeCluster } from './kube-test-cluster.js';

const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

describe('kubernetesSource', () => {
  it('start() resolves after the initial replaceCluster was delivered', async () => {
    const fake = await fakeApiServer();
    cleanups.push(fake.cleanup);
    fake.server.apply('pods', pod({ name: 'p', ip: '10.5.0.1', ready: true }));
    const source = kubernetesSource(kubeCluster('src', fake.kubeconfig), FAST);
    cleanups.push(() => source.stop());
    const events: TopologyEvent[] = [];
    await source.start((b) => events.push(...b));
    expect(source.name).toBe('kubernetes:src');
    expect(events.map((e) => e.kind)).toEqual(['replaceCluster']);
    expect(source.status()?.counts.pods).toBe(1);
  });

  it('start() resolves once an unreachable server is reported stale, and rejects a bad kubeconfig', async () => {
    const fake = await fakeApiServer();
    cleanups.push(fake.cleanup);
    await fake.server.goDown();
    const source = kubernetesSource(kubeCluster('down', fake.kubeconfig), { ...FAST, initialWaitMs: 20_000 });
    cleanups.push(() => source.stop());
    const events: TopologyEvent[] = [];
    const t = Date.now();
    await source.start((b) => events.push(...b));
    expect(Date.now() - t).toBeLessThan(2000);
    expect(events[0]).toMatchObject({ kind: 'clusterStale', cluster: 'down', stale: true });

    const bad = kubernetesSource(kubeCluster('bad', '/nonexistent/kubeconfig'), FAST);
    await expect(bad.start(() => undefined)).rejects.toThrow('cluster bad: kubeconfig file /nonexistent/kubeconfig does not exist');
  });
});

/**
 * The wiring `serve` runs once its servers listen: config (watched) → discovery → model →
 * translation → cache, with xDS security hooked in, plus the admin pages of those stages.
 */
import type { ServerResponse } from 'node:http';
import { formatDiagnostic } from '../config/diagnostics.js';
import { configPathsOrDefault } from '../config/default-mesh.js';
import type { RefusedPolicy } from '../config/mesh-config.js';
import { watchConfig } from '../config/watch.js';
import { PolicyCluster, type PolicyClusterOptions } from '../config/kubernetes/policy-cluster.js';
import { RemoteSecretWatcher } from '../discovery/kubernetes/remote-secrets.js';
import { failoverConfigProblems } from '../translate/failover.js';
import { DiscoveryManager, type DiscoveryManagerOptions } from '../discovery/manager.js';
import { ModelStore } from '../model/store.js';
import { IngressTlsSecrets } from '../xds/ingress-tls-secrets.js';
import { MeshPublisher } from '../xds/mesh-publisher.js';
import { parseRole } from '../translate/proxy.js';
import { sendJson } from '../admin/server.js';
import { meshTopology } from '../admin/topology.js';
import { log } from '../log.js';
import type { MeshLoader } from './serve.js';

export interface MeshLoaderOptions {
  readonly discovery?: DiscoveryManagerOptions;
  /** Quiet period after a config file change before reloading (default 150 ms). */
  readonly reloadDebounceMs?: number;
  /** How often proxies without an open stream are forgotten and groups left without proxies dropped (default 60 s). */
  readonly pruneIntervalMs?: number;
}

const PRUNE_INTERVAL_MS = 60_000;

/** Refused policies as `/debug/policies` lists them: which policy, where, why, and the `file:line: ...` line `validate` prints. */
function refusedPolicies(refused: readonly RefusedPolicy[]) {
  return refused.map((r) => ({ kind: r.kind, policy: r.policy, file: r.file, line: r.line, path: r.path ?? '', message: r.message, error: formatDiagnostic(r) }));
}

/** Watches the management cluster's remote-cluster Secrets in `--namespace` and hands their clusters to discovery. */
function startRemoteSecrets(policies: PolicyCluster, options: PolicyClusterOptions, discovery: DiscoveryManager): RemoteSecretWatcher {
  const watcher = new RemoteSecretWatcher(policies.kube.kubeConfig, {
    namespace: options.leaseNamespace ?? 'crossmesh-system',
    allow: options.remoteSecrets?.allow ?? {},
    ...options.remoteSecrets?.watch,
    onChange: (registrations) => {
      discovery.setRemoteClusters(registrations).catch((err: unknown) =>
        log.error({ err: err instanceof Error ? err.message : String(err) }, 'applying remote-cluster Secrets to discovery failed'),
      );
    },
  });
  watcher.start();
  log.info({ server: policies.kube.server, namespace: options.leaseNamespace ?? 'crossmesh-system' }, 'registering remote clusters from labelled Secrets');
  return watcher;
}

/** Builds the loader `serve` uses; it refuses to start on an invalid initial config, naming every error. */
export function meshLoader(options: MeshLoaderOptions = {}): MeshLoader {
  return async ({ cache, configPaths, security, admin, liveNodeIds, whenAnswered, policyCluster }) => {
    const paths = configPathsOrDefault(configPaths);
    const store = new ModelStore();
    const discovery = new DiscoveryManager(store, options.discovery ?? {});
    let applying: Promise<unknown> = Promise.resolve();

    // Policies from a management cluster join the files' documents; the FailoverServices the
    // translator would refuse are judged there too, so their status says what `validate` says.
    const policies = policyCluster
      ? PolicyCluster.start(policyCluster, (config) => failoverConfigProblems(config.policies.failoverServices).map((p) => ({ kind: 'FailoverService', ...p })))
      : undefined;
    if (policies) {
      const timeoutMs = policyCluster?.syncTimeoutMs ?? 30_000;
      if (!(await policies.source.whenSynced(timeoutMs))) {
        log.error({ server: policies.kube.server, status: policies.status() }, `policies from the management cluster not listed within ${timeoutMs / 1000} s; serving without them (not ready) until they are`);
      }
    }

    // Remote clusters from Secrets on the same management cluster: listed before the first apply,
    // so the first snapshot already has them; every later change reconciles discovery.
    const remoteSecrets = policies && policyCluster?.remoteSecrets ? startRemoteSecrets(policies, policyCluster, discovery) : undefined;
    if (remoteSecrets) {
      const timeoutMs = policyCluster?.syncTimeoutMs ?? 30_000;
      if (!(await remoteSecrets.whenSynced(timeoutMs))) {
        log.error({ status: remoteSecrets.status() }, `remote-cluster Secrets not listed within ${timeoutMs / 1000} s; starting without them (they join when listed)`);
      }
    }

    const watcher = await watchConfig(
      paths,
      (config) => {
        // A reload that fails to apply must never take down what serves: log it, keep going.
        applying = discovery.apply(config).then(
          (changes) => log.info({ version: config.version, empty: changes.empty }, 'configuration reloaded'),
          (err: unknown) => log.error({ err: err instanceof Error ? err.message : String(err) }, 'configuration reload could not be applied'),
        );
      },
      {
        ...(options.reloadDebounceMs !== undefined ? { debounceMs: options.reloadDebounceMs } : {}),
        onInvalid: (result) =>
          log.error({ errors: result.errors.map(formatDiagnostic) }, 'configuration change rejected; the last good configuration keeps serving'),
        ...(policies ? { documents: policies.source } : {}),
      },
    );
    policies?.onReload(() => void watcher.reload());
    const initial = watcher.config;
    if (!initial) {
      watcher.close();
      await remoteSecrets?.stop();
      await policies?.stop();
      const errors = watcher.status().lastAttempt?.errors ?? [];
      throw new Error(`configuration has errors:\n${errors.map((e) => `  ${e}`).join('\n')}`);
    }
    for (const w of watcher.status().lastGood?.warnings ?? []) log.warn({ warning: w }, 'configuration warning');
    try {
      await discovery.apply(initial);
    } catch (err) {
      // Nothing started here may outlive a failed start (watches on the management cluster, the Lease).
      watcher.close();
      await remoteSecrets?.stop();
      await policies?.stop();
      throw err;
    }

    security?.setMesh(() => store.current);
    // Ingress gateways' serving certificates reach Envoy over SDS, and only the gateway's own identity.
    const ingressTls = security ? new IngressTlsSecrets({ mesh: () => store.current, publisher: security.publisher }) : undefined;
    const unsubscribeIngressTls = ingressTls ? store.subscribe(() => void ingressTls.refresh()) : undefined;
    await ingressTls?.refresh();
    const publisher = MeshPublisher.attach(store, cache, {
      whenApplied: whenAnswered,
      ...(security ? { secretGroup: (proxy, identity) => security.secretGroup(proxy.nodeId, identity) } : {}),
    });

    // The cache is not told when a proxy goes away: without a sweep, every proxy ever seen would
    // stay a member, and groups nobody uses any more would be recomputed on every change.
    const sweep = setInterval(() => {
      try {
        publisher.prune(liveNodeIds());
      } catch (err) {
        log.error({ err: err instanceof Error ? err.message : String(err) }, 'forgetting departed proxies failed');
      }
    }, options.pruneIntervalMs ?? PRUNE_INTERVAL_MS);
    sweep.unref();

    const json = (body: () => unknown) => (_req: unknown, res: ServerResponse) => sendJson(res, 200, body());
    admin.addRoute('/debug/config', json(() => watcher.status()));
    admin.addRoute('/debug/discovery', json(() => ({ ...discovery.status(), ...(remoteSecrets ? { remoteSecrets: remoteSecrets.status() } : {}) })));
    admin.addRoute('/debug/translation', json(() => publisher.status()));
    admin.addRoute('/debug/ingress-tls', json(() => ingressTls?.status() ?? []));
    // Policies the configuration in force left out (Envoy would refuse them), beside what the others do.
    admin.addRoute('/debug/policies', json(() => ({ ...publisher.policies(), refused: refusedPolicies(watcher.config?.refused ?? []), ...(policies ? { kubernetes: policies.status() } : {}) })));
    admin.addRoute('/debug/explain', (_req, res, url) => {
      const node = url.searchParams.get('node');
      if (!node) {
        sendJson(res, 400, { error: 'query parameter "node" is required, e.g. /debug/explain?node=cluster1/default/productpage-v1-0&to=reviews' });
        return;
      }
      const roleParam = url.searchParams.get('role');
      const role = roleParam ? parseRole(roleParam) : undefined;
      if (role instanceof Error) {
        sendJson(res, 400, { error: role.message });
        return;
      }
      const to = url.searchParams.get('to');
      const e = publisher.explain(node, { ...(role ? { role } : {}), ...(to ? { to } : {}) });
      if (e instanceof Error) sendJson(res, 404, { error: e.message });
      else sendJson(res, 200, e);
    });
    // The dashboard's topology view: computed on request from the snapshot in force.
    admin.addRoute('/debug/topology', json(() => meshTopology(store.current)));
    log.info({ paths, version: store.current.version, clusters: store.current.clusters.size, services: store.current.services.size, workloads: store.current.workloads.size }, 'mesh loaded');

    return {
      // With a management cluster: not ready until its policies were listed once.
      ready: () => policies?.source.synced ?? true,
      async close() {
        await remoteSecrets?.stop();
        await policies?.stop();
        clearInterval(sweep);
        unsubscribeIngressTls?.();
        ingressTls?.close();
        watcher.close();
        await applying;
        publisher.close();
        await discovery.close();
      },
    };
  };
}

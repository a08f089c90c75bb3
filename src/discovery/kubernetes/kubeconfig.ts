/** Loads the kubeconfig and context a Cluster names, failing with an error that says which file and context. */
import { existsSync, statSync } from 'node:fs';
import { homedir } from 'node:os';
import { isAbsolute, join, resolve } from 'node:path';
import * as k8s from '@kubernetes/client-node';
import type { Cluster } from '../../model/types.js';

/** A kubeconfig ready to talk to one cluster's API server. */
export interface LoadedKubeConfig {
  readonly kubeConfig: k8s.KubeConfig;
  /** Where it came from (a file path, `in-cluster`, or `$KUBECONFIG`), for messages and status. */
  readonly source: string;
  readonly context: string;
  /** API server URL of the selected context. */
  readonly server: string;
}

/** Expands a leading `~` and resolves relative paths against the working directory. */
export function expandKubeconfigPath(path: string): string {
  let p = path.trim();
  if (p === '~') p = homedir();
  else if (p.startsWith('~/')) p = join(homedir(), p.slice(2));
  return isAbsolute(p) ? p : resolve(p);
}

/**
 * Loads the kubeconfig of `cluster.discovery.kubernetes` (default: $KUBECONFIG, then the in-cluster
 * service account, then ~/.kube/config) and selects its context (default: current-context).
 * Throws an Error naming the cluster, the file and the context when anything is missing.
 */
export function loadClusterKubeConfig(cluster: Cluster): LoadedKubeConfig {
  return loadKubeConfig(cluster.discovery?.kubernetes ?? {}, `cluster ${cluster.name}`, { kubeconfig: 'discovery.kubernetes.kubeconfig', context: 'discovery.kubernetes.context' });
}

/**
 * Loads a kubeconfig (default: $KUBECONFIG, then the in-cluster service account, then
 * ~/.kube/config) and selects its context; errors start with `where` and name `settings`, the
 * settings the user would change (a Cluster's fields, or CLI flags).
 */
export function loadKubeConfig(
  spec: { readonly kubeconfig?: string; readonly context?: string },
  where: string,
  settings: { readonly kubeconfig: string; readonly context: string },
): LoadedKubeConfig {
  const kc = new k8s.KubeConfig();
  let source: string;

  if (spec.kubeconfig !== undefined && spec.kubeconfig.trim() !== '') {
    const file = expandKubeconfigPath(spec.kubeconfig);
    source = file;
    if (!existsSync(file)) {
      throw new Error(`${where}: kubeconfig file ${file} does not exist (${settings.kubeconfig}: ${spec.kubeconfig})`);
    }
    if (!statSync(file).isFile()) {
      throw new Error(`${where}: kubeconfig ${file} is not a file (${settings.kubeconfig}: ${spec.kubeconfig})`);
    }
    try {
      kc.loadFromFile(file);
    } catch (err) {
      throw new Error(`${where}: kubeconfig ${file} cannot be loaded: ${(err as Error).message}`);
    }
  } else if (process.env.KUBECONFIG) {
    source = `$KUBECONFIG (${process.env.KUBECONFIG})`;
    try {
      kc.loadFromDefault();
    } catch (err) {
      throw new Error(`${where}: kubeconfig from ${source} cannot be loaded: ${(err as Error).message}`);
    }
  } else if (process.env.KUBERNETES_SERVICE_HOST && spec.context === undefined) {
    source = 'in-cluster service account';
    try {
      kc.loadFromCluster();
    } catch (err) {
      throw new Error(`${where}: in-cluster configuration cannot be loaded: ${(err as Error).message}`);
    }
  } else {
    const file = join(homedir(), '.kube', 'config');
    source = file;
    if (!existsSync(file)) {
      throw new Error(`${where}: ${settings.kubeconfig} is not set, $KUBECONFIG is empty and ${file} does not exist`);
    }
    try {
      kc.loadFromFile(file);
    } catch (err) {
      throw new Error(`${where}: kubeconfig ${file} cannot be loaded: ${(err as Error).message}`);
    }
  }

  return checkKubeConfig(kc, spec.context, where, source, settings);
}

/**
 * Selects `wantedContext` (default: the current-context) in a loaded kubeconfig and checks that
 * its cluster, user and server URL are usable; errors start with `where` and name `source`.
 */
export function checkKubeConfig(
  kc: k8s.KubeConfig,
  wantedContext: string | undefined,
  where: string,
  source: string,
  settings: { readonly context: string },
): LoadedKubeConfig {
  const spec = { context: wantedContext };
  const available = kc.getContexts().map((c) => c.name);
  let context: string;
  if (spec.context !== undefined && spec.context !== '') {
    if (!available.includes(spec.context)) {
      throw new Error(
        `${where}: context "${spec.context}" not found in kubeconfig ${source} (available: ${available.length ? available.join(', ') : 'none'})`,
      );
    }
    context = spec.context;
    kc.setCurrentContext(context);
  } else {
    context = kc.getCurrentContext();
    if (!context || !available.includes(context)) {
      throw new Error(
        `${where}: kubeconfig ${source} has no usable current-context${context ? ` ("${context}" is not defined)` : ''}; set ${settings.context} (available: ${available.length ? available.join(', ') : 'none'})`,
      );
    }
  }

  const ctx = kc.getContextObject(context);
  const server = kc.getCurrentCluster();
  if (!ctx || !server) {
    throw new Error(`${where}: context "${context}" in kubeconfig ${source} names cluster "${ctx?.cluster ?? ''}", which is not defined there`);
  }
  if (ctx.user && !kc.getUser(ctx.user)) {
    throw new Error(`${where}: context "${context}" in kubeconfig ${source} names user "${ctx.user}", which is not defined there`);
  }
  let url: URL;
  try {
    url = new URL(server.server);
  } catch {
    throw new Error(`${where}: cluster "${server.name}" in kubeconfig ${source} has an invalid server URL "${server.server}"`);
  }
  if (url.protocol !== 'https:' && url.protocol !== 'http:') {
    throw new Error(`${where}: cluster "${server.name}" in kubeconfig ${source} has server URL "${server.server}"; expected http(s)://`);
  }
  // The client refuses plain HTTP unless TLS verification is explicitly off; say so now rather than on every request.
  if (url.protocol === 'http:' && !server.skipTLSVerify) {
    throw new Error(
      `${where}: cluster "${server.name}" in kubeconfig ${source} uses plain http (${server.server}); the Kubernetes client only allows that with insecure-skip-tls-verify: true`,
    );
  }
  return { kubeConfig: kc, source, context, server: server.server };
}

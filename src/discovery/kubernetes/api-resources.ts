/** The four Kubernetes resource kinds discovery watches: how to list a page of each and where to watch it. */
import * as k8s from '@kubernetes/client-node';

export type ResourceKind = 'services' | 'endpointslices' | 'pods' | 'nodes';

/** Every kind, in the order they are started. */
export const RESOURCE_KINDS: readonly ResourceKind[] = ['nodes', 'services', 'endpointslices', 'pods'];

/** A Kubernetes object as far as the reflector needs to know it. */
export interface KubeObject {
  metadata?: { name?: string; namespace?: string; resourceVersion?: string };
}

/** One page of a list call. */
export interface ListPage<T> {
  readonly items: T[];
  readonly resourceVersion: string;
  readonly continueToken?: string;
}

export interface ListRequest {
  readonly limit: number;
  readonly continueToken?: string;
  /** Aborts the HTTP request (stop, or the request timeout). */
  readonly signal: AbortSignal;
}

/** How one kind is listed (through the generated API clients) and watched (a raw streaming GET on its collection path). */
export interface ResourceApi<T extends KubeObject, K extends string = ResourceKind> {
  readonly kind: K;
  readonly watchPath: string;
  list(request: ListRequest): Promise<ListPage<T>>;
}

export interface KubeResourceApis {
  readonly services: ResourceApi<k8s.V1Service>;
  readonly endpointslices: ResourceApi<k8s.V1EndpointSlice>;
  readonly pods: ResourceApi<k8s.V1Pod>;
  readonly nodes: ResourceApi<k8s.V1Node>;
}

/**
 * The generated clients take no AbortSignal argument, but their RequestContext does; a per-call
 * middleware puts ours there so stop() and timeouts really cancel the HTTP request.
 */
export function withSignal(signal: AbortSignal): k8s.ConfigurationOptions {
  const middleware: k8s.ObservableMiddleware = {
    pre: (ctx) => {
      ctx.setSignal(signal);
      return new k8s.Observable(Promise.resolve(ctx));
    },
    post: (ctx) => new k8s.Observable(Promise.resolve(ctx)),
  };
  return { middleware: [middleware], middlewareMergeStrategy: 'append' };
}

function page<T>(list: { items: T[]; metadata?: k8s.V1ListMeta }): ListPage<T> {
  const cont = list.metadata?._continue;
  return {
    items: list.items ?? [],
    resourceVersion: list.metadata?.resourceVersion ?? '',
    ...(cont ? { continueToken: cont } : {}),
  };
}

/** Builds list/watch access for the four kinds from a kubeconfig, all namespaces. */
export function kubeResourceApis(kc: k8s.KubeConfig): KubeResourceApis {
  const core = kc.makeApiClient(k8s.CoreV1Api);
  const discovery = kc.makeApiClient(k8s.DiscoveryV1Api);
  const params = (r: ListRequest) => ({ limit: r.limit, ...(r.continueToken ? { _continue: r.continueToken } : {}) });
  return {
    services: {
      kind: 'services',
      watchPath: '/api/v1/services',
      list: async (r) => page(await core.listServiceForAllNamespaces(params(r), withSignal(r.signal))),
    },
    endpointslices: {
      kind: 'endpointslices',
      watchPath: '/apis/discovery.k8s.io/v1/endpointslices',
      list: async (r) => page(await discovery.listEndpointSliceForAllNamespaces(params(r), withSignal(r.signal))),
    },
    pods: {
      kind: 'pods',
      watchPath: '/api/v1/pods',
      list: async (r) => page(await core.listPodForAllNamespaces(params(r), withSignal(r.signal))),
    },
    nodes: {
      kind: 'nodes',
      watchPath: '/api/v1/nodes',
      list: async (r) => page(await core.listNode(params(r), withSignal(r.signal))),
    },
  };
}

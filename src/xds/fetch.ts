/**
 * The unary Fetch* RPCs (FetchClusters, FetchEndpoints, FetchListeners, FetchRoutes,
 * FetchSecrets): one DiscoveryResponse with the current resources of the requesting node's group,
 * for tools and clients that poll instead of holding a stream. A fetch is authenticated and
 * resolved exactly like a stream's first request; nothing is remembered about it afterwards.
 */
import * as grpc from '@grpc/grpc-js';
import { decodeDiscoveryRequest, type SotwRequest } from './codec.js';
import { sotwBody, subscriptionKey } from './sotw-body.js';
import { fetchesTotal } from './metrics.js';
import { namesProblem, nodeProblem, type Authenticator, type StreamRefusal } from './stream.js';
import type { SnapshotCache, StreamIdentity } from './cache.js';
import { TYPE_SHORT_NAME, nodeRole, type TypeUrl } from './types.js';
import { log } from '../log.js';

/** What answering a fetch needs from the server. */
export interface FetchHost {
  readonly cache: SnapshotCache;
  readonly authenticate: Authenticator | undefined;
  recordRefusal(refusal: StreamRefusal): void;
}

/** A refused fetch: the gRPC status and a message naming what is wrong. */
export interface FetchError {
  readonly code: grpc.status;
  readonly details: string;
}

/** The DiscoveryResponse bytes, or why there are none. */
export type FetchResult = { readonly response: Buffer } | FetchError;

/**
 * Answers one Fetch* request of `typeUrl`: the subscribed resources that exist (every resource of
 * the group when `resource_names` is empty or has `*`), under the same `version_info` a stream
 * would send for that set. The response is always sent, also when the client's `version_info` is
 * already current (gRPC has no "not modified"; compare the versions).
 */
export async function answerFetch(host: FetchHost, typeUrl: TypeUrl, call: grpc.ServerUnaryCall<Buffer, Buffer>): Promise<FetchResult> {
  const result = await answer(host, typeUrl, call);
  fetchesTotal.inc({ type: TYPE_SHORT_NAME[typeUrl], code: 'response' in result ? 'OK' : (grpc.status[result.code] ?? String(result.code)) });
  return result;
}

async function answer(host: FetchHost, typeUrl: TypeUrl, call: grpc.ServerUnaryCall<Buffer, Buffer>): Promise<FetchResult> {
  let req: SotwRequest;
  try {
    req = decodeDiscoveryRequest(call.request);
  } catch (e) {
    return { code: grpc.status.INVALID_ARGUMENT, details: `request does not decode as a DiscoveryRequest: ${e instanceof Error ? e.message : String(e)}` };
  }
  if (req.typeUrl !== '' && req.typeUrl !== typeUrl) return { code: grpc.status.INVALID_ARGUMENT, details: `type_url ${JSON.stringify(req.typeUrl)} is not served by this RPC (it serves ${typeUrl})` };
  const badNames = namesProblem(req.resourceNames, 'resource_names');
  if (badNames) return { code: grpc.status.INVALID_ARGUMENT, details: badNames };
  const node = req.node;
  if (!node || node.id === '') return { code: grpc.status.INVALID_ARGUMENT, details: 'the request has no node.id' };
  const oversized = nodeProblem(node);
  if (oversized) return { code: grpc.status.INVALID_ARGUMENT, details: `node refused: ${oversized}` };

  let identity: StreamIdentity | undefined;
  if (host.authenticate) {
    const peer = call.getPeer();
    let result: StreamIdentity | Error;
    try {
      result = await host.authenticate({ metadata: call.metadata, peer, authContext: call.getAuthContext() }, node);
    } catch (e) {
      result = e instanceof Error ? e : new Error(String(e));
    }
    if (result instanceof Error) {
      const denied = (result as { code?: unknown }).code === grpc.status.PERMISSION_DENIED;
      host.recordRefusal({ nodeId: node.id, role: nodeRole(node), peer, code: denied ? 'PERMISSION_DENIED' : 'UNAUTHENTICATED', reason: result.message, at: new Date().toISOString() });
      return { code: denied ? grpc.status.PERMISSION_DENIED : grpc.status.UNAUTHENTICATED, details: `fetch refused for node ${JSON.stringify(node.id)}: ${result.message}` };
    }
    identity = result;
  }

  const groups = host.cache.resolve(node, identity);
  if (groups instanceof Error) return { code: grpc.status.NOT_FOUND, details: `no configuration for node ${JSON.stringify(node.id)}: ${groups.message}` };
  const group = groups.get(typeUrl);
  if (group === undefined) return { code: grpc.status.NOT_FOUND, details: `node ${JSON.stringify(node.id)} is not served ${TYPE_SHORT_NAME[typeUrl].toUpperCase()}` };
  const set = host.cache.get(group, typeUrl);
  if (!set.ready) return { code: grpc.status.UNAVAILABLE, details: `the ${TYPE_SHORT_NAME[typeUrl].toUpperCase()} resources of node ${JSON.stringify(node.id)} are not computed yet; retry` };

  // The same selection, version and bytes a stream with this subscription is sent (no nonce: nothing answers a fetch).
  const names = new Set(req.resourceNames);
  const body = sotwBody(set.resources, names.size === 0 || names.has('*') ? undefined : names, subscriptionKey(names));
  log.debug({ node: node.id, type: TYPE_SHORT_NAME[typeUrl], resources: body.resources.length }, 'xds fetch answered');
  return { response: body.response(typeUrl, '') };
}

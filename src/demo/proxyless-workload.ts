/**
 * Proxyless gRPC workloads for the demo, the end-to-end suite and the convergence benchmark: a
 * grpc-js-xds `XdsServer` answering `Who`, and `xds:///` clients, both fed only by crossmesh.
 *
 * grpc-js-xds normally reads one bootstrap per process (GRPC_XDS_BOOTSTRAP). To simulate many
 * nodes in one process, each server/channel can carry its own bootstrap in grpc-js-xds's
 * per-object bootstrap option, which gives it an xDS client (and ADS stream) of its own.
 */
import * as grpc from '@grpc/grpc-js';
import { XdsChannelCredentials, XdsServer, XdsServerCredentials, register } from '@grpc/grpc-js-xds';
import type { ProxylessBootstrap } from '../translate/proxyless-bootstrap.js';
import { echoImplementation, echoService, type WhoAnswer } from './echo.js';

/** grpc-js-xds's per-channel/per-server bootstrap option (its name says tests; the demo is a simulation). */
const BOOTSTRAP_OPTION = 'grpc.TEST_ONLY_DO_NOT_USE_IN_PROD.xds_bootstrap_config';

let registered = false;

/**
 * Registers the `xds:` resolver. Set GRPC_XDS_EXPERIMENTAL_RBAC=true in the environment before
 * grpc-js-xds is first loaded if servers must enforce access policy (it is read at load time).
 */
export function registerXds(): void {
  if (registered) return;
  register();
  registered = true;
}

function optionsFor(bootstrap: ProxylessBootstrap | undefined, extra: grpc.ChannelOptions = {}): grpc.ChannelOptions {
  return bootstrap ? { ...extra, [BOOTSTRAP_OPTION]: JSON.stringify(bootstrap) } : extra;
}

/** A running proxyless server. */
export interface ProxylessServer {
  readonly address: string;
  readonly port: number;
  /** Stops at once (open calls fail), ends its xDS watch. */
  close(): void;
}

export interface ProxylessServerOptions {
  /** Per-server bootstrap (default: the process's GRPC_XDS_BOOTSTRAP). */
  readonly bootstrap?: ProxylessBootstrap;
  readonly address: string;
  readonly port: number;
  readonly answer: WhoAnswer;
  /** How long to wait for the control plane's listener before giving up (default 10 s). */
  readonly timeoutMs?: number;
}

/**
 * Starts an XdsServer on `address:port`; resolves once it serves (its listener
 * `grpc/server?xds.resource.listening_address=<address>:<port>` arrived and the port is bound).
 * grpc-js-xds binds the port on every local address, so two servers in one host need distinct ports.
 */
export async function startProxylessServer(o: ProxylessServerOptions): Promise<ProxylessServer> {
  registerXds();
  const server = new XdsServer(optionsFor(o.bootstrap, { drainGraceTimeMs: 0 } as grpc.ChannelOptions));
  server.addService(echoService, echoImplementation(o.answer));
  const hostPort = o.address.includes(':') ? `[${o.address}]:${o.port}` : `${o.address}:${o.port}`;
  const timeoutMs = o.timeoutMs ?? 10_000;
  try {
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`proxyless server ${o.answer.workload} on ${hostPort}: not serving after ${timeoutMs} ms (no listener grpc/server?xds.resource.listening_address=${hostPort} from the control plane?)`)), timeoutMs);
      server.bindAsync(hostPort, new XdsServerCredentials(grpc.ServerCredentials.createInsecure()), (err) => {
        clearTimeout(timer);
        if (err) reject(err);
        else resolve();
      });
    });
  } catch (e) {
    server.forceShutdown();
    throw e;
  }
  return { address: o.address, port: o.port, close: () => server.forceShutdown() };
}

/**
 * A client of `xds:///<target>` (e.g. `reviews.default.svc.cluster.local:9080`). Its transport
 * security comes from the clusters crossmesh serves (certificate providers in the bootstrap).
 */
export function proxylessClient(target: string, bootstrap?: ProxylessBootstrap, channelOptions: grpc.ChannelOptions = {}): grpc.Client {
  registerXds();
  return new grpc.Client(`xds:///${target}`, new XdsChannelCredentials(grpc.credentials.createInsecure()), optionsFor(bootstrap, { ...channelOptions }));
}

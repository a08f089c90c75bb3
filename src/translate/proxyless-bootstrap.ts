/**
 * The grpc-js-xds bootstrap (JSON) of a proxyless node: ADS to crossmesh, the node's identity and
 * locality, the server listener name template, and the `file_watcher` certificate providers over
 * the files `crossmesh agent --out <dir>` writes (`cert.pem`, `key.pem`, `ca.pem`). The instance
 * names are the ones proxyless TLS contexts reference. Pure.
 */
import type { Locality } from '../model/types.js';
import { SERVER_LISTENER_TEMPLATE } from './proxyless-listeners.js';
import { IDENTITY_PROVIDER_INSTANCE, ROOT_PROVIDER_INSTANCE } from './proxyless-tls.js';

/** Inputs of a proxyless bootstrap. */
export interface ProxylessBootstrapOptions {
  /** `<cluster>/<namespace>/<name>`. */
  readonly nodeId: string;
  /** host:port of crossmesh's xDS server. */
  readonly xdsAddress: string;
  /** Directory holding cert.pem, key.pem and ca.pem (what `crossmesh agent --out` writes). */
  readonly certDir: string;
  readonly locality: Locality;
  /** How often grpc-js-xds re-reads the files (default 10s; the agent rewrites them on rotation). */
  readonly refreshInterval?: string;
}

/** The bootstrap object in grpc-js-xds's JSON shape. */
export interface ProxylessBootstrap {
  xds_servers: { server_uri: string; channel_creds: { type: string }[]; server_features: string[] }[];
  node: { id: string; cluster: string; locality: { region: string; zone: string; sub_zone: string }; metadata: { role: 'proxyless' } };
  server_listener_resource_name_template: string;
  certificate_providers: Record<string, { plugin_name: 'file_watcher'; config: Record<string, string> }>;
}

function join(dir: string, file: string): string {
  return dir.endsWith('/') ? `${dir}${file}` : `${dir}/${file}`;
}

/** Builds the bootstrap; the node's cluster is the first segment of its id. */
export function buildProxylessBootstrap(o: ProxylessBootstrapOptions): ProxylessBootstrap {
  const cluster = o.nodeId.split('/')[0] ?? '';
  const refresh = o.refreshInterval ?? '10s';
  return {
    // grpc-js-xds speaks only plaintext ("insecure") or google_default to its xDS server.
    xds_servers: [{ server_uri: o.xdsAddress, channel_creds: [{ type: 'insecure' }], server_features: ['xds_v3'] }],
    node: {
      id: o.nodeId,
      cluster,
      locality: { region: o.locality.region, zone: o.locality.zone, sub_zone: o.locality.subzone },
      metadata: { role: 'proxyless' },
    },
    server_listener_resource_name_template: SERVER_LISTENER_TEMPLATE,
    certificate_providers: {
      [IDENTITY_PROVIDER_INSTANCE]: {
        plugin_name: 'file_watcher',
        config: { certificate_file: join(o.certDir, 'cert.pem'), private_key_file: join(o.certDir, 'key.pem'), refresh_interval: refresh },
      },
      [ROOT_PROVIDER_INSTANCE]: { plugin_name: 'file_watcher', config: { ca_certificate_file: join(o.certDir, 'ca.pem'), refresh_interval: refresh } },
    },
  };
}

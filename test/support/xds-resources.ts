/** Plain Envoy resource objects for xDS tests (keepCase field names, as the cache takes them). */
import { CLUSTER_TYPE, ENDPOINT_TYPE, LISTENER_TYPE, ROUTE_TYPE, SECRET_TYPE } from '../../src/xds/types.js';

export { CLUSTER_TYPE, ENDPOINT_TYPE, LISTENER_TYPE, ROUTE_TYPE, SECRET_TYPE };

/** An EDS cluster loading its endpoints over ADS. */
export function edsCluster(name: string, timeoutSeconds = 1): object {
  return {
    name,
    type: 'EDS',
    connect_timeout: { seconds: timeoutSeconds },
    eds_cluster_config: { eds_config: { ads: {}, resource_api_version: 'V3' }, service_name: name },
    lb_policy: 'ROUND_ROBIN',
  };
}

/** A ClusterLoadAssignment with the given host:port endpoints in one locality. */
export function cla(name: string, endpoints: [string, number][], locality = { region: 'us-east', zone: 'us-east-1a' }): object {
  return {
    cluster_name: name,
    endpoints: [
      {
        locality,
        load_balancing_weight: { value: 1 },
        lb_endpoints: endpoints.map(([address, port]) => ({
          endpoint: { address: { socket_address: { address, port_value: port } } },
          health_status: 'HEALTHY',
        })),
      },
    ],
  };
}

/** A gRPC api_listener using RDS over ADS. */
export function apiListener(name: string, routeConfigName: string): object {
  return {
    name,
    api_listener: {
      api_listener: {
        '@type': 'type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager',
        stat_prefix: name,
        rds: { config_source: { ads: {}, resource_api_version: 'V3' }, route_config_name: routeConfigName },
        http_filters: [{ name: 'router', typed_config: { '@type': 'type.googleapis.com/envoy.extensions.filters.http.router.v3.Router' } }],
      },
    },
  };
}

/** A route configuration sending everything for `domain` to one cluster. */
export function routeTo(name: string, domain: string, cluster: string): object {
  return {
    name,
    virtual_hosts: [{ name: `${name}-vh`, domains: [domain], routes: [{ match: { prefix: '' }, route: { cluster } }] }],
  };
}

/** A TLS certificate secret with (fake, test-only) PEM strings. */
export function tlsSecret(name: string, key = 'TEST-PRIVATE-KEY'): object {
  return {
    name,
    tls_certificate: { certificate_chain: { inline_string: `CERT-${name}` }, private_key: { inline_string: key } },
  };
}

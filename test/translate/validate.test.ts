import { describe, expect, it } from 'vitest';
import { formatViolations, validateObject } from '../../src/translate/validate.js';
import { messageType } from '../../src/xds/protos.js';
import { buildClusterLoadAssignment } from '../../src/translate/endpoints.js';
import { sharedPart } from '../../src/translate/shared-part.js';
import { guardResources } from '../../src/translate/semantics.js';

const HCM = 'envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager';
const ROUTER = 'envoy.extensions.filters.http.router.v3.Router';

function any(typeName: string, obj: Record<string, unknown>): { type_url: string; value: Uint8Array } {
  const T = messageType(typeName);
  return { type_url: `type.googleapis.com/${typeName}`, value: T.encode(T.fromObject(obj)).finish() };
}

const goodCluster = {
  name: 'outbound|9080||reviews.default.svc.cluster.local',
  type: 'EDS',
  eds_cluster_config: { eds_config: { ads: {}, resource_api_version: 'V3' } },
  connect_timeout: { seconds: 1 },
  lb_policy: 'ROUND_ROBIN',
};

function listener(hcm: Record<string, unknown>) {
  return {
    name: 'outbound_15001',
    address: { socket_address: { address: '0.0.0.0', port_value: 15001 } },
    filter_chains: [{ filters: [{ name: 'envoy.filters.network.http_connection_manager', typed_config: any(HCM, hcm) }] }],
  };
}

const goodHcm = {
  stat_prefix: 'outbound_15001',
  rds: { route_config_name: '15001', config_source: { ads: {}, resource_api_version: 'V3' } },
  http_filters: [{ name: 'envoy.filters.http.router', typed_config: any(ROUTER, {}) }],
};

describe('validateObject (protoc-gen-validate rules from Envoy protos)', () => {
  it('accepts well-formed resources', () => {
    expect(validateObject('envoy.config.cluster.v3.Cluster', goodCluster)).toEqual([]);
    expect(validateObject('envoy.config.listener.v3.Listener', listener(goodHcm))).toEqual([]);
    const cla = buildClusterLoadAssignment('c', [{ address: '127.0.0.1', port: 80, health: 'HEALTHY', cluster: 'a', network: 'n', locality: { region: 'r', zone: 'z', subzone: '' } }], { cluster: 'a', network: 'n', locality: { region: 'r', zone: 'z', subzone: '' } }, new Map());
    expect(validateObject('envoy.config.endpoint.v3.ClusterLoadAssignment', cla as unknown as Record<string, unknown>)).toEqual([]);
  });

  it('rejects an empty required string and names the field', () => {
    const v = validateObject('envoy.config.cluster.v3.Cluster', { ...goodCluster, name: '' });
    expect(v).toEqual([{ path: 'name', message: 'must not be empty' }]);
    expect(formatViolations('cluster x', v)).toEqual(['cluster x: name: must not be empty']);
  });

  it('checks rules on fields that are not set (a default that breaks a rule, a required message)', () => {
    expect(validateObject('envoy.config.cluster.v3.Cluster', {})).toEqual([{ path: 'name', message: 'must not be empty' }]);
    expect(validateObject('envoy.config.route.v3.RouteConfiguration', { virtual_hosts: [{ name: 'x', domains: ['a'], routes: [{ route: { cluster: 'c' } }] }] })).toEqual([
      { path: 'virtual_hosts[0].routes[0].match', message: 'is required' },
    ]);
    // Set to null reads as not set.
    expect(validateObject('envoy.config.cluster.v3.Cluster', { ...goodCluster, name: null })).toEqual([{ path: 'name', message: 'must not be empty' }]);
  });

  it('rejects durations and numbers out of range', () => {
    expect(validateObject('envoy.config.cluster.v3.Cluster', { ...goodCluster, connect_timeout: { seconds: 0 } })).toEqual([
      { path: 'connect_timeout', message: 'must be > 0s, got 0s' },
    ]);
    const cla = {
      cluster_name: 'c',
      endpoints: [{ locality: {}, priority: 129, lb_endpoints: [{ endpoint: { address: { socket_address: { address: '1.2.3.4', port_value: 80 } } }, load_balancing_weight: { value: 0 } }] }],
    };
    const v = validateObject('envoy.config.endpoint.v3.ClusterLoadAssignment', cla);
    expect(v.map((x) => x.path).sort()).toEqual(['endpoints[0].lb_endpoints[0].load_balancing_weight', 'endpoints[0].priority']);
  });

  it('reports a broken shared part at every place it appears, checking it once', () => {
    // One frozen endpoint (weight 0) in two locality groups; the second walk finds its memo.
    const bad = sharedPart({ endpoint: { address: { socket_address: { address: '1.2.3.4', port_value: 80 } } }, load_balancing_weight: sharedPart({ value: 0 }) });
    const good = sharedPart({ endpoint: { address: { socket_address: { address: '1.2.3.5', port_value: 80 } } } });
    const group = (lb: object[], priority: number) => sharedPart({ locality: {}, priority, lb_endpoints: lb });
    const cla = { cluster_name: 'c', endpoints: [group([good, bad], 0), group([bad], 1)] };
    const first = validateObject('envoy.config.endpoint.v3.ClusterLoadAssignment', cla);
    const again = validateObject('envoy.config.endpoint.v3.ClusterLoadAssignment', { cluster_name: 'd', endpoints: [group([bad, good], 0)] });
    expect(first).toEqual([
      { path: 'endpoints[0].lb_endpoints[1].load_balancing_weight', message: 'must be >= 1, got 0' },
      { path: 'endpoints[1].lb_endpoints[0].load_balancing_weight', message: 'must be >= 1, got 0' },
    ]);
    expect(again).toEqual([{ path: 'endpoints[0].lb_endpoints[0].load_balancing_weight', message: 'must be >= 1, got 0' }]);
    // The memoized violations are not rewritten by the paths of the places they were reported at.
    expect(validateObject('envoy.config.endpoint.v3.LbEndpoint', bad)).toEqual([{ path: 'load_balancing_weight', message: 'must be >= 1, got 0' }]);
  });

  it('names map keys and Any payload types in paths', () => {
    const v = validateObject('envoy.config.cluster.v3.Cluster', {
      ...goodCluster,
      typed_extension_protocol_options: { 'envoy.extensions.upstreams.http.v3.HttpProtocolOptions': { '@type': 'type.googleapis.com/envoy.extensions.upstreams.http.v3.HttpProtocolOptions', explicit_http_config: { http2_protocol_options: { max_concurrent_streams: 0 } } } },
    });
    expect(v).toEqual([{ path: 'typed_extension_protocol_options["envoy.extensions.upstreams.http.v3.HttpProtocolOptions"]<envoy.extensions.upstreams.http.v3.HttpProtocolOptions>.explicit_http_config.http2_protocol_options.max_concurrent_streams', message: 'must be >= 1 and <= 2147483647, got 0' }]);
  });

  it('rejects undefined enum values', () => {
    const v = validateObject('envoy.config.cluster.v3.Cluster', { ...goodCluster, lb_policy: 77 });
    expect(v).toEqual([{ path: 'lb_policy', message: '77 is not a defined LbPolicy value' }]);
  });

  it('rejects a missing required oneof and repeated min_items', () => {
    const rc = {
      name: 'r',
      virtual_hosts: [{ name: 'vh', domains: [], routes: [{ match: { prefix: '/' }, route: {} }] }],
    };
    const v = validateObject('envoy.config.route.v3.RouteConfiguration', rc);
    expect(v).toContainEqual({ path: 'virtual_hosts[0].domains', message: 'needs at least 1 item(s), has 0' });
    expect(v.some((x) => x.path === 'virtual_hosts[0].routes[0].route.cluster_specifier')).toBe(true);
  });

  it('looks inside typed_config Any payloads', () => {
    const v = validateObject('envoy.config.listener.v3.Listener', listener({ ...goodHcm, stat_prefix: '' }));
    expect(v).toEqual([
      { path: `filter_chains[0].filters[0].typed_config<${HCM}>.stat_prefix`, message: 'must not be empty' },
    ]);
  });

  it('rejects an Any of a type it does not know', () => {
    const l = listener(goodHcm);
    (l.filter_chains[0]!.filters[0]!.typed_config as { type_url: string }).type_url = 'type.googleapis.com/no.such.Type';
    const v = validateObject('envoy.config.listener.v3.Listener', l);
    expect(v).toEqual([{ path: 'filter_chains[0].filters[0].typed_config', message: 'unknown type type.googleapis.com/no.such.Type' }]);
  });

  it('rejects header names with forbidden characters', () => {
    const rc = {
      name: 'r',
      request_headers_to_add: [{ header: { key: 'x-bad\nname', value: 'v' } }],
    };
    expect(validateObject('envoy.config.route.v3.RouteConfiguration', rc)).toEqual([
      { path: 'request_headers_to_add[0].header.key', message: 'is not a valid HTTP header name' },
    ]);
  });
});

describe('oneof members', () => {
  it('checks a oneof member only when it is set', () => {
    const ds = 'envoy.config.core.v3.DataSource';
    expect(validateObject(ds, { filename: '/etc/ca.pem' })).toEqual([]);
    expect(validateObject(ds, { filename: '' })).toEqual([{ path: 'filename', message: 'must not be empty' }]);
  });
});

describe("Envoy's own load-time rules in the guard walk (RE2 and header mutations)", () => {
  const RC = 'envoy.config.route.v3.RouteConfiguration';
  const routeConfig = (route: Record<string, unknown>, vhost: Record<string, unknown> = {}) => ({
    name: '9080',
    virtual_hosts: [{ name: 'reviews', domains: ['reviews'], routes: [{ match: { prefix: '/' }, route: { cluster: 'c' }, ...route }], ...vhost }],
  });
  const regexRoute = (regex: string) => routeConfig({ match: { safe_regex: { regex } } });

  it('refuses a look-ahead in a route safe_regex, naming the field', () => {
    expect(validateObject(RC, regexRoute('/a(?!b)'))).toEqual([
      { path: 'virtual_hosts[0].routes[0].match.safe_regex.regex', message: 'regex "/a(?!b)" is not valid RE2 (Envoy refuses it): invalid perl operator: (?!' },
    ]);
  });

  it('refuses a backreference in a header matcher safe_regex', () => {
    const rc = routeConfig({ match: { prefix: '/', headers: [{ name: 'x-user', string_match: { safe_regex: { regex: '(a)\\1' } } }] } });
    expect(validateObject(RC, rc)).toEqual([
      { path: 'virtual_hosts[0].routes[0].match.headers[0].string_match.safe_regex.regex', message: 'regex "(a)\\\\1" is not valid RE2 (Envoy refuses it): invalid escape sequence: \\1' },
    ]);
  });

  it('accepts a program of size 100 and refuses one of 101 (Envoy 1.40: a{96} loads, a{97} does not)', () => {
    expect(validateObject(RC, regexRoute('a{96}'))).toEqual([]);
    expect(validateObject(RC, regexRoute('a{97}')).map((v) => v.message)).toEqual([
      `regex "a{97}" compiles to an RE2 program of size 101, over Envoy's limit of 100 (re2.max_program_size.error_level): simplify it`,
    ]);
    // The deprecated per-matcher limit replaces the runtime one, as in Envoy.
    expect(validateObject(RC, routeConfig({ match: { safe_regex: { regex: 'a{96}', google_re2: { max_program_size: { value: 99 } } } } })).map((v) => v.path)).toEqual([
      'virtual_hosts[0].routes[0].match.safe_regex.regex',
    ]);
  });

  it('checks a regex inside an encoded Any too (CORS allow_origin_string_match)', () => {
    const cors = any('envoy.extensions.filters.http.cors.v3.CorsPolicy', { allow_origin_string_match: [{ safe_regex: { regex: '(?=x)' } }] });
    const v = validateObject(RC, routeConfig({ typed_per_filter_config: { 'envoy.filters.http.cors': cors } }));
    expect(v.map((x) => x.path)).toEqual(['virtual_hosts[0].routes[0].typed_per_filter_config["envoy.filters.http.cors"]<envoy.extensions.filters.http.cors.v3.CorsPolicy>.allow_origin_string_match[0].safe_regex.regex']);
  });

  it('refuses adding host, at route and virtual host level, in any case (found below first: nested messages are checked before their parent)', () => {
    const v = validateObject(RC, routeConfig({ request_headers_to_add: [{ header: { key: 'host', value: 'x' } }] }, { response_headers_to_add: [{ header: { key: 'Host', value: 'x' } }] }));
    expect(v).toEqual([
      { path: 'virtual_hosts[0].routes[0].request_headers_to_add[0].header.key', message: 'Envoy refuses to add or set header "host" (":-prefixed or host headers may not be modified")' },
      { path: 'virtual_hosts[0].response_headers_to_add[0].header.key', message: 'Envoy refuses to add or set header "Host" (":-prefixed or host headers may not be modified")' },
    ]);
  });

  it('refuses removing host', () => {
    expect(validateObject(RC, routeConfig({ request_headers_to_remove: ['host'] }))).toEqual([
      { path: 'virtual_hosts[0].routes[0].request_headers_to_remove[0]', message: 'Envoy refuses to remove header "host" (":-prefixed or host headers may not be removed")' },
    ]);
  });

  it('refuses adding :authority and removing :path, also on a weighted cluster and the route configuration itself', () => {
    const rc = {
      ...routeConfig({ route: { weighted_clusters: { clusters: [{ name: 'c', weight: 100, request_headers_to_remove: [':path'] }] } } }),
      request_headers_to_add: [{ header: { key: ':authority', value: 'x' } }],
    };
    expect(validateObject(RC, rc).map((v) => `${v.path}: ${v.message}`)).toEqual([
      'virtual_hosts[0].routes[0].route.weighted_clusters.clusters[0].request_headers_to_remove[0]: Envoy refuses to remove header ":path" (":-prefixed or host headers may not be removed")',
      'request_headers_to_add[0].header.key: Envoy refuses to add or set header ":authority" (":-prefixed or host headers may not be modified")',
    ]);
  });

  it('accepts ordinary header mutations', () => {
    expect(validateObject(RC, routeConfig({ request_headers_to_add: [{ header: { key: 'x-hostname', value: 'a' } }], response_headers_to_remove: ['x-envoy-upstream-service-time'] }))).toEqual([]);
  });
});

describe('the guard refuses a route configuration Envoy would NACK and keeps the last good one', () => {
  it('rejects a bad regex or a host header mutation with the reason, serving the previous version', () => {
    const cluster = { ...goodCluster, name: 'c' };
    const rc = (route: Record<string, unknown>) => ({ name: '9080', virtual_hosts: [{ name: 'v', domains: ['v'], routes: [{ match: { prefix: '/' }, route: { cluster: 'c' }, ...route }] }] });
    const good = rc({});
    const resources = (r: Record<string, unknown>) => ({ clusters: new Map([['c', cluster]]), endpoints: new Map(), listeners: new Map(), routes: new Map([['9080', r]]) });
    for (const [bad, error] of [
      [rc({ match: { safe_regex: { regex: 'a{97}' } } }), `virtual_hosts[0].routes[0].match.safe_regex.regex: regex "a{97}" compiles to an RE2 program of size 101, over Envoy's limit of 100 (re2.max_program_size.error_level): simplify it`],
      [rc({ request_headers_to_remove: ['host'] }), 'virtual_hosts[0].routes[0].request_headers_to_remove[0]: Envoy refuses to remove header "host" (":-prefixed or host headers may not be removed")'],
    ] as const) {
      const g = guardResources(resources(bad), { previous: resources(good) });
      expect(g.rejected).toEqual([{ kind: 'routes', name: '9080', errors: [error] }]);
      expect(g.accepted.routes.get('9080')).toBe(good);
    }
  });
});

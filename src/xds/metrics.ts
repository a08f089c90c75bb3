/** Prometheus metrics of the xDS server, registered once in prom-client's default registry. */
import { Counter, Gauge, Histogram } from 'prom-client';
import { TYPE_SHORT_NAME, type TypeUrl } from './types.js';

/** Streams currently open, by mode (sotw/delta). */
export const connectedStreams = new Gauge({
  name: 'crossmesh_xds_connected_streams',
  help: 'xDS streams currently connected (one proxy may open several without ADS)',
  labelNames: ['mode'] as const,
});

/** Responses written, by resource type. */
export const pushesTotal = new Counter({
  name: 'crossmesh_xds_pushes_total',
  help: 'xDS responses written to streams',
  labelNames: ['type'] as const,
});

/** NACKs received, by resource type. */
export const nacksTotal = new Counter({
  name: 'crossmesh_xds_nacks_total',
  help: 'xDS responses rejected by a proxy (request with error_detail)',
  labelNames: ['type'] as const,
});

/** Time from a resource change in the cache (start of the debounce window) to the response being written. */
export const pushLatency = new Histogram({
  name: 'crossmesh_xds_push_latency_seconds',
  help: 'Time from a cache change to the response carrying it being written to a stream',
  labelNames: ['type'] as const,
  buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
});

/** Unary Fetch* requests answered, by resource type and gRPC status (`OK` or the error code's name). */
export const fetchesTotal = new Counter({
  name: 'crossmesh_xds_fetches_total',
  help: 'Unary xDS Fetch* requests, by type and result',
  labelNames: ['type', 'code'] as const,
});

/** Streams refused or left without configuration, by reason. */
export const streamErrorsTotal = new Counter({
  name: 'crossmesh_xds_stream_errors_total',
  help: 'xDS streams ended with an error or left unconfigured',
  labelNames: ['reason'] as const,
});

// Label children bound once per type: the push path runs once per stream per change.
const pushChildren = new Map<TypeUrl, ReturnType<typeof pushesTotal.labels>>();
const latencyChildren = new Map<TypeUrl, ReturnType<typeof pushLatency.labels>>();

/** pushesTotal bound to one type. */
export function pushCounter(t: TypeUrl): ReturnType<typeof pushesTotal.labels> {
  let c = pushChildren.get(t);
  if (!c) {
    c = pushesTotal.labels({ type: TYPE_SHORT_NAME[t] });
    pushChildren.set(t, c);
  }
  return c;
}

/** pushLatency bound to one type. */
export function latencyHistogram(t: TypeUrl): ReturnType<typeof pushLatency.labels> {
  let h = latencyChildren.get(t);
  if (!h) {
    h = pushLatency.labels({ type: TYPE_SHORT_NAME[t] });
    latencyChildren.set(t, h);
  }
  return h;
}

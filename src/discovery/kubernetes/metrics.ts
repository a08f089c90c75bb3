/** Prometheus metrics of Kubernetes discovery, on prom-client's default registry. */
import { Counter, Gauge } from 'prom-client';

/** 1 while a cluster's API server is unreachable and its last-known objects are served stale. */
export const clusterStaleGauge = new Gauge({
  name: 'crossmesh_discovery_cluster_stale',
  help: '1 while the Kubernetes API server of a cluster is unreachable and its last-known objects are served (stale), else 0',
  labelNames: ['cluster'] as const,
});

/** Full re-lists after the initial one (410 Gone, recovery after an outage), per resource kind relisted. */
export const relistsCounter = new Counter({
  name: 'crossmesh_discovery_relists_total',
  help: 'Re-lists of a Kubernetes resource kind after the initial list (410 Gone or recovery from an outage)',
  labelNames: ['cluster'] as const,
});

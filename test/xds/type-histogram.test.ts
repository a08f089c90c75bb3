import { register } from 'prom-client';
import { afterAll, describe, expect, it } from 'vitest';
import { TypeHistogram } from '../../src/xds/type-histogram.js';
import { CLUSTER_TYPE, ENDPOINT_TYPE } from '../../src/xds/types.js';

const NAME = 'crossmesh_test_type_histogram_seconds';

describe('TypeHistogram', () => {
  afterAll(() => register.removeSingleMetric(NAME));

  it('is exposed by the registry as a Prometheus histogram: cumulative buckets, +Inf, sum and count per type', async () => {
    const h = new TypeHistogram(NAME, 'test histogram', [0.01, 0.1, 1]);
    for (const v of [0.005, 0.01, 0.05, 0.5, 3]) h.observe(ENDPOINT_TYPE, v);
    h.observe(CLUSTER_TYPE, 0.2);
    const text = await register.getSingleMetricAsString(NAME);
    expect(text.split('\n')).toEqual([
      `# HELP ${NAME} test histogram`,
      `# TYPE ${NAME} histogram`,
      `${NAME}_bucket{le="0.01",type="eds"} 2`,
      `${NAME}_bucket{le="0.1",type="eds"} 3`,
      `${NAME}_bucket{le="1",type="eds"} 4`,
      `${NAME}_bucket{le="+Inf",type="eds"} 5`,
      `${NAME}_sum{type="eds"} 3.565`,
      `${NAME}_count{type="eds"} 5`,
      `${NAME}_bucket{le="0.01",type="cds"} 0`,
      `${NAME}_bucket{le="0.1",type="cds"} 0`,
      `${NAME}_bucket{le="1",type="cds"} 1`,
      `${NAME}_bucket{le="+Inf",type="cds"} 1`,
      `${NAME}_sum{type="cds"} 0.2`,
      `${NAME}_count{type="cds"} 1`,
    ]);
    register.resetMetrics();
    expect((await register.getSingleMetricAsString(NAME)).split('\n')).toHaveLength(2);
  });
});

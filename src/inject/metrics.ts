/** Metrics of the sidecar-injection webhook. */
import { Counter } from 'prom-client';

/** What the webhook did with a request; the `result` label of `crossmesh_inject_admissions_total`. */
export type AdmissionResult = 'injected' | 'skipped' | 'refused' | 'ignored' | 'bad_request';

/** AdmissionReviews answered, by cluster and result (`ignored`: not a pod CREATE; `bad_request`: not an AdmissionReview). */
export const injectAdmissions = new Counter({ name: 'crossmesh_inject_admissions_total', help: 'AdmissionReviews the sidecar-injection webhook answered, by cluster and result (injected, skipped, refused, ignored, bad_request)', labelNames: ['cluster', 'result'] });

/** Metrics of xDS client authentication. */
import { Counter } from 'prom-client';

/** Why a stream was refused; the label values of `crossmesh_xds_auth_refusals_total`. */
export type RefusalReason =
  | 'missing_credentials'
  | 'invalid_token'
  | 'expired_token'
  | 'tokenreview_rejected'
  | 'tokenreview_unavailable'
  | 'unknown_node'
  | 'identity_mismatch'
  | 'model_not_loaded'
  | 'plaintext_not_proxyless'
  | 'credentials_over_plaintext';

/** Streams refused by authentication or identity binding, by reason. */
export const authRefusals = new Counter({ name: 'crossmesh_xds_auth_refusals_total', help: 'xDS streams refused by authentication or node identity binding, by reason', labelNames: ['reason'] });

/** Streams admitted, by credential kind (token, k8s, cert, none). */
export const authAdmissions = new Counter({ name: 'crossmesh_xds_auth_admissions_total', help: 'xDS streams admitted, by credential kind (token, k8s, cert, none)', labelNames: ['mode'] });

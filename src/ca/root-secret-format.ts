/** The keys of a root CA Secret (type kubernetes.io/tls, as cert-manager and kubectl create secret tls write them). */
export const ROOT_SECRET_CERT_KEY = 'tls.crt';
export const ROOT_SECRET_KEY_KEY = 'tls.key';
export const ROOT_SECRET_TYPE = 'kubernetes.io/tls';
/** Optional: more roots every proxy must trust (PEM, one or more), e.g. the next or previous root during a rotation. */
export const ROOT_SECRET_TRUST_KEY = 'ca.crt';

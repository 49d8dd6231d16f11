/**
 * The request headers the decision may read. Transports keep only these (bounded by the limits),
 * so memory follows the config, never what a caller sends. The config adds the headers its token
 * locations name (and `cookie`, `dpop` where a workload reads them).
 */
export const BASE_DECISION_HEADERS: ReadonlySet<string> = new Set([
  'authorization',
  'x-forwarded-client-cert',
  'traceparent',
  'tracestate',
  'x-request-id',
  'x-hopguard-workload',
]);

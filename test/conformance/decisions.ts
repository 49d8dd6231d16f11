/** Decision fixtures for the wire tests: plain data, as the pipeline produces them. */
import type { Allow, AuditFields, Deny } from '../../src/decision/types.js';
import type { ReasonCode } from '../../src/decision/reasons.js';

const AUDIT: AuditFields = { tokenHash: 'h1', iss: 'https://idp.example.com', kid: 'k1', jti: 'j1', sub: 'user-1', source: '', storeError: false, txn: '', dpopOutcome: null, internalError: null };

export const ORDERS = 'spiffe://cluster.local/ns/shop/sa/orders';
export const FRONTEND = 'spiffe://cluster.local/ns/shop/sa/frontend';

export function allowDecision(overrides: Partial<Allow> = {}): Allow {
  return {
    allowed: true,
    workload: ORDERS,
    operation: '',
    metadata: {
      iss: 'https://idp.example.com',
      sub: 'user-1',
      aud: [ORDERS, 'orders-api'],
      jti: 'jti-0001',
      exp: 1767229200,
      workload: ORDERS,
      source: FRONTEND,
      dpopJkt: '',
      txn: '',
    },
    headersToSet: [
      ['x-hopguard-sub', 'user-1'],
      ['x-hopguard-iss', 'https://idp.example.com'],
      ['x-hopguard-workload', ORDERS],
    ],
    headersToRemove: ['x-hopguard-shadow-reason'],
    queryParametersToRemove: [],
    shadowReason: null,
    steps: [],
    audit: AUDIT,
    ...overrides,
  };
}

export function denyDecision(reason: ReasonCode, workload = ORDERS): Deny {
  return { allowed: false, reason, detail: 'fixture', workload, operation: '', denialHeaders: {}, steps: [], audit: AUDIT };
}

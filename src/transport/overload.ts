import type { ReasonCode } from '../decision/reasons.js';
import type { Deny } from '../decision/types.js';

const NO_AUDIT = { tokenHash: '', iss: '', kid: '', jti: '', sub: '', source: '', storeError: false, txn: '', dpopOutcome: null, internalError: null } as const;

/** A denial decided at the edge, before the pipeline ran (load shedding, unreadable request). */
export function edgeDenial(reason: ReasonCode = 'overloaded', detail = 'too many checks in flight'): Deny {
  return { allowed: false, reason, detail, workload: '', operation: '', denialHeaders: {}, steps: [], audit: NO_AUDIT };
}

/** An unexpected error outside the pipeline (a bug, not a bad request): `internal_error`, logged with its stack. */
export function internalErrorDenial(error: unknown, detail = 'unexpected error while checking'): Deny {
  const stack = error instanceof Error ? (error.stack ?? error.message) : String(error);
  return { allowed: false, reason: 'internal_error', detail, workload: '', operation: '', denialHeaders: {}, steps: [], audit: { ...NO_AUDIT, internalError: stack } };
}

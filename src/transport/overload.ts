import type { ReasonCode } from '../decision/reasons.js';
import type { Deny } from '../decision/types.js';

const NO_AUDIT = { tokenHash: '', iss: '', kid: '', jti: '', sub: '', source: '', storeError: false } as const;

/** A denial decided at the edge, before the pipeline ran (load shedding, unreadable request). */
export function edgeDenial(reason: ReasonCode = 'overloaded', detail = 'too many checks in flight'): Deny {
  return { allowed: false, reason, detail, workload: '', steps: [], audit: NO_AUDIT };
}

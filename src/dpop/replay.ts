/**
 * Proof replay (RFC 9449 §11.1): a proof's jti is single-use per (workload, proof key) for as long
 * as its iat is acceptable, i.e. until iat + proofMaxAge + proofClockSkew. The record goes through
 * the existing ReplayStore port (memory or Redis), so with Redis one proof is accepted once across
 * every replica. The key's issuer field carries `dpop:<jkt>`: an issuer is a URL or a SPIFFE ID, so
 * a proof's record never shares a key with an access token's.
 */
import type { ReplayRecord } from '../decision/types.js';
import type { DpopProofAccepted } from './verify.js';

export const DPOP_REPLAY_ISSUER_PREFIX = 'dpop:';

/** The replay record of an accepted proof, for `ReplayStore.record` (mode once: no caller binding). */
export function dpopReplayRecord(workload: string, proof: Pick<DpopProofAccepted, 'jkt' | 'jti' | 'expiresAtMs'>): ReplayRecord {
  return {
    workload,
    issuer: `${DPOP_REPLAY_ISSUER_PREFIX}${proof.jkt}`,
    jti: proof.jti,
    source: '',
    mode: 'once',
    expiresAtMs: proof.expiresAtMs,
  };
}

/** DPoP (RFC 9449) at the resource server: pure building blocks for the proof-of-possession step. */
export {
  DPOP_DEFAULTS,
  DPOP_OFF,
  DPOP_PROOF_ALGORITHMS,
  dpopSchema,
  resolveDpop,
  type DpopConfigError,
  type DpopMode,
  type DpopNoncePolicy,
  type DpopPolicy,
  type DpopResolveResult,
  type RawDpop,
  type ResolveDpopOptions,
} from './config-schema.js';
export { normaliseHtu, normaliseOrigin, normaliseUriPath, requestOrigin, requestPathForHtu, type HtuResult } from './htu.js';
export { DEFAULT_NONCE_FUTURE_SKEW_MS, MIN_NONCE_SECRET_BYTES, NONCE_LENGTH, checkNonce, issueNonce, type NonceCheck } from './nonce.js';
export { PROOF_KEY_CACHE_ENTRIES, clearProofKeyCache, proofKeyOf, signatureVerifies, type ProofKey, type ProofKeyResult } from './proof-key.js';
export {
  DPOP_CHECKS,
  MAX_PROOF_BYTES,
  acceptedOrigins,
  accessTokenHash,
  dpopCheckTrace,
  verifyDpopProof,
  type DpopCheck,
  type DpopProofAccepted,
  type DpopProofInput,
  type DpopProofRejected,
  type DpopProofResult,
} from './verify.js';
export { DPOP_REPLAY_ISSUER_PREFIX, dpopReplayRecord } from './replay.js';
export { dpopGate, splitConfirmation, type ConfirmationSplit, type DpopGate, type PresentedScheme } from './binding.js';
export { HEADER_DPOP, HEADER_DPOP_JKT, HEADER_DPOP_NONCE, dpopChallenge, dpopDenialHeaders } from './challenge.js';
export { DPOP_PROOF_OUTCOMES, checkDpop, type DpopProofOutcome, type DpopStepInput, type DpopStepResult } from './step.js';

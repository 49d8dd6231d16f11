/**
 * The proof-of-possession step in one call, for the pipeline (ARCHITECTURE step 10): after the
 * token's signature, lifetime, audience and caller checks, before claims and replay.
 *
 *   const dpop = await checkDpop({ policy: workload.dpop, scheme, cnf: claims.cnf, ... });
 *   if (!dpop.ok) deny(dpop.reason, dpop.detail)      // + dpop.nonce -> `dpop-nonce` header
 *   bindingSatisfied(dpop.cnfForCertificate, thumbprint)  // jkt is this step's; x5t#S256 stays the caller step's
 *   ... claims ...
 *   replay: the token's record, then (dpop.mode === 'dpop') replay.record(dpop.replay): 'replayed' -> dpop_proof_replayed
 *   allow: headersToSet += dpop.headersToSet; metadata.dpop_jkt = dpop.jkt
 *
 * Nothing here does I/O; the replay record goes to the ReplayStore port by the caller, last.
 */
import type { ReplayRecord } from '../decision/types.js';
import { dpopGate, splitConfirmation, type PresentedScheme } from './binding.js';
import { HEADER_DPOP_JKT } from './challenge.js';
import type { DpopPolicy } from './config-schema.js';
import { requestOrigin } from './htu.js';
import { dpopReplayRecord } from './replay.js';
import { acceptedOrigins, verifyDpopProof, type DpopCheck, type DpopProofAccepted } from './verify.js';

/**
 * The `outcome` label of hopguard_dpop_proofs_total{workload, outcome}: one count per proof
 * examined (a Bearer request without a proof counts nothing). `accepted` is counted only after the
 * replay step let the proof through; `replayed` when the store had seen its jti.
 */
export const DPOP_PROOF_OUTCOMES = ['accepted', 'invalid', 'nonce_required', 'replayed'] as const;
export type DpopProofOutcome = (typeof DPOP_PROOF_OUTCOMES)[number];

export interface DpopStepInput {
  readonly workload: string;
  readonly policy: DpopPolicy;
  /** How the token was presented: `authorization: DPoP` is 'dpop', every other place 'bearer'. */
  readonly scheme: PresentedScheme;
  /** The verified token's `cnf` claim (undefined when absent). */
  readonly cnf: unknown;
  readonly accessToken: string;
  /** Every value of the request's `dpop` header. */
  readonly proofs: readonly string[] | undefined;
  /** The request as the transport reported it; `path` normalised by the operations step, or raw. */
  readonly request: { readonly method: string; readonly path: string; readonly host: string; readonly scheme: string };
  readonly nowMs: number;
}

export type DpopStepResult =
  | {
      readonly ok: true;
      readonly mode: 'bearer';
      /** cnf for the certificate binding check (bindingSatisfied). */
      readonly cnfForCertificate: unknown;
    }
  | {
      readonly ok: true;
      readonly mode: 'dpop';
      readonly cnfForCertificate: unknown;
      readonly proof: DpopProofAccepted;
      readonly jkt: string;
      /** For ReplayStore.record, in the replay step (last). */
      readonly replay: ReplayRecord;
      /** `x-hopguard-dpop-jkt` for the upstream. */
      readonly headersToSet: readonly (readonly [string, string])[];
    }
  | {
      readonly ok: false;
      readonly reason: 'dpop_required' | 'binding_mismatch' | 'dpop_proof_invalid' | 'dpop_nonce_required';
      readonly detail: string;
      /** The failing proof check, when a proof was examined. */
      readonly check: DpopCheck | null;
      /** With dpop_nonce_required: the fresh nonce for the `dpop-nonce` header. */
      readonly nonce?: string;
      /** For hopguard_dpop_proofs_total; null when no proof was examined. */
      readonly outcome: DpopProofOutcome | null;
    };

export async function checkDpop(input: DpopStepInput): Promise<DpopStepResult> {
  const { policy } = input;
  const gate = dpopGate(policy.mode, input.scheme, input.cnf);
  // With DPoP off cnf stays whole, so a jkt-bound token fails the certificate check as before.
  const cnfForCertificate = policy.mode === 'off' ? input.cnf : splitConfirmation(input.cnf).rest;
  if (gate.action === 'deny') return { ok: false, reason: gate.reason, detail: gate.detail, check: null, outcome: null };
  if (gate.action === 'bearer') return { ok: true, mode: 'bearer', cnfForCertificate };
  const origins = acceptedOrigins(policy, requestOrigin(input.request.scheme, input.request.host));
  const result = await verifyDpopProof({
    proofs: input.proofs,
    method: input.request.method,
    origins,
    path: input.request.path,
    accessToken: input.accessToken,
    boundJkt: gate.jkt,
    nowMs: input.nowMs,
    policy,
  });
  if (!result.ok) {
    return {
      ok: false,
      reason: result.reason,
      detail: `DPoP proof ${result.check}: ${result.detail}`,
      check: result.check,
      ...(result.nonce !== undefined ? { nonce: result.nonce } : {}),
      outcome: result.reason === 'dpop_nonce_required' ? 'nonce_required' : 'invalid',
    };
  }
  return {
    ok: true,
    mode: 'dpop',
    cnfForCertificate,
    proof: result,
    jkt: result.jkt,
    replay: dpopReplayRecord(input.workload, result),
    headersToSet: [[HEADER_DPOP_JKT, result.jkt]],
  };
}

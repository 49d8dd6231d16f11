/**
 * Which token presentations need a DPoP proof, and which are refused before any proof is read
 * (SPEC "Proof of possession at the hop", RFC 9449 §7.1-7.2):
 * - mode off: the DPoP scheme is unknown (token_missing, decided where the token is extracted),
 *   and a cnf.jkt token as Bearer stays binding_mismatch, as every unverifiable cnf member is;
 * - mode allowed or required: a cnf.jkt token sent as Bearer is the downgrade of §7.2, dpop_required;
 *   with required, so is every Bearer token; a DPoP token without cnf.jkt is binding_mismatch.
 */
import type { DpopMode } from './config-schema.js';

/** How the token came: `authorization: Bearer ...` (or any non-DPoP place) or `authorization: DPoP ...`. */
export type PresentedScheme = 'bearer' | 'dpop';

/** A token's `cnf`, split into the DPoP key binding and the other confirmation members. */
export interface ConfirmationSplit {
  /** cnf.jkt when it is a non-empty string; null when absent. */
  readonly jkt: string | null;
  /** cnf.jkt present but not a non-empty string: the token's binding cannot be honoured. */
  readonly jktMalformed: boolean;
  /**
   * cnf without jkt, for the certificate binding check (bindingSatisfied): undefined when nothing
   * but jkt was in cnf (or no cnf), else the other members; a non-object cnf is passed through.
   */
  readonly rest: unknown;
}

export function splitConfirmation(cnf: unknown): ConfirmationSplit {
  if (cnf === undefined || cnf === null || typeof cnf !== 'object' || Array.isArray(cnf)) {
    return { jkt: null, jktMalformed: false, rest: cnf };
  }
  const record = cnf as Record<string, unknown>;
  if (!Object.prototype.hasOwnProperty.call(record, 'jkt')) return { jkt: null, jktMalformed: false, rest: cnf };
  const { jkt, ...others } = record;
  const rest = Object.keys(others).length === 0 ? undefined : others;
  if (typeof jkt !== 'string' || jkt === '') return { jkt: null, jktMalformed: true, rest };
  return { jkt, jktMalformed: false, rest };
}

export type DpopGate =
  /** No proof to check: go on as a bearer token (the other cnf members are still checked). */
  | { readonly action: 'bearer' }
  /** Check the request's proof against this thumbprint. */
  | { readonly action: 'proof'; readonly jkt: string }
  | { readonly action: 'deny'; readonly reason: 'dpop_required' | 'binding_mismatch'; readonly detail: string };

/**
 * What the DPoP step does for a verified token, given how it was presented. With mode off the
 * caller keeps cnf whole for bindingSatisfied (which refuses jkt); otherwise it passes
 * `splitConfirmation(cnf).rest` there, as jkt is this step's.
 */
export function dpopGate(mode: DpopMode, scheme: PresentedScheme, cnf: unknown): DpopGate {
  const split = splitConfirmation(cnf);
  if (mode === 'off') {
    // The DPoP scheme never reaches here with mode off; be safe if it does.
    if (scheme === 'dpop') return { action: 'deny', reason: 'binding_mismatch', detail: 'DPoP is off for this workload' };
    return { action: 'bearer' };
  }
  if (scheme === 'bearer') {
    if (split.jkt !== null || split.jktMalformed) return { action: 'deny', reason: 'dpop_required', detail: 'a DPoP-bound token (cnf.jkt) was sent as Bearer' };
    if (mode === 'required') return { action: 'deny', reason: 'dpop_required', detail: 'this workload requires DPoP' };
    return { action: 'bearer' };
  }
  if (split.jktMalformed) return { action: 'deny', reason: 'binding_mismatch', detail: 'cnf.jkt is not a non-empty string' };
  if (split.jkt === null) return { action: 'deny', reason: 'binding_mismatch', detail: 'a DPoP token must carry cnf.jkt' };
  return { action: 'proof', jkt: split.jkt };
}

/**
 * Runs one Wycheproof JWS vector through hopguard's own signature layer, in the server's order:
 * bearer extraction and size cap, the compact-JWS guards (parseCompactJws), the algorithm rules
 * (never none/HS*, then the issuer's allowlist), `typ`, key selection from an inline key set built
 * by createIssuerKeySet, and createSignatureVerifier (node:crypto; any verifier can be passed). The vectors' payloads are not JWT claim
 * sets, so the harness stops below the claims checks (see `claimsOnlyFailure`).
 */
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { decodeJwt, errors } from 'jose';
import { loadConfigObject } from '../../src/config/load.js';
import { normaliseType } from '../../src/jwt/typ.js';
import { ALLOWED_ALGORITHMS } from '../../src/config/schema.js';
import type { IssuerConfig } from '../../src/config/types.js';
import { isAllowedAlgorithm } from '../../src/decision/algorithms.js';
import type { ReasonCode } from '../../src/decision/reasons.js';
import type { SignatureOutcome, SignatureVerifier } from '../../src/decision/types.js';
import { parseCompactJws } from '../../src/jwt/compact.js';
import { extractAuthorization } from '../helpers/authorization.js';
import { createIssuerKeySet, type ManagedKeySet } from '../../src/jwt/keysets/index.js';
import { createSignatureVerifier, type KeySetLookup } from '../../src/jwt/signature.js';

/** ../shared/vectors/wycheproof next to the repository (or HOPGUARD_WYCHEPROOF_DIR). */
export const WYCHEPROOF_DIR =
  process.env.HOPGUARD_WYCHEPROOF_DIR ?? fileURLToPath(new URL('../../../shared/vectors/wycheproof/', import.meta.url));
export const WYCHEPROOF_PRESENT = existsSync(`${WYCHEPROOF_DIR}/json_web_signature_test.json`);

export interface WycheproofTest {
  readonly tcId: number;
  readonly comment: string;
  readonly flags?: readonly string[];
  readonly result: 'valid' | 'invalid' | 'acceptable';
  readonly jws?: unknown;
  readonly jwe?: unknown;
}

export interface WycheproofGroup {
  readonly type: string;
  readonly comment: string;
  readonly private?: Record<string, unknown>;
  readonly public?: Record<string, unknown>;
  readonly tests: readonly WycheproofTest[];
}

export interface WycheproofFile {
  readonly numberOfTests: number;
  readonly testGroups: readonly WycheproofGroup[];
}

const ISSUER = 'https://wycheproof.example';
/** The most permissive issuer hopguard can be configured with: every algorithm it supports. */
export const EVERY_ALGORITHM: readonly string[] = ALLOWED_ALGORITHMS;

/** The vector's key as a JWK Set document: `public` when given, else `private` as published. */
export function jwksOfGroup(group: WycheproofGroup): { keys: Record<string, unknown>[] } {
  const material = group.public ?? group.private ?? {};
  const keys = Array.isArray(material.keys) ? (material.keys as Record<string, unknown>[]) : [material];
  return { keys };
}

/** An IssuerConfig produced by the real config loader, so defaults and validation are the server's. */
export function issuerWithInlineKeys(jwks: { keys: Record<string, unknown>[] }, algorithms: readonly string[] = EVERY_ALGORITHM): IssuerConfig {
  const loaded = loadConfigObject({
    issuers: [{ issuer: ISSUER, jwks, algorithms }],
    workloads: [{ id: 'spiffe://wycheproof.example/ns/test/sa/verifier' }],
  });
  if (!loaded.ok) throw new Error(`config refused: ${loaded.errors.join('; ')}`);
  const issuer = loaded.config.issuers.get(ISSUER);
  if (issuer === undefined) throw new Error('issuer missing after load');
  return issuer;
}

export type LayerResult =
  | { readonly verified: true }
  | { readonly verified: false; readonly reason: ReasonCode; readonly detail: string };

const FIXED_CLOCK = { nowMs: () => 1_767_225_600_000 };

/**
 * SignatureVerifier decodes the claims right after jose's compactVerify succeeded. A claims
 * decoding failure (jose JWTInvalid from decodeJwt, with the very message decodeJwt gives for this
 * token) therefore means "the signature verified, the payload is not a claim set".
 */
export function claimsOnlyFailure(outcome: SignatureOutcome, token: string): boolean {
  if (outcome.ok || outcome.reason !== 'token_malformed') return false;
  try {
    decodeJwt(token);
    return false;
  } catch (error) {
    return error instanceof errors.JWTInvalid && error.message === outcome.detail;
  }
}

export interface SignatureLayer {
  readonly issuer: IssuerConfig;
  readonly keySet: ManagedKeySet;
  verify(jws: unknown): Promise<LayerResult>;
  /** The layer's outcome before the harness reads it: what the verifier (or a guard before it) answered. */
  outcome(jws: unknown): Promise<LayerOutcome>;
  close(): void;
}

/** The outcome of the signature layer itself, before the harness folds it into LayerResult. */
export type LayerOutcome = SignatureOutcome | { readonly ok: false; readonly reason: ReasonCode; readonly detail: string };

export async function signatureLayer(
  jwks: { keys: Record<string, unknown>[] },
  algorithms: readonly string[] = EVERY_ALGORITHM,
  makeVerifier: (keySetFor: KeySetLookup) => SignatureVerifier = createSignatureVerifier,
): Promise<SignatureLayer> {
  const issuer = issuerWithInlineKeys(jwks, algorithms);
  const keySet = createIssuerKeySet(issuer, { clock: FIXED_CLOCK });
  await keySet.start();
  const verifier = makeVerifier((name) => (name === issuer.issuer ? keySet : undefined));
  /** Every step up to and including the verifier; the verifier's own outcome is returned as is. */
  async function outcomeOf(jws: unknown): Promise<{ readonly token: string; readonly outcome: LayerOutcome; readonly fromVerifier?: true }> {
    // JSON serialization arrives as a string (or object) that is not compact: the guards refuse it.
    const text = typeof jws === 'string' ? jws : JSON.stringify(jws);
    const extracted = extractAuthorization([`Bearer ${text}`], 8 * 1024);
    if (!extracted.ok) return { token: text, outcome: extracted };
    const parsed = parseCompactJws(extracted.token);
    if (!parsed.ok) return { token: text, outcome: parsed };
    const { header } = parsed.value;
    if (!isAllowedAlgorithm(header.alg)) return { token: text, outcome: { ok: false, reason: 'alg_not_allowed', detail: `alg ${header.alg} is never accepted` } };
    if (!(issuer.algorithms as readonly string[]).includes(header.alg)) {
      return { token: text, outcome: { ok: false, reason: 'alg_not_allowed', detail: `alg ${header.alg} not in the issuer's list` } };
    }
    const typ = header.typ === undefined ? null : normaliseType(header.typ);
    if (!issuer.types.has(typ)) return { token: text, outcome: { ok: false, reason: 'type_not_allowed', detail: `typ ${header.typ}` } };
    return { token: extracted.token, outcome: await verifier.verify(extracted.token, header, issuer, FIXED_CLOCK.nowMs()), fromVerifier: true };
  }
  return {
    issuer,
    keySet,
    outcome: async (jws) => (await outcomeOf(jws)).outcome,
    async verify(jws) {
      const { token, outcome, fromVerifier } = await outcomeOf(jws);
      if (outcome.ok || (fromVerifier && claimsOnlyFailure(outcome as SignatureOutcome, token))) return { verified: true };
      return { verified: false, reason: outcome.reason, detail: outcome.detail };
    },
    close: () => keySet.close(),
  };
}

import { ALLOWED_ALGORITHMS } from '../config/schema.js';

const ALLOWED = new Set<string>(ALLOWED_ALGORITHMS);

/** Asymmetric JWS algorithms only: `none` and the HS* family are refused whatever an issuer says. */
export function isAllowedAlgorithm(alg: string): boolean {
  return ALLOWED.has(alg);
}

/** 6. The key (by kid, refetched at a bounded rate) and the signature, through the verifier port. */
import type { SignatureOutcome } from '../types.js';
import { deny, type CheckState, type PipelineEnv, type Step, type StepVerdict } from './state.js';
import { parsedToken } from './issuer.js';

function stringClaim(value: unknown): string {
  return typeof value === 'string' ? value : '';
}

function verified(state: CheckState, signature: SignatureOutcome): StepVerdict {
  if (!signature.ok) return deny(signature.reason, signature.detail);
  const claims = signature.claims;
  const issuerless = claims.iss === undefined && state.issuer.profile === 'jwt-svid';
  if (claims.iss !== state.issuer.issuer && !issuerless) return deny('issuer_untrusted', 'verified iss differs');
  state.claims = claims;
  state.jti = stringClaim(claims.jti);
  state.sub = stringClaim(claims.sub);
  if (state.issuer.profile === 'txn-token') state.txn = stringClaim(claims.txn);
  return undefined;
}

async function verifiedLater(state: CheckState, env: PipelineEnv): Promise<StepVerdict> {
  return verified(state, await env.verifier.verify(state.found.token, parsedToken(state).header, state.issuer, state.nowMs));
}

export const signatureStep: Step = {
  name: 'signature',
  run(state: CheckState, env: PipelineEnv): StepVerdict | Promise<StepVerdict> {
    // Keys at hand (the usual case): verified synchronously, no promise; else wait for the key set.
    const atOnce = env.verifier.verifySync?.(state.found.token, parsedToken(state).header, state.issuer, state.nowMs) ?? null;
    return atOnce === null ? verifiedLater(state, env) : verified(state, atOnce);
  },
  describe: (state) => `verified with key ${parsedToken(state).header.kid ?? '(no kid)'}`,
};

/** 8. The audience, bound to the receiving workload's identity. */
import type { JwtClaims } from '../types.js';
import { deny, type CheckState, type Step, type StepVerdict } from './state.js';

function audiencesOf(claims: JwtClaims): string[] | null {
  const aud = claims.aud;
  if (typeof aud === 'string') return [aud];
  if (Array.isArray(aud) && aud.every((item) => typeof item === 'string')) return aud as string[];
  return null;
}

export const audienceStep: Step = {
  name: 'audience',
  run(state: CheckState): StepVerdict {
    const audiences = audiencesOf(state.claims);
    if (audiences === null) return deny('audience_mismatch', 'aud is missing or not a string array');
    const workload = state.workload;
    if (workload.singleAudience && audiences.length !== 1) return deny('audience_mismatch', `${audiences.length} audiences, exactly one required`);
    // A Transaction Token's audience is its trust domain, unless the workload names its own audiences.
    const txnTrustDomain = state.issuer.profile === 'txn-token' && !workload.audiencesConfigured ? state.issuer.trustDomain : null;
    const expected = txnTrustDomain === null ? workload.audiences : [txnTrustDomain];
    const matched = expected.find((audience) => audiences.includes(audience));
    if (matched === undefined) return deny('audience_mismatch', `aud does not name ${expected.join(' or ')}`);
    state.audiences = audiences;
    state.matchedAudience = matched;
    return undefined;
  },
  describe: (state) => state.matchedAudience,
};

/** 7. The registered time claims and the issuer profile's own rules (JWT-SVID, Kubernetes, RFC 9068, ...). */
import { checkProfile } from '../../identity/index.js';
import { checkLifetime } from '../lifetime.js';
import { deny, type CheckState, type Step, type StepVerdict } from './state.js';
import { parsedToken } from './issuer.js';

export const lifetimeStep: Step = {
  name: 'lifetime',
  run(state: CheckState): StepVerdict {
    const lifetime = checkLifetime(state.claims, state.nowMs, state.workload);
    if (!lifetime.ok) return deny(lifetime.reason, lifetime.detail);
    state.expSeconds = lifetime.expSeconds;
    const issuer = state.issuer;
    const problem = checkProfile(issuer.profile, {
      header: parsedToken(state).header,
      claims: state.claims,
      issuer: issuer.issuer,
      trustDomain: issuer.trustDomain ?? undefined,
      expectedAudiences: state.workload.audiencesConfigured ? state.workload.audiences : undefined,
    });
    if (problem !== null) return deny(problem.reason, `${issuer.profile} profile: ${problem.detail}`);
    return undefined;
  },
  describe: (state) => `valid until ${state.expSeconds}`,
};

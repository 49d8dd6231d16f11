/** 11. The claim rules in force: the workload's, plus the matched operation's with its captures substituted. */
import { describeRule, firstUnmetClaim } from '../claim-rules.js';
import { deny, type CheckState, type Step, type StepVerdict } from './state.js';

export const claimsStep: Step = {
  name: 'claims',
  run(state: CheckState): StepVerdict {
    const unmet = firstUnmetClaim(state.claims, state.claimRules, state.captures);
    if (unmet !== null) return deny('claims_not_satisfied', describeRule(unmet.requirement, unmet.rule));
    return undefined;
  },
  describe: (state) => `${state.claimRules.length} rule(s) hold`,
};

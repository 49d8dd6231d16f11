/** 9. The caller: allowed sources, subject and certificate binding, delegation. */
import { splitConfirmation } from '../../dpop/index.js';
import { bindingSatisfied, checkDelegation, matchesAllowlist, subjectNamesCaller } from '../../identity/index.js';
import { callerOf } from './caller-identity.js';
import { deny, type CheckState, type Step, type StepVerdict } from './state.js';

export const callerStep: Step = {
  name: 'caller',
  run(state: CheckState): StepVerdict {
    const workload = state.workload;
    const caller = callerOf(state.input, workload);
    state.caller = caller;
    state.source = caller.principal;
    if (state.sources !== null && !matchesAllowlist(caller.principal, state.sources)) {
      return deny('source_not_allowed', `${caller.principal || '(no caller identity)'} may not call ${workload.id}`);
    }
    if (workload.subjectMustMatchSource && !subjectNamesCaller(state.sub, caller.principal)) {
      return deny('binding_mismatch', `sub ${state.sub} does not name caller ${caller.principal || '(none)'}`);
    }
    if (Object.prototype.hasOwnProperty.call(state.claims, 'cnf')) {
      // With DPoP on, cnf.jkt is the dpop step's; every other member is a certificate condition here.
      const cnf = workload.dpop.mode === 'off' ? state.claims.cnf : splitConfirmation(state.claims.cnf).rest;
      const thumbprint = cnf === undefined ? null : caller.certificateThumbprint();
      const binding = bindingSatisfied(cnf, thumbprint);
      if (binding !== 'match' && binding !== 'not_bound') {
        return deny('binding_mismatch', thumbprint === null ? 'token is certificate-bound, no caller certificate' : 'cnf does not match the caller certificate');
      }
    }
    const delegation = checkDelegation(state.claims, workload);
    if (delegation !== null) return deny(delegation.reason, delegation.detail);
    return undefined;
  },
  describe: (state) => state.caller.principal || '(any)',
};

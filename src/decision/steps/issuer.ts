/** 4. The issuer: the unverified iss only picks the issuer's configuration and key set. */
import type { IssuerConfig } from '../../config/types.js';
import type { CompactToken } from '../../jwt/compact.js';
import { deny, type CheckState, type PipelineEnv, type Step, type StepVerdict } from './state.js';

export function parsedToken(state: CheckState): CompactToken {
  // The token step denies before any later step runs unless the shape parsed.
  return (state.shape.parsed as { readonly ok: true; readonly value: CompactToken }).value;
}

export const issuerStep: Step = {
  name: 'issuer',
  run(state: CheckState, env: PipelineEnv): StepVerdict {
    const { unverifiedIssuer, unverifiedSubject } = parsedToken(state);
    const issuer: IssuerConfig | undefined =
      unverifiedIssuer !== null ? env.config.issuers.get(unverifiedIssuer) : env.svidIssuerFor(unverifiedSubject);
    state.iss = unverifiedIssuer ?? issuer?.issuer ?? '';
    if (issuer === undefined) {
      return deny('issuer_untrusted', unverifiedIssuer === null ? 'no iss claim' : `${unverifiedIssuer} is not configured`);
    }
    if (!state.workload.issuers.has(issuer.issuer)) return deny('issuer_untrusted', `${issuer.issuer} is not allowed for ${state.workload.id}`);
    state.issuer = issuer;
    return undefined;
  },
  describe: (state) => state.issuer.issuer,
};

/**
 * 3. The token: exactly one, where the workload reads it, within the size limit, a compact JWS
 * whose algorithm is not one hopguard ever accepts (none, HS*) is refused before its issuer.
 */
import { isAllowedAlgorithm } from '../algorithms.js';
import { extractToken } from '../token-locations.js';
import { deny, type CheckState, type PipelineEnv, type Step, type StepVerdict } from './state.js';

export const tokenStep: Step = {
  name: 'token',
  run(state: CheckState, env: PipelineEnv): StepVerdict {
    const extracted = extractToken(state.input, state.workload.tokens, env.config.limits.maxTokenBytes, state.workload.dpop.mode !== 'off');
    if (!extracted.ok) return deny(extracted.reason, extracted.detail);
    state.found = extracted.found;
    const shape = env.shapeOf(extracted.found.token);
    state.shape = shape;
    state.tokenHash = shape.tokenHash;
    if (!shape.parsed.ok) return deny(shape.parsed.reason, shape.parsed.detail);
    const header = shape.parsed.value.header;
    state.kid = header.kid ?? '';
    if (!isAllowedAlgorithm(header.alg)) return deny('alg_not_allowed', `alg ${header.alg} is never accepted`);
    return undefined;
  },
  describe: (state) => `compact JWS, ${state.found.token.length} bytes`,
};

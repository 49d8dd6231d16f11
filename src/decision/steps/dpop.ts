/**
 * 10. Proof of possession (RFC 9449): for a workload with DPoP on, a token bound to a key
 * (`cnf.jkt`) must come as `authorization: DPoP` with a fresh proof signed by that key, for this
 * method and URL; a bound token sent as Bearer is the downgrade of §7.2. The proof's jti is
 * recorded by the proof-replay step, last, so that an invalid proof burns nothing.
 */
import { checkDpop, dpopGate } from '../../dpop/index.js';
import { DPOP_CHECKS } from '../../dpop/verify.js';
import { normalisePath } from '../path.js';
import { deny, type CheckState, type Step, type StepVerdict } from './state.js';

async function verifyProof(state: CheckState, path: string): Promise<StepVerdict> {
  const request = state.input.request;
  const result = await checkDpop({
    workload: state.workload.id,
    policy: state.workload.dpop,
    scheme: 'dpop',
    cnf: state.claims.cnf,
    accessToken: state.found.token,
    proofs: state.input.headers.get('dpop'),
    request: { method: request.method, path, host: request.host, scheme: request.scheme },
    nowMs: state.nowMs,
  });
  if (!result.ok) {
    state.dpopOutcome = result.outcome;
    if (result.nonce !== undefined) state.dpopNonce = result.nonce;
    return deny(result.reason, result.detail);
  }
  if (result.mode === 'dpop') {
    state.dpopJkt = result.jkt;
    state.proofReplay = result.replay;
  }
  return undefined;
}

export const dpopStep: Step = {
  name: 'dpop',
  run(state: CheckState): StepVerdict | Promise<StepVerdict> {
    const policy = state.workload.dpop;
    // With DPoP off the caller step judged cnf whole: a jkt-bound token is binding_mismatch there.
    if (policy.mode === 'off') return undefined;
    const gate = dpopGate(policy.mode, state.found.scheme === 'dpop' ? 'dpop' : 'bearer', state.claims.cnf);
    if (gate.action === 'bearer') return undefined;
    if (gate.action === 'deny') return deny(gate.reason, gate.detail);
    let path = state.path;
    if (path === '') {
      // A workload without operations: the proof's htu is still compared with the normalised path.
      const normalised = normalisePath(state.input.request.path);
      if (!normalised.ok) {
        state.dpopOutcome = 'invalid';
        return deny('dpop_proof_invalid', `the request path cannot be compared with htu: ${normalised.detail}`);
      }
      path = normalised.path;
    }
    return verifyProof(state, path);
  },
  describe(state) {
    if (state.workload.dpop.mode === 'off') return 'off';
    if (state.dpopJkt === '') return `bearer token accepted (mode ${state.workload.dpop.mode})`;
    return `proof of key ${state.dpopJkt}: ${DPOP_CHECKS.filter((check) => check !== 'nonce' || state.workload.dpop.nonce.required).join(', ')} pass`;
  },
};

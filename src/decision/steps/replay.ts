/**
 * 12. Replay, last, so that nothing invalid burns a jti. With no caller identity (and no DPoP key)
 * there is nothing to bind to: source-bound degrades to once, otherwise every caller without an
 * identity would share one binding.
 */
import { jtiTooLong } from '../../replay/key.js';
import type { ReplayOutcome } from '../types.js';
import { deny, type CheckState, type PipelineEnv, type Step, type StepVerdict } from './state.js';

/**
 * Who presented the token, for source-bound: the mTLS caller, or else the key a DPoP proof proved
 * possession of (a DPoP client reuses its token with a fresh proof each time); '' when neither.
 */
function presenterOf(state: CheckState): string {
  if (state.caller.principal !== '') return state.caller.principal;
  return state.dpopJkt === '' ? '' : `dpop:${state.dpopJkt}`;
}

async function recordOnce(state: CheckState, env: PipelineEnv, mode: 'once' | 'source-bound', source: string): Promise<StepVerdict> {
  let outcome: ReplayOutcome | 'error';
  try {
    outcome = await env.replay.record({
      workload: state.workload.id,
      issuer: state.issuer.issuer,
      jti: state.jti,
      source,
      mode,
      expiresAtMs: state.expSeconds * 1000 + state.workload.clockSkewMs,
    });
  } catch {
    outcome = 'error';
  }
  if (outcome === 'replayed') return deny('replayed', `jti seen before (${mode})`);
  if (outcome === 'error' || outcome === 'store_full') {
    state.storeError = true;
    const why = outcome === 'store_full' ? 'replay store is full of unexpired jtis' : 'replay store failed';
    if (env.config.replay.onStoreError === 'deny') return deny('replay_store_unavailable', why);
  }
  return undefined;
}

export const replayStep: Step = {
  name: 'replay',
  run(state: CheckState, env: PipelineEnv): StepVerdict | Promise<StepVerdict> {
    const configured = state.replayMode;
    if (configured === 'off') return undefined;
    if (state.jti === '') return deny('jti_required', `replay mode ${configured} needs a jti`);
    if (jtiTooLong(state.jti)) return deny('token_malformed', 'jti longer than 256 bytes');
    const presenter = presenterOf(state);
    return recordOnce(state, env, configured === 'source-bound' && presenter === '' ? 'once' : configured, presenter);
  },
  describe(state) {
    if (state.replayMode === 'off') return 'off';
    if (state.storeError) return 'replay store failed; allowed by onStoreError: allow';
    return `first use (${state.replayMode === 'source-bound' && presenterOf(state) === '' ? 'once' : state.replayMode})`;
  },
};

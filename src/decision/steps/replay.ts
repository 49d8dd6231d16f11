/**
 * 12. Replay, last, so that nothing invalid burns a jti. With no caller identity there is nothing
 * to bind to: source-bound degrades to once, otherwise every caller without an identity would
 * share one binding.
 */
import { jtiTooLong } from '../../replay/key.js';
import type { ReplayOutcome } from '../types.js';
import { deny, type CheckState, type PipelineEnv, type Step, type StepVerdict } from './state.js';

async function recordOnce(state: CheckState, env: PipelineEnv, mode: 'once' | 'source-bound'): Promise<ReplayOutcome | 'error'> {
  try {
    return await env.replay.record({
      workload: state.workload.id,
      issuer: state.issuer.issuer,
      jti: state.jti,
      source: state.caller.principal,
      mode,
      expiresAtMs: state.expSeconds * 1000 + state.workload.clockSkewMs,
    });
  } catch {
    return 'error';
  }
}

export const replayStep: Step = {
  name: 'replay',
  async run(state: CheckState, env: PipelineEnv): Promise<StepVerdict> {
    const configured = state.replayMode;
    if (configured === 'off') return undefined;
    if (state.jti === '') return deny('jti_required', `replay mode ${configured} needs a jti`);
    if (jtiTooLong(state.jti)) return deny('token_malformed', 'jti longer than 256 bytes');
    const mode = configured === 'source-bound' && state.caller.principal === '' ? 'once' : configured;
    const outcome = await recordOnce(state, env, mode);
    if (outcome === 'replayed') return deny('replayed', `jti seen before (${mode})`);
    if (outcome === 'error' || outcome === 'store_full') {
      state.storeError = true;
      const why = outcome === 'store_full' ? 'replay store is full of unexpired jtis' : 'replay store failed';
      if (env.config.replay.onStoreError === 'deny') return deny('replay_store_unavailable', why);
    }
    return undefined;
  },
  describe(state) {
    if (state.replayMode === 'off') return 'off';
    if (state.storeError) return 'replay store failed; allowed by onStoreError: allow';
    return `first use (${state.replayMode === 'source-bound' && state.caller.principal === '' ? 'once' : state.replayMode})`;
  },
};

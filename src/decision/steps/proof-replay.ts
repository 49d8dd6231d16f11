/**
 * 12a. The DPoP proof's jti, recorded in the replay store (shared across replicas with Redis), once
 * per workload and key, before the token's own replay record: a replayed proof then burns nothing
 * of the token's.
 */
import type { ReplayOutcome, ReplayRecord } from '../types.js';
import { deny, type CheckState, type PipelineEnv, type Step, type StepVerdict } from './state.js';

async function recordProof(state: CheckState, env: PipelineEnv, record: ReplayRecord): Promise<StepVerdict> {
  let outcome: ReplayOutcome | 'error';
  try {
    outcome = await env.replay.record(record);
  } catch {
    outcome = 'error';
  }
  if (outcome === 'replayed') {
    state.dpopOutcome = 'replayed';
    return deny('dpop_proof_replayed', `proof jti ${record.jti} seen before`);
  }
  if (outcome === 'error' || outcome === 'store_full') {
    state.storeError = true;
    if (env.config.replay.onStoreError === 'deny') return deny('replay_store_unavailable', 'replay store failed recording the DPoP proof');
  }
  state.dpopOutcome = 'accepted';
  return undefined;
}

export const proofReplayStep: Step = {
  name: 'proof-replay',
  run(state: CheckState, env: PipelineEnv): StepVerdict | Promise<StepVerdict> {
    return state.proofReplay === null ? undefined : recordProof(state, env, state.proofReplay);
  },
  describe: (state) => (state.proofReplay === null ? 'no proof' : `first use of proof jti ${state.proofReplay.jti}`),
};

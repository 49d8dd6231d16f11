/** 1. The receiving workload: a `hopguard.workload` context extension, else the destination principal. */
import { deny, type CheckState, type PipelineEnv, type Step, type StepVerdict } from './state.js';

export const WORKLOAD_EXTENSION = 'hopguard.workload';

export const workloadStep: Step = {
  name: 'workload',
  run(state: CheckState, env: PipelineEnv): StepVerdict {
    const named = state.input.contextExtensions[WORKLOAD_EXTENSION];
    const id = named !== undefined && named !== '' ? named : state.input.destinationPrincipal;
    if (id === '') return deny('workload_unknown', 'no hopguard.workload context extension and no destination principal');
    const workload = env.config.workloads.get(id);
    if (workload === undefined) return deny('workload_unknown', `${id} is not configured`);
    state.setWorkload(workload);
    return undefined;
  },
  describe: (state) => state.workload.id,
};

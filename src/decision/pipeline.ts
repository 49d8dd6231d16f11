/**
 * The decision: one pipeline that every entry point (gRPC, HTTP, `hopguard explain`) runs. It is
 * the ordered list of steps in steps/index.ts; each may deny with its reason code, and the
 * explain trace is the list's own record. The pipeline does no I/O of its own: keys, replay state
 * and time come through its ports.
 */
import type { HopguardConfig, IssuerConfig } from '../config/types.js';
import { trustDomainOf } from '../identity/index.js';
import { dpopDenialHeaders } from '../dpop/index.js';
import { unverifiedAllow, verifiedAllow } from './allow.js';
import { STEPS } from './steps/index.js';
import { ALLOW_PUBLIC, CheckState, Denial, type PipelineEnv, type StepVerdict } from './steps/state.js';
import { createTokenShapes } from './token-shapes.js';
import type { CheckInput, Clock, Decision, ReplayStore, SignatureVerifier } from './types.js';

export { WORKLOAD_EXTENSION } from './steps/workload.js';

export interface PipelineDeps {
  readonly config: HopguardConfig;
  readonly verifier: SignatureVerifier;
  readonly replay: ReplayStore;
  readonly clock: Clock;
  /**
   * Record what each step found (`Decision.steps`, for `hopguard explain`). Off in the server:
   * nobody reads the record there, and building its strings cost on every check.
   */
  readonly recordSteps?: boolean;
}

export interface Pipeline {
  readonly config: HopguardConfig;
  check(input: CheckInput): Promise<Decision>;
}

function svidIssuerLookup(config: HopguardConfig): (subject: string | null) => IssuerConfig | undefined {
  const byTrustDomain = new Map<string, IssuerConfig>();
  for (const issuer of config.issuers.values()) {
    if (issuer.profile === 'jwt-svid' && issuer.trustDomain !== null && !byTrustDomain.has(issuer.trustDomain)) {
      byTrustDomain.set(issuer.trustDomain, issuer);
    }
  }
  return (subject) => {
    if (subject === null || byTrustDomain.size === 0) return undefined;
    const trustDomain = trustDomainOf(subject);
    return trustDomain === null ? undefined : byTrustDomain.get(trustDomain);
  };
}

const NO_HEADERS: Readonly<Record<string, string>> = Object.freeze({});

/** A workload that accepts DPoP challenges with DPoP (and Bearer where it accepts both), and hands out nonces. */
function denialHeadersOf(state: CheckState, denial: Denial): Readonly<Record<string, string>> {
  if (!state.workloadResolved || state.workload.dpop.mode === 'off') return NO_HEADERS;
  const presented = state.found === undefined ? null : state.found.scheme === 'dpop' ? 'dpop' : 'bearer';
  return dpopDenialHeaders(denial.reason, state.workload.id, state.workload.dpop, presented, state.dpopNonce ?? undefined);
}

function denied(state: CheckState, denial: Denial, internalError: string | null): Decision {
  if (state.workloadResolved && state.workload.mode === 'shadow') return unverifiedAllow(state, denial.reason, internalError);
  return {
    allowed: false,
    reason: denial.reason,
    detail: denial.detail,
    workload: state.workloadResolved ? state.workload.id : '',
    operation: state.operation?.name ?? '',
    denialHeaders: denialHeadersOf(state, denial),
    steps: state.recorded(),
    audit: state.audit(internalError),
  };
}

async function runSteps(state: CheckState, env: PipelineEnv): Promise<Decision> {
  for (let index = 0; index < STEPS.length; index += 1) {
    const step = STEPS[index]!;
    let verdict: StepVerdict | Promise<StepVerdict> = step.run(state, env);
    if (verdict instanceof Promise) verdict = await verdict;
    if (verdict === undefined || verdict === ALLOW_PUBLIC) {
      state.steps?.push({ step: step.name, passed: true, detail: step.describe(state) });
      if (verdict === ALLOW_PUBLIC) return unverifiedAllow(state, null);
      continue;
    }
    state.steps?.push({ step: step.name, passed: false, detail: `${verdict.reason}: ${verdict.detail}` });
    return denied(state, verdict, null);
  }
  return verifiedAllow(state);
}

export function createPipeline(deps: PipelineDeps): Pipeline {
  const env: PipelineEnv = {
    config: deps.config,
    verifier: deps.verifier,
    replay: deps.replay,
    clock: deps.clock,
    shapeOf: createTokenShapes(),
    svidIssuerFor: svidIssuerLookup(deps.config),
  };
  const recordSteps = deps.recordSteps === true;

  async function check(input: CheckInput): Promise<Decision> {
    const state = new CheckState(input, env.clock.nowMs(), recordSteps);
    try {
      return await runSteps(state, env);
    } catch (error) {
      // A bug, not a bad token: never blame the caller for it (SPEC "Errors inside hopguard").
      const stack = error instanceof Error ? (error.stack ?? error.message) : String(error);
      state.steps?.push({ step: 'internal', passed: false, detail: `internal_error: ${stack.split('\n', 1)[0]}` });
      return denied(state, new Denial('internal_error', 'unexpected error while checking'), stack);
    }
  }

  return { config: deps.config, check };
}

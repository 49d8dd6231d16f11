/**
 * What one check carries from step to step. Each step reads what earlier steps set (the list in
 * steps/index.ts fixes the order) and sets what it establishes. One object per check: the steps
 * are plain functions over it, so the hot path allocates no closures.
 */
import type { ClaimRequirement, IssuerConfig, ReplayMode, SourceAllowlist, WorkloadConfig, OperationPolicy } from '../../config/types.js';
import type { ParsedCompact } from '../../jwt/compact.js';
import type { ReasonCode } from '../reasons.js';
import type { AuditFields, CheckInput, Clock, JwtClaims, ReplayRecord, ReplayStore, SignatureVerifier, StepName, StepRecord } from '../types.js';
import type { HopguardConfig } from '../../config/types.js';
import type { FoundToken } from '../token-locations.js';
import type { Caller } from './caller-identity.js';
import type { DpopProofOutcome } from '../../dpop/step.js';

/** A step's verdict: pass (undefined), stop with a denial, or stop with an allow that needs no token (public operation). */
export class Denial {
  constructor(
    readonly reason: ReasonCode,
    readonly detail: string,
  ) {}
}
export const ALLOW_PUBLIC = 'allow-public' as const;
export type StepVerdict = undefined | Denial | typeof ALLOW_PUBLIC;

/** What every check shares: the config and the ports, plus tables built once per config. */
export interface PipelineEnv {
  readonly config: HopguardConfig;
  readonly verifier: SignatureVerifier;
  readonly replay: ReplayStore;
  readonly clock: Clock;
  /** Parses a token, remembering the shape of recently seen ones (see token-shapes.ts). */
  readonly shapeOf: (token: string) => TokenShape;
  /** A JWT-SVID without iss: the trust domain of its unverified subject picks the issuer. */
  readonly svidIssuerFor: (subject: string | null) => IssuerConfig | undefined;
}

export interface TokenShape {
  readonly tokenHash: string;
  readonly parsed: ParsedCompact;
}

export interface Step {
  readonly name: StepName;
  run(state: CheckState, env: PipelineEnv): StepVerdict | Promise<StepVerdict>;
  /** What `hopguard explain` prints for a pass; called only when steps are recorded. */
  describe(state: CheckState): string;
}

const NO_CAPTURES: Readonly<Record<string, string>> = Object.freeze({});
const NO_STEPS: readonly StepRecord[] = Object.freeze([]);

export class CheckState {
  readonly steps: StepRecord[] | null;
  /** Set by the workload step; every later step may rely on it. */
  workload!: WorkloadConfig;
  workloadResolved = false;

  // operation step: the normalised path and the matched operation ('' path when not normalised)
  path = '';
  operation: OperationPolicy | null = null;
  captures: Readonly<Record<string, string>> = NO_CAPTURES;
  /** The policy in force: the workload's, or the matched operation's replacements. */
  claimRules: readonly ClaimRequirement[] = [];
  sources: SourceAllowlist | null = null;
  replayMode: ReplayMode = 'off';

  // token, header, issuer, signature, lifetime, audience, caller
  found!: FoundToken;
  shape!: TokenShape;
  issuer!: IssuerConfig;
  claims!: JwtClaims;
  expSeconds = 0;
  audiences: readonly string[] = [];
  matchedAudience = '';
  caller!: Caller;

  // dpop step: the proof's key thumbprint, its replay record (recorded by the proof-replay step)
  dpopJkt = '';
  proofReplay: ReplayRecord | null = null;
  /** A fresh nonce for a `dpop_nonce_required` denial. */
  dpopNonce: string | null = null;
  dpopOutcome: DpopProofOutcome | null = null;

  // audit fields: what a log line may say (never the token)
  tokenHash = '';
  iss = '';
  kid = '';
  jti = '';
  sub = '';
  source = '';
  /** The transaction id of a Transaction Token (profile txn-token), '' otherwise. */
  txn = '';
  storeError = false;

  constructor(
    readonly input: CheckInput,
    readonly nowMs: number,
    recording: boolean,
  ) {
    this.steps = recording ? [] : null;
  }

  get recording(): boolean {
    return this.steps !== null;
  }

  setWorkload(workload: WorkloadConfig): void {
    this.workload = workload;
    this.workloadResolved = true;
    this.claimRules = workload.claims;
    this.sources = workload.sources;
    this.replayMode = workload.replay;
  }

  setOperation(operation: OperationPolicy, captures: Readonly<Record<string, string>> | null): void {
    this.operation = operation;
    if (captures !== null) this.captures = captures;
    this.claimRules = operation.claims;
    this.sources = operation.sources;
    this.replayMode = operation.replay;
  }

  recorded(): readonly StepRecord[] {
    return this.steps ?? NO_STEPS;
  }

  audit(internalError: string | null = null): AuditFields {
    return {
      tokenHash: this.tokenHash,
      iss: this.iss,
      kid: this.kid,
      jti: this.jti,
      sub: this.sub,
      source: this.source,
      storeError: this.storeError,
      txn: this.txn,
      dpopOutcome: this.dpopOutcome,
      internalError,
    };
  }
}

export function deny(reason: ReasonCode, detail: string): Denial {
  return new Denial(reason, detail);
}

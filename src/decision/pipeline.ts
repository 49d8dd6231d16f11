/**
 * The decision: one pipeline that every entry point (gRPC, HTTP, `hopguard explain`) runs.
 * Each step may deny with its reason code; replay runs last so an invalid token never burns a jti.
 * The pipeline does no I/O of its own: keys, replay state and time come through its ports.
 */
import { hash } from 'node:crypto';
import type { HopguardConfig, IssuerConfig, WorkloadConfig } from '../config/types.js';
import { normaliseType } from '../jwt/typ.js';
import { extractBearer, parseCompact } from '../jwt/compact.js';
import { bindingSatisfied, callerFromXfcc, certificateThumbprint, checkDelegation, checkProfile, matchesAllowlist, subjectNamesCaller, trustDomainOf } from '../identity/index.js';
import { jtiTooLong } from '../replay/key.js';
import { describeRule, firstUnmetClaim } from './claim-rules.js';
import { checkLifetime } from './lifetime.js';
import { isAllowedAlgorithm } from './algorithms.js';
import type { ReasonCode } from './reasons.js';
import type {
  AuditFields,
  CheckInput,
  Clock,
  Decision,
  DecisionMetadata,
  JwtClaims,
  ReplayStore,
  SignatureVerifier,
  StepName,
  StepRecord,
} from './types.js';

export const WORKLOAD_EXTENSION = 'hopguard.workload';
export const HEADER_SUB = 'x-hopguard-sub';
export const HEADER_ISS = 'x-hopguard-iss';
export const HEADER_WORKLOAD = 'x-hopguard-workload';
export const HEADER_SHADOW_REASON = 'x-hopguard-shadow-reason';
/** Header values longer than this, or with control characters, are not forwarded. */
const MAX_FORWARDED_VALUE = 4096;

/** How many recently seen tokens keep their parsed shape (at most 8 KiB each by default). */
const RECENT_SHAPES = 1024;
/** How many tokens seen once are remembered (by their short hash) as candidates. */
const SEEN_ONCE = 4096;

interface TokenShape {
  readonly tokenHash: string;
  readonly parsed: ReturnType<typeof parseCompact>;
}

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

const NO_STEPS: readonly StepRecord[] = Object.freeze([]);

/** Collects what each step found (when recording), and what a log line may say about the token. */
class Trace {
  readonly steps: StepRecord[] | null;
  tokenHash = '';
  iss = '';
  kid = '';
  jti = '';
  sub = '';
  source = '';
  storeError = false;

  constructor(recording: boolean) {
    this.steps = recording ? [] : null;
  }

  /** Callers build a detail string only when this is true. */
  get recording(): boolean {
    return this.steps !== null;
  }

  pass(step: StepName, detail: string): void {
    this.steps?.push({ step, passed: true, detail });
  }

  fail(step: StepName, detail: string): void {
    this.steps?.push({ step, passed: false, detail });
  }

  recorded(): readonly StepRecord[] {
    return this.steps ?? NO_STEPS;
  }

  audit(): AuditFields {
    return { tokenHash: this.tokenHash, iss: this.iss, kid: this.kid, jti: this.jti, sub: this.sub, source: this.source, storeError: this.storeError };
  }
}

/** Thrown inside the pipeline to stop at a step; never escapes `check`. */
class Denial {
  constructor(
    readonly reason: ReasonCode,
    readonly detail: string,
  ) {}
}

function deny(trace: Trace, step: StepName, reason: ReasonCode, detail: string): never {
  if (trace.recording) trace.fail(step, `${reason}: ${detail}`);
  throw new Denial(reason, detail);
}

export function shortTokenHash(token: string): string {
  return hash('sha256', token, 'base64url').slice(0, 16);
}

function safeHeaderValue(value: unknown): string | null {
  let text: string;
  if (typeof value === 'string') text = value;
  else if (typeof value === 'number' || typeof value === 'boolean') text = String(value);
  else if (Array.isArray(value) && value.every((item) => typeof item === 'string')) text = value.join(' ');
  else return null;
  // CR/LF or other control characters would let a claim inject headers.
  if (text.length > MAX_FORWARDED_VALUE || /[\x00-\x08\x0a-\x1f\x7f]/.test(text)) return null;
  return text;
}

function audiencesOf(claims: JwtClaims): string[] | null {
  const aud = claims.aud;
  if (typeof aud === 'string') return [aud];
  if (Array.isArray(aud) && aud.every((item) => typeof item === 'string')) return aud as string[];
  return null;
}

function stringClaim(claims: JwtClaims, name: string): string {
  const value = claims[name];
  return typeof value === 'string' ? value : '';
}

interface Caller {
  readonly principal: string;
  /** Computed only for certificate-bound tokens: hashing the caller's certificate costs tens of µs. */
  certificateThumbprint(): string | null;
}

function callerOf(input: CheckInput, workload: WorkloadConfig): Caller {
  if (workload.trustForwardedClientCert) {
    const xfcc = input.headers.get('x-forwarded-client-cert');
    if (xfcc !== undefined && xfcc.length > 0) {
      const forwarded = callerFromXfcc(xfcc.join(','));
      // A trusted but unreadable XFCC names nobody: fail closed rather than fall back to the peer.
      if (!forwarded.ok) return { principal: '', certificateThumbprint: () => null };
      const { uri, certificateThumbprint: thumbprint } = forwarded.caller;
      return { principal: uri ?? '', certificateThumbprint: () => thumbprint };
    }
  }
  return {
    principal: input.sourcePrincipal,
    certificateThumbprint: () => (input.sourceCertificate === '' ? null : certificateThumbprint(input.sourceCertificate)),
  };
}

/** Every header hopguard may set: each is either overwritten or removed, so callers cannot smuggle one in. */
function ownedHeaders(workload: WorkloadConfig): string[] {
  return [HEADER_SUB, HEADER_ISS, HEADER_WORKLOAD, HEADER_SHADOW_REASON, ...workload.forward.claimsToHeaders.map(([, header]) => header)];
}

export function createPipeline(deps: PipelineDeps): Pipeline {
  const { config, verifier, replay, clock } = deps;
  const recordSteps = deps.recordSteps === true;
  const svidIssuersByTrustDomain = new Map<string, IssuerConfig>();
  for (const issuer of config.issuers.values()) {
    if (issuer.profile === 'jwt-svid' && issuer.trustDomain !== null && !svidIssuersByTrustDomain.has(issuer.trustDomain)) {
      svidIssuersByTrustDomain.set(issuer.trustDomain, issuer);
    }
  }

  /**
   * The token guards are a pure function of the token text, and a warm path sees the same tokens
   * again and again: their outcome for recently seen well-formed tokens is kept (bounded), so only
   * the per-request checks run again. Nothing here is trusted more than on a first sight.
   */
  const recentShapes = new Map<string, TokenShape>();
  // A token is remembered on its second sight only: a flood of one-off tokens then retains 16-byte
  // hashes, not whole tokens and their parsed objects (which would cost the garbage collector).
  const seenOnce = new Set<string>();
  function shapeOf(token: string): TokenShape {
    const shape: TokenShape = { tokenHash: shortTokenHash(token), parsed: parseCompact(token) };
    if (!shape.parsed.ok) return shape;
    if (seenOnce.delete(shape.tokenHash)) {
      // Not frozen: freezing the header object cost tens of µs per check in V8 (measured), and
      // ProtectedHeader is readonly in its type; nothing writes to it.
      if (recentShapes.size >= RECENT_SHAPES) recentShapes.delete(recentShapes.keys().next().value as string);
      recentShapes.set(token, shape);
    } else {
      if (seenOnce.size >= SEEN_ONCE) seenOnce.delete(seenOnce.values().next().value as string);
      seenOnce.add(shape.tokenHash);
    }
    return shape;
  }

  /** A JWT-SVID without iss: the trust domain of its (unverified) SPIFFE ID subject picks the key set. */
  function svidIssuerFor(subject: string | null): IssuerConfig | undefined {
    if (subject === null || svidIssuersByTrustDomain.size === 0) return undefined;
    const trustDomain = trustDomainOf(subject);
    return trustDomain === null ? undefined : svidIssuersByTrustDomain.get(trustDomain);
  }

  function resolveWorkload(input: CheckInput, trace: Trace): WorkloadConfig {
    const named = input.contextExtensions[WORKLOAD_EXTENSION];
    const id = named !== undefined && named !== '' ? named : input.destinationPrincipal;
    if (id === '') deny(trace, 'workload', 'workload_unknown', 'no hopguard.workload context extension and no destination principal');
    const workload = config.workloads.get(id);
    if (workload === undefined) deny(trace, 'workload', 'workload_unknown', `${id} is not configured`);
    trace.pass('workload', workload.id);
    return workload;
  }

  async function verify(input: CheckInput, workload: WorkloadConfig, trace: Trace): Promise<Decision> {
    const nowMs = clock.nowMs();

    // 2. exactly one token, size and shape
    const extracted = extractBearer(input.headers.get('authorization'), config.limits.maxTokenBytes);
    if (!extracted.ok) deny(trace, 'token', extracted.reason, extracted.detail);
    const shape = recentShapes.get(extracted.token) ?? shapeOf(extracted.token);
    trace.tokenHash = shape.tokenHash;
    const parsed = shape.parsed;
    if (!parsed.ok) deny(trace, 'token', parsed.reason, parsed.detail);
    const { header, unverifiedIssuer } = parsed.value;
    trace.kid = header.kid ?? '';
    if (trace.recording) trace.pass('token', `compact JWS, ${extracted.token.length} bytes`);

    // 3. protected header, issuer-independent part: none and HS* are never acceptable
    if (!isAllowedAlgorithm(header.alg)) deny(trace, 'header', 'alg_not_allowed', `alg ${header.alg} is never accepted`);

    // 4. issuer: the unverified iss only picks the issuer's configuration and key set
    const issuer: IssuerConfig | undefined =
      unverifiedIssuer !== null ? config.issuers.get(unverifiedIssuer) : svidIssuerFor(parsed.value.unverifiedSubject);
    trace.iss = unverifiedIssuer ?? issuer?.issuer ?? '';
    if (issuer === undefined) {
      deny(trace, 'issuer', 'issuer_untrusted', unverifiedIssuer === null ? 'no iss claim' : `${unverifiedIssuer} is not configured`);
    }
    if (!workload.issuers.has(issuer.issuer)) deny(trace, 'issuer', 'issuer_untrusted', `${issuer.issuer} is not allowed for ${workload.id}`);
    trace.pass('issuer', issuer.issuer);

    // 3 (cont.). alg and typ against this issuer's rules
    if (!(issuer.algorithms as readonly string[]).includes(header.alg)) {
      deny(trace, 'header', 'alg_not_allowed', `alg ${header.alg} is not in ${issuer.algorithms.join(', ')}`);
    }
    const typ = header.typ === undefined ? null : normaliseType(header.typ);
    if (!issuer.types.has(typ)) deny(trace, 'header', 'type_not_allowed', `typ ${header.typ ?? '(absent)'} is not accepted`);
    if (trace.recording) trace.pass('header', `alg ${header.alg}, typ ${header.typ ?? '(absent)'}`);

    // 5-6. key and signature (jose), then the registered time claims
    const signature = await verifier.verify(extracted.token, header, issuer, nowMs);
    if (!signature.ok) deny(trace, 'signature', signature.reason, signature.detail);
    const claims = signature.claims;
    const issuerless = claims.iss === undefined && issuer.profile === 'jwt-svid';
    if (claims.iss !== issuer.issuer && !issuerless) deny(trace, 'signature', 'issuer_untrusted', 'verified iss differs');
    if (trace.recording) trace.pass('signature', `verified with key ${header.kid ?? '(no kid)'}`);
    trace.jti = stringClaim(claims, 'jti');
    trace.sub = stringClaim(claims, 'sub');

    const lifetime = checkLifetime(claims, nowMs, workload);
    if (!lifetime.ok) deny(trace, 'lifetime', lifetime.reason, lifetime.detail);
    const profileProblem = checkProfile(issuer.profile, { header, claims, issuer: issuer.issuer, trustDomain: issuer.trustDomain ?? undefined });
    if (profileProblem !== null) deny(trace, 'lifetime', profileProblem.reason, `${issuer.profile} profile: ${profileProblem.detail}`);
    if (trace.recording) trace.pass('lifetime', `valid until ${lifetime.expSeconds}`);

    // 7. audience bound to the receiving workload
    const audiences = audiencesOf(claims);
    if (audiences === null) deny(trace, 'audience', 'audience_mismatch', 'aud is missing or not a string array');
    if (workload.singleAudience && audiences.length !== 1) deny(trace, 'audience', 'audience_mismatch', `${audiences.length} audiences, exactly one required`);
    const matched = workload.audiences.find((audience) => audiences.includes(audience));
    if (matched === undefined) deny(trace, 'audience', 'audience_mismatch', `aud does not name ${workload.audiences.join(' or ')}`);
    trace.pass('audience', matched);

    // 8. the caller: allowed sources, subject binding, certificate binding, delegation
    const caller = callerOf(input, workload);
    trace.source = caller.principal;
    if (workload.sources !== null && !matchesAllowlist(caller.principal, workload.sources)) {
      deny(trace, 'caller', 'source_not_allowed', `${caller.principal || '(no caller identity)'} may not call ${workload.id}`);
    }
    if (workload.subjectMustMatchSource && !subjectNamesCaller(trace.sub, caller.principal)) {
      deny(trace, 'caller', 'binding_mismatch', `sub ${trace.sub} does not name caller ${caller.principal || '(none)'}`);
    }
    if (Object.prototype.hasOwnProperty.call(claims, 'cnf')) {
      const thumbprint = caller.certificateThumbprint();
      const binding = bindingSatisfied(claims.cnf, thumbprint);
      if (binding !== 'match' && binding !== 'not_bound') {
        deny(trace, 'caller', 'binding_mismatch', thumbprint === null ? 'token is certificate-bound, no caller certificate' : 'cnf does not match the caller certificate');
      }
    }
    const delegation = checkDelegation(claims, workload);
    if (delegation !== null) deny(trace, 'caller', delegation.reason, delegation.detail);
    trace.pass('caller', caller.principal || '(any)');

    // 9. the workload's claim rules
    const unmet = firstUnmetClaim(claims, workload.claims);
    if (unmet !== null) deny(trace, 'claims', 'claims_not_satisfied', describeRule(unmet));
    if (trace.recording) trace.pass('claims', `${workload.claims.length} rule(s) hold`);

    // 10. replay, last
    if (workload.replay !== 'off') {
      if (trace.jti === '') deny(trace, 'replay', 'jti_required', `replay mode ${workload.replay} needs a jti`);
      if (jtiTooLong(trace.jti)) deny(trace, 'replay', 'token_malformed', 'jti longer than 256 bytes');
      // With no caller identity there is nothing to bind to: source-bound degrades to once,
      // otherwise every caller without an identity would share one binding.
      const mode = workload.replay === 'source-bound' && caller.principal === '' ? 'once' : workload.replay;
      let outcome: Awaited<ReturnType<ReplayStore['record']>> | 'error';
      try {
        outcome = await replay.record({
          workload: workload.id,
          issuer: issuer.issuer,
          jti: trace.jti,
          source: caller.principal,
          mode,
          expiresAtMs: lifetime.expSeconds * 1000 + workload.clockSkewMs,
        });
      } catch {
        outcome = 'error';
      }
      if (outcome === 'replayed') deny(trace, 'replay', 'replayed', `jti seen before (${mode})`);
      if (outcome === 'error' || outcome === 'store_full') {
        trace.storeError = true;
        const why = outcome === 'store_full' ? 'replay store is full of unexpired jtis' : 'replay store failed';
        if (config.replay.onStoreError === 'deny') deny(trace, 'replay', 'replay_store_unavailable', why);
        if (trace.recording) trace.pass('replay', `${why}; allowed by onStoreError: allow`);
      } else {
        if (trace.recording) trace.pass('replay', `first use (${mode})`);
      }
    } else {
      trace.pass('replay', 'off');
    }

    const metadata: DecisionMetadata = {
      iss: issuer.issuer,
      sub: trace.sub,
      aud: audiences,
      jti: trace.jti,
      exp: lifetime.expSeconds,
      workload: workload.id,
      source: caller.principal,
    };
    const headersToSet: (readonly [string, string])[] = [
      [HEADER_SUB, safeHeaderValue(trace.sub) ?? ''],
      [HEADER_ISS, safeHeaderValue(issuer.issuer) ?? ''],
      [HEADER_WORKLOAD, workload.id],
    ];
    const headersToRemove: string[] = [HEADER_SHADOW_REASON];
    for (const [claim, headerName] of workload.forward.claimsToHeaders) {
      const value = safeHeaderValue(claims[claim]);
      if (value === null) headersToRemove.push(headerName);
      else headersToSet.push([headerName, value]);
    }
    if (workload.forward.removeAuthorization) headersToRemove.push('authorization');
    return {
      allowed: true,
      workload: workload.id,
      metadata,
      headersToSet,
      headersToRemove,
      shadowReason: null,
      steps: trace.recorded(),
      audit: trace.audit(),
    };
  }

  async function check(input: CheckInput): Promise<Decision> {
    const trace = new Trace(recordSteps);
    let workload: WorkloadConfig | undefined;
    try {
      workload = resolveWorkload(input, trace);
      return await verify(input, workload, trace);
    } catch (error) {
      const denial = error instanceof Denial ? error : new Denial('token_malformed', 'internal error while checking');
      if (!(error instanceof Denial) && trace.recording) trace.fail('token', `unexpected: ${(error as Error)?.message ?? String(error)}`);
      if (workload !== undefined && workload.mode === 'shadow') {
        return shadowAllow(workload, denial.reason, trace);
      }
      return {
        allowed: false,
        reason: denial.reason,
        detail: denial.detail,
        workload: workload?.id ?? '',
        steps: trace.recorded(),
        audit: trace.audit(),
      };
    }
  }

  /** Shadow mode: let the request through, but tell everyone what enforce mode would have done. */
  function shadowAllow(workload: WorkloadConfig, reason: ReasonCode, trace: Trace): Decision {
    return {
      allowed: true,
      workload: workload.id,
      metadata: { iss: '', sub: '', aud: [], jti: '', exp: 0, workload: workload.id, source: trace.source },
      headersToSet: [
        [HEADER_WORKLOAD, workload.id],
        [HEADER_SHADOW_REASON, reason],
      ],
      // Nothing was verified, so no identity header may reach the upstream.
      headersToRemove: ownedHeaders(workload).filter((name) => name !== HEADER_WORKLOAD && name !== HEADER_SHADOW_REASON),
      shadowReason: reason,
      steps: trace.recorded(),
      audit: trace.audit(),
    };
  }

  return { config, check };
}

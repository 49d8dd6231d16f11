/**
 * A span per check through the OpenTelemetry API, parented on the request's W3C `traceparent`.
 * With no SDK registered (the default: see telemetry/index.ts) the API hands out non-recording
 * spans and hopguard skips the attribute work, so tracing off costs a few property reads.
 */
import { context, ProxyTracerProvider, ROOT_CONTEXT, SpanKind, SpanStatusCode, trace, TraceFlags, type Context, type Span, type SpanContext, type Tracer } from '@opentelemetry/api';
import type { CheckInput, Decision } from '../decision/types.js';
import { decisionLabel, reasonLabel } from './metrics.js';

export const TRACER_NAME = 'hopguard';
export const CHECK_SPAN_NAME = 'hopguard.check';

const TRACEPARENT = /^([0-9a-f]{2})-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})(-.*)?$/;
const ALL_ZERO = /^0+$/;

/**
 * W3C Trace Context §3.2: `version-traceid-parentid-flags`, lower-case hex; version ff and
 * all-zero ids are invalid; a version 00 header has nothing after the flags. Two headers (Envoy
 * joins repeats with a comma) are ambiguous, so nothing is taken from them.
 */
export function parseTraceparent(values: readonly string[] | undefined, tracestate?: readonly string[]): SpanContext | null {
  if (values === undefined || values.length !== 1) return null;
  const text = (values[0] ?? '').trim();
  if (text.length > 512) return null;
  const match = TRACEPARENT.exec(text);
  if (match === null) return null;
  const [, version, traceId, spanId, flags, rest] = match as unknown as [string, string, string, string, string, string | undefined];
  if (version === 'ff' || (version === '00' && rest !== undefined)) return null;
  if (ALL_ZERO.test(traceId) || ALL_ZERO.test(spanId)) return null;
  const state = tracestate !== undefined && tracestate.length === 1 && (tracestate[0] ?? '').length <= 512 ? tracestate[0] : undefined;
  return {
    traceId,
    spanId,
    traceFlags: Number.parseInt(flags, 16) & TraceFlags.SAMPLED,
    isRemote: true,
    ...(state === undefined ? {} : { traceState: traceStateOf(state) }),
  };
}

/** A minimal TraceState carrying the header through unchanged; hopguard adds no entry of its own. */
function traceStateOf(header: string): NonNullable<SpanContext['traceState']> {
  const entries = new Map<string, string>();
  for (const member of header.split(',').slice(0, 32)) {
    const eq = member.indexOf('=');
    if (eq > 0) entries.set(member.slice(0, eq).trim(), member.slice(eq + 1).trim());
  }
  const state = {
    get: (key: string) => entries.get(key),
    set: () => state,
    unset: () => state,
    serialize: () => header,
  };
  return state;
}

export interface CheckTracer {
  /** Runs `check` inside a span parented on the input's traceparent; the span ends with the decision. */
  traced(input: CheckInput, check: () => Promise<Decision>): Promise<Decision>;
}

/** The API's no-op provider: what a ProxyTracerProvider without a delegate hands out. */
const NOOP_PROVIDER = new ProxyTracerProvider().getDelegate();

/**
 * True while no SDK is registered globally: every span would be a non-recording one, so the check
 * runs without parsing traceparent, building a context, or an extra promise. Asked at every check
 * (a few property reads): trace export registers its provider after the server started.
 */
function globalTracingOff(): boolean {
  const provider = trace.getTracerProvider();
  return provider instanceof ProxyTracerProvider && provider.getDelegate() === NOOP_PROVIDER;
}

/** `tracer` defaults to the global one; a tracer passed in is always asked (tests pass an SDK's). */
export function createCheckTracer(given?: Tracer): CheckTracer {
  const tracer = given ?? trace.getTracer(TRACER_NAME);
  const mayShortCut = given === undefined;
  return {
    traced(input, check) {
      if (mayShortCut && globalTracingOff()) return check();
      return tracedCheck(input, check);
    },
  };

  async function tracedCheck(input: CheckInput, check: () => Promise<Decision>): Promise<Decision> {
    const remote = parseTraceparent(input.headers.get('traceparent'), input.headers.get('tracestate'));
    const parent: Context = remote === null ? ROOT_CONTEXT : trace.setSpanContext(ROOT_CONTEXT, remote);
    const span: Span = tracer.startSpan(CHECK_SPAN_NAME, { kind: SpanKind.SERVER }, parent);
    if (!span.isRecording()) {
      span.end();
      return check();
    }
    try {
      const decision = await context.with(trace.setSpan(parent, span), check);
      annotate(span, decision);
      return decision;
    } catch (error) {
      span.setStatus({ code: SpanStatusCode.ERROR, message: 'check failed' });
      throw error;
    } finally {
      span.end();
    }
  }
}

/** Only bounded, non-secret facts: no token, no claim beyond iss, kid and the decision. */
function annotate(span: Span, decision: Decision): void {
  span.setAttributes({
    'hopguard.decision': decisionLabel(decision),
    'hopguard.reason': reasonLabel(decision),
    'hopguard.workload': decision.workload,
    'hopguard.issuer': decision.audit.iss.slice(0, 256),
    'hopguard.kid': decision.audit.kid.slice(0, 128),
  });
  // A Transaction Token's txn (verified, at most 256 characters) follows one transaction across hops.
  if (decision.audit.txn !== '') span.setAttribute('hopguard.txn', decision.audit.txn);
  if (!decision.allowed) span.setStatus({ code: SpanStatusCode.UNSET, message: decision.reason });
}

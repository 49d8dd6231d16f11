/**
 * A span per check, parented on the request's traceparent, with decision, reason, workload,
 * issuer and kid. No OTel SDK is installed, so a minimal recording TracerProvider stands in for
 * one through the public API's global registration, exactly where an SDK would plug in.
 */
import { trace, type Attributes, type Context, type Span, type SpanContext, type SpanOptions, type Tracer, type TracerProvider } from '@opentelemetry/api';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createLogger } from '../../../src/telemetry/index.js';
import { startHopguard, type RunningHopguard } from '../../../src/server.js';
import { createEnvoyClient, envoyCheckRequest, readCheckResponse, type EnvoyClient } from '../../helpers/envoy-client.js';
import { configDocument, configOf, LogSink, ORDERS, startHeldIdp, type HeldIdp } from './fixture.js';

interface RecordedSpan {
  name: string;
  parent: SpanContext | undefined;
  attributes: Attributes;
  ended: boolean;
}

const recorded: RecordedSpan[] = [];

class RecordingTracer implements Tracer {
  startSpan(name: string, _options?: SpanOptions, context?: Context): Span {
    const entry: RecordedSpan = { name, parent: context ? trace.getSpanContext(context) : undefined, attributes: {}, ended: false };
    recorded.push(entry);
    const spanContext: SpanContext = { traceId: entry.parent?.traceId ?? '1'.repeat(32), spanId: '2'.repeat(16), traceFlags: 1 };
    const span: Span = {
      spanContext: () => spanContext,
      setAttribute: (key, value) => ((entry.attributes[key] = value), span),
      setAttributes: (attributes) => (Object.assign(entry.attributes, attributes), span),
      addEvent: () => span,
      addLink: () => span,
      addLinks: () => span,
      setStatus: () => span,
      updateName: () => span,
      end: () => void (entry.ended = true),
      isRecording: () => true,
      recordException: () => undefined,
    };
    return span;
  }
  startActiveSpan(): never {
    throw new Error('not used by hopguard');
  }
}

const provider: TracerProvider = { getTracer: () => new RecordingTracer() };

let idp: HeldIdp;
let hopguard: RunningHopguard;
let client: EnvoyClient;

beforeAll(async () => {
  trace.setGlobalTracerProvider(provider);
  idp = await startHeldIdp();
  hopguard = await startHopguard(configOf(configDocument(idp)), { logger: createLogger('silent', new LogSink()) });
  client = createEnvoyClient(hopguard.grpcAddress);
});

afterAll(async () => {
  client?.close();
  await hopguard?.close();
  await idp?.close();
  trace.disable();
});

describe('check spans', () => {
  it('parents the span on traceparent and records decision, reason, workload, issuer and kid', async () => {
    const traceparent = '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01';
    const answer = readCheckResponse(
      await client.check(envoyCheckRequest({ token: await idp.mint({ aud: 'spiffe://elsewhere' }), workload: ORDERS, headers: { traceparent } })),
    );
    expect(answer.reason).toBe('audience_mismatch');
    const span = recorded.at(-1);
    expect(span).toMatchObject({ name: 'hopguard.check', ended: true });
    expect(span?.parent).toMatchObject({ traceId: '4bf92f3577b34da6a3ce929d0e0e4736', spanId: '00f067aa0ba902b7', isRemote: true });
    expect(span?.attributes).toEqual({
      'hopguard.decision': 'deny',
      'hopguard.reason': 'audience_mismatch',
      'hopguard.workload': ORDERS,
      'hopguard.issuer': idp.issuer,
      'hopguard.kid': idp.key.kid,
    });
  });

  it('starts a root span when traceparent is absent or malformed, for HTTP-mode checks too', async () => {
    const before = recorded.length;
    const response = await fetch(`http://${hopguard.httpAddress}/`, {
      headers: { authorization: `Bearer ${await idp.mint()}`, 'x-hopguard-workload': ORDERS, traceparent: '00-00000000000000000000000000000000-00f067aa0ba902b7-01' },
    });
    expect(response.status).toBe(200);
    expect(recorded.length).toBe(before + 1);
    expect(recorded.at(-1)?.parent).toBeUndefined();
    expect(recorded.at(-1)?.attributes).toMatchObject({ 'hopguard.decision': 'allow', 'hopguard.reason': '' });
  });
});

/**
 * The txn of a Transaction Token as the span attribute hopguard.txn, for checks through gRPC and
 * HTTP, so one transaction can be followed across hops. As in ops/tracing.test.ts, a minimal
 * recording TracerProvider registered through the OTel API stands in for an SDK.
 */
import { randomUUID } from 'node:crypto';
import { trace, type Attributes, type Span, type SpanContext, type Tracer, type TracerProvider } from '@opentelemetry/api';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { nowSeconds, signJwtByHand, startDpopHopguard, viaGrpc, viaHttp, type DpopHopguard } from '../../helpers/dpop.js';
import { generateTestKey, jwksOf, type TestKey } from '../../helpers/keys.js';

const TTS = 'https://tts.cluster.local';
const ORDERS = 'spiffe://cluster.local/ns/shop/sa/orders';

const recorded: { name: string; attributes: Attributes }[] = [];

class RecordingTracer implements Tracer {
  startSpan(name: string): Span {
    const entry = { name, attributes: {} as Attributes };
    recorded.push(entry);
    const spanContext: SpanContext = { traceId: '1'.repeat(32), spanId: '2'.repeat(16), traceFlags: 1 };
    const span: Span = {
      spanContext: () => spanContext,
      setAttribute: (key, value) => ((entry.attributes[key] = value), span),
      setAttributes: (attributes) => (Object.assign(entry.attributes, attributes), span),
      addEvent: () => span,
      addLink: () => span,
      addLinks: () => span,
      setStatus: () => span,
      updateName: () => span,
      end: () => undefined,
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

let ttsKey: TestKey;
let hg: DpopHopguard;

beforeAll(async () => {
  trace.setGlobalTracerProvider(provider);
  ttsKey = await generateTestKey('ES256');
  hg = await startDpopHopguard({
    listen: { grpc: '127.0.0.1:0', http: '127.0.0.1:0' },
    issuers: [{ issuer: TTS, jwks: jwksOf(ttsKey), algorithms: ['ES256'], profile: 'txn-token', trustDomain: 'cluster.local' }],
    workloads: [{ id: ORDERS, tokens: [{ header: 'txn-token' }], replay: 'off', claims: { scope: { contains: 'orders' } } }],
  });
});

afterAll(async () => {
  await hg?.close();
  trace.disable();
});

function txnToken(txn: string, scope: string): string {
  const now = nowSeconds();
  return signJwtByHand(ttsKey.privateJwk, { alg: 'ES256', kid: ttsKey.kid, typ: 'txntoken+jwt' }, { iss: TTS, aud: 'cluster.local', sub: 'user:alice', txn, scope, iat: now, exp: now + 60 });
}

describe('hopguard.txn on the check span', () => {
  it.each([
    ['gRPC', viaGrpc],
    ['HTTP', viaHttp],
  ])('%s: an allow and a denial after the signature carry the txn', async (_name, send) => {
    for (const [scope, decision] of [
      ['orders', 'allow'],
      ['profile', 'deny'],
    ] as const) {
      const txn = `txn-${randomUUID()}`;
      const before = recorded.length;
      const answer = await send(hg, { workload: ORDERS, method: 'GET', path: '/orders', headers: [['txn-token', txnToken(txn, scope)]] });
      expect(answer.allowed).toBe(decision === 'allow');
      expect(recorded.length).toBe(before + 1);
      expect(recorded.at(-1)?.attributes).toMatchObject({ 'hopguard.decision': decision, 'hopguard.txn': txn, 'hopguard.issuer': TTS });
    }
  });

  it('a token refused before its signature was verified carries no txn', async () => {
    const token = txnToken(`txn-${randomUUID()}`, 'orders');
    const tampered = `${token.slice(0, token.lastIndexOf('.'))}.${'A'.repeat(86)}`;
    const answer = await viaGrpc(hg, { workload: ORDERS, method: 'GET', path: '/orders', headers: [['txn-token', tampered]] });
    expect(answer.reason).toBe('signature_invalid');
    expect(recorded.at(-1)?.attributes['hopguard.txn']).toBeUndefined();
  });
});

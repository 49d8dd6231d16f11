import { describe, expect, it } from 'vitest';
import { NO_REQUEST, type Allow, type CheckInput, type Deny } from '../../../src/decision/types.js';
import { createDecisionLogger, createLogger } from '../../../src/telemetry/logging.js';
import { LogSink } from '../../integration/ops/fixture.js';

const audit = { tokenHash: 'abcdEFGH12345678', iss: 'https://idp', kid: 'k1', jti: 'j1', sub: 's1', source: 'spiffe://c/ns/a/sa/b', storeError: false, txn: '', dpopOutcome: null, internalError: null };
const deny: Deny = { allowed: false, reason: 'expired', detail: 'exp in the past', workload: 'spiffe://c/ns/a/sa/w', operation: '', denialHeaders: {}, steps: [], audit };
const allow: Allow = {
  allowed: true,
  workload: 'spiffe://c/ns/a/sa/w',
  operation: '',
  metadata: { iss: 'https://idp', sub: 's1', aud: [], jti: 'j1', exp: 0, workload: 'spiffe://c/ns/a/sa/w', source: '', dpopJkt: '', txn: '' },
  headersToSet: [],
  headersToRemove: [],
  queryParametersToRemove: [],
  shadowReason: null,
  steps: [],
  audit,
};

function logged(rate: number, random: number, decisions: (Allow | Deny)[]) {
  const sink = new LogSink();
  const log = createDecisionLogger(createLogger('info', sink), rate, () => random);
  for (const decision of decisions) log.log(decision, 0.0002, null, 'grpc');
  return sink.decisions();
}

describe('decision log sampling', () => {
  it('logs every denial whatever the rate', () => {
    expect(logged(0, 0.99, [deny, deny])).toHaveLength(2);
  });

  it('logs an allow only when the draw falls under allowSampleRate', () => {
    expect(logged(0.25, 0.2, [allow])).toEqual([expect.objectContaining({ decision: 'allow', reason: '', sampled: 0.25 })]);
    expect(logged(0.25, 0.3, [allow])).toEqual([]);
    expect(logged(0, 0, [allow])).toEqual([]);
  });

  it('always logs a shadow-mode allow as the denial it would have been', () => {
    expect(logged(0, 0.99, [{ ...allow, shadowReason: 'audience_mismatch' }])).toEqual([
      expect.objectContaining({ decision: 'shadow_deny', reason: 'audience_mismatch' }),
    ]);
  });

  it('cuts caller-controlled strings to a bounded length', () => {
    const [line] = logged(0, 0, [{ ...deny, audit: { ...audit, jti: 'x'.repeat(5000), sub: 'y'.repeat(5000) } }]);
    expect(String(line?.jti).length).toBeLessThanOrEqual(257);
    expect(String(line?.sub).length).toBeLessThanOrEqual(257);
  });
});

describe('decision log fields', () => {
  const caller = 'spiffe://c/ns/a/sa/caller';
  const input: CheckInput = { request: NO_REQUEST, headers: new Map(), contextExtensions: {}, destinationPrincipal: '', sourcePrincipal: caller, sourceCertificate: '' };

  function logOne(decision: Deny, from: CheckInput | null) {
    const sink = new LogSink();
    createDecisionLogger(createLogger('info', sink), 0).log(decision, 0.0001, from, 'grpc');
    return sink.decisions()[0];
  }

  it('names the caller from the request when the denial came before the caller step', () => {
    const early: Deny = { ...deny, reason: 'token_missing', audit: { ...audit, source: '', iss: '', sub: '', jti: '', kid: '', tokenHash: '' } };
    expect(logOne(early, input)).toMatchObject({ reason: 'token_missing', source: caller });
  });

  it('keeps the caller the caller step resolved, and an empty source when nothing names one', () => {
    expect(logOne(deny, input)).toMatchObject({ source: audit.source });
    expect(logOne({ ...deny, audit: { ...audit, source: '' } }, null)).toMatchObject({ source: '' });
  });
});

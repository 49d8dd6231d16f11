/**
 * hopguard_checks_total and the duration histogram as the hot path records them: plain counts in
 * precomputed series, handed to the SDK only when it collects; and the check span wrapper, which
 * costs nothing while no tracing SDK is registered.
 */
import type { DataPoint, ScopeMetrics } from '@opentelemetry/sdk-metrics';
import { describe, expect, it } from 'vitest';
import type { Decision } from '../../../src/decision/types.js';
import { createMetricRegistry } from '../../../src/telemetry/index.js';
import { createCheckMetrics, MAX_CHECK_SERIES, METRIC_CHECK_DURATION, METRIC_CHECKS } from '../../../src/telemetry/metrics.js';
import { createCheckTracer } from '../../../src/telemetry/tracing.js';

const ORDERS = 'spiffe://test.local/ns/shop/sa/orders';
const BILLING = 'spiffe://test.local/ns/shop/sa/billing';
const AUDIT = { storeError: false, source: '', iss: '', sub: '', jti: '', kid: '', tokenHash: '' };

function allow(workload: string, extra: Record<string, unknown> = {}): Decision {
  return { allowed: true, shadowReason: null, workload, operation: '', audit: AUDIT, ...extra } as unknown as Decision;
}
function deny(workload: string, reason: string, extra: Record<string, unknown> = {}): Decision {
  return { allowed: false, reason, detail: '', workload, operation: '', audit: AUDIT, ...extra } as unknown as Decision;
}

function setup(configured: (id: string) => boolean = (id) => id === ORDERS || id === BILLING) {
  const registry = createMetricRegistry();
  const metrics = createCheckMetrics(registry.meter, { isConfiguredWorkload: configured, isConfiguredIssuer: () => true }, () => []);
  async function points(name: string): Promise<DataPoint<unknown>[]> {
    const scopes: ScopeMetrics[] = await registry.collectScopes();
    return scopes.flatMap((scope) => scope.metrics).filter((metric) => metric.descriptor.name === name).flatMap((metric) => metric.dataPoints as DataPoint<unknown>[]);
  }
  async function checks(): Promise<Map<string, number>> {
    const counts = new Map<string, number>();
    for (const point of await points(METRIC_CHECKS)) counts.set(JSON.stringify(point.attributes), point.value as number);
    return counts;
  }
  return { registry, metrics, points, checks };
}

const labels = (decision: string, reason: string, workload: string, operation = ''): string => JSON.stringify({ decision, reason, workload, operation });

describe('hopguard_checks_total', () => {
  it('counts each decision, reason and workload apart, cumulatively across collections', async () => {
    const { metrics, checks } = setup();
    metrics.recordDecision(allow(ORDERS), 0.0001);
    metrics.recordDecision(allow(ORDERS), 0.0001);
    metrics.recordDecision(deny(ORDERS, 'audience_mismatch'), 0.0001);
    metrics.recordDecision(allow(BILLING), 0.0001);
    metrics.recordDecision(allow(ORDERS, { shadowReason: 'expired' }), 0.0001);
    let counts = await checks();
    expect(counts.get(labels('allow', '', ORDERS))).toBe(2);
    expect(counts.get(labels('deny', 'audience_mismatch', ORDERS))).toBe(1);
    expect(counts.get(labels('allow', '', BILLING))).toBe(1);
    expect(counts.get(labels('shadow_deny', 'expired', ORDERS))).toBe(1);
    metrics.recordDecision(allow(ORDERS), 0.0001);
    counts = await checks();
    expect(counts.get(labels('allow', '', ORDERS))).toBe(3);
    expect(counts.size).toBe(4);
  });

  it('reports a workload that is not configured as \'\'', async () => {
    const { metrics, checks } = setup();
    metrics.recordDecision(deny('spiffe://elsewhere/ns/x/sa/y', 'workload_unknown'), 0.0001);
    metrics.recordDecision(deny('', 'token_missing'), 0.0001);
    const counts = await checks();
    expect(counts.get(labels('deny', 'workload_unknown', ''))).toBe(1);
    expect(counts.get(labels('deny', 'token_missing', ''))).toBe(1);
  });

  it('counts each matched operation apart, and no operation for a workload that is not configured', async () => {
    const { metrics, checks } = setup();
    for (const operation of ['read', 'write', '', 'read']) metrics.recordDecision(allow(ORDERS, { operation }), 0.0001);
    metrics.recordDecision(deny('spiffe://elsewhere/ns/x/sa/y', 'workload_unknown', { operation: 'read' }), 0.0001);
    const counts = await checks();
    expect(counts.get(labels('allow', '', ORDERS, 'read'))).toBe(2);
    expect(counts.get(labels('allow', '', ORDERS, 'write'))).toBe(1);
    expect(counts.get(labels('allow', '', ORDERS, ''))).toBe(1);
    expect(counts.get(labels('deny', 'workload_unknown', '', ''))).toBe(1);
    expect(counts.size).toBe(4);
  });

  it(`holds at most ${MAX_CHECK_SERIES} series: past that, new workloads count under ''`, async () => {
    const { metrics, checks } = setup(() => true);
    for (let i = 0; i < MAX_CHECK_SERIES + 50; i += 1) metrics.recordDecision(allow(`spiffe://t/ns/n/sa/${i}`), 0.0001);
    const counts = await checks();
    expect(counts.size).toBe(MAX_CHECK_SERIES + 1);
    expect(counts.get(labels('allow', '', ''))).toBe(50);
    expect([...counts.values()].reduce((a, b) => a + b, 0)).toBe(MAX_CHECK_SERIES + 50);
  });

  it('records every duration in the histogram, without attributes', async () => {
    const { metrics, points } = setup();
    metrics.recordDecision(allow(ORDERS), 0.0002);
    metrics.recordDecision(deny(ORDERS, 'expired'), 0.003);
    const [point] = await points(METRIC_CHECK_DURATION);
    expect(point?.attributes).toEqual({});
    expect((point?.value as { count: number; sum: number }).count).toBe(2);
    expect((point?.value as { sum: number }).sum).toBeCloseTo(0.0032, 6);
  });
});

describe('the check span wrapper without a tracing SDK', () => {
  it('runs the check once and hands back its own promise', async () => {
    const tracer = createCheckTracer();
    const decision = allow(ORDERS);
    let calls = 0;
    const promise = Promise.resolve(decision);
    const input = { headers: new Map([['traceparent', ['00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01']]]) } as never;
    const result = tracer.traced(input, () => {
      calls += 1;
      return promise;
    });
    expect(result).toBe(promise);
    expect(await result).toBe(decision);
    expect(calls).toBe(1);
  });
});

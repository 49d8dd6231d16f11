import { AggregationTemporality, DataPointType, type ScopeMetrics } from '@opentelemetry/sdk-metrics';
import { ValueType } from '@opentelemetry/api';
import { describe, expect, it } from 'vitest';
import { mergeScopeMetrics } from '../../../src/telemetry/cluster-metrics.js';

const t: [number, number] = [0, 0];
const descriptor = (name: string) => ({ name, description: '', unit: '', valueType: ValueType.DOUBLE });

function worker(allows: number, keys: number, bucketCounts: number[]): ScopeMetrics[] {
  return [
    {
      scope: { name: 'hopguard' },
      metrics: [
        {
          descriptor: descriptor('hopguard_checks_total'),
          aggregationTemporality: AggregationTemporality.CUMULATIVE,
          dataPointType: DataPointType.SUM,
          isMonotonic: true,
          dataPoints: [{ startTime: t, endTime: t, attributes: { decision: 'allow', reason: '', workload: 'w' }, value: allows }],
        },
        {
          descriptor: descriptor('hopguard_jwks_keys'),
          aggregationTemporality: AggregationTemporality.CUMULATIVE,
          dataPointType: DataPointType.GAUGE,
          dataPoints: [{ startTime: t, endTime: t, attributes: { issuer: 'i' }, value: keys }],
        },
        {
          descriptor: descriptor('hopguard_check_duration_seconds'),
          aggregationTemporality: AggregationTemporality.CUMULATIVE,
          dataPointType: DataPointType.HISTOGRAM,
          dataPoints: [
            {
              startTime: t,
              endTime: t,
              attributes: {},
              value: { buckets: { boundaries: [0.001], counts: bucketCounts }, sum: 1, count: bucketCounts.reduce((a, b) => a + b, 0), min: 0.0001, max: 0.5 },
            },
          ],
        },
      ],
    },
  ];
}

describe('mergeScopeMetrics', () => {
  it('sums counters and histograms point by point and keeps the largest gauge', () => {
    const [scope] = mergeScopeMetrics([worker(3, 2, [1, 2]), worker(4, 3, [5, 0])]);
    const byName = new Map(scope?.metrics.map((metric) => [metric.descriptor.name, metric]));
    expect(byName.get('hopguard_checks_total')?.dataPoints.map((p) => p.value)).toEqual([7]);
    expect(byName.get('hopguard_jwks_keys')?.dataPoints.map((p) => p.value)).toEqual([3]);
    expect(byName.get('hopguard_check_duration_seconds')?.dataPoints[0]?.value).toMatchObject({ buckets: { counts: [6, 2] }, count: 8, sum: 2 });
  });

  it('keeps points with different labels apart', () => {
    const other = worker(1, 1, [0, 0]);
    (other[0]!.metrics[0]!.dataPoints[0] as { attributes: Record<string, string> }).attributes = { decision: 'deny', reason: 'expired', workload: 'w' };
    const [scope] = mergeScopeMetrics([worker(2, 1, [0, 0]), other]);
    expect(scope?.metrics[0]?.dataPoints.map((p) => [p.attributes.decision, p.value])).toEqual([
      ['allow', 2],
      ['deny', 1],
    ]);
  });
});

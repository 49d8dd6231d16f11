/**
 * The workers' metrics, summed for the primary's `/metrics`: counters and histograms add up
 * point by point (same metric, same labels); a gauge such as `hopguard_jwks_keys` takes the
 * largest value, as every worker holds its own copy of the same keys. Scraping stays one request
 * to one port, whichever worker happened to answer which check.
 */
import type { Attributes } from '@opentelemetry/api';
import {
  DataPointType,
  type CollectionResult,
  type DataPoint,
  type MetricData,
  type MetricProducer,
  type ScopeMetrics,
} from '@opentelemetry/sdk-metrics';

type Histogram = { buckets: { boundaries: number[]; counts: number[] }; sum?: number; count: number; min?: number; max?: number };

function attributesKey(attributes: Attributes): string {
  return JSON.stringify(Object.keys(attributes).sort().map((key) => [key, attributes[key]]));
}

function mergeHistogram(into: Histogram, add: Histogram): Histogram {
  const sameBuckets =
    into.buckets.boundaries.length === add.buckets.boundaries.length && into.buckets.boundaries.every((b, i) => b === add.buckets.boundaries[i]);
  if (!sameBuckets) return into;
  return {
    buckets: { boundaries: into.buckets.boundaries, counts: into.buckets.counts.map((count, i) => count + (add.buckets.counts[i] ?? 0)) },
    sum: (into.sum ?? 0) + (add.sum ?? 0),
    count: into.count + add.count,
    min: Math.min(into.min ?? Infinity, add.min ?? Infinity),
    max: Math.max(into.max ?? -Infinity, add.max ?? -Infinity),
  };
}

/** Merges each worker's scope metrics into one scope per instrumentation scope name. */
export function mergeScopeMetrics(perWorker: readonly (readonly ScopeMetrics[])[]): ScopeMetrics[] {
  const scopes = new Map<string, { scope: ScopeMetrics['scope']; metrics: Map<string, { metric: MetricData; points: Map<string, DataPoint<unknown>> }> }>();
  for (const workerScopes of perWorker) {
    for (const scopeMetrics of workerScopes) {
      let scope = scopes.get(scopeMetrics.scope.name);
      if (scope === undefined) {
        scope = { scope: scopeMetrics.scope, metrics: new Map() };
        scopes.set(scopeMetrics.scope.name, scope);
      }
      for (const metric of scopeMetrics.metrics) {
        let entry = scope.metrics.get(metric.descriptor.name);
        if (entry === undefined) {
          entry = { metric, points: new Map() };
          scope.metrics.set(metric.descriptor.name, entry);
        } else if (entry.metric.dataPointType !== metric.dataPointType) {
          continue;
        }
        for (const point of metric.dataPoints as DataPoint<unknown>[]) {
          const key = attributesKey(point.attributes);
          const seen = entry.points.get(key);
          if (seen === undefined) {
            entry.points.set(key, point);
            continue;
          }
          let value: unknown;
          switch (metric.dataPointType) {
            case DataPointType.SUM:
              value = (seen.value as number) + (point.value as number);
              break;
            case DataPointType.GAUGE:
              value = Math.max(seen.value as number, point.value as number);
              break;
            case DataPointType.HISTOGRAM:
              value = mergeHistogram(seen.value as Histogram, point.value as Histogram);
              break;
            default:
              value = seen.value;
          }
          entry.points.set(key, { ...seen, value });
        }
      }
    }
  }
  return [...scopes.values()].map(({ scope, metrics }) => ({
    scope,
    metrics: [...metrics.values()].map(({ metric, points }) => ({ ...metric, dataPoints: [...points.values()] }) as MetricData),
  }));
}

/** A producer for the primary's exporter: asks every live worker, merges what came back in time. */
export function workerMetricsProducer(collectFromWorkers: () => Promise<readonly (readonly ScopeMetrics[])[]>): MetricProducer {
  return {
    async collect(): Promise<CollectionResult> {
      const perWorker = await collectFromWorkers();
      // The exporter replaces the resource with the primary's own; only scopeMetrics are read.
      return { resourceMetrics: { resource: undefined as never, scopeMetrics: mergeScopeMetrics(perWorker) }, errors: [] };
    },
  };
}

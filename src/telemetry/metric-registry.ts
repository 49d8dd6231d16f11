/**
 * One process's metrics: an SDK MeterProvider read by the Prometheus exporter, whose server is
 * never started: the admin server hands it `/metrics` requests. In a multi-worker setup the
 * primary adds a producer that brings in the workers' metrics (cluster-metrics.ts).
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Meter } from '@opentelemetry/api';
import { PrometheusExporter } from '@opentelemetry/exporter-prometheus';
import { MeterProvider, type MetricProducer, type ScopeMetrics } from '@opentelemetry/sdk-metrics';

export const METER_NAME = 'hopguard';

export interface MetricRegistry {
  readonly meter: Meter;
  /** Answers a Prometheus scrape (text exposition format). */
  handleScrape(request: IncomingMessage, response: ServerResponse): void;
  /** This process's current metrics, as plain data a worker sends to the primary. */
  collectScopes(): Promise<ScopeMetrics[]>;
  shutdown(): Promise<void>;
}

export function createMetricRegistry(options: { readonly producers?: readonly MetricProducer[] } = {}): MetricRegistry {
  const exporter = new PrometheusExporter({
    preventServerStart: true,
    metricProducers: [...(options.producers ?? [])],
    withoutTargetInfo: true,
  });
  const provider = new MeterProvider({ readers: [exporter] });
  const meter = provider.getMeter(METER_NAME);
  return {
    meter,
    handleScrape: (request, response) => exporter.getMetricsRequestHandler(request, response),
    async collectScopes() {
      const { resourceMetrics } = await exporter.collect({ timeoutMillis: 1_000 });
      return resourceMetrics.scopeMetrics;
    },
    shutdown: () => provider.shutdown(),
  };
}

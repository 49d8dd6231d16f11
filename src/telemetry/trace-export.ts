/**
 * Trace export, only when the standard OTEL_* environment asks for it: then an SDK tracer provider
 * with a batching OTLP/HTTP exporter is registered globally, and the check spans of tracing.ts
 * start recording. Otherwise nothing is loaded and the API's no-op tracer stays in place.
 */
import type { Logger } from 'pino';

export interface TraceExport {
  /** Flushes buffered spans and stops exporting. */
  shutdown(): Promise<void>;
}

/**
 * OTEL_SDK_DISABLED=true or OTEL_TRACES_EXPORTER=none turn it off; OTEL_TRACES_EXPORTER=otlp or an
 * OTLP endpoint (OTEL_EXPORTER_OTLP_ENDPOINT / OTEL_EXPORTER_OTLP_TRACES_ENDPOINT) turn it on.
 */
export function traceExportRequested(env: NodeJS.ProcessEnv): boolean {
  if (env.OTEL_SDK_DISABLED?.trim().toLowerCase() === 'true') return false;
  const exporters = (env.OTEL_TRACES_EXPORTER ?? '').split(',').map((name) => name.trim().toLowerCase());
  if (exporters.includes('none')) return false;
  if (exporters.includes('otlp')) return true;
  return Boolean(env.OTEL_EXPORTER_OTLP_ENDPOINT || env.OTEL_EXPORTER_OTLP_TRACES_ENDPOINT);
}

export async function startTraceExport(env: NodeJS.ProcessEnv, logger: Logger): Promise<TraceExport | null> {
  if (!traceExportRequested(env)) return null;
  const [{ NodeTracerProvider, BatchSpanProcessor }, { OTLPTraceExporter }, resources] = await Promise.all([
    import('@opentelemetry/sdk-trace-node'),
    import('@opentelemetry/exporter-trace-otlp-http'),
    import('@opentelemetry/resources'),
  ]);
  // OTEL_SERVICE_NAME and OTEL_RESOURCE_ATTRIBUTES win over the default service name.
  const resource = resources
    .resourceFromAttributes({ 'service.name': 'hopguard' })
    .merge(resources.detectResources({ detectors: [resources.envDetector] }));
  // The exporter reads its endpoint, headers and timeout from the OTEL_EXPORTER_OTLP_* variables,
  // the batch processor OTEL_BSP_*, the provider the OTEL_TRACES_SAMPLER* variables.
  const provider = new NodeTracerProvider({ resource, spanProcessors: [new BatchSpanProcessor(new OTLPTraceExporter())] });
  provider.register();
  logger.info({ component: 'tracing' }, 'exporting check spans over OTLP/HTTP');
  return { shutdown: () => provider.shutdown() };
}

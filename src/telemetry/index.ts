/**
 * What the server process hands its transports and key sets: one hook per answered check
 * (metrics, decision log), the span wrapper, the JWKS fetch counter, and the config-driven
 * logging settings. Built once per process; labels follow the config in force.
 */
import type { Logger } from 'pino';
import type { HopguardConfig } from '../config/types.js';
import type { CheckInput, Decision } from '../decision/types.js';
import type { FetchOutcome, KeySetStatus } from '../jwt/keyset-types.js';
import { createDecisionLogger, type DecisionLogger } from './logging.js';
import { createCheckMetrics, type CheckMetrics } from './metrics.js';
import type { MetricRegistry } from './metric-registry.js';
import { createCheckTracer, type CheckTracer } from './tracing.js';

export { createLogger } from './logging.js';
export { createMetricRegistry, type MetricRegistry } from './metric-registry.js';
export { createReloadMetrics, type ReloadOutcome, type ReloadMetrics } from './metrics.js';

export type TransportName = 'grpc' | 'http';

export interface CheckTelemetry {
  readonly tracer: CheckTracer;
  onDecision(decision: Decision, seconds: number, input: CheckInput | null, transport: TransportName): void;
  onJwksFetch(issuer: string, outcome: FetchOutcome): void;
  /** Follows a reloaded config: log level and allow sample rate. */
  applyConfig(config: HopguardConfig): void;
}

export interface CheckTelemetryDeps {
  readonly registry: MetricRegistry;
  readonly logger: Logger;
  readonly currentConfig: () => HopguardConfig;
  readonly keyStatuses: () => readonly KeySetStatus[];
  /** For the allow sampling; tests pin it. */
  readonly random?: () => number;
}

export function createCheckTelemetry(deps: CheckTelemetryDeps): CheckTelemetry {
  const metrics: CheckMetrics = createCheckMetrics(
    deps.registry.meter,
    {
      isConfiguredWorkload: (id) => deps.currentConfig().workloads.has(id),
      isConfiguredIssuer: (issuer) => deps.currentConfig().issuers.has(issuer),
    },
    deps.keyStatuses,
  );
  const initial = deps.currentConfig();
  const decisions: DecisionLogger = createDecisionLogger(deps.logger, initial.logging.allowSampleRate, deps.random);
  return {
    tracer: createCheckTracer(),
    onDecision(decision, seconds, input, transport) {
      metrics.recordDecision(decision, seconds);
      decisions.log(decision, seconds, input, transport);
    },
    onJwksFetch: (issuer, outcome) => metrics.recordJwksFetch(issuer, outcome),
    applyConfig(config) {
      deps.logger.level = config.logging.level;
      decisions.setSampleRate(config.logging.allowSampleRate);
    },
  };
}

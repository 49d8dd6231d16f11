/**
 * hopguard's metrics (SPEC.md "Metrics") through the OpenTelemetry API, collected by the SDK's
 * Prometheus exporter. Every label value is bounded: reason codes, configured workload ids,
 * configured issuers, fixed outcome words. Nothing taken from a token ever becomes a label.
 */
import type { Counter, Histogram, Meter } from '@opentelemetry/api';
import { isReasonCode } from '../decision/reasons.js';
import type { Decision } from '../decision/types.js';
import type { FetchOutcome, KeySetStatus } from '../jwt/keyset-types.js';

export const METRIC_CHECKS = 'hopguard_checks_total';
export const METRIC_CHECK_DURATION = 'hopguard_check_duration_seconds';
export const METRIC_JWKS_FETCHES = 'hopguard_jwks_fetches_total';
export const METRIC_JWKS_KEYS = 'hopguard_jwks_keys';
export const METRIC_REPLAY_REJECTIONS = 'hopguard_replay_rejections_total';
export const METRIC_DPOP_PROOFS = 'hopguard_dpop_proofs_total';
export const METRIC_REPLAY_STORE_ERRORS = 'hopguard_replay_store_errors_total';
export const METRIC_CONFIG_RELOADS = 'hopguard_config_reloads_total';

/**
 * A check is a few hundred microseconds of CPU when the signature is verified, tens of
 * microseconds when it is cached; the upper buckets catch a slow JWKS fetch or replay store.
 */
export const CHECK_DURATION_BUCKETS = [
  0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5,
];

/** `decision` label values: shadow mode's allowed-but-would-deny is counted apart from both. */
export type DecisionLabel = 'allow' | 'deny' | 'shadow_deny';
export type ReloadOutcome = 'success' | 'invalid' | 'error';

const FETCH_OUTCOMES: ReadonlySet<FetchOutcome> = new Set<FetchOutcome>(['success', 'not_modified', 'error', 'invalid']);

/** What may appear as a label value; the config behind it changes with reloads. */
export interface LabelPolicy {
  isConfiguredWorkload(id: string): boolean;
  isConfiguredIssuer(issuer: string): boolean;
}

export interface CheckMetrics {
  recordDecision(decision: Decision, seconds: number): void;
  recordJwksFetch(issuer: string, outcome: FetchOutcome): void;
}

export interface ReloadMetrics {
  recordReload(outcome: ReloadOutcome): void;
}

export function decisionLabel(decision: Decision): DecisionLabel {
  if (!decision.allowed) return 'deny';
  return decision.shadowReason === null ? 'allow' : 'shadow_deny';
}

/** The reason label: a reason code, or '' for a plain allow. */
export function reasonLabel(decision: Decision): string {
  const reason = decision.allowed ? decision.shadowReason : decision.reason;
  return reason !== null && isReasonCode(reason) ? reason : '';
}

export function createCheckMetrics(meter: Meter, labels: LabelPolicy, keyStatuses: () => readonly KeySetStatus[]): CheckMetrics {
  const checks: Counter = meter.createCounter(METRIC_CHECKS, { description: 'Checks answered, by decision, reason code, receiving workload and matched operation' });
  const duration: Histogram = meter.createHistogram(METRIC_CHECK_DURATION, {
    description: 'Time to answer a check, from request decoded to response handed to the transport',
    unit: 's',
    advice: { explicitBucketBoundaries: CHECK_DURATION_BUCKETS },
  });
  const fetches = meter.createCounter(METRIC_JWKS_FETCHES, { description: 'JWKS load attempts, by issuer and outcome' });
  const replayRejections = meter.createCounter(METRIC_REPLAY_REJECTIONS, { description: 'Checks denied as replayed, by workload' });
  const dpopProofs = meter.createCounter(METRIC_DPOP_PROOFS, { description: 'DPoP proofs examined, by workload and outcome (accepted, invalid, nonce_required, replayed)' });
  const storeErrors = meter.createCounter(METRIC_REPLAY_STORE_ERRORS, { description: 'Replay store calls that failed or timed out' });
  const keys = meter.createObservableGauge(METRIC_JWKS_KEYS, { description: 'Usable keys held per issuer' });
  keys.addCallback((result) => {
    for (const status of keyStatuses()) {
      if (labels.isConfiguredIssuer(status.issuer)) result.observe(status.ready ? status.keyCount : 0, { issuer: status.issuer });
    }
  });

  const workloadLabel = (id: string): string => (id !== '' && labels.isConfiguredWorkload(id) ? id : '');

  return {
    recordDecision(decision, seconds) {
      const workload = workloadLabel(decision.workload);
      // The operation name comes from the config (its name, or #index), never from the request.
      checks.add(1, { decision: decisionLabel(decision), reason: reasonLabel(decision), workload, operation: workload === '' ? '' : decision.operation });
      duration.record(seconds);
      if (!decision.allowed && decision.reason === 'replayed') replayRejections.add(1, { workload });
      if (decision.audit.storeError) storeErrors.add(1);
      if (decision.audit.dpopOutcome !== null) dpopProofs.add(1, { workload, outcome: decision.audit.dpopOutcome });
    },
    recordJwksFetch(issuer, outcome) {
      fetches.add(1, {
        issuer: labels.isConfiguredIssuer(issuer) ? issuer : '',
        outcome: FETCH_OUTCOMES.has(outcome) ? outcome : 'error',
      });
    },
  };
}

export function createReloadMetrics(meter: Meter): ReloadMetrics {
  const reloads = meter.createCounter(METRIC_CONFIG_RELOADS, { description: 'Config reloads, by outcome (a refused config keeps the running one)' });
  return {
    recordReload(outcome) {
      reloads.add(1, { outcome });
    },
  };
}

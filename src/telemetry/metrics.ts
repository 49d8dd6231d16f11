/**
 * hopguard's metrics (SPEC.md "Metrics") through the OpenTelemetry API, collected by the SDK's
 * Prometheus exporter. Every label value is bounded: reason codes, configured workload ids,
 * configured issuers, fixed outcome words. Nothing taken from a token ever becomes a label.
 */
import type { Attributes, Histogram, Meter, ObservableCounter } from '@opentelemetry/api';
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

/**
 * Distinct label sets of hopguard_checks_total kept apart at most. Every label is bounded by the
 * config (workloads, their operations) or by code (decisions, reasons); a config that reloads
 * through many workload names could still grow it, so past this many the workload (and
 * operation) of new label sets are reported as ''. Below the SDK's own cardinality limit (2,000
 * points a metric, beyond which it folds points into an `otel.metric.overflow` one), with room
 * for those '' series.
 */
export const MAX_CHECK_SERIES = 1_500;

/** One label set of hopguard_checks_total: its attributes, built once, and its count so far. */
interface CheckSeries {
  readonly attributes: Attributes;
  count: number;
}

/**
 * hopguard_checks_total without the SDK on the hot path: a counter's `add` hashes its attributes
 * at every call (sorted keys, JSON: about 1 µs), so each check only bumps a plain number in a
 * series found with four map lookups (about 40 ns), and an observable counter hands the totals to
 * the SDK when it collects (a scrape). Same name, type and cumulative values as the synchronous
 * counter it replaces.
 */
function createCheckCounter(meter: Meter) {
  /**
   * workload -> operation -> decision -> reason -> series. Every key is a string the config or
   * the code holds (its hash is computed once), so finding a series allocates nothing.
   */
  const byWorkload = new Map<string, Map<string, Map<string, Map<string, CheckSeries>>>>();
  /** Exported label values joined -> series; asked only when a series is first met. */
  const byLabels = new Map<string, CheckSeries>();
  const counter: ObservableCounter = meter.createObservableCounter(METRIC_CHECKS, {
    description: 'Checks answered, by decision, reason code, receiving workload and matched operation',
  });
  counter.addCallback((result) => {
    for (const entry of byLabels.values()) result.observe(entry.count, entry.attributes);
  });

  function level<V>(map: Map<string, V>, key: string, make: () => V): V {
    let value = map.get(key);
    if (value === undefined) map.set(key, (value = make()));
    return value;
  }

  function seriesFor(decision: DecisionLabel, reason: string, workload: string, operation: string): CheckSeries {
    const byReason = byWorkload.get(workload)?.get(operation)?.get(decision);
    const found = byReason?.get(reason);
    if (found !== undefined) return found;
    const labelsKey = [decision, reason, workload, operation].join('\u0000');
    let entry = byLabels.get(labelsKey);
    if (entry === undefined) {
      if (byLabels.size >= MAX_CHECK_SERIES && (workload !== '' || operation !== '')) return seriesFor(decision, reason, '', '');
      entry = { attributes: Object.freeze({ decision, reason, workload, operation }), count: 0 };
      byLabels.set(labelsKey, entry);
    }
    const operations = level(byWorkload, workload, () => new Map<string, Map<string, Map<string, CheckSeries>>>());
    const decisions = level(operations, operation, () => new Map<string, Map<string, CheckSeries>>());
    level(decisions, decision, () => new Map<string, CheckSeries>()).set(reason, entry);
    return entry;
  }

  return {
    add(decision: DecisionLabel, reason: string, workload: string, operation: string): void {
      seriesFor(decision, reason, workload, operation).count += 1;
    },
  };
}

export function createCheckMetrics(meter: Meter, labels: LabelPolicy, keyStatuses: () => readonly KeySetStatus[]): CheckMetrics {
  const checks = createCheckCounter(meter);
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
      checks.add(decisionLabel(decision), reasonLabel(decision), workload, workload === '' ? '' : decision.operation);
      // Without attributes the histogram's record is about 0.1 µs (no attribute hashing).
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

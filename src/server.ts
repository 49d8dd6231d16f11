/**
 * The composition root: wires the key sets, the replay store and the pipeline to the transports
 * and to telemetry. A config reload builds a new pipeline and swaps it in one assignment; checks
 * in flight finish on the pipeline they started with.
 */
import type { Logger } from 'pino';
import type { HopguardConfig } from './config/types.js';
import { createPipeline, type Pipeline } from './decision/pipeline.js';
import type { CheckInput, Clock, Decision, ReplayStore } from './decision/types.js';
import type { FetchOutcome, KeySetStatus } from './jwt/keyset-types.js';
import { createKeySetRegistry } from './jwt/keysets/index.js';
import { createJoseSignatureVerifier } from './jwt/signature.js';
import { createCachingSignatureVerifier } from './jwt/signature-cache.js';
import { createReplayStore } from './replay/index.js';
import { createCheckTelemetry, createLogger, createMetricRegistry, type MetricRegistry } from './telemetry/index.js';
import { startAdminServer, type ReadinessReport, type RunningAdminServer } from './transport/admin-server.js';
import { startGrpcTransport } from './transport/grpc-transport.js';
import { HealthState } from './transport/health.js';
import { startHttpServer, type RunningHttpServer } from './transport/http-server.js';
import { edgeDenial } from './transport/overload.js';

export const systemClock: Clock = { nowMs: () => Date.now() };

export interface StartOptions {
  readonly clock?: Clock;
  /** Called for every answered check, after hopguard's own metrics and decision log. */
  readonly onDecision?: (decision: Decision, seconds: number) => void;
  /** Where metrics go; default: a registry of this process, scraped on listen.admin. */
  readonly metrics?: MetricRegistry;
  /** Where logs go; default: JSON lines on stdout at `logging.level`. */
  readonly logger?: Logger;
  /** Serve listen.admin from this process (default true; a cluster worker leaves it to the primary). */
  readonly serveAdmin?: boolean;
  /** For the allow-log sampling; tests pin it. */
  readonly random?: () => number;
}

export interface RunningHopguard {
  readonly grpcAddress: string;
  readonly httpAddress: string | null;
  readonly adminAddress: string | null;
  readonly health: HealthState;
  readonly metrics: MetricRegistry;
  readonly logger: Logger;
  currentConfig(): HopguardConfig;
  /** Ready for traffic: not draining, and every issuer's keys loaded or known unavailable. */
  readiness(): ReadinessReport;
  /** Swaps in a new, already validated config; key sets of unchanged issuers are kept. */
  reload(config: HopguardConfig): Promise<void>;
  /**
   * Reports NOT_SERVING and not ready, stops accepting, closes idle connections, answers the
   * checks in flight (for up to `graceMs`, default drainTimeout), then stops.
   */
  close(graceMs?: number): Promise<void>;
}

/** An issuer counts as settled once its keys are usable, or once a load attempt ended without them. */
export function issuerReadiness(statuses: readonly KeySetStatus[]): { settled: boolean; issuers: Record<string, unknown>[] } {
  const issuers = statuses.map((status) => ({
    issuer: status.issuer,
    keysLoaded: status.ready,
    keys: status.keyCount,
    lastFetch: status.lastFetch?.outcome ?? null,
  }));
  return { settled: statuses.every((status) => status.ready || status.lastFetch !== null), issuers };
}

export async function startHopguard(initial: HopguardConfig, options: StartOptions = {}): Promise<RunningHopguard> {
  const clock = options.clock ?? systemClock;
  const logger = options.logger ?? createLogger(initial.logging.level);
  const metrics = options.metrics ?? createMetricRegistry();
  let pipeline: Pipeline | null = null;
  const currentConfig = (): HopguardConfig => pipeline?.config ?? initial;
  // Fetch outcomes arrive from the first load on, before the pipeline exists.
  let onJwksFetch: (issuer: string, outcome: FetchOutcome) => void = () => undefined;
  const keySets = createKeySetRegistry(initial.issuers.values(), {
    clock,
    log: logger.child({ component: 'jwks' }),
    onFetch: (issuer, outcome) => onJwksFetch(issuer, outcome),
  });
  const telemetry = createCheckTelemetry({
    registry: metrics,
    logger,
    currentConfig,
    keyStatuses: () => keySets.statuses(),
    ...(options.random ? { random: options.random } : {}),
  });
  onJwksFetch = telemetry.onJwksFetch;
  await keySets.start();
  const replayLog = logger.child({ component: 'replay' });
  let replay: ReplayStore = createReplayStore(initial.replay, { clock, log: replayLog });
  const verifier = createCachingSignatureVerifier(createJoseSignatureVerifier((issuer) => keySets.get(issuer)), { maxEntries: initial.limits.signatureCacheEntries, clock, keySets });
  pipeline = createPipeline({ config: initial, verifier, replay, clock });
  const health = new HealthState();
  let draining = false;

  // One bound for the whole process, whichever transport the check came in on.
  let checksInFlight = 0;
  const check = async (input: CheckInput): Promise<Decision> => {
    const active = pipeline as Pipeline;
    if (checksInFlight >= active.config.limits.maxConcurrentChecks) return edgeDenial();
    checksInFlight += 1;
    try {
      return await telemetry.tracer.traced(input, () => active.check(input));
    } finally {
      checksInFlight -= 1;
    }
  };
  const limits = () => currentConfig().limits;
  const decided = (transport: 'grpc' | 'http') => (decision: Decision, seconds: number, input: CheckInput | null) => {
    telemetry.onDecision(decision, seconds, input, transport);
    options.onDecision?.(decision, seconds);
  };

  const readiness = (): ReadinessReport => {
    const keys = issuerReadiness(keySets.statuses());
    return { ready: !draining && keys.settled, detail: { draining, issuers: keys.issuers } };
  };

  const grpcServer = await startGrpcTransport(initial.listen.transport, { address: initial.listen.grpc, check, limits, health, onDecision: decided('grpc') });
  let httpServer: RunningHttpServer | null = null;
  let adminServer: RunningAdminServer | null = null;
  try {
    if (initial.listen.http !== null) {
      httpServer = await startHttpServer({
        address: initial.listen.http,
        check,
        limits,
        trustsXfcc: (id) => currentConfig().workloads.get(id)?.trustForwardedClientCert === true,
        onDecision: decided('http'),
      });
    }
    if (initial.listen.admin !== null && options.serveAdmin !== false) {
      adminServer = await startAdminServer({ address: initial.listen.admin, scrape: metrics.handleScrape, readiness });
    }
  } catch (error) {
    await grpcServer.close(0);
    await httpServer?.close(0);
    keySets.close();
    await replay.close();
    throw error;
  }
  health.set(true);

  return {
    grpcAddress: grpcServer.address,
    httpAddress: httpServer?.address ?? null,
    adminAddress: adminServer?.address ?? null,
    health,
    metrics,
    logger,
    currentConfig,
    readiness,
    async reload(config: HopguardConfig) {
      const previous = pipeline as Pipeline;
      await keySets.reconcile(config.issuers.values());
      const replayChanged = JSON.stringify(config.replay) !== JSON.stringify(previous.config.replay);
      const previousReplay = replay;
      if (replayChanged) replay = createReplayStore(config.replay, { clock, log: replayLog });
      pipeline = createPipeline({ config, verifier, replay, clock });
      telemetry.applyConfig(config);
      if (replayChanged) await previousReplay.close();
    },
    async close(graceMs = currentConfig().drainTimeoutMs) {
      draining = true;
      health.drain();
      await Promise.all([grpcServer.close(graceMs), httpServer?.close(graceMs)]);
      await adminServer?.close();
      keySets.close();
      await replay.close();
    },
  };
}

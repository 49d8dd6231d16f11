/**
 * The composition root: wires the key sets, the replay store and the pipeline to the transports.
 * A config reload builds a new pipeline and swaps it in one assignment; checks in flight finish
 * on the pipeline they started with.
 */
import type { HopguardConfig } from './config/types.js';
import { createPipeline, type Pipeline } from './decision/pipeline.js';
import type { Clock, Decision, ReplayStore } from './decision/types.js';
import { createKeySetRegistry } from './jwt/keysets/index.js';
import { createJoseSignatureVerifier } from './jwt/signature.js';
import { createCachingSignatureVerifier } from './jwt/signature-cache.js';
import { createReplayStore } from './replay/index.js';
import { startGrpcServer } from './transport/grpc-server.js';
import { HealthState } from './transport/health.js';

export const systemClock: Clock = { nowMs: () => Date.now() };

export interface StartOptions {
  readonly clock?: Clock;
  /** Called for every answered check (telemetry, logs). */
  readonly onDecision?: (decision: Decision, seconds: number) => void;
}

export interface RunningHopguard {
  readonly grpcAddress: string;
  readonly httpAddress: string | null;
  readonly adminAddress: string | null;
  readonly health: HealthState;
  currentConfig(): HopguardConfig;
  /** Swaps in a new, already validated config; key sets of unchanged issuers are kept. */
  reload(config: HopguardConfig): Promise<void>;
  /** Reports NOT_SERVING, answers the checks in flight (up to drainTimeout), then stops. */
  close(): Promise<void>;
}

export async function startHopguard(initial: HopguardConfig, options: StartOptions = {}): Promise<RunningHopguard> {
  const clock = options.clock ?? systemClock;
  const keySets = createKeySetRegistry(initial.issuers.values(), { clock });
  await keySets.start();
  let replay: ReplayStore = createReplayStore(initial.replay, { clock });
  const verifier = createCachingSignatureVerifier(createJoseSignatureVerifier((issuer) => keySets.get(issuer)), { maxEntries: initial.limits.signatureCacheEntries, clock, keySets });
  let pipeline: Pipeline = createPipeline({ config: initial, verifier, replay, clock });
  const health = new HealthState();

  const grpcServer = await startGrpcServer({
    address: initial.listen.grpc,
    check: (input) => pipeline.check(input),
    limits: () => pipeline.config.limits,
    health,
    onDecision: options.onDecision,
  });
  health.set(true);

  return {
    grpcAddress: grpcServer.address,
    httpAddress: null,
    adminAddress: null,
    health,
    currentConfig: () => pipeline.config,
    async reload(config: HopguardConfig) {
      await keySets.reconcile(config.issuers.values());
      const replayChanged = JSON.stringify(config.replay) !== JSON.stringify(pipeline.config.replay);
      const previousReplay = replay;
      if (replayChanged) replay = createReplayStore(config.replay, { clock });
      pipeline = createPipeline({ config, verifier, replay, clock });
      if (replayChanged) await previousReplay.close();
    },
    async close() {
      health.set(false);
      await grpcServer.close(pipeline.config.drainTimeoutMs);
      keySets.close();
      await replay.close();
    },
  };
}

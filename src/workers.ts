/**
 * The serving process(es): signals, drain, hot reload, and `workers: N` on node:cluster.
 *
 * One worker: this process serves everything. N workers: the primary forks N processes that share
 * the gRPC and HTTP ports (cluster hands accepted connections round-robin) and keeps for itself
 * what must be one per pod: the admin port (metrics summed over the workers, readiness of all of
 * them), the config file watch and the signals. Drain and reload reach every worker over IPC.
 */
import cluster, { type Worker } from 'node:cluster';
import { createHash } from 'node:crypto';
import { watch, type FSWatcher } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { availableParallelism } from 'node:os';
import { basename, dirname } from 'node:path';
import type { Logger } from 'pino';
import type { ScopeMetrics } from '@opentelemetry/sdk-metrics';
import { loadConfigText } from './config/load.js';
import type { HopguardConfig } from './config/types.js';
import { startHopguard, type RunningHopguard } from './server.js';
import { createLogger, createMetricRegistry, createReloadMetrics, type ReloadMetrics, type ReloadOutcome } from './telemetry/index.js';
import { workerMetricsProducer } from './telemetry/cluster-metrics.js';
import { startTraceExport, type TraceExport } from './telemetry/trace-export.js';
import { startAdminServer, type ReadinessReport } from './transport/admin-server.js';
import { ListenError, type ListenerName } from './transport/listen-error.js';

/** How often the config file is re-read (content hash), whatever fs.watch reports. */
export const CONFIG_POLL_MS = 1_000;
const MAX_CONFIG_BYTES = 4 * 1024 * 1024;
/** At most this much of drainTimeout is kept for what follows the checks (stores, exporters, exit). */
const DRAIN_RESERVE_MAX_MS = 1_000;
const IPC_TIMEOUT_MS = 1_000;
const RESPAWN_DELAY_MS = 1_000;

export function workerCount(config: HopguardConfig): number {
  return config.workers === 'auto' ? availableParallelism() : config.workers;
}

// ---- config reload: SIGHUP and file changes (ConfigMap symlink swaps included) ----

export interface ConfigReloader {
  /** Reads, validates and applies the file; `signal` reloads even an unchanged file. */
  reload(trigger: 'signal' | 'file'): Promise<ReloadOutcome | 'unchanged'>;
  /** Polls the file and listens to its directory; stop() ends both. */
  watch(pollMs?: number): void;
  stop(): void;
}

export interface ConfigReloaderDeps {
  readonly path: string;
  /** The text the running config came from (so the first poll does not reload it). */
  readonly initialText: string;
  readonly logger: Logger;
  readonly metrics: ReloadMetrics;
  readonly current: () => HopguardConfig;
  readonly apply: (config: HopguardConfig, text: string) => Promise<void>;
}

const digest = (text: string) => createHash('sha256').update(text).digest('hex');

export function createConfigReloader(deps: ConfigReloaderDeps): ConfigReloader {
  const log = deps.logger.child({ component: 'config' });
  let lastSeen = digest(deps.initialText);
  let queue: Promise<unknown> = Promise.resolve();
  let timer: NodeJS.Timeout | null = null;
  let watcher: FSWatcher | null = null;

  async function attempt(trigger: 'signal' | 'file'): Promise<ReloadOutcome | 'unchanged'> {
    let text: string;
    try {
      // readFile follows the ConfigMap's ..data symlink, so a swap shows as new content.
      const bytes = await readFile(deps.path);
      if (bytes.length > MAX_CONFIG_BYTES) throw new Error(`larger than ${MAX_CONFIG_BYTES} bytes`);
      text = bytes.toString('utf8');
    } catch (error) {
      if (trigger === 'file') return 'unchanged'; // mid-swap, or gone for a moment: the next poll sees it
      deps.metrics.recordReload('invalid');
      log.warn({ trigger, error: (error as Error).message }, 'config reload refused: cannot read the file; keeping the running config');
      return 'invalid';
    }
    const seen = digest(text);
    if (trigger === 'file' && seen === lastSeen) return 'unchanged';
    lastSeen = seen;
    const loaded = loadConfigText(text, deps.path);
    if (!loaded.ok) {
      deps.metrics.recordReload('invalid');
      log.warn({ trigger, errors: loaded.errors.slice(0, 20) }, 'config reload refused: invalid config; keeping the running config');
      return 'invalid';
    }
    const before = deps.current();
    const needRestart = [
      JSON.stringify(before.listen) !== JSON.stringify(loaded.config.listen) ? 'listen' : null,
      before.workers !== loaded.config.workers ? 'workers' : null,
    ].filter((key): key is string => key !== null);
    try {
      await deps.apply(loaded.config, text);
    } catch (error) {
      deps.metrics.recordReload('error');
      log.error({ trigger, error: (error as Error).message }, 'config reload failed while applying');
      return 'error';
    }
    deps.metrics.recordReload('success');
    log.info({ trigger, issuers: loaded.config.issuers.size, workloads: loaded.config.workloads.size, ...(needRestart.length ? { needRestart } : {}) }, 'config reloaded');
    if (needRestart.length > 0) log.warn({ keys: needRestart }, 'these keys take effect only after a restart');
    return 'success';
  }

  return {
    reload(trigger) {
      const next = queue.then(() => attempt(trigger));
      queue = next.catch(() => undefined);
      return next;
    },
    watch(pollMs = CONFIG_POLL_MS) {
      const poke = () => void this.reload('file');
      timer = setInterval(poke, pollMs);
      timer.unref();
      try {
        // Kubernetes swaps `..data` in the directory; the event only hastens the next read.
        const name = basename(deps.path);
        watcher = watch(dirname(deps.path), { persistent: false }, (_event, file) => {
          if (file === null || file === name || file.startsWith('..')) poke();
        });
        watcher.on('error', () => watcher?.close());
      } catch {
        watcher = null; // polling alone still sees every change
      }
    },
    stop() {
      if (timer) clearInterval(timer);
      watcher?.close();
    },
  };
}

// ---- one process ----

export interface ServeOptions {
  readonly configPath: string | null;
  readonly config: HopguardConfig;
  /** The text of the config file (null for the demo). */
  readonly configText: string | null;
  /** Runs after the server stopped (the demo's JWKS server). */
  readonly onStopped?: () => Promise<void>;
  /** Printed once serving; receives the running addresses. */
  readonly announce: (addresses: { grpc: string; http: string | null; admin: string | null; workers: number }) => void;
}

/**
 * How a drain spends drainTimeout (SPEC "Shutdown": exit within it): the checks in flight get
 * `checksMs`, a process that is still closing exits at `exitMs`, and a cluster primary stops
 * waiting for its workers at `primaryMs`, the last moment.
 */
export function drainSchedule(drainTimeoutMs: number): { checksMs: number; exitMs: number; primaryMs: number } {
  const reserve = Math.min(DRAIN_RESERVE_MAX_MS, Math.floor(drainTimeoutMs / 5));
  return { checksMs: drainTimeoutMs - reserve, exitMs: drainTimeoutMs - Math.floor(reserve / 2), primaryMs: drainTimeoutMs - Math.floor(reserve / 4) };
}

function exitAfterDrain(logger: Logger, drainTimeoutMs: number, drain: () => Promise<void>): void {
  const guard = setTimeout(() => {
    logger.warn({ drainTimeoutMs }, 'drain did not finish in time; exiting');
    logger.flush?.();
    process.exit(0);
  }, drainSchedule(drainTimeoutMs).exitMs);
  guard.unref();
  drain().then(
    () => {
      logger.info('drained; exiting');
      logger.flush?.();
      process.exit(0);
    },
    (error: unknown) => {
      logger.error({ error: (error as Error)?.message }, 'error while draining');
      process.exit(0);
    },
  );
}

export async function serveSingleProcess(options: ServeOptions): Promise<RunningHopguard> {
  const logger = createLogger(options.config.logging.level);
  const traces = await startTraceExport(process.env, logger);
  const running = await startHopguard(options.config, { logger });
  options.announce({ grpc: running.grpcAddress, http: running.httpAddress, admin: running.adminAddress, workers: 1 });
  logger.info({ grpc: running.grpcAddress, http: running.httpAddress, admin: running.adminAddress }, 'serving');

  let reloader: ConfigReloader | null = null;
  if (options.configPath !== null && options.configText !== null) {
    reloader = createConfigReloader({
      path: options.configPath,
      initialText: options.configText,
      logger,
      metrics: createReloadMetrics(running.metrics.meter),
      current: () => running.currentConfig(),
      apply: (config) => running.reload(config),
    });
    reloader.watch();
    process.on('SIGHUP', () => void reloader?.reload('signal'));
  }

  let stopping = false;
  const stop = (signal: string) => {
    if (stopping) return;
    stopping = true;
    reloader?.stop();
    logger.info({ signal }, 'draining');
    const drainTimeoutMs = running.currentConfig().drainTimeoutMs;
    exitAfterDrain(logger, drainTimeoutMs, async () => {
      await running.close(drainSchedule(drainTimeoutMs).checksMs);
      await traces?.shutdown();
      await options.onStopped?.();
    });
  };
  process.on('SIGTERM', () => stop('SIGTERM'));
  process.on('SIGINT', () => stop('SIGINT'));
  return running;
}

// ---- node:cluster ----

type ToWorker =
  | { readonly type: 'hopguard:start'; readonly text: string }
  | { readonly type: 'hopguard:reload'; readonly text: string }
  | { readonly type: 'hopguard:drain' }
  | { readonly type: 'hopguard:collect'; readonly id: number }
  | { readonly type: 'hopguard:ready?'; readonly id: number };

type FromWorker =
  | { readonly type: 'hopguard:listening' }
  | { readonly type: 'hopguard:started'; readonly grpc: string; readonly http: string | null }
  | { readonly type: 'hopguard:failed'; readonly error: string; readonly listen?: { readonly listener: ListenerName; readonly address: string; readonly code: string } }
  | { readonly type: 'hopguard:metrics'; readonly id: number; readonly scopes: ScopeMetrics[] }
  | { readonly type: 'hopguard:ready'; readonly id: number; readonly report: ReadinessReport };

export function isClusterWorker(): boolean {
  return cluster.isWorker;
}

/** A forked worker: waits for its config from the primary, serves, obeys reload and drain. */
export function runClusterWorker(): void {
  const send = (message: FromWorker) => process.send?.(message);
  let running: RunningHopguard | null = null;
  let traces: TraceExport | null = null;
  let logger: Logger = createLogger('info');
  let stopping = false;
  const stop = () => {
    if (stopping) return;
    stopping = true;
    if (running === null) process.exit(0);
    const active = running;
    const drainTimeoutMs = active.currentConfig().drainTimeoutMs;
    exitAfterDrain(logger, drainTimeoutMs, async () => {
      await active.close(drainSchedule(drainTimeoutMs).checksMs);
      await traces?.shutdown();
    });
  };

  process.on('message', (message: ToWorker) => {
    switch (message?.type) {
      case 'hopguard:start': {
        const loaded = loadConfigText(message.text);
        if (!loaded.ok) {
          send({ type: 'hopguard:failed', error: loaded.errors.join('; ') });
          process.exit(1);
        }
        logger = createLogger(loaded.config.logging.level).child({ worker: cluster.worker?.id });
        startTraceExport(process.env, logger)
          .then((started) => {
            traces = started;
            return startHopguard(loaded.config, { logger, serveAdmin: false });
          })
          .then(
          (started) => {
            running = started;
            send({ type: 'hopguard:started', grpc: started.grpcAddress, http: started.httpAddress });
          },
          (error: unknown) => {
            const listen = error instanceof ListenError ? { listener: error.listener, address: error.address, code: error.code } : undefined;
            send({ type: 'hopguard:failed', error: (error as Error)?.message ?? String(error), ...(listen ? { listen } : {}) });
            process.exit(1);
          },
        );
        return;
      }
      case 'hopguard:reload': {
        const loaded = loadConfigText(message.text);
        if (loaded.ok && running !== null) {
          running.reload(loaded.config).catch((error: unknown) => logger.error({ error: (error as Error)?.message }, 'reload failed in worker'));
        }
        return;
      }
      case 'hopguard:drain':
        stop();
        return;
      case 'hopguard:collect': {
        const id = message.id;
        if (running === null) send({ type: 'hopguard:metrics', id, scopes: [] });
        else running.metrics.collectScopes().then((scopes) => send({ type: 'hopguard:metrics', id, scopes }), () => send({ type: 'hopguard:metrics', id, scopes: [] }));
        return;
      }
      case 'hopguard:ready?':
        send({ type: 'hopguard:ready', id: message.id, report: running?.readiness() ?? { ready: false, detail: { starting: true } } });
        return;
    }
  });
  // Messages sent before a listener exists are lost: ask for the config only now.
  send({ type: 'hopguard:listening' });
  // The primary decides when to drain; a signal to the whole process group drains here too.
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
  // Without a primary nobody would ever stop this worker.
  process.on('disconnect', stop);
}

/** The internal message node:cluster's round-robin handoff sends with each accepted connection. */
interface ClusterHandoff {
  readonly cmd: 'NODE_CLUSTER';
  readonly act: 'newconn';
  readonly seq: number;
}

function isHandoff(message: unknown): message is ClusterHandoff {
  const candidate = message as Partial<ClusterHandoff> | null;
  return candidate?.cmd === 'NODE_CLUSTER' && candidate.act === 'newconn' && typeof candidate.seq === 'number';
}

/**
 * node:cluster's round-robin scheduling accepts each connection in the primary and sends its
 * handle to a worker, closing the primary's copy only when that worker acknowledges it. A worker
 * that dies first never acknowledges, and the primary would hold the connection open forever,
 * unserved: the client waits for its deadline instead of retrying. So every handoff is remembered
 * until its acknowledgement (`ack` carries the handoff's `seq`), and the handoffs a worker never
 * acknowledged are closed the moment its channel or process goes: the client sees the connection
 * close at once and reconnects, to a live worker.
 */
export function closeUnacknowledgedHandoffs(worker: Worker): void {
  const child = worker.process;
  const pending = new Map<number, { close(): void }>();
  const send = child.send.bind(child) as (...args: unknown[]) => boolean;
  child.send = ((...args: unknown[]) => {
    const [message, handle] = args;
    if (isHandoff(message) && handle !== null && typeof handle === 'object' && typeof (handle as { close?: unknown }).close === 'function') {
      pending.set(message.seq, handle as { close(): void });
    }
    return send(...args);
  }) as typeof child.send;
  // 'internalMessage' carries node's own NODE_* messages (not in the typings).
  (child as unknown as NodeJS.EventEmitter).on('internalMessage', (message: { cmd?: unknown; ack?: unknown }) => {
    if (message?.cmd === 'NODE_CLUSTER' && typeof message.ack === 'number') pending.delete(message.ack);
  });
  const closeUnacknowledged = () => {
    for (const handle of pending.values()) {
      try {
        handle.close();
      } catch {
        // already closed
      }
    }
    pending.clear();
  };
  child.once('disconnect', closeUnacknowledged);
  child.once('exit', closeUnacknowledged);
}

/** The cluster primary: forks, supervises, serves admin, watches the config, relays drain and reload. */
export async function serveCluster(options: ServeOptions & { readonly configText: string }): Promise<void> {
  const count = workerCount(options.config);
  let config = options.config;
  let configText = options.configText;
  const logger = createLogger(config.logging.level).child({ role: 'primary' });
  const workers = new Map<number, { worker: Worker; started: boolean }>();
  const pending = new Map<number, (message: FromWorker) => void>();
  let nextRequestId = 1;
  let draining = false;

  function ask(worker: Worker, build: (id: number) => ToWorker): Promise<FromWorker | null> {
    const id = nextRequestId++;
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        pending.delete(id);
        resolve(null);
      }, IPC_TIMEOUT_MS);
      pending.set(id, (reply) => {
        clearTimeout(timer);
        pending.delete(id);
        resolve(reply);
      });
      try {
        worker.send(build(id));
      } catch {
        clearTimeout(timer);
        pending.delete(id);
        resolve(null);
      }
    });
  }

  const live = () => [...workers.values()].filter((entry) => entry.started && entry.worker.isConnected());

  const registry = createMetricRegistry({
    producers: [
      workerMetricsProducer(async () => {
        const replies = await Promise.all(live().map((entry) => ask(entry.worker, (id) => ({ type: 'hopguard:collect', id }))));
        return replies.flatMap((reply) => (reply?.type === 'hopguard:metrics' ? [reply.scopes] : []));
      }),
    ],
  });
  const reloadMetrics = createReloadMetrics(registry.meter);

  const readiness = async (): Promise<ReadinessReport> => {
    const entries = live();
    const replies = await Promise.all(entries.map((entry) => ask(entry.worker, (id) => ({ type: 'hopguard:ready?', id }))));
    const reports = replies.map((reply) => (reply?.type === 'hopguard:ready' ? reply.report : { ready: false, detail: { answered: false } }));
    const ready = !draining && entries.length === count && reports.every((report) => report.ready);
    return { ready, detail: { draining, workers: count, workersServing: entries.length, perWorker: reports.map((report) => ({ ready: report.ready, ...report.detail })) } };
  };

  cluster.setupPrimary({ serialization: 'advanced' });
  let announced = false;
  let addresses: { grpc: string; http: string | null } | null = null;

  const admin = config.listen.admin === null ? null : await startAdminServer({ address: config.listen.admin, scrape: registry.handleScrape, readiness });

  let onAllStarted: (() => void) | null = null;
  let onStartFailed: ((error: Error) => void) | null = null;
  function fork(): void {
    const worker = cluster.fork();
    closeUnacknowledgedHandoffs(worker);
    workers.set(worker.id, { worker, started: false });
    worker.on('message', (message: FromWorker) => {
      if (message.type === 'hopguard:listening') {
        worker.send({ type: 'hopguard:start', text: configText } satisfies ToWorker);
      } else if (message.type === 'hopguard:started') {
        const entry = workers.get(worker.id);
        if (entry) entry.started = true;
        addresses ??= { grpc: message.grpc, http: message.http };
        if (live().length === count) onAllStarted?.();
      } else if (message.type === 'hopguard:failed') {
        // A port that cannot be bound is reported once, in one line, by the command.
        if (message.listen) onStartFailed?.(new ListenError(message.listen.listener, message.listen.address, message.listen.code));
        else {
          logger.error({ worker: worker.id, error: message.error }, 'worker failed to start');
          onStartFailed?.(new Error(message.error));
        }
      } else if ('id' in message) {
        pending.get(message.id)?.(message);
      }
    });
    worker.on('exit', (code, signal) => {
      workers.delete(worker.id);
      if (draining) {
        if (workers.size === 0) allExited?.();
        return;
      }
      logger.error({ worker: worker.id, code, signal }, 'worker exited; starting a replacement');
      if (announced) setTimeout(() => !draining && fork(), RESPAWN_DELAY_MS).unref();
    });
  }

  await new Promise<void>((resolve, reject) => {
    onAllStarted = resolve;
    onStartFailed = reject;
    for (let i = 0; i < count; i += 1) fork();
  }).catch(async (error: unknown) => {
    draining = true;
    for (const { worker } of workers.values()) worker.process.kill('SIGKILL');
    await admin?.close();
    throw error;
  });
  onStartFailed = null;
  announced = true;
  const bound = addresses as unknown as { grpc: string; http: string | null };
  options.announce({ grpc: bound.grpc, http: bound.http, admin: admin?.address ?? null, workers: count });
  logger.info({ grpc: bound.grpc, http: bound.http, admin: admin?.address ?? null, workers: count }, 'serving');

  const reloader = createConfigReloader({
    path: options.configPath as string,
    initialText: configText,
    logger,
    metrics: reloadMetrics,
    current: () => config,
    async apply(next, text) {
      config = next;
      configText = text;
      logger.level = next.logging.level;
      for (const { worker } of workers.values()) if (worker.isConnected()) worker.send({ type: 'hopguard:reload', text } satisfies ToWorker);
    },
  });
  reloader.watch();
  process.on('SIGHUP', () => void reloader.reload('signal'));

  let allExited: (() => void) | null = null;
  const stop = (signal: string) => {
    if (draining) return;
    draining = true;
    reloader.stop();
    logger.info({ signal, workers: workers.size }, 'draining every worker');
    // Each worker exits by itself within drainTimeout; one that has not by then is killed, so the
    // primary still exits after every worker has, and in time.
    const stragglers = setTimeout(() => {
      for (const { worker } of workers.values()) {
        logger.warn({ worker: worker.id }, 'worker still draining at drainTimeout; killing it');
        worker.process.kill('SIGKILL');
      }
    }, drainSchedule(config.drainTimeoutMs).primaryMs);
    stragglers.unref();
    exitAfterDrain(logger, config.drainTimeoutMs + DRAIN_RESERVE_MAX_MS, async () => {
      const exited = new Promise<void>((resolve) => {
        allExited = resolve;
        if (workers.size === 0) resolve();
      });
      for (const { worker } of workers.values()) if (worker.isConnected()) worker.send({ type: 'hopguard:drain' } satisfies ToWorker);
      await exited;
      clearTimeout(stragglers);
      await admin?.close();
      await registry.shutdown();
    });
  };
  process.on('SIGTERM', () => stop('SIGTERM'));
  process.on('SIGINT', () => stop('SIGINT'));
}

/**
 * The shared ReplayStore: every replica talks to one Redis (standalone, Sentinel or Cluster), so
 * N concurrent presentations of a `once` token to any replicas are allowed exactly once.
 *
 * `once` is a single `SET key 1 NX PX ttl`; `source-bound` is one Lua script (first caller binds,
 * later callers compare), so two replicas racing on one jti can never both win. Every call is
 * bounded by `replay.timeout`; while Redis is unreachable calls fail fast instead of queueing.
 */
import { Cluster, Redis } from 'ioredis';
import type { Clock, ReplayOutcome, ReplayRecord, ReplayStore } from '../decision/types.js';
import type { ReplaySettings } from '../config/types.js';
import { driverMessage, ReplayStoreError, type ReplayLog, type ReplayStoreErrorKind } from './errors.js';
import { ONCE_MARKER, remainingTtlMs, replayKey, sourceDigest } from './key.js';
import { planRedisConnection, resolvePassword, type SecretSources } from './redis-options.js';

/** KEYS[1] record key; ARGV[1] caller digest; ARGV[2] TTL in ms. Returns 1 fresh, 0 replayed. */
const BIND_TO_SOURCE_LUA = `
local bound = redis.call('GET', KEYS[1])
if not bound then
  redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
  return 1
end
if bound == ARGV[1] then
  return 1
end
return 0
`;

interface BindCommand {
  hopguardBindJti(key: string, holder: string, ttlMs: number): Promise<number>;
}

type RedisClient = Redis | Cluster;

export interface RedisReplayStoreOptions {
  readonly settings: ReplaySettings;
  readonly clock: Clock;
  readonly log?: ReplayLog | undefined;
  readonly secrets?: SecretSources;
}

function classify(error: unknown): ReplayStoreErrorKind {
  const message = error instanceof Error ? error.message : '';
  if (/timed out|timeout/i.test(message)) return 'timeout';
  if (
    /isn't writeable|Connection is closed|MaxRetriesPerRequest|ECONNREFUSED|ECONNRESET|EPIPE|None of the sentinels|Failed to refresh slots cache|Cluster isn't ready/i.test(
      message,
    ) ||
    (error instanceof Error && error.name === 'MaxRetriesPerRequestError')
  ) {
    return 'unavailable';
  }
  return 'failed';
}

export class RedisReplayStore implements ReplayStore {
  readonly #client: RedisClient;
  readonly #keyPrefix: string;
  readonly #timeoutMs: number;
  readonly #clock: Clock;
  readonly #log: ReplayLog | undefined;
  readonly #target: string;
  /** Resolves at the first `ready`; until the first connection attempt ends, calls wait for it. */
  readonly #firstAttempt: Promise<void>;
  #settledFirstAttempt = false;
  #failingLogged = false;
  #closed = false;

  constructor(options: RedisReplayStoreOptions) {
    const { settings } = options;
    this.#keyPrefix = settings.redis.keyPrefix;
    this.#timeoutMs = settings.timeoutMs;
    this.#clock = options.clock;
    this.#log = options.log;
    const plan = planRedisConnection(settings.redis, settings.timeoutMs, options.secrets);
    this.#target = plan.target;
    this.#client =
      plan.kind === 'cluster'
        ? new Cluster(plan.nodes.map((n) => ({ host: n.host, port: n.port })), plan.options)
        : new Redis(plan.options);
    this.#client.defineCommand('hopguardBindJti', { numberOfKeys: 1, lua: BIND_TO_SOURCE_LUA });

    let settleFirstAttempt!: () => void;
    this.#firstAttempt = new Promise<void>((resolve) => (settleFirstAttempt = resolve));
    const endFirstAttempt = (): void => {
      this.#settledFirstAttempt = true;
      settleFirstAttempt();
    };
    this.#client.on('ready', () => {
      endFirstAttempt();
      if (this.#failingLogged) this.#log?.info({ store: 'redis', target: this.#target }, 'replay store reconnected');
      this.#failingLogged = false;
    });
    // Log the driver's message only: its error objects may carry command arguments (AUTH's password).
    const onError = (error: unknown): void => {
      endFirstAttempt();
      this.#reportFailing('replay store connection failed', driverMessage(error));
    };
    this.#client.on('error', onError);
    if (this.#client instanceof Cluster) this.#client.on('node error', onError);
    this.#client.on('close', () => {
      if (this.#client.status === 'end') return;
      endFirstAttempt();
      this.#reportFailing('replay store connection lost', 'closed');
    });
    const client = this.#client;
    if (settings.redis.passwordFile !== null && client instanceof Redis) {
      // A mounted Secret changes in place: read it again before each reconnect, so a rotated
      // password needs no restart. A file that cannot be read keeps the last password.
      client.on('reconnecting', () => {
        try {
          const password = resolvePassword(settings.redis, undefined, options.secrets);
          if (password !== undefined) client.options.password = password;
        } catch (error) {
          this.#log?.warn({ store: 'redis', target: this.#target, error: driverMessage(error) }, 'replay store password file unreadable');
        }
      });
    }
  }

  /** One warning per outage; the next `ready` logs the recovery. */
  #reportFailing(message: string, error: string): void {
    if (this.#failingLogged || this.#closed) return;
    this.#failingLogged = true;
    this.#log?.warn({ store: 'redis', target: this.#target, error }, message);
  }

  /** `ready`, `connecting`, `reconnecting`, ... as ioredis reports it. */
  get status(): string {
    return this.#client.status;
  }

  /** Commands written to Redis and not answered yet (for tests and metrics: it must stay bounded). */
  get commandsInFlight(): number {
    const clients = this.#client instanceof Cluster ? this.#client.nodes() : [this.#client];
    return clients.reduce((sum, client) => sum + client.commandQueue.length, 0);
  }

  record(entry: ReplayRecord): Promise<ReplayOutcome> {
    if (this.#closed) return Promise.reject(new ReplayStoreError('closed', 'the replay store is closed'));
    const nowMs = this.#clock.nowMs();
    const key = this.#keyPrefix + replayKey(entry.workload, entry.issuer, entry.jti);
    const ttlMs = remainingTtlMs(entry.expiresAtMs, nowMs);
    return this.#withinDeadline(this.#send(entry, key, ttlMs));
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    if (this.#client.status === 'ready') {
      await this.#withinDeadline(this.#client.quit()).catch(() => undefined);
    }
    this.#client.disconnect();
  }

  async #send(entry: ReplayRecord, key: string, ttlMs: number): Promise<ReplayOutcome> {
    if (!this.#isReady()) {
      // Right after start the first connection is still being made: wait for it (within the
      // deadline). Afterwards a store that is not connected fails fast, so nothing piles up.
      if (this.#settledFirstAttempt) {
        throw new ReplayStoreError('unavailable', `replay store not connected (${this.#client.status})`);
      }
      await this.#firstAttempt;
      if (!this.#isReady()) {
        throw new ReplayStoreError('unavailable', `replay store not connected (${this.#client.status})`);
      }
    }
    if (entry.mode === 'once') {
      const reply = await this.#client.set(key, ONCE_MARKER, 'PX', ttlMs, 'NX');
      if (reply === 'OK') return 'fresh';
      if (reply === null) return 'replayed';
      throw new ReplayStoreError('failed', 'unexpected reply to SET NX');
    }
    const bound = await (this.#client as unknown as BindCommand).hopguardBindJti(key, sourceDigest(entry.source), ttlMs);
    if (bound === 1) return 'fresh';
    if (bound === 0) return 'replayed';
    throw new ReplayStoreError('failed', 'unexpected reply from the bind script');
  }

  #isReady(): boolean {
    return this.#client.status === 'ready';
  }

  #withinDeadline<T>(work: Promise<T>): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      const timer = setTimeout(
        () => reject(new ReplayStoreError('timeout', `replay store did not answer within ${this.#timeoutMs}ms`)),
        this.#timeoutMs,
      );
      work.then(
        (value) => {
          clearTimeout(timer);
          resolve(value);
        },
        (error: unknown) => {
          clearTimeout(timer);
          reject(
            error instanceof ReplayStoreError
              ? error
              : new ReplayStoreError(classify(error), `replay store call failed: ${driverMessage(error)}`),
          );
        },
      );
    });
  }
}

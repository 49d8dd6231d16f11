/**
 * Turns `replay.redis` into ioredis options: standalone, Sentinel or Cluster. Pure apart from
 * reading the password file, so it is tested without a server. The options make every call fail
 * fast or time out instead of queueing while Redis is away, and reconnect forever with a capped
 * backoff, so the store heals without a restart.
 */
import { readFileSync } from 'node:fs';
import type { ClusterOptions, RedisOptions } from 'ioredis';
import type { RedisSettings } from '../config/types.js';
import { REDIS_MAX_RECONNECT_DELAY_MS } from './defaults.js';
import { ReplayStoreError } from './errors.js';

export interface HostPort {
  readonly host: string;
  readonly port: number;
}

export type RedisConnectionPlan =
  | { readonly kind: 'standalone'; readonly options: RedisOptions; readonly target: string }
  | { readonly kind: 'sentinel'; readonly options: RedisOptions; readonly target: string }
  | {
      readonly kind: 'cluster';
      readonly nodes: readonly HostPort[];
      readonly options: ClusterOptions;
      readonly target: string;
    };

export interface SecretSources {
  readonly env: Readonly<Record<string, string | undefined>>;
  readonly readFile: (path: string) => string;
}

const PROCESS_SECRETS: SecretSources = {
  env: process.env,
  readFile: (path) => readFileSync(path, 'utf8'),
};

function misconfigured(message: string): ReplayStoreError {
  return new ReplayStoreError('misconfigured', message);
}

/** 50 ms, doubling, capped; a number always, so ioredis never stops reconnecting. */
export function reconnectDelayMs(attempt: number): number {
  const exponent = Math.min(Math.max(attempt - 1, 0), 16);
  return Math.min(50 * 2 ** exponent, REDIS_MAX_RECONNECT_DELAY_MS);
}

export function parseHostPort(text: string): HostPort {
  const colon = text.lastIndexOf(':');
  const port = Number(text.slice(colon + 1));
  let host = text.slice(0, colon);
  if (host.startsWith('[') && host.endsWith(']')) host = host.slice(1, -1);
  if (colon <= 0 || host === '' || !Number.isInteger(port) || port < 1 || port > 65_535) {
    throw misconfigured(`not a host:port: ${JSON.stringify(text.slice(0, 100))}`);
  }
  return { host, port };
}

interface UrlParts {
  readonly endpoint: HostPort;
  readonly tls: boolean;
  readonly username: string | undefined;
  readonly password: string | undefined;
  readonly db: number;
}

function parseRedisUrl(text: string): UrlParts {
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    throw misconfigured('replay.redis.url: not a URL');
  }
  if (url.protocol !== 'redis:' && url.protocol !== 'rediss:') {
    throw misconfigured('replay.redis.url: must be a redis:// or rediss:// URL');
  }
  const host = url.hostname.startsWith('[') ? url.hostname.slice(1, -1) : url.hostname;
  if (host === '') throw misconfigured('replay.redis.url: has no host');
  const port = url.port === '' ? 6379 : Number(url.port);
  const dbText = url.pathname.replace(/^\//, '');
  const db = dbText === '' ? 0 : Number(dbText);
  if (!Number.isInteger(db) || db < 0 || db > 65_535) {
    throw misconfigured('replay.redis.url: the path must be a database number');
  }
  return {
    endpoint: { host, port },
    tls: url.protocol === 'rediss:',
    username: url.username === '' ? undefined : decodeURIComponent(url.username),
    password: url.password === '' ? undefined : decodeURIComponent(url.password),
    db,
  };
}

/** passwordFile, else passwordEnv, else the URL's password. The value itself never appears in an error. */
export function resolvePassword(settings: RedisSettings, fromUrl: string | undefined, secrets: SecretSources = PROCESS_SECRETS): string | undefined {
  if (settings.passwordFile !== null) {
    let text: string;
    try {
      text = secrets.readFile(settings.passwordFile);
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code ?? 'unreadable';
      throw misconfigured(`replay.redis.passwordFile: cannot read ${settings.passwordFile} (${code})`);
    }
    // Files written by `echo` or editors end in a newline that is not part of the secret.
    const password = text.replace(/\r?\n$/, '');
    if (password === '') throw misconfigured(`replay.redis.passwordFile: ${settings.passwordFile} is empty`);
    return password;
  }
  if (settings.passwordEnv !== null) {
    const password = secrets.env[settings.passwordEnv];
    if (password === undefined || password === '') {
      throw misconfigured(`replay.redis.passwordEnv: environment variable ${settings.passwordEnv} is not set`);
    }
    return password;
  }
  return fromUrl;
}

function describe(tls: boolean, endpoints: readonly HostPort[]): string {
  const scheme = tls ? 'rediss' : 'redis';
  return endpoints.map((e) => `${scheme}://${e.host.includes(':') ? `[${e.host}]` : e.host}:${e.port}`).join(',');
}

/** Options shared by every connection: no offline queue, no resends, bounded waits. */
function connectionOptions(timeoutMs: number): RedisOptions {
  return {
    enableOfflineQueue: false,
    // 0: on a lost connection every in-flight command is rejected at once instead of being resent
    // later, when its caller has long been answered.
    maxRetriesPerRequest: 0,
    autoResendUnfulfilledCommands: false,
    commandTimeout: timeoutMs,
    // A server that accepts commands but never answers (hung, SIGSTOPped, a black-holed route)
    // gets its socket destroyed, so in-flight commands are rejected rather than piling up.
    socketTimeout: Math.max(2 * timeoutMs, 1_000),
    connectTimeout: Math.max(4 * timeoutMs, 2_000),
    keepAlive: 10_000,
    retryStrategy: reconnectDelayMs,
    connectionName: 'hopguard-replay',
    lazyConnect: false,
    enableReadyCheck: true,
  };
}

export function planRedisConnection(
  settings: RedisSettings,
  timeoutMs: number,
  secrets: SecretSources = PROCESS_SECRETS,
): RedisConnectionPlan {
  const url = parseRedisUrl(settings.url);
  const password = resolvePassword(settings, url.password, secrets);
  const credentials: RedisOptions = {
    ...(url.username === undefined ? {} : { username: url.username }),
    ...(password === undefined ? {} : { password }),
    ...(url.tls ? { tls: {} } : {}),
  };

  if (settings.cluster.length > 0) {
    if (url.db !== 0) throw misconfigured('replay.redis.url: Redis Cluster has only database 0');
    const nodes = settings.cluster.map(parseHostPort);
    const { retryStrategy: _unusedInCluster, enableOfflineQueue: _alsoUnused, ...nodeOptions } = connectionOptions(timeoutMs);
    return {
      kind: 'cluster',
      nodes,
      target: describe(url.tls, nodes),
      options: {
        enableOfflineQueue: false,
        // ioredis sends the cluster ready check (CLUSTER INFO) through a node that may still be
        // connecting; with the offline queue off that fails and the client reconnects in a loop.
        enableReadyCheck: false,
        clusterRetryStrategy: reconnectDelayMs,
        slotsRefreshTimeout: Math.max(timeoutMs, 1_000),
        // A redirect storm must not outlast the call's own deadline by much.
        maxRedirections: 4,
        redisOptions: { ...nodeOptions, ...credentials },
      },
    };
  }

  if (settings.sentinels.length > 0) {
    if (settings.sentinelName === null) {
      throw misconfigured('replay.redis.sentinelName: is required with sentinels');
    }
    const sentinels = settings.sentinels.map(parseHostPort);
    return {
      kind: 'sentinel',
      target: `sentinel:${settings.sentinelName}@${describe(url.tls, sentinels)}`,
      options: {
        ...connectionOptions(timeoutMs),
        ...credentials,
        sentinels: sentinels.map((s) => ({ host: s.host, port: s.port })),
        name: settings.sentinelName,
        db: url.db,
        sentinelRetryStrategy: reconnectDelayMs,
        sentinelCommandTimeout: timeoutMs,
        ...(url.tls ? { enableTLSForSentinelMode: true, sentinelTLS: {} } : {}),
      },
    };
  }

  return {
    kind: 'standalone',
    target: describe(url.tls, [url.endpoint]),
    options: {
      ...connectionOptions(timeoutMs),
      ...credentials,
      host: url.endpoint.host,
      port: url.endpoint.port,
      db: url.db,
    },
  };
}

/**
 * One issuer's keys, whatever their source: inline, a file polled for changes, or HTTP (jwksUri
 * or discovery). Requests never wait for a scheduled refresh; they wait only at a cold start or
 * for the single-flight refetch an unknown kid may trigger, and never longer than `timeout`.
 */
import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import type { IssuerConfig } from '../../config/types.js';
import type { Clock } from '../../decision/types.js';
import type { FetchOutcome, IssuerKeySet, KeyLookup, KeySetStatus } from '../keyset-types.js';
import {
  FILE_POLL_MS,
  MAX_KID_LENGTH,
  NEGATIVE_KID_MAX_ENTRIES,
  NEGATIVE_KID_TTL_MS,
  REFRESH_AHEAD_MAX_FRACTION,
  REFRESH_AHEAD_MIN_FRACTION,
  RETRY_BASE_MS,
  RETRY_MAX_MS,
  TTL_WITHOUT_MAX_AGE_MS,
} from './defaults.js';
import { KeySetFetchError, parseJsonBody } from './http-fetch.js';
import { buildKeyTable, findKey, type KeyTable } from './jwk-set.js';
import { createRemoteLoader } from './remote-source.js';
import { realScheduler, type Scheduler, type TimerHandle } from './scheduler.js';

/** Structured logging in pino's call shape; messages never carry key material or tokens. */
export interface KeySetLogger {
  info(fields: Record<string, unknown>, message: string): void;
  warn(fields: Record<string, unknown>, message: string): void;
}

export interface KeySetDeps {
  readonly clock: Clock;
  readonly log?: KeySetLogger;
  /** One call per fetch attempt, for `hopguard_jwks_fetches_total{issuer,outcome}`. */
  readonly onFetch?: (issuer: string, outcome: FetchOutcome) => void;
  /** In [0, 1); spreads refreshes and retries. */
  readonly random?: () => number;
  /** Background timers; tests pass one driven by a manual clock. */
  readonly scheduler?: Scheduler;
}

interface LoadedKeys {
  readonly table: KeyTable;
  /** When the source last confirmed these keys (a 200, a 304, or an unchanged file). */
  confirmedAtMs: number;
  ttlMs: number;
  readonly etag: string | null;
}

type LoadResult =
  | { readonly kind: 'document'; readonly document: unknown; readonly etag: string | null; readonly maxAgeMs: number | null }
  | { readonly kind: 'not_modified'; readonly maxAgeMs: number | null };

/** The port plus what the registry needs: the keyIds currently held. */
export interface ManagedKeySet extends IssuerKeySet {
  keyIds(): readonly string[];
}

export function createIssuerKeySet(issuer: IssuerConfig, deps: KeySetDeps): ManagedKeySet {
  const { clock } = deps;
  const random = deps.random ?? Math.random;
  const scheduler = deps.scheduler ?? realScheduler;
  const settings = issuer.jwksCache;
  const source = issuer.source;
  const isRemote = source.kind === 'uri' || source.kind === 'discovery';
  const closing = new AbortController();
  const remote = isRemote ? createRemoteLoader(issuer, clock, closing.signal) : null;
  const removalListeners: ((keyIds: readonly string[]) => void)[] = [];
  /** Kids that stayed unknown after a refetch -> when that verdict expires. */
  const unknownKids = new Map<string, number>();

  let loaded: LoadedKeys | null = null;
  let inflight: Promise<void> | null = null;
  let started: Promise<void> | null = null;
  let lastAttemptAtMs: number | null = null;
  /**
   * When an unknown kid last caused a refetch. The cooldown counts from that, not from the last
   * scheduled refresh: a key published just after a refresh is fetched at its first use, while a
   * flood of unknown kids still costs the IdP at most one fetch per cooldown.
   */
  let lastUnknownKidFetchAtMs: number | null = null;
  let consecutiveFailures = 0;
  let lastFetch: KeySetStatus['lastFetch'] = null;
  let lastFileDigest: string | null = null;
  /** Whether the file content behind lastFileDigest was loaded; an unchanged bad file confirms nothing. */
  let lastFileLoaded = false;
  let firstLoadSettled = false;
  let timer: TimerHandle | null = null;
  /** When the background refresh of the current keys is due; a failed early refetch keeps it. */
  let plannedRefreshAtMs = 0;
  let closed = false;

  const clamp = (maxAgeMs: number | null): number =>
    Math.min(settings.maxTtlMs, Math.max(settings.minTtlMs, maxAgeMs ?? TTL_WITHOUT_MAX_AGE_MS));

  /** Keys serve while fresh, then `maxStale` longer while the source fails; inline keys always. */
  function usableNow(now: number): boolean {
    if (loaded === null) return false;
    if (source.kind === 'inline') return true;
    return now < loaded.confirmedAtMs + loaded.ttlMs + settings.maxStaleMs;
  }

  function schedule(delayMs: number, task: () => void): void {
    timer?.cancel();
    timer = closed ? null : scheduler.after(delayMs, task);
  }

  function record(outcome: FetchOutcome, detail: string): void {
    lastFetch = { outcome, atMs: clock.nowMs(), detail };
    deps.onFetch?.(issuer.issuer, outcome);
    const fields = { issuer: issuer.issuer, outcome, detail };
    if (outcome === 'error' || outcome === 'invalid') deps.log?.warn(fields, 'jwks load failed');
  }

  function replaceKeys(table: KeyTable, ttlMs: number, etag: string | null, notes: readonly string[]): void {
    const previous = loaded;
    loaded = { table, confirmedAtMs: clock.nowMs(), ttlMs, etag };
    unknownKids.clear();
    const removed = previous ? [...previous.table.keyIds].filter((keyId) => !table.keyIds.has(keyId)) : [];
    const detail = `${table.keyCount} keys${notes.length ? `; skipped: ${notes.slice(0, 5).join('; ')}` : ''}`;
    record('success', detail);
    deps.log?.info({ issuer: issuer.issuer, keys: table.keyCount, removed: removed.length, skipped: notes.length }, 'jwks loaded');
    if (removed.length > 0) for (const listener of removalListeners) listener(removed);
  }

  /** Applies one load result; returns false when the attempt failed. A bad result never replaces good keys. */
  async function apply(result: LoadResult): Promise<boolean> {
    if (result.kind === 'not_modified') {
      if (!loaded) {
        record('error', 'HTTP 304 without cached keys');
        return false;
      }
      loaded.confirmedAtMs = clock.nowMs();
      loaded.ttlMs = clamp(result.maxAgeMs);
      record('not_modified', `${loaded.table.keyCount} keys`);
      return true;
    }
    const built = await buildKeyTable(result.document, issuer, loaded?.table ?? null);
    if (!built.ok) {
      record('invalid', built.detail);
      return false;
    }
    replaceKeys(built.table, source.kind === 'file' ? 0 : clamp(result.maxAgeMs ?? spiffeRefreshHintMs(result.document)), result.etag, built.notes);
    return true;
  }

  /** A SPIFFE bundle's `spiffe_refresh_hint` (seconds) stands in for a missing max-age. */
  function spiffeRefreshHintMs(document: unknown): number | null {
    if (!issuer.spiffeBundle || typeof document !== 'object' || document === null) return null;
    const hint = (document as { spiffe_refresh_hint?: unknown }).spiffe_refresh_hint;
    return typeof hint === 'number' && Number.isFinite(hint) && hint >= 0 ? hint * 1000 : null;
  }

  async function loadRemote(): Promise<LoadResult> {
    return (remote as NonNullable<typeof remote>).load(loaded?.etag ?? null);
  }

  function nextRefreshDelay(): number {
    const ttl = loaded?.ttlMs ?? 0;
    const ahead = REFRESH_AHEAD_MIN_FRACTION + (REFRESH_AHEAD_MAX_FRACTION - REFRESH_AHEAD_MIN_FRACTION) * random();
    return Math.max(1, Math.round(ttl * (1 - ahead)));
  }

  function retryDelay(): number {
    const exponential = Math.min(RETRY_MAX_MS, RETRY_BASE_MS * 2 ** Math.min(30, consecutiveFailures - 1));
    return Math.max(1, Math.round(exponential * (0.5 + 0.5 * random())));
  }

  /** One single-flight remote load; concurrent callers share it. Never rejects. */
  function refreshRemote(): Promise<void> {
    if (inflight) return inflight;
    lastAttemptAtMs = clock.nowMs();
    timer?.cancel();
    inflight = (async () => {
      let succeeded = false;
      try {
        succeeded = await apply(await loadRemote());
      } catch (error) {
        const failure = error instanceof KeySetFetchError ? error : new KeySetFetchError('error', 'unexpected failure');
        if (!closed) record(failure.outcome, failure.detail);
      } finally {
        inflight = null;
      }
      if (closed) return;
      const now = clock.nowMs();
      if (succeeded) {
        consecutiveFailures = 0;
        plannedRefreshAtMs = now + nextRefreshDelay();
      } else consecutiveFailures += 1;
      // A failed unknown-kid refetch while the keys are fresh does not pull the refresh forward.
      const delay = Math.max(succeeded ? 0 : retryDelay(), plannedRefreshAtMs - now);
      schedule(delay, () => void refreshRemote());
    })();
    return inflight;
  }

  /** A file failure is reported when it starts or changes, not at every poll. */
  function noteFileFailure(state: string, failure: KeySetFetchError): void {
    if (state !== lastFileDigest) record(failure.outcome, failure.detail);
    lastFileDigest = state;
    lastFileLoaded = false;
  }

  /** Reads and hashes the file; only a changed content is parsed and reported. */
  async function pollFile(path: string): Promise<void> {
    let content: Buffer;
    try {
      content = await readFile(path);
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code ?? 'error';
      noteFileFailure(`error:${code}`, new KeySetFetchError('error', `cannot read jwksFile: ${code}`));
      return;
    }
    if (content.length > settings.maxBytes) {
      noteFileFailure(`size:${content.length}`, new KeySetFetchError('invalid', `jwksFile exceeds ${settings.maxBytes} bytes`));
      return;
    }
    const digest = createHash('sha256').update(content).digest('hex');
    if (digest === lastFileDigest) {
      if (lastFileLoaded && loaded) loaded.confirmedAtMs = clock.nowMs();
      return;
    }
    lastFileDigest = digest;
    lastFileLoaded = false;
    let document: unknown;
    try {
      document = parseJsonBody(content, 'jwksFile');
    } catch (error) {
      const failure = error instanceof KeySetFetchError ? error : new KeySetFetchError('invalid', 'jwksFile is not JSON');
      record(failure.outcome, failure.detail);
      return;
    }
    lastFileLoaded = await apply({ kind: 'document', document, etag: null, maxAgeMs: null });
  }

  function runFilePoll(path: string): Promise<void> {
    if (inflight) return inflight;
    inflight = pollFile(path)
      .catch(() => record('error', 'unexpected failure'))
      .finally(() => {
        inflight = null;
        if (!closed) schedule(FILE_POLL_MS, () => void runFilePoll(path));
      });
    return inflight;
  }

  function firstLoad(): Promise<void> {
    switch (source.kind) {
      case 'inline':
        return (async () => {
          await apply({ kind: 'document', document: source.jwks, etag: null, maxAgeMs: null });
        })();
      case 'file':
        return runFilePoll(source.path);
      default:
        return refreshRemote();
    }
  }

  function ensureStarted(): Promise<void> {
    started ??= firstLoad().then(() => {
      firstLoadSettled = true;
    });
    return started;
  }

  function lookup(alg: string, kid: string | undefined): KeyLookup | null {
    if (!loaded || !usableNow(clock.nowMs())) return null;
    const entry = findKey(loaded.table, alg, kid);
    return entry ? { ok: true, key: entry.key, keyId: entry.keyId } : null;
  }

  const unavailable = (): KeyLookup => ({
    ok: false,
    reason: 'jwks_unavailable',
    detail: `no usable keys for the issuer${lastFetch ? ` (last fetch: ${lastFetch.outcome}: ${lastFetch.detail})` : ''}`,
  });
  const unknown = (detail: string): KeyLookup => ({ ok: false, reason: 'key_unknown', detail });

  function coolingDown(now: number): boolean {
    return lastAttemptAtMs !== null && now - lastAttemptAtMs < settings.unknownKidCooldownMs;
  }

  function unknownKidCoolingDown(now: number): boolean {
    return lastUnknownKidFetchAtMs !== null && now - lastUnknownKidFetchAtMs < settings.unknownKidCooldownMs;
  }

  function knownUnknown(kid: string, now: number): boolean {
    const until = unknownKids.get(kid);
    if (until === undefined) return false;
    if (now < until) return true;
    unknownKids.delete(kid);
    return false;
  }

  function rememberUnknown(kid: string): void {
    unknownKids.delete(kid);
    unknownKids.set(kid, clock.nowMs() + NEGATIVE_KID_TTL_MS);
    if (unknownKids.size > NEGATIVE_KID_MAX_ENTRIES) {
      const oldest = unknownKids.keys().next();
      if (!oldest.done) unknownKids.delete(oldest.value);
    }
  }

  /**
   * keyFor's answer wherever keyFor would give it without an await (same checks, same order, same
   * words); null where keyFor waits for a load or may start one.
   */
  function answerAtOnce(header: { readonly alg: string; readonly kid?: string | undefined }): KeyLookup | null {
    if (closed) return unavailable();
    const { alg, kid } = header;
    if (!(issuer.algorithms as readonly string[]).includes(alg)) return unknown(`alg ${alg} is not allowed for the issuer`);
    if (kid !== undefined && (kid.length === 0 || kid.length > MAX_KID_LENGTH)) return unknown('kid empty or too long');
    if (!firstLoadSettled) return null;
    const now = clock.nowMs();
    if (!usableNow(now)) return null;
    const found = lookup(alg, kid);
    if (found) return found;
    if (!isRemote) return unknown('no key with that kid');
    if (kid !== undefined && knownUnknown(kid, now)) return unknown('no key with that kid (recently refetched)');
    if (inflight || !unknownKidCoolingDown(now)) return null;
    return unknown('no key with that kid (refetch cooling down)');
  }

  return {
    issuer: issuer.issuer,

    start: () => ensureStarted(),

    keyForSync: answerAtOnce,

    async keyFor(header) {
      const atOnce = answerAtOnce(header);
      if (atOnce !== null) return atOnce;
      if (closed) return unavailable();
      const { alg, kid } = header;
      if (!(issuer.algorithms as readonly string[]).includes(alg)) return unknown(`alg ${alg} is not allowed for the issuer`);
      if (kid !== undefined && (kid.length === 0 || kid.length > MAX_KID_LENGTH)) return unknown('kid empty or too long');

      // A lookup waits for at most one load, so a hung IdP costs it at most `timeout`.
      let waited = false;
      const firstLoadDone = ensureStarted();
      if (!firstLoadSettled) {
        await firstLoadDone;
        waited = true;
      }
      if (!usableNow(clock.nowMs())) {
        // A cold or expired set: share a load in flight, or start one at most once per cooldown.
        if (!waited && inflight) await inflight;
        else if (!waited && isRemote && !coolingDown(clock.nowMs())) await refreshRemote();
        if (!usableNow(clock.nowMs())) return unavailable();
        waited = true;
      }
      const found = lookup(alg, kid);
      if (found) return found;
      if (!isRemote) return unknown('no key with that kid');

      const now = clock.nowMs();
      if (kid !== undefined && knownUnknown(kid, now)) return unknown('no key with that kid (recently refetched)');
      if (waited) return unknown('no key with that kid');
      if (inflight) await inflight;
      else if (!unknownKidCoolingDown(now)) {
        lastUnknownKidFetchAtMs = now;
        await refreshRemote();
      } else return unknown('no key with that kid (refetch cooling down)');

      const retried = lookup(alg, kid);
      if (retried) return retried;
      if (!usableNow(clock.nowMs())) return unavailable();
      // Only an IdP that answered can tell that a kid does not exist.
      const answered = lastFetch?.outcome === 'success' || lastFetch?.outcome === 'not_modified';
      if (kid !== undefined && answered) rememberUnknown(kid);
      return unknown('no key with that kid, even after a refetch');
    },

    status() {
      const now = clock.nowMs();
      return {
        issuer: issuer.issuer,
        ready: usableNow(now),
        keyCount: loaded?.table.keyCount ?? 0,
        ageMs: loaded ? now - loaded.confirmedAtMs : null,
        lastFetch,
      };
    },

    onKeysRemoved(listener) {
      removalListeners.push(listener);
    },

    keyIds: () => (loaded ? [...loaded.table.keyIds] : []),

    close() {
      closed = true;
      timer?.cancel();
      timer = null;
      closing.abort();
    },
  };
}

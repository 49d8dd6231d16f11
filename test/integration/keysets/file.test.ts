import { mkdirSync, mkdtempSync, renameSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createIssuerKeySet, realScheduler, type ManagedKeySet } from '../../../src/jwt/keysets/index.js';
import { FILE_POLL_MS } from '../../../src/jwt/keysets/defaults.js';
import { generateTestKey, jwksOf, type TestKey } from '../../helpers/keys.js';
import { createManualTime, fetchRecorder, issuerConfig } from '../../unit/keysets/fixtures.js';

let dir: string;
let keySet: ManagedKeySet | undefined;
let keyA: TestKey;
let keyB: TestKey;

beforeEach(async () => {
  dir = mkdtempSync(join(tmpdir(), 'hopguard-jwksfile-'));
  keyA = await generateTestKey('ES256', { kid: 'a' });
  keyB = await generateTestKey('ES256', { kid: 'b' });
});
afterEach(() => {
  keySet?.close();
  keySet = undefined;
  rmSync(dir, { recursive: true, force: true });
});

/** Writes `content` next to `path` and renames it over, as a careful writer does. */
function atomicWrite(path: string, content: unknown): void {
  writeFileSync(`${path}.tmp`, JSON.stringify(content));
  renameSync(`${path}.tmp`, path);
}

/**
 * Reproduces a Kubernetes ConfigMap/Secret volume: `<dir>/..<timestamp>/jwks.json`, a `..data`
 * symlink to the current timestamp directory, and `jwks.json -> ..data/jwks.json`. An update
 * writes a new timestamp directory and renames a new symlink over `..data`.
 */
function kubernetesVolume(root: string, content: unknown) {
  let generation = 0;
  const publish = (next: unknown): void => {
    const version = `..2026_${++generation}`;
    mkdirSync(join(root, version));
    writeFileSync(join(root, version, 'jwks.json'), JSON.stringify(next));
    symlinkSync(version, join(root, '..data_tmp'));
    renameSync(join(root, '..data_tmp'), join(root, '..data'));
  };
  mkdirSync(root, { recursive: true });
  publish(content);
  symlinkSync('..data/jwks.json', join(root, 'jwks.json'));
  return { path: join(root, 'jwks.json'), publish };
}

describe('jwksFile key set', () => {
  it('reads the file at start and picks up an atomic rename at the next poll', async () => {
    const path = join(dir, 'jwks.json');
    atomicWrite(path, jwksOf(keyA));
    const time = createManualTime();
    const recorder = fetchRecorder();
    keySet = createIssuerKeySet(issuerConfig({ kind: 'file', path }), { clock: time.clock, scheduler: time.scheduler, onFetch: recorder.onFetch });
    await keySet.start();
    expect(await keySet.keyFor({ alg: 'ES256', kid: 'a' })).toMatchObject({ ok: true });

    const removed: string[][] = [];
    keySet.onKeysRemoved((keyIds) => removed.push([...keyIds]));
    atomicWrite(path, jwksOf(keyB));
    await time.advance(FILE_POLL_MS);
    await recorder.until(2);
    expect(await keySet.keyFor({ alg: 'ES256', kid: 'b' })).toMatchObject({ ok: true });
    expect(await keySet.keyFor({ alg: 'ES256', kid: 'a' })).toMatchObject({ ok: false, reason: 'key_unknown' });
    expect(removed).toHaveLength(1);
    expect(removed[0]?.[0]).toMatch(/^https:\/\/idp\.test#a#/);
    expect(recorder.outcomes).toEqual(['success', 'success']);
  });

  it('follows a Kubernetes ..data symlink swap within 10 s of real time', async () => {
    const volume = kubernetesVolume(join(dir, 'mount'), jwksOf(keyA));
    const recorder = fetchRecorder();
    keySet = createIssuerKeySet(issuerConfig({ kind: 'file', path: volume.path }), { clock: { nowMs: () => Date.now() }, scheduler: realScheduler, onFetch: recorder.onFetch });
    await keySet.start();
    expect(await keySet.keyFor({ alg: 'ES256', kid: 'a' })).toMatchObject({ ok: true });
    volume.publish(jwksOf(keyA, keyB));
    await recorder.until(2);
    expect(await keySet.keyFor({ alg: 'ES256', kid: 'b' })).toMatchObject({ ok: true });
  }, 10_000);

  it('keeps the last good keys when the file turns to garbage, and reports it once', async () => {
    const path = join(dir, 'jwks.json');
    atomicWrite(path, jwksOf(keyA));
    const time = createManualTime();
    const recorder = fetchRecorder();
    keySet = createIssuerKeySet(issuerConfig({ kind: 'file', path }), { clock: time.clock, scheduler: time.scheduler, onFetch: recorder.onFetch });
    await keySet.start();
    writeFileSync(path, '{"keys": [');
    await time.advance(FILE_POLL_MS);
    await recorder.until(2);
    await time.advance(FILE_POLL_MS * 3);
    expect(recorder.outcomes).toEqual(['success', 'invalid']);
    expect(await keySet.keyFor({ alg: 'ES256', kid: 'a' })).toMatchObject({ ok: true });
  });

  it('is not ready when the file is missing at start', async () => {
    const time = createManualTime();
    keySet = createIssuerKeySet(issuerConfig({ kind: 'file', path: join(dir, 'absent.json') }), { clock: time.clock, scheduler: time.scheduler });
    await keySet.start();
    expect(keySet.status()).toMatchObject({ ready: false, keyCount: 0, lastFetch: { outcome: 'error', detail: 'cannot read jwksFile: ENOENT' } });
    expect(await keySet.keyFor({ alg: 'ES256', kid: 'a' })).toMatchObject({ ok: false, reason: 'jwks_unavailable' });
  });
});

describe('inline jwks key set', () => {
  it('serves the inline keys and never schedules a timer', async () => {
    const time = createManualTime();
    keySet = createIssuerKeySet(issuerConfig({ kind: 'inline', jwks: jwksOf(keyA) }), { clock: time.clock, scheduler: time.scheduler });
    await keySet.start();
    expect(await keySet.keyFor({ alg: 'ES256', kid: 'a' })).toMatchObject({ ok: true });
    expect(await keySet.keyFor({ alg: 'ES256', kid: 'b' })).toMatchObject({ ok: false, reason: 'key_unknown' });
    expect(time.pendingTimers()).toBe(0);
    await time.advance(400 * 24 * 3_600_000);
    expect(keySet.status().ready).toBe(true);
  });
});

describe('jwksFile staleness', () => {
  it('stops serving after maxStale while the file stays broken, and recovers when it is fixed', async () => {
    const path = join(dir, 'jwks.json');
    atomicWrite(path, jwksOf(keyA));
    const time = createManualTime();
    const recorder = fetchRecorder();
    keySet = createIssuerKeySet(issuerConfig({ kind: 'file', path }, { jwksCache: { maxStaleMs: 60_000 } }), {
      clock: time.clock,
      scheduler: time.scheduler,
      onFetch: recorder.onFetch,
    });
    await keySet.start();
    writeFileSync(path, 'not json');
    await time.advance(FILE_POLL_MS);
    await recorder.until(2);
    expect(keySet.status().lastFetch).toMatchObject({ outcome: 'invalid', detail: 'jwksFile is not JSON' });
    for (let elapsed = 0; elapsed < 60_000; elapsed += FILE_POLL_MS) await time.advance(FILE_POLL_MS);
    expect(await keySet.keyFor({ alg: 'ES256', kid: 'a' })).toMatchObject({ ok: false, reason: 'jwks_unavailable' });
    expect(recorder.outcomes).toEqual(['success', 'invalid']);
    atomicWrite(path, jwksOf(keyA));
    await time.advance(FILE_POLL_MS);
    await recorder.until(3);
    expect(await keySet.keyFor({ alg: 'ES256', kid: 'a' })).toMatchObject({ ok: true });
  });
});

/**
 * Transaction Tokens from the compiled CLI: `hopguard explain --header txn-token:T` and
 * `hopguard check --header txn-token:T` for a workload that reads the txn-token header
 * (`--token` is required by both and goes as `authorization: Bearer`, which that workload ignores).
 */
import { execFile } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { nowSeconds, signJwtByHand, startDpopHopguard, type DpopHopguard } from '../../helpers/dpop.js';
import { generateTestKey, jwksOf, type TestKey } from '../../helpers/keys.js';
import { BUILD_TIMEOUT_MS, CLI, ensureBuilt, ROOT } from '../ops/cli-process.js';

const TTS = 'https://tts.cluster.local';
const ORDERS = 'spiffe://cluster.local/ns/shop/sa/orders';
const GATEWAY = 'apigateway.cluster.local';
const EITHER = 'spiffe://cluster.local/ns/shop/sa/either';

function run(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((done) => {
    execFile(process.execPath, [CLI, ...args], { cwd: ROOT, timeout: 30_000 }, (error, stdout, stderr) => {
      done({ code: error === null ? 0 : typeof error.code === 'number' ? error.code : -1, stdout, stderr });
    });
  });
}

let dir: string;
let configPath: string;
let ttsKey: TestKey;
let hg: DpopHopguard;

beforeAll(async () => {
  ensureBuilt();
  dir = mkdtempSync(join(tmpdir(), 'hopguard-txn-cli-'));
  ttsKey = await generateTestKey('ES256');
  const document = {
    listen: { grpc: '127.0.0.1:0' },
    issuers: [{ issuer: TTS, jwks: jwksOf(ttsKey), algorithms: ['ES256'], profile: 'txn-token', trustDomain: 'cluster.local' }],
    workloads: [
      { id: ORDERS, tokens: [{ header: 'txn-token' }], replay: 'off', claims: { 'rctx.req_wl': { equals: GATEWAY } } },
      // Reads an access token or a Transaction Token.
      { id: EITHER, tokens: [{ header: 'authorization', scheme: 'Bearer' }, { header: 'txn-token' }], replay: 'off' },
    ],
  };
  configPath = join(dir, 'hopguard.yaml');
  writeFileSync(configPath, JSON.stringify(document, null, 2));
  hg = await startDpopHopguard(document);
}, BUILD_TIMEOUT_MS);

afterAll(async () => {
  await hg?.close();
  rmSync(dir, { recursive: true, force: true });
});

function txnToken(txn: string, reqWl: string, typ = 'txntoken+jwt'): string {
  const now = nowSeconds();
  return signJwtByHand(ttsKey.privateJwk, { alg: 'ES256', kid: ttsKey.kid, typ }, { iss: TTS, aud: 'cluster.local', sub: 'user:alice', txn, iat: now, exp: now + 60, rctx: { req_wl: reqWl } });
}

describe('hopguard explain --header txn-token:T', () => {
  it('allows a Transaction Token for the trust domain whose rctx.req_wl is the gateway (exit 0)', async () => {
    const token = txnToken(`txn-${randomUUID()}`, GATEWAY);
    const result = await run(['explain', '--config', configPath, '--token', token, '--workload', ORDERS, '--header', `txn-token:${token}`]);
    expect(result.stderr).toBe('');
    expect(result.code).toBe(0);
    expect(result.stdout).toMatch(/audience\s+pass\s+cluster\.local/);
    expect(result.stdout.trim().endsWith('ALLOW')).toBe(true);
  });

  it('denies another rctx.req_wl (claims_not_satisfied, exit 1) and another typ (type_not_allowed)', { timeout: 60_000 }, async () => {
    const other = txnToken(`txn-${randomUUID()}`, 'batch.cluster.local');
    const denied = await run(['explain', '--config', configPath, '--token', other, '--workload', ORDERS, '--header', `txn-token:${other}`]);
    expect(denied.code).toBe(1);
    expect(denied.stdout).toMatch(/claims\s+FAIL\s+claims_not_satisfied: rctx\.req_wl/);
    expect(denied.stdout).toContain('DENY claims_not_satisfied (HTTP 403, insufficient_scope)');
    const accessToken = txnToken(`txn-${randomUUID()}`, GATEWAY, 'at+jwt');
    const typed = await run(['explain', '--config', configPath, '--token', accessToken, '--workload', ORDERS, '--header', `txn-token:${accessToken}`]);
    expect(typed.code).toBe(1);
    expect(typed.stdout).toContain('DENY type_not_allowed (HTTP 401, invalid_token)');
  });

  it('without the header the token is not found where the workload reads it: token_missing', async () => {
    const token = txnToken(`txn-${randomUUID()}`, GATEWAY);
    const result = await run(['explain', '--config', configPath, '--token', token, '--workload', ORDERS]);
    expect(result.code).toBe(1);
    expect(result.stdout).toContain('DENY token_missing');
  });
});

describe('a workload reading both authorization and txn-token', () => {
  it('--token always goes as authorization: Bearer, so --header txn-token:T alone is "a token in two places"; --header authorization: (empty) sends only the txn-token', async () => {
    const token = txnToken(`txn-${randomUUID()}`, GATEWAY);
    const twice = await run(['explain', '--config', configPath, '--token', token, '--workload', EITHER, '--header', `txn-token:${token}`]);
    expect(twice.code).toBe(1);
    expect(twice.stdout).toContain('DENY token_malformed');
    expect(twice.stdout).toContain('a token in two places');
    const only = await run(['explain', '--config', configPath, '--token', token, '--workload', EITHER, '--header', `txn-token:${token}`, '--header', 'authorization:']);
    expect(only.code).toBe(0);
  }, 60_000);
});

describe('hopguard check --header txn-token:T', () => {
  it('prints the allow with x-hopguard-txn and metadata.txn (exit 0); a denial exits 1', async () => {
    const txn = `txn-${randomUUID()}`;
    const token = txnToken(txn, GATEWAY);
    const allowed = await run(['check', '--server', hg.hopguard.grpcAddress, '--token', token, '--workload', ORDERS, '--header', `txn-token:${token}`]);
    expect(allowed.code).toBe(0);
    const summary = JSON.parse(allowed.stdout) as { allowed: boolean; headers: Record<string, string>; metadata: Record<string, unknown> };
    expect(summary.allowed).toBe(true);
    expect(summary.headers['x-hopguard-txn']).toBe(txn);
    expect(summary.metadata.txn).toBe(txn);
    const other = txnToken(`txn-${randomUUID()}`, 'batch.cluster.local');
    const denied = await run(['check', '--server', hg.hopguard.grpcAddress, '--token', other, '--workload', ORDERS, '--header', `txn-token:${other}`]);
    expect(denied.code).toBe(1);
    expect(JSON.parse(denied.stdout)).toMatchObject({ allowed: false, reason: 'claims_not_satisfied', httpStatus: 403 });
  }, 60_000);
});

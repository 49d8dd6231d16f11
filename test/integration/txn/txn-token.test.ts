/**
 * Transaction Tokens (draft-ietf-oauth-transaction-tokens) end to end through gRPC and HTTP: an
 * issuer with `profile: txn-token` and `trustDomain: cluster.local`, workloads reading the
 * `txn-token` header. typ must be txntoken+jwt (type_not_allowed), txn/sub/iat/exp are each
 * required (token_malformed), aud is the trust domain (or the workload's own audiences where set),
 * the txn is forwarded as x-hopguard-txn, in dynamic_metadata.txn and in the decision log line, and
 * a claims rule on rctx.req_wl allows or denies. Tokens are signed by hand (node:crypto), so a
 * missing iat is really missing.
 */
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  bearerAuth,
  both,
  decisionLineOf,
  ISS,
  mintAccessToken,
  nowSeconds,
  signJwtByHand,
  startDpopHopguard,
  viaGrpc,
  viaHttp,
  type DpopHopguard,
  type Req,
} from '../../helpers/dpop.js';
import { generateTestKey, jwksOf, type TestKey } from '../../helpers/keys.js';

const TTS = 'https://tts.cluster.local';
const TRUST_DOMAIN = 'cluster.local';
const ORDERS = 'spiffe://cluster.local/ns/shop/sa/orders';
const PAYMENTS = 'spiffe://cluster.local/ns/shop/sa/payments';
const LEDGER = 'spiffe://cluster.local/ns/shop/sa/ledger';
const CATALOG = 'spiffe://cluster.local/ns/shop/sa/catalog';
const GATEWAY = 'apigateway.cluster.local';

let ttsKey: TestKey;
let idpKey: TestKey;
let hg: DpopHopguard;

beforeAll(async () => {
  ttsKey = await generateTestKey('ES256');
  idpKey = await generateTestKey('ES256');
  hg = await startDpopHopguard({
    listen: { grpc: '127.0.0.1:0', http: '127.0.0.1:0' },
    issuers: [
      { issuer: TTS, jwks: jwksOf(ttsKey), algorithms: ['ES256'], profile: 'txn-token', trustDomain: TRUST_DOMAIN },
      { issuer: ISS, jwks: jwksOf(idpKey), algorithms: ['ES256'] },
    ],
    workloads: [
      // The README's example: the txn-token header, a rule on the requesting workload.
      { id: ORDERS, issuers: [TTS], tokens: [{ header: 'txn-token' }], claims: { 'rctx.req_wl': { equals: GATEWAY }, 'tctx.action': { oneOf: ['BUY', 'SELL'] } } },
      // Its own audiences replace the trust domain.
      { id: PAYMENTS, issuers: [TTS], tokens: [{ header: 'txn-token' }], audiences: [PAYMENTS] },
      // No rules: only the profile's.
      { id: LEDGER, issuers: [TTS], tokens: [{ header: 'txn-token' }], trustForwardedClientCert: true },
      // An access-token workload: x-hopguard-txn is removed on its allows.
      { id: CATALOG, issuers: [ISS] },
    ],
    logging: { level: 'info', allowSampleRate: 1 },
  });
});

afterAll(async () => {
  await hg?.close();
});

/** A Transaction Token signed by hand; `header`/`claims` replace members (undefined removes one). */
function txnToken(options: { header?: Record<string, unknown>; claims?: Record<string, unknown>; txn?: string } = {}): string {
  const now = nowSeconds();
  const header: Record<string, unknown> = { alg: 'ES256', kid: ttsKey.kid, typ: 'txntoken+jwt', ...options.header };
  const claims: Record<string, unknown> = {
    iss: TTS,
    aud: TRUST_DOMAIN,
    sub: 'user:alice@example.com',
    txn: options.txn ?? `txn-${randomUUID()}`,
    jti: randomUUID(),
    iat: now,
    exp: now + 60,
    scope: 'trade.stocks',
    tctx: { action: 'BUY', ticker: 'MSFT', quantity: 100 },
    rctx: { req_ip: '69.151.72.123', req_wl: GATEWAY },
    ...options.claims,
  };
  for (const drop of [header, claims]) for (const [name, value] of Object.entries(drop)) if (value === undefined) delete drop[name];
  return signJwtByHand(ttsKey.privateJwk, header, claims);
}

const get = (workload: string, token: string, extra: [string, string][] = []): Req => ({ workload, method: 'GET', path: '/orders', headers: [['txn-token', token], ...extra] });

interface Case {
  readonly name: string;
  readonly workload: string;
  readonly token: () => string;
  readonly status: number;
  readonly reason: string;
}

const CASES: Case[] = [
  { name: 'a good Transaction Token', workload: ORDERS, token: () => txnToken(), status: 200, reason: '' },
  { name: 'typ application/txntoken+jwt (media type form)', workload: ORDERS, token: () => txnToken({ header: { typ: 'application/txntoken+jwt' } }), status: 200, reason: '' },
  { name: 'typ at+jwt (an access token)', workload: ORDERS, token: () => txnToken({ header: { typ: 'at+jwt' } }), status: 401, reason: 'type_not_allowed' },
  { name: 'typ JWT', workload: ORDERS, token: () => txnToken({ header: { typ: 'JWT' } }), status: 401, reason: 'type_not_allowed' },
  { name: 'typ absent', workload: ORDERS, token: () => txnToken({ header: { typ: undefined } }), status: 401, reason: 'type_not_allowed' },
  { name: 'txn missing', workload: LEDGER, token: () => txnToken({ claims: { txn: undefined } }), status: 401, reason: 'token_malformed' },
  { name: 'txn empty', workload: LEDGER, token: () => txnToken({ claims: { txn: '' } }), status: 401, reason: 'token_malformed' },
  { name: 'txn over 256 characters', workload: LEDGER, token: () => txnToken({ txn: 't'.repeat(257) }), status: 401, reason: 'token_malformed' },
  { name: 'txn not a string', workload: LEDGER, token: () => txnToken({ claims: { txn: 12345 } }), status: 401, reason: 'token_malformed' },
  { name: 'sub missing', workload: LEDGER, token: () => txnToken({ claims: { sub: undefined } }), status: 401, reason: 'token_malformed' },
  { name: 'iat missing', workload: LEDGER, token: () => txnToken({ claims: { iat: undefined } }), status: 401, reason: 'token_malformed' },
  { name: 'exp missing', workload: LEDGER, token: () => txnToken({ claims: { exp: undefined } }), status: 401, reason: 'token_malformed' },
  { name: 'expired', workload: LEDGER, token: () => txnToken({ claims: { iat: nowSeconds() - 600, exp: nowSeconds() - 300 } }), status: 401, reason: 'expired' },
  { name: 'aud = the trust domain', workload: LEDGER, token: () => txnToken({ claims: { aud: TRUST_DOMAIN } }), status: 200, reason: '' },
  { name: 'aud = [the trust domain]', workload: LEDGER, token: () => txnToken({ claims: { aud: [TRUST_DOMAIN] } }), status: 200, reason: '' },
  { name: 'aud = the workload id (not the trust domain)', workload: LEDGER, token: () => txnToken({ claims: { aud: LEDGER } }), status: 401, reason: 'audience_mismatch' },
  { name: 'aud = another trust domain', workload: LEDGER, token: () => txnToken({ claims: { aud: 'example.org' } }), status: 401, reason: 'audience_mismatch' },
  { name: 'aud missing', workload: LEDGER, token: () => txnToken({ claims: { aud: undefined } }), status: 401, reason: 'audience_mismatch' },
  { name: 'workload with audiences: aud = the workload id', workload: PAYMENTS, token: () => txnToken({ claims: { aud: PAYMENTS } }), status: 200, reason: '' },
  { name: 'workload with audiences: aud = the trust domain', workload: PAYMENTS, token: () => txnToken({ claims: { aud: TRUST_DOMAIN } }), status: 401, reason: 'audience_mismatch' },
  { name: 'rctx.req_wl is the gateway', workload: ORDERS, token: () => txnToken({ claims: { rctx: { req_wl: GATEWAY } } }), status: 200, reason: '' },
  { name: 'rctx.req_wl is another workload', workload: ORDERS, token: () => txnToken({ claims: { rctx: { req_wl: 'batch.cluster.local' } } }), status: 403, reason: 'claims_not_satisfied' },
  { name: 'rctx missing', workload: ORDERS, token: () => txnToken({ claims: { rctx: undefined } }), status: 403, reason: 'claims_not_satisfied' },
  { name: 'tctx.action not BUY or SELL', workload: ORDERS, token: () => txnToken({ claims: { tctx: { action: 'SHORT' } } }), status: 403, reason: 'claims_not_satisfied' },
  {
    name: 'signed by the access-token issuer key (iss TTS)',
    workload: LEDGER,
    token: () => signJwtByHand(idpKey.privateJwk, { alg: 'ES256', kid: idpKey.kid, typ: 'txntoken+jwt' }, { iss: TTS, aud: TRUST_DOMAIN, sub: 's', txn: 't', iat: nowSeconds(), exp: nowSeconds() + 60, jti: randomUUID() }),
    status: 401,
    reason: 'key_unknown',
  },
];

describe('the txn-token profile through gRPC and HTTP', () => {
  it.each(CASES)('$name -> $status $reason', async (test) => {
    for (const answer of await both(hg, () => get(test.workload, test.token()))) {
      expect({ transport: answer.transport, status: answer.status, reason: answer.reason }).toEqual({ transport: answer.transport, status: test.status, reason: test.reason });
    }
  });

  it('a Transaction Token sent as authorization: Bearer is not read by a txn-token workload: token_missing', async () => {
    for (const answer of await both(hg, () => ({ workload: LEDGER, method: 'GET', path: '/orders', headers: [bearerAuth(txnToken())] }))) {
      expect([answer.status, answer.reason]).toEqual([401, 'token_missing']);
    }
  });
});

describe('the txn follows the transaction', () => {
  it('an allow carries x-hopguard-txn (overwriting a smuggled one), dynamic_metadata.txn and the txn in the decision log line', async () => {
    const txn = `97053963-771d-49cc-a4e3-20aad399c312-${randomUUID()}`;
    for (const send of [viaGrpc, viaHttp]) {
      // One token per transport (same txn): without an mTLS caller, source-bound replay is once.
      const { result, line } = await decisionLineOf(hg, () => send(hg, get(ORDERS, txnToken({ txn }), [['x-hopguard-txn', 'smuggled']])));
      expect(result.status).toBe(200);
      expect(result.headers['x-hopguard-txn']).toBe(txn);
      expect(result.headersToRemove).not.toContain('x-hopguard-txn');
      expect(line).toMatchObject({ decision: 'allow', workload: ORDERS, txn, sub: 'user:alice@example.com', iss: TTS, transport: result.transport });
      if (result.transport === 'grpc') expect(result.metadata).toMatchObject({ txn, workload: ORDERS, sub: 'user:alice@example.com', aud: [TRUST_DOMAIN] });
    }
  });

  it('a denial after the signature (a claims rule) logs the txn too', async () => {
    const txn = `txn-denied-${randomUUID()}`;
    const { result, line } = await decisionLineOf(hg, () => viaGrpc(hg, get(ORDERS, txnToken({ txn, claims: { rctx: { req_wl: 'batch.cluster.local' } } }))));
    expect(result.reason).toBe('claims_not_satisfied');
    expect(line).toMatchObject({ decision: 'deny', reason: 'claims_not_satisfied', txn });
    expect(String(line.detail)).toContain('rctx.req_wl');
  });

  it('an access-token allow removes x-hopguard-txn, so a caller cannot smuggle one', async () => {
    const make = async (): Promise<Req> => ({ workload: CATALOG, method: 'GET', path: '/orders', headers: [bearerAuth(await mintAccessToken(idpKey, { workload: CATALOG })), ['x-hopguard-txn', 'smuggled']] });
    const [grpc, http] = await both(hg, make);
    for (const answer of [grpc, http]) {
      expect(answer.status).toBe(200);
      expect(answer.headersToRemove).toContain('x-hopguard-txn');
      expect(answer.headers['x-hopguard-txn']).toBeUndefined();
    }
    expect(grpc.metadata.txn).toBeUndefined();
  });

  it('one Transaction Token is accepted at every hop of the chain (each workload of the trust domain)', async () => {
    const txn = `txn-chain-${randomUUID()}`;
    const token = txnToken({ txn });
    for (const workload of [ORDERS, LEDGER]) {
      const answer = await viaGrpc(hg, get(workload, token));
      expect([answer.status, answer.headers['x-hopguard-txn']]).toEqual([200, txn]);
    }
  });

  it('under the default replay (source-bound) a Transaction Token is reusable by the same mTLS caller, and needs a jti', async () => {
    const token = txnToken();
    for (const send of [viaGrpc, viaHttp, viaGrpc]) {
      const answer = await send(hg, { ...get(LEDGER, token), source: 'spiffe://cluster.local/ns/shop/sa/orders' });
      expect([answer.transport, answer.status]).toEqual([answer.transport, 200]);
    }
    const other = await viaGrpc(hg, { ...get(LEDGER, token), source: 'spiffe://cluster.local/ns/shop/sa/intruder' });
    expect([other.status, other.reason]).toEqual([401, 'replayed']);
    // Without an mTLS caller it is single-use (source-bound degrades to once).
    const once = txnToken();
    expect((await viaGrpc(hg, get(LEDGER, once))).status).toBe(200);
    expect((await viaHttp(hg, get(LEDGER, once))).reason).toBe('replayed');
    // The draft does not require jti in a Transaction Token; with replay on, hopguard does (SPEC "Replay").
    const withoutJti = txnToken({ claims: { jti: undefined } });
    for (const answer of await both(hg, () => get(LEDGER, withoutJti))) expect([answer.status, answer.reason]).toEqual([401, 'jti_required']);
  });
});

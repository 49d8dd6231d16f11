/**
 * Proof replay and nonces end to end. One replica (memory store): a proof presented twice is
 * dpop_proof_replayed, whichever transport; an invalid variant of a proof does not burn its jti;
 * jtis are per proof key. Two replicas sharing a real redis-server (and one nonce secret file):
 * 20 concurrent presentations of one proof spread over both replicas and both transports allow
 * exactly one; a nonce one replica hands out is accepted by the other; a replica with another
 * secret refuses it.
 */
import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  dpopAuth,
  dpopHeader,
  FRONTEND,
  ISS,
  mintAccessToken,
  proofFor,
  startDpopHopguard,
  viaGrpc,
  viaHttp,
  type Answer,
  type DpopHopguard,
  type Req,
} from '../../helpers/dpop.js';
import { generateTestKey, jwksOf, type TestKey } from '../../helpers/keys.js';
import { startRedisServer, type RedisServer } from '../../helpers/redis-server.js';
import { keyPair, type ProofKeyPair } from '../../unit/dpop/proofs.js';

const ORDERS = 'spiffe://cluster.local/ns/shop/sa/orders';
const NONCED = 'spiffe://cluster.local/ns/shop/sa/billing';
const NO_TOKEN_REPLAY = 'spiffe://cluster.local/ns/shop/sa/no-token-replay';
const ALGS = 'ES256 EdDSA PS256 RS256';
const REPLAYED_CHALLENGE = (realm: string) =>
  `Bearer realm="${realm}", DPoP realm="${realm}", algs="${ALGS}", error="invalid_dpop_proof", error_description="the DPoP proof was already used"`;

let dir: string;
let idpKey: TestKey;
let pair: ProofKeyPair;

function documentFor(replay: Record<string, unknown>, secretFile: string): Record<string, unknown> {
  return {
    listen: { grpc: '127.0.0.1:0', http: '127.0.0.1:0' },
    issuers: [{ issuer: ISS, jwks: jwksOf(idpKey), algorithms: ['ES256'] }],
    workloads: [
      { id: ORDERS, dpop: { mode: 'allowed' }, trustForwardedClientCert: true },
      { id: NONCED, dpop: { mode: 'required', nonce: { required: true, secretFile } } },
      { id: NO_TOKEN_REPLAY, replay: 'off', dpop: { mode: 'required' } },
    ],
    replay,
    logging: { level: 'info', allowSampleRate: 0 },
  };
}

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'hopguard-dpop-replay-'));
  writeFileSync(join(dir, 'shared.key'), 'shared-nonce-secret-for-both-replicas-0123456789abcdef\n');
  writeFileSync(join(dir, 'other.key'), 'another-nonce-secret-for-a-third-replica-0123456789ab\n');
  idpKey = await generateTestKey('ES256');
  pair = keyPair('ES256');
});

afterAll(() => rmSync(dir, { recursive: true, force: true }));

const request = (workload: string, token: string, proof: string, source?: string): Req => ({
  workload,
  method: 'GET',
  path: '/orders/7',
  headers: [dpopAuth(token), dpopHeader(proof)],
  ...(source === undefined ? {} : { source }),
});

const outcome = (answer: Answer): string => (answer.allowed ? 'allowed' : `${answer.status} ${answer.reason}`);

describe('one replica, memory store', () => {
  let hg: DpopHopguard;
  beforeAll(async () => {
    hg = await startDpopHopguard(documentFor({ store: 'memory' }, join(dir, 'shared.key')));
  });
  afterAll(async () => hg?.close());

  it('a proof presented again is dpop_proof_replayed, on either transport, with the DPoP challenge', async () => {
    const token = await mintAccessToken(idpKey, { workload: ORDERS, jkt: pair.jkt });
    const proof = proofFor(pair, { token });
    expect(outcome(await viaGrpc(hg, request(ORDERS, token, proof)))).toBe('allowed');
    for (const send of [viaHttp, viaGrpc]) {
      const again = await send(hg, request(ORDERS, token, proof));
      expect(outcome(again)).toBe('401 dpop_proof_replayed');
      expect(again.headers['www-authenticate']).toBe(REPLAYED_CHALLENGE(ORDERS));
      expect(again.body).toEqual({ error: 'invalid_dpop_proof', reason: 'dpop_proof_replayed' });
    }
    // The token itself is not burnt by the replayed proof: a fresh proof still works.
    expect(outcome(await viaHttp(hg, request(ORDERS, token, proofFor(pair, { token }))))).toBe('allowed');
  });

  it('20 concurrent presentations of one proof to one replica, over both transports: exactly one allowed', async () => {
    const token = await mintAccessToken(idpKey, { workload: ORDERS, jkt: pair.jkt });
    const proof = proofFor(pair, { token });
    const answers = await Promise.all(Array.from({ length: 20 }, (_, i) => (i % 2 === 0 ? viaGrpc : viaHttp)(hg, request(ORDERS, token, proof))));
    expect(answers.filter((answer) => answer.allowed)).toHaveLength(1);
    expect(new Set(answers.filter((answer) => !answer.allowed).map(outcome))).toEqual(new Set(['401 dpop_proof_replayed']));
  });

  it('with replay: off for tokens, proofs are still single-use (and a token without jti is fine)', async () => {
    const token = await mintAccessToken(idpKey, { workload: NO_TOKEN_REPLAY, jkt: pair.jkt, claims: { jti: undefined } });
    const proof = proofFor(pair, { token });
    expect(outcome(await viaGrpc(hg, request(NO_TOKEN_REPLAY, token, proof)))).toBe('allowed');
    expect(outcome(await viaHttp(hg, request(NO_TOKEN_REPLAY, token, proof)))).toBe('401 dpop_proof_replayed');
    expect(outcome(await viaHttp(hg, request(NO_TOKEN_REPLAY, token, proofFor(pair, { token }))))).toBe('allowed');
  });

  it('the first presentation over HTTP also records the jti for gRPC', async () => {
    const token = await mintAccessToken(idpKey, { workload: ORDERS, jkt: pair.jkt });
    const proof = proofFor(pair, { token });
    expect(outcome(await viaHttp(hg, request(ORDERS, token, proof)))).toBe('allowed');
    expect(outcome(await viaGrpc(hg, request(ORDERS, token, proof)))).toBe('401 dpop_proof_replayed');
  });

  it('an invalid proof does not burn its jti: invalid variants first, then the valid proof with the same jti is accepted once', async () => {
    const token = await mintAccessToken(idpKey, { workload: ORDERS, jkt: pair.jkt });
    const jti = randomUUID();
    const other = keyPair('EdDSA');
    const variants = [
      proofFor(pair, { token, method: 'POST', claims: { jti } }), // htm
      proofFor(pair, { token, path: '/orders/8', claims: { jti } }), // htu
      proofFor(pair, { token, claims: { jti, ath: 'x' } }), // ath
      proofFor(other, { token, claims: { jti } }), // jkt: another key
      proofFor(pair, { token, claims: { jti }, signWith: other.privateKey, signAlg: 'EdDSA' }), // signature
    ];
    for (const [index, variant] of variants.entries()) {
      const send = index % 2 === 0 ? viaGrpc : viaHttp;
      expect(outcome(await send(hg, request(ORDERS, token, variant)))).toBe('401 dpop_proof_invalid');
    }
    const valid = proofFor(pair, { token, claims: { jti } });
    expect(outcome(await viaGrpc(hg, request(ORDERS, token, valid)))).toBe('allowed');
    expect(outcome(await viaHttp(hg, request(ORDERS, token, proofFor(pair, { token, claims: { jti } }))))).toBe('401 dpop_proof_replayed');
  });

  it('a proof refused for a missing nonce does not burn its jti: the retry with the nonce may reuse it', async () => {
    const token = await mintAccessToken(idpKey, { workload: NONCED, jkt: pair.jkt });
    const jti = randomUUID();
    const first = await viaGrpc(hg, request(NONCED, token, proofFor(pair, { token, claims: { jti } })));
    expect(outcome(first)).toBe('401 dpop_nonce_required');
    const nonce = first.headers['dpop-nonce'] as string;
    expect(outcome(await viaHttp(hg, request(NONCED, token, proofFor(pair, { token, claims: { jti, nonce } }))))).toBe('allowed');
    expect(outcome(await viaGrpc(hg, request(NONCED, token, proofFor(pair, { token, claims: { jti, nonce } }))))).toBe('401 dpop_proof_replayed');
  });

  it('proof jtis are kept per key: two keys choosing the same jti are both accepted', async () => {
    const jti = randomUUID();
    for (const alg of ['ES256', 'EdDSA'] as const) {
      const key = keyPair(alg);
      const token = await mintAccessToken(idpKey, { workload: ORDERS, jkt: key.jkt });
      expect(outcome(await viaGrpc(hg, request(ORDERS, token, proofFor(key, { token, claims: { jti } }))))).toBe('allowed');
    }
  });
});

describe('two replicas sharing a real redis-server and one nonce secret file', () => {
  let redis: RedisServer;
  const replicas: DpopHopguard[] = [];
  let stranger: DpopHopguard;

  beforeAll(async () => {
    redis = await startRedisServer();
    const replay = { store: 'redis', redis: { url: redis.url }, onStoreError: 'deny', timeout: '2s' };
    for (let i = 0; i < 2; i += 1) replicas.push(await startDpopHopguard(documentFor(replay, join(dir, 'shared.key'))));
    stranger = await startDpopHopguard(documentFor({ store: 'memory' }, join(dir, 'other.key')));
  });

  afterAll(async () => {
    await Promise.all([...replicas.map((replica) => replica.close()), stranger?.close()]);
    await redis?.close();
  });

  /** Presentation i goes to replica i % 2, over gRPC for i % 4 < 2 and HTTP otherwise. */
  const send = (i: number, req: Req): Promise<Answer> => {
    const replica = replicas[i % 2] as DpopHopguard;
    return i % 4 < 2 ? viaGrpc(replica, req) : viaHttp(replica, req);
  };

  it('20 concurrent presentations of one proof across both replicas: exactly one allowed, 19 dpop_proof_replayed', async () => {
    const token = await mintAccessToken(idpKey, { workload: ORDERS, jkt: pair.jkt });
    const proof = proofFor(pair, { token });
    const answers = await Promise.all(Array.from({ length: 20 }, (_, i) => send(i, request(ORDERS, token, proof, FRONTEND))));
    expect(answers.filter((answer) => answer.allowed)).toHaveLength(1);
    const denied = answers.filter((answer) => !answer.allowed);
    expect(denied).toHaveLength(19);
    expect(new Set(denied.map(outcome))).toEqual(new Set(['401 dpop_proof_replayed']));
    // Both replicas and both transports took part.
    expect(new Set(answers.map((answer, i) => `${i % 2} ${answer.transport}`)).size).toBe(4);
  });

  it('the same, repeated with fresh proofs for one token: each proof is accepted exactly once', async () => {
    const token = await mintAccessToken(idpKey, { workload: ORDERS, jkt: pair.jkt });
    for (let round = 0; round < 3; round += 1) {
      const proof = proofFor(pair, { token });
      const answers = await Promise.all(Array.from({ length: 20 }, (_, i) => send(i + round, request(ORDERS, token, proof))));
      expect(answers.filter((answer) => answer.allowed)).toHaveLength(1);
      expect(new Set(answers.filter((answer) => !answer.allowed).map(outcome))).toEqual(new Set(['401 dpop_proof_replayed']));
    }
  });

  it('a proof accepted by replica A is dpop_proof_replayed at replica B', async () => {
    const token = await mintAccessToken(idpKey, { workload: ORDERS, jkt: pair.jkt });
    const proof = proofFor(pair, { token });
    expect(outcome(await viaGrpc(replicas[0] as DpopHopguard, request(ORDERS, token, proof)))).toBe('allowed');
    expect(outcome(await viaHttp(replicas[1] as DpopHopguard, request(ORDERS, token, proof)))).toBe('401 dpop_proof_replayed');
  });

  it.each([
    [0, 1],
    [1, 0],
  ])('a nonce issued by replica %i is accepted by replica %i (shared secret file); a replica with another secret refuses it', async (from, to) => {
    const token = await mintAccessToken(idpKey, { workload: NONCED, jkt: pair.jkt });
    const first = await viaHttp(replicas[from] as DpopHopguard, request(NONCED, token, proofFor(pair, { token })));
    expect(outcome(first)).toBe('401 dpop_nonce_required');
    const nonce = first.headers['dpop-nonce'] as string;
    expect(nonce).toMatch(/^[A-Za-z0-9_-]{54}$/);
    const refused = await viaGrpc(stranger, request(NONCED, token, proofFor(pair, { token, claims: { nonce } })));
    expect(outcome(refused)).toBe('401 dpop_nonce_required');
    expect(refused.headers['dpop-nonce']).toMatch(/^[A-Za-z0-9_-]{54}$/);
    expect(refused.headers['dpop-nonce']).not.toBe(nonce);
    expect(outcome(await viaGrpc(replicas[to] as DpopHopguard, request(NONCED, token, proofFor(pair, { token, claims: { nonce } }))))).toBe('allowed');
    expect(outcome(await viaHttp(replicas[to] as DpopHopguard, request(NONCED, token, proofFor(pair, { token, claims: { nonce } }))))).toBe('allowed');
  });
});

/**
 * RFC 9449 §4.3 end to end: each proof check failing on its own, through the gRPC Authorization
 * service (Envoy's official protos) and through the HTTP ext_authz mode, gives dpop_proof_invalid
 * with status 401, the JSON body, the DPoP challenge (after the Bearer one, mode allowed) and a
 * decision log line naming the failed check; the htu variants that are equal after RFC 3986
 * normalisation are accepted. Nonces (missing, stale, forged) give dpop_nonce_required with a
 * fresh `dpop-nonce` that then works. Proofs are built by hand (node:crypto), except where noted.
 */
import { createHmac, generateKeyPairSync, randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { JWK } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  both,
  decisionLineOf,
  dpopAuth,
  dpopHeader,
  HOST,
  ISS,
  mintAccessToken,
  nowSeconds,
  proofFor,
  startDpopHopguard,
  viaGrpc,
  viaHttp,
  type Answer,
  type DpopHopguard,
  type Req,
} from '../../helpers/dpop.js';
import { generateTestKey, jwksOf, type TestKey } from '../../helpers/keys.js';
import { ath, joseProof, keyPair, thumbprintByHand, type ProofKeyPair } from '../../unit/dpop/proofs.js';

/** An RS256 key pair of `bits` bits (keyPair makes 2048-bit ones). */
function rsaPair(bits: number): ProofKeyPair {
  const { privateKey, publicKey } = generateKeyPairSync('rsa', { modulusLength: bits });
  const publicJwk = publicKey.export({ format: 'jwk' }) as JWK;
  return { alg: 'RS256', privateKey, publicKey, publicJwk, privateJwk: privateKey.export({ format: 'jwk' }) as JWK, jkt: thumbprintByHand(publicJwk) };
}

const ALLOWED = 'spiffe://cluster.local/ns/shop/sa/orders';
const NONCE = 'spiffe://cluster.local/ns/shop/sa/billing';
const OPS = 'spiffe://cluster.local/ns/shop/sa/routed';
const BEHIND_INGRESS = 'spiffe://cluster.local/ns/shop/sa/behind-ingress';
const ALGS = 'ES256 EdDSA PS256 RS256';
const SECRET = 'dpop-e2e-nonce-secret-0123456789abcdef0123456789';

let dir: string;
let idpKey: TestKey;
let hg: DpopHopguard;
let pair: ProofKeyPair;
let other: ProofKeyPair;
let es384: ProofKeyPair;
let rsa1024: ProofKeyPair;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'hopguard-dpop-checks-'));
  writeFileSync(join(dir, 'nonce.key'), SECRET);
  idpKey = await generateTestKey('ES256');
  pair = keyPair('ES256');
  other = keyPair('ES256', true);
  es384 = keyPair('ES384');
  rsa1024 = rsaPair(1024);
  hg = await startDpopHopguard({
    listen: { grpc: '127.0.0.1:0', http: '127.0.0.1:0', admin: '127.0.0.1:0' },
    issuers: [{ issuer: ISS, jwks: jwksOf(idpKey), algorithms: ['ES256'] }],
    workloads: [
      { id: ALLOWED, dpop: { mode: 'allowed' } },
      {
        id: OPS,
        dpop: { mode: 'allowed' },
        operations: [
          { name: 'read', methods: ['GET'], paths: ['/orders/*'] },
          { name: 'health', paths: ['/healthz'], public: true },
        ],
      },
      { id: BEHIND_INGRESS, dpop: { mode: 'required', origins: ['https://api.example.com', 'https://API.example.com:8443'] } },
      { id: NONCE, dpop: { mode: 'required', nonce: { required: true, secretFile: join(dir, 'nonce.key') } } },
    ],
    logging: { level: 'info', allowSampleRate: 0 },
  });
});

afterAll(async () => {
  await hg?.close();
  rmSync(dir, { recursive: true, force: true });
});

const invalidChallenge = (realm: string) =>
  `Bearer realm="${realm}", DPoP realm="${realm}", algs="${ALGS}", error="invalid_dpop_proof", error_description="the DPoP proof is invalid"`;

/** A DPoP request to ALLOWED for GET /orders/7 with a fresh token bound to `pair`; `proof` makes the dpop header lines. */
async function dpopRequest(
  proof: (token: string) => string[] | Promise<string[]>,
  request: Partial<Pick<Req, 'method' | 'path' | 'host' | 'scheme'>> = {},
  bound: ProofKeyPair = pair,
): Promise<Req> {
  const token = await mintAccessToken(idpKey, { workload: ALLOWED, jkt: bound.jkt });
  const proofs = await proof(token);
  return { workload: ALLOWED, method: 'GET', path: '/orders/7', ...request, headers: [dpopAuth(token), ...proofs.map(dpopHeader)] };
}

interface InvalidCase {
  readonly name: string;
  /** The check that fails (the log line's detail names it). */
  readonly check: string;
  readonly make: () => Promise<Req>;
}

const INVALID: InvalidCase[] = [
  { name: 'no dpop header', check: 'count', make: () => dpopRequest(() => []) },
  { name: 'two dpop header lines', check: 'count', make: () => dpopRequest((t) => [proofFor(pair, { token: t }), proofFor(pair, { token: t })]) },
  { name: 'two proofs in one comma-joined value', check: 'count', make: () => dpopRequest((t) => [`${proofFor(pair, { token: t })},${proofFor(pair, { token: t })}`]) },
  { name: 'a proof over 8 KiB', check: 'size', make: () => dpopRequest((t) => [proofFor(pair, { token: t, claims: { pad: 'x'.repeat(9000) } })]) },
  // RFC 9449 §4.3 check 1: not more than one DPoP header field, even when one is empty (as Envoy's
  // joined form "proof," is refused, so must the same two lines with encode_raw_headers).
  { name: 'two dpop header lines, the second empty', check: 'count', make: () => dpopRequest((t) => [proofFor(pair, { token: t }), '']) },
  { name: 'an empty dpop header', check: 'count', make: () => dpopRequest(() => ['']) },
  { name: 'a dpop header over limits.maxHeaderBytes (64 KiB)', check: 'size', make: () => dpopRequest((t) => [proofFor(pair, { token: t, claims: { pad: 'x'.repeat(70_000) } })]) },
  { name: 'not a JWS', check: 'jws', make: () => dpopRequest(() => ['not-a-jws']) },
  { name: 'a JWS whose payload is not JSON', check: 'jws', make: () => dpopRequest(() => [`${Buffer.from('{"typ":"dpop+jwt","alg":"ES256"}').toString('base64url')}.bm90IGpzb24.c2ln`]) },
  { name: 'a JWS with a crit header', check: 'jws', make: () => dpopRequest((t) => [proofFor(pair, { token: t, header: { crit: ['exp'], exp: 1 } })]) },
  { name: 'typ JWT', check: 'typ', make: () => dpopRequest((t) => [proofFor(pair, { token: t, header: { typ: 'JWT' } })]) },
  { name: 'typ absent', check: 'typ', make: () => dpopRequest((t) => [proofFor(pair, { token: t, header: { typ: undefined } })]) },
  { name: 'alg none', check: 'alg', make: () => dpopRequest((t) => [proofFor(pair, { token: t, header: { alg: 'none' }, signAlg: 'ES256' })]) },
  { name: 'alg HS256', check: 'alg', make: () => dpopRequest((t) => [proofFor(pair, { token: t, header: { alg: 'HS256' }, signAlg: 'ES256' })]) },
  { name: 'alg ES384, not in dpop.algorithms', check: 'alg', make: () => dpopRequest((t) => [proofFor(es384, { token: t })], {}, es384) },
  { name: 'jwk with the private member d', check: 'jwk', make: () => dpopRequest((t) => [proofFor(pair, { token: t, header: { jwk: pair.privateJwk } })]) },
  { name: 'jwk missing', check: 'jwk', make: () => dpopRequest((t) => [proofFor(pair, { token: t, header: { jwk: undefined } })]) },
  { name: 'jwk of another key type than alg', check: 'jwk', make: () => dpopRequest((t) => [proofFor(pair, { token: t, header: { jwk: keyPair('EdDSA').publicJwk } })]) },
  { name: 'an RSA jwk of 1024 bits', check: 'jwk', make: () => dpopRequest((t) => [proofFor(rsa1024, { token: t })], {}, rsa1024) },
  { name: 'signed by another key than its jwk', check: 'signature', make: () => dpopRequest((t) => [proofFor(pair, { token: t, signWith: other.privateKey })]) },
  { name: 'htm POST for a GET', check: 'htm', make: () => dpopRequest((t) => [proofFor(pair, { token: t, method: 'POST' })]) },
  { name: 'htm get (methods are case-sensitive)', check: 'htm', make: () => dpopRequest((t) => [proofFor(pair, { token: t, method: 'get' })]) },
  { name: 'htm missing', check: 'htm', make: () => dpopRequest((t) => [proofFor(pair, { token: t, claims: { htm: undefined } })]) },
  { name: 'htu missing', check: 'htu', make: () => dpopRequest((t) => [proofFor(pair, { token: t, claims: { htu: undefined } })]) },
  { name: 'htu a relative reference', check: 'htu', make: () => dpopRequest((t) => [proofFor(pair, { token: t, origin: '' })]) },
  { name: 'htu with userinfo', check: 'htu', make: () => dpopRequest((t) => [proofFor(pair, { token: t, origin: `https://user@${HOST}` })]) },
  { name: 'htu of another host', check: 'htu', make: () => dpopRequest((t) => [proofFor(pair, { token: t, origin: 'https://evil.example' })]) },
  { name: 'htu of another scheme', check: 'htu', make: () => dpopRequest((t) => [proofFor(pair, { token: t, origin: `http://${HOST}` })]) },
  { name: 'htu of another port', check: 'htu', make: () => dpopRequest((t) => [proofFor(pair, { token: t, origin: `https://${HOST}:8443` })]) },
  { name: 'htu of another path', check: 'htu', make: () => dpopRequest((t) => [proofFor(pair, { token: t, path: '/orders/8' })]) },
  { name: 'htu with a query', check: 'htu', make: () => dpopRequest((t) => [proofFor(pair, { token: t, path: '/orders/7?x=1' })], { path: '/orders/7?x=1' }) },
  { name: 'htu with a fragment', check: 'htu', make: () => dpopRequest((t) => [proofFor(pair, { token: t, path: '/orders/7#f' })]) },
  { name: 'iat too old', check: 'iat', make: () => dpopRequest((t) => [proofFor(pair, { token: t, claims: { iat: nowSeconds() - 120 } })]) },
  { name: 'iat in the future', check: 'iat', make: () => dpopRequest((t) => [proofFor(pair, { token: t, claims: { iat: nowSeconds() + 60 } })]) },
  { name: 'iat a string', check: 'iat', make: () => dpopRequest((t) => [proofFor(pair, { token: t, claims: { iat: String(nowSeconds()) } })]) },
  { name: 'iat missing', check: 'iat', make: () => dpopRequest((t) => [proofFor(pair, { token: t, claims: { iat: undefined } })]) },
  { name: 'jti missing', check: 'jti', make: () => dpopRequest((t) => [proofFor(pair, { token: t, claims: { jti: undefined } })]) },
  { name: 'jti a number', check: 'jti', make: () => dpopRequest((t) => [proofFor(pair, { token: t, claims: { jti: 42 } })]) },
  { name: 'jti over 256 bytes', check: 'jti', make: () => dpopRequest((t) => [proofFor(pair, { token: t, claims: { jti: 'j'.repeat(257) } })]) },
  { name: 'ath of another token', check: 'ath', make: () => dpopRequest((t) => [proofFor(pair, { token: t, claims: { ath: ath(`${t}x`) } })]) },
  { name: 'ath missing', check: 'ath', make: () => dpopRequest((t) => [proofFor(pair, { token: t, claims: { ath: undefined } })]) },
  { name: "a valid proof by another key than cnf.jkt's", check: 'jkt', make: () => dpopRequest((t) => [proofFor(other, { token: t })]) },
];

function expectDenied(answer: Answer, reason: string, challenge: string): void {
  expect({ transport: answer.transport, allowed: answer.allowed, status: answer.status, reason: answer.reason }).toEqual({
    transport: answer.transport,
    allowed: false,
    status: 401,
    reason,
  });
  expect(answer.headers['www-authenticate']).toBe(challenge);
  expect(answer.headers['content-type']).toBe('application/json');
}

describe('each RFC 9449 §4.3 check failing alone: dpop_proof_invalid through gRPC and HTTP', () => {
  it.each(INVALID)('$name -> $check', async (test) => {
    for (const send of [viaGrpc, viaHttp]) {
      const { result, line } = await decisionLineOf(hg, async () => send(hg, await test.make()), (answer) => expectDenied(answer, 'dpop_proof_invalid', invalidChallenge(ALLOWED)));
      expect(result.body).toEqual({ error: 'invalid_dpop_proof', reason: 'dpop_proof_invalid' });
      expect(result.headers['dpop-nonce']).toBeUndefined();
      expect(line).toMatchObject({ decision: 'deny', reason: 'dpop_proof_invalid', workload: ALLOWED, dpop: 'invalid', transport: result.transport });
      expect(String(line.detail)).toMatch(new RegExp(`^DPoP proof ${test.check}: `));
    }
  });
});

describe('a proof key already seen (cached after a good proof) is still checked in full', () => {
  it.each([
    ['jwk with the private member d', { jwk: { ...keyPairPublic(), d: 'AAAA' } }, 'jwk'],
    ['jwk use enc', { jwk: { ...keyPairPublic(), use: 'enc' } }, 'jwk'],
    ['jwk alg ES384', { jwk: { ...keyPairPublic(), alg: 'ES384' } }, 'jwk'],
  ])('%s', async (_name, header, check) => {
    expect((await viaGrpc(hg, await dpopRequest((t) => [proofFor(pair, { token: t })]))).status).toBe(200);
    for (const send of [viaGrpc, viaHttp]) {
      const { line } = await decisionLineOf(hg, async () => send(hg, await dpopRequest((t) => [proofFor(pair, { token: t, header })])), (answer) =>
        expectDenied(answer, 'dpop_proof_invalid', invalidChallenge(ALLOWED)),
      );
      expect(String(line.detail)).toMatch(new RegExp(`^DPoP proof ${check}: `));
    }
  });
});

function keyPairPublic(): JWK {
  return { ...keyPair('ES256').publicJwk };
}

interface AcceptedCase {
  readonly name: string;
  readonly make: () => Promise<Req>;
}

const ACCEPTED: AcceptedCase[] = [
  { name: 'the plain proof', make: () => dpopRequest((t) => [proofFor(pair, { token: t })]) },
  { name: 'a proof made with jose', make: () => dpopRequest(async (t) => [await joseProof(pair, { jti: randomUUID(), htm: 'GET', htu: `https://${HOST}/orders/7`, iat: nowSeconds(), ath: ath(t) })]) },
  { name: 'htu host in another case', make: () => dpopRequest((t) => [proofFor(pair, { token: t, origin: 'HTTPS://API.Shop.TEST' })]) },
  { name: 'htu with the default port :443', make: () => dpopRequest((t) => [proofFor(pair, { token: t, origin: `https://${HOST}:443` })]) },
  { name: 'the request host with :443, htu without', make: () => dpopRequest((t) => [proofFor(pair, { token: t })], { host: `${HOST}:443` }) },
  { name: 'request path //orders/./7, htu /orders/7', make: () => dpopRequest((t) => [proofFor(pair, { token: t })], { path: '//orders/./7' }) },
  { name: 'request path /orders/x/../7, htu /orders/7', make: () => dpopRequest((t) => [proofFor(pair, { token: t })], { path: '/orders/x/../7' }) },
  { name: 'htu with percent-encoded unreserved characters', make: () => dpopRequest((t) => [proofFor(pair, { token: t, path: '/%6Frders/7' })]) },
  { name: 'request with a query, htu without', make: () => dpopRequest((t) => [proofFor(pair, { token: t })], { path: '/orders/7?expand=1' }) },
  { name: 'htu with an empty path for /', make: () => dpopRequest((t) => [proofFor(pair, { token: t, path: '' })], { path: '/' }) },
  { name: 'POST with htm POST', make: () => dpopRequest((t) => [proofFor(pair, { token: t, method: 'POST' })], { method: 'POST' }) },
  { name: 'typ in its media type form application/dpop+jwt', make: () => dpopRequest((t) => [proofFor(pair, { token: t, header: { typ: 'application/dpop+jwt' } })]) },
  { name: 'jwk with optional members (kid, use, alg)', make: () => dpopRequest((t) => [proofFor(pair, { token: t, header: { jwk: { ...pair.publicJwk, kid: 'k1', use: 'sig', alg: 'ES256' } } })]) },
  { name: 'a non-ASCII path: htu raw, request percent-encoded in lower case', make: () => dpopRequest((t) => [proofFor(pair, { token: t, path: '/orders/café' })], { path: '/orders/caf%c3%a9' }) },
  { name: 'an IPv6 host with a port', make: () => dpopRequest((t) => [proofFor(pair, { token: t, origin: 'https://[::1]:8443' })], { host: '[::1]:8443' }) },
  { name: 'iat at the edge of the skew, a few seconds ahead', make: () => dpopRequest((t) => [proofFor(pair, { token: t, claims: { iat: nowSeconds() + 2 } })]) },
];

describe('proofs equal after RFC 3986 normalisation are accepted through gRPC and HTTP', () => {
  it.each(ACCEPTED)('$name', async (test) => {
    const answers = await both(hg, test.make);
    for (const answer of answers) {
      expect({ transport: answer.transport, status: answer.status, reason: answer.reason }).toEqual({ transport: answer.transport, status: 200, reason: '' });
      expect(answer.headers['x-hopguard-dpop-jkt']).toBe(pair.jkt);
    }
  });
});

/** RFC 9449 §9 nonces, computed here by hand from the documented format (time || HMAC-SHA256). */
function nonceByHand(secret: string, issuedAtMs: number): string {
  const time = Buffer.alloc(8);
  time.writeBigUInt64BE(BigInt(issuedAtMs));
  const mac = createHmac('sha256', secret).update('hopguard/dpop-nonce/v1').update(time).digest();
  return Buffer.concat([time, mac]).toString('base64url');
}

async function nonceRequest(nonce: string | undefined): Promise<Req> {
  const token = await mintAccessToken(idpKey, { workload: NONCE, jkt: pair.jkt });
  const proof = proofFor(pair, { token, claims: nonce === undefined ? {} : { nonce } });
  return { workload: NONCE, method: 'GET', path: '/orders/7', headers: [dpopAuth(token), dpopHeader(proof)] };
}

const NONCE_CHALLENGE = `DPoP realm="${NONCE}", algs="${ALGS}", error="use_dpop_nonce", error_description="a fresh DPoP nonce is required"`;

describe('nonce.required: dpop_nonce_required carries a fresh dpop-nonce, which then works', () => {
  const cases: { name: string; nonce: () => string | undefined; detail: RegExp }[] = [
    { name: 'no nonce', nonce: () => undefined, detail: /^DPoP proof nonce: nonce is missing/ },
    { name: 'a stale nonce (issued 10 minutes ago, lifetime 5m)', nonce: () => nonceByHand(SECRET, Date.now() - 600_000), detail: /^DPoP proof nonce: nonce is stale/ },
    { name: 'a forged nonce (another secret)', nonce: () => nonceByHand('another-secret-another-secret-another-secret', Date.now()), detail: /^DPoP proof nonce: nonce is not valid \(forged\)/ },
    { name: 'a nonce from the future', nonce: () => nonceByHand(SECRET, Date.now() + 3_600_000), detail: /^DPoP proof nonce: nonce is not valid \(future\)/ },
    { name: 'garbage', nonce: () => 'abc', detail: /^DPoP proof nonce: nonce is not valid \(malformed\)/ },
  ];

  it.each(cases)('$name', async (test) => {
    for (const send of [viaGrpc, viaHttp]) {
      const { result, line } = await decisionLineOf(hg, async () => send(hg, await nonceRequest(test.nonce())), (answer) => expectDenied(answer, 'dpop_nonce_required', NONCE_CHALLENGE));
      expect(result.body).toEqual({ error: 'use_dpop_nonce', reason: 'dpop_nonce_required' });
      const fresh = result.headers['dpop-nonce'];
      expect(fresh).toMatch(/^[A-Za-z0-9_-]{54}$/);
      expect(line).toMatchObject({ reason: 'dpop_nonce_required', dpop: 'nonce_required' });
      expect(String(line.detail)).toMatch(test.detail);
      // The retry with the nonce from the denial is accepted, on either transport.
      for (const retry of [viaGrpc, viaHttp]) {
        const again = await retry(hg, await nonceRequest(fresh));
        expect({ transport: again.transport, status: again.status, reason: again.reason }).toEqual({ transport: again.transport, status: 200, reason: '' });
      }
    }
  });

  it('a nonce made by hand under the shared secret is accepted: the format is what the README says', async () => {
    const [grpc, http] = await both(hg, () => nonceRequest(nonceByHand(SECRET, Date.now() - 1000)));
    expect([grpc.status, http.status]).toEqual([200, 200]);
  });

  it('a nonce does not excuse any other check: a good nonce with a wrong htm is dpop_proof_invalid', async () => {
    const token = await mintAccessToken(idpKey, { workload: NONCE, jkt: pair.jkt });
    const proof = proofFor(pair, { token, method: 'PUT', claims: { nonce: nonceByHand(SECRET, Date.now()) } });
    const answer = await viaGrpc(hg, { workload: NONCE, method: 'GET', path: '/orders/7', headers: [dpopAuth(token), dpopHeader(proof)] });
    expectDenied(answer, 'dpop_proof_invalid', `DPoP realm="${NONCE}", algs="${ALGS}", error="invalid_dpop_proof", error_description="the DPoP proof is invalid"`);
    expect(answer.headers['dpop-nonce']).toBeUndefined();
  });
});

describe('the request path the proof is compared with', () => {
  async function toWorkload(workload: string, path: string, htuPath: string, bound: ProofKeyPair = pair): Promise<Req> {
    const token = await mintAccessToken(idpKey, { workload, jkt: bound.jkt });
    return { workload, method: 'GET', path, headers: [dpopAuth(token), dpopHeader(proofFor(pair, { token, path: htuPath }))] };
  }

  it.each([
    ['/orders/7?x=1', '/orders/7'],
    ['//orders/./7', '/orders/7'],
    ['/orders/%37', '/orders/7'],
  ])('a workload with operations: request %s, htu %s -> allowed (the operations step normalised the path)', async (path, htuPath) => {
    for (const answer of await both(hg, () => toWorkload(OPS, path, htuPath))) expect([answer.transport, answer.status, answer.reason]).toEqual([answer.transport, 200, '']);
  });

  it('a workload with operations: a proof for another operation\'s path is dpop_proof_invalid', async () => {
    for (const answer of await both(hg, () => toWorkload(OPS, '/orders/7', '/orders/8'))) expect([answer.status, answer.reason]).toEqual([401, 'dpop_proof_invalid']);
  });

  it('a public operation reads no token and no proof', async () => {
    const make = async (): Promise<Req> => ({ workload: OPS, method: 'GET', path: '/healthz', headers: [dpopAuth(await mintAccessToken(idpKey, { workload: OPS, jkt: pair.jkt })), dpopHeader('garbage')] });
    for (const answer of await both(hg, make)) {
      expect([answer.status, answer.reason]).toEqual([200, '']);
      expect(answer.headersToRemove).toContain('x-hopguard-dpop-jkt');
    }
  });

  it('an ambiguous path (%2F): path_invalid on a workload with operations, dpop_proof_invalid on one without', async () => {
    for (const answer of await both(hg, () => toWorkload(OPS, '/orders%2F7', '/orders%2F7'))) expect([answer.status, answer.reason]).toEqual([400, 'path_invalid']);
    for (const send of [viaGrpc, viaHttp]) {
      const { result, line } = await decisionLineOf(hg, async () => send(hg, await toWorkload(ALLOWED, '/orders%2F7', '/orders%2F7')));
      expect([result.status, result.reason]).toEqual([401, 'dpop_proof_invalid']);
      expect(String(line.detail)).toMatch(/^the request path cannot be compared with htu: /);
    }
  });
});

describe('dpop.origins: behind an ingress that terminated TLS', () => {
  /** The sidecar sees http and an internal host; the client signed the public URL. */
  async function behindIngress(htuOrigin: string, extra: [string, string][] = []): Promise<Req> {
    const token = await mintAccessToken(idpKey, { workload: BEHIND_INGRESS, jkt: pair.jkt });
    return {
      workload: BEHIND_INGRESS,
      method: 'GET',
      path: '/orders/7',
      host: 'orders.shop.svc.cluster.local:8080',
      scheme: 'http',
      headers: [dpopAuth(token), dpopHeader(proofFor(pair, { token, origin: htuOrigin })), ...extra],
    };
  }

  it.each(['https://api.example.com', 'https://api.example.com:443', 'https://api.example.com:8443'])('htu origin %s (configured) -> allowed', async (origin) => {
    for (const answer of await both(hg, () => behindIngress(origin))) expect([answer.transport, answer.status, answer.reason]).toEqual([answer.transport, 200, '']);
  });

  it.each(['http://orders.shop.svc.cluster.local:8080', 'https://evil.example', 'http://api.example.com'])('htu origin %s (the request\'s own, or not configured) -> dpop_proof_invalid', async (origin) => {
    for (const answer of await both(hg, () => behindIngress(origin))) expect([answer.status, answer.reason]).toEqual([401, 'dpop_proof_invalid']);
  });

  it('HTTP mode: the scheme is x-forwarded-proto; without it the request counts as http, so an https htu needs dpop.origins', async () => {
    const token = await mintAccessToken(idpKey, { workload: ALLOWED, jkt: pair.jkt });
    const own = await viaHttp(hg, { workload: ALLOWED, method: 'GET', path: '/orders/7', noForwardedProto: true, headers: [dpopAuth(token), dpopHeader(proofFor(pair, { token }))] });
    expect([own.status, own.reason]).toEqual([401, 'dpop_proof_invalid']);
    const configured = await viaHttp(hg, { ...(await behindIngress('https://api.example.com')), noForwardedProto: true });
    expect([configured.status, configured.reason]).toEqual([200, '']);
  });

  it('x-forwarded-host is never believed for htu', async () => {
    const forged = () => behindIngress('https://evil.example', [['x-forwarded-host', 'evil.example']]);
    for (const answer of await both(hg, forged)) expect([answer.status, answer.reason]).toEqual([401, 'dpop_proof_invalid']);
  });
});

/**
 * How a token is presented, end to end through gRPC and HTTP: the Bearer downgrade of RFC 9449
 * §7.2 (dpop_required, with the Bearer + DPoP challenge for mode allowed and the DPoP one alone for
 * required), Bearer tokens under allowed and required, the DPoP scheme under mode off
 * (token_missing), a cnf.jkt token with mode off and a DPoP token without cnf.jkt
 * (binding_mismatch); what an allow tells the upstream (x-hopguard-dpop-jkt set, or removed for a
 * Bearer allow so a caller cannot smuggle one; dynamic_metadata.dpop_jkt); the
 * hopguard_dpop_proofs_total counter by workload and outcome; and a client reusing its access
 * token with a fresh proof per request under the default source-bound replay, with and without an
 * mTLS caller.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  bearerAuth,
  both,
  dpopAuth,
  dpopHeader,
  FRONTEND,
  INTRUDER,
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
import { createWorkloadCertificate, opensslAvailable } from '../../helpers/certs.js';
import { envoyCheckRequest, readCheckResponse } from '../../helpers/envoy-client.js';
import { generateTestKey, jwksOf, type TestKey } from '../../helpers/keys.js';
import { scrape } from '../ops/fixture.js';
import { keyPair, type ProofKeyPair } from '../../unit/dpop/proofs.js';

const ALLOWED = 'spiffe://cluster.local/ns/shop/sa/orders';
const REQUIRED = 'spiffe://cluster.local/ns/shop/sa/payments';
const OFF = 'spiffe://cluster.local/ns/shop/sa/catalog';
const NONCE = 'spiffe://cluster.local/ns/shop/sa/billing';
const COUNTED = 'spiffe://cluster.local/ns/shop/sa/counted';
const ALGS = 'ES256 EdDSA PS256 RS256';

let dir: string;
let idpKey: TestKey;
let hg: DpopHopguard;
let pair: ProofKeyPair;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'hopguard-dpop-binding-'));
  writeFileSync(join(dir, 'nonce.key'), 'binding-test-nonce-secret-0123456789abcdef01234567\n');
  idpKey = await generateTestKey('ES256');
  pair = keyPair('ES256');
  hg = await startDpopHopguard({
    listen: { grpc: '127.0.0.1:0', http: '127.0.0.1:0', admin: '127.0.0.1:0' },
    issuers: [{ issuer: ISS, jwks: jwksOf(idpKey), algorithms: ['ES256'] }],
    workloads: [
      { id: ALLOWED, dpop: { mode: 'allowed' }, trustForwardedClientCert: true },
      { id: REQUIRED, dpop: { mode: 'required' } },
      { id: OFF },
      { id: NONCE, dpop: { mode: 'allowed', nonce: { required: true, secretFile: join(dir, 'nonce.key') } } },
      { id: COUNTED, dpop: { mode: 'allowed' } },
    ],
    logging: { level: 'info', allowSampleRate: 0 },
  });
});

afterAll(async () => {
  await hg?.close();
  rmSync(dir, { recursive: true, force: true });
});

const GET = { method: 'GET', path: '/orders/7' } as const;

/** A token for `workload` (bound to pair when `bound`), sent with `scheme`, with a valid proof when `proof`. */
async function presented(workload: string, options: { bound: boolean; scheme: 'Bearer' | 'DPoP'; proof: boolean; claims?: Record<string, unknown> }): Promise<Req> {
  const token = await mintAccessToken(idpKey, { workload, jkt: options.bound ? pair.jkt : null, ...(options.claims ? { claims: options.claims } : {}) });
  const headers: [string, string][] = [options.scheme === 'DPoP' ? dpopAuth(token) : bearerAuth(token)];
  if (options.proof) headers.push(dpopHeader(proofFor(pair, { token })));
  return { workload, ...GET, headers };
}

function status(answer: Answer): { transport: string; status: number; reason: string } {
  return { transport: answer.transport, status: answer.status, reason: answer.reason };
}

interface PresentationCase {
  readonly name: string;
  readonly make: () => Promise<Req>;
  readonly status: number;
  readonly reason: string;
  /** The exact www-authenticate value of a denial. */
  readonly challenge?: (realm: string) => string;
  readonly realm: string;
}

const bearerThenDpop = (error: string, description: string) => (realm: string) =>
  `Bearer realm="${realm}", DPoP realm="${realm}", algs="${ALGS}", error="${error}", error_description="${description}"`;
const dpopOnly = (error: string, description: string) => (realm: string) => `DPoP realm="${realm}", algs="${ALGS}", error="${error}", error_description="${description}"`;
const bearerOnly = (error: string, description: string) => (realm: string) => `Bearer realm="${realm}", error="${error}", error_description="${description}"`;
const DPOP_REQUIRED = 'the token must be presented with a DPoP proof';
const BINDING = 'the token is bound to another certificate';

const PRESENTATIONS: PresentationCase[] = [
  {
    name: 'mode allowed: a cnf.jkt token as Bearer (the downgrade) -> dpop_required, Bearer and DPoP challenges',
    make: () => presented(ALLOWED, { bound: true, scheme: 'Bearer', proof: false }),
    realm: ALLOWED,
    status: 401,
    reason: 'dpop_required',
    challenge: bearerThenDpop('invalid_token', DPOP_REQUIRED),
  },
  {
    name: 'mode allowed: a cnf.jkt token as Bearer, even with a valid dpop header beside it -> dpop_required',
    make: () => presented(ALLOWED, { bound: true, scheme: 'Bearer', proof: true }),
    realm: ALLOWED,
    status: 401,
    reason: 'dpop_required',
    challenge: bearerThenDpop('invalid_token', DPOP_REQUIRED),
  },
  {
    name: 'mode required: a cnf.jkt token as Bearer -> dpop_required, the DPoP challenge alone',
    make: () => presented(REQUIRED, { bound: true, scheme: 'Bearer', proof: false }),
    realm: REQUIRED,
    status: 401,
    reason: 'dpop_required',
    challenge: dpopOnly('invalid_token', DPOP_REQUIRED),
  },
  { name: 'mode allowed: a Bearer token without cnf -> allowed', make: () => presented(ALLOWED, { bound: false, scheme: 'Bearer', proof: false }), realm: ALLOWED, status: 200, reason: '' },
  {
    name: 'mode required: a Bearer token without cnf -> dpop_required',
    make: () => presented(REQUIRED, { bound: false, scheme: 'Bearer', proof: false }),
    realm: REQUIRED,
    status: 401,
    reason: 'dpop_required',
    challenge: dpopOnly('invalid_token', DPOP_REQUIRED),
  },
  {
    name: 'mode off: authorization DPoP (with a valid proof) is an unknown scheme -> token_missing, Bearer challenge only',
    make: () => presented(OFF, { bound: true, scheme: 'DPoP', proof: true }),
    realm: OFF,
    status: 401,
    reason: 'token_missing',
    challenge: bearerOnly('invalid_request', 'no bearer token'),
  },
  {
    name: 'mode off: a cnf.jkt token as Bearer -> binding_mismatch (never a bearer token)',
    make: () => presented(OFF, { bound: true, scheme: 'Bearer', proof: false }),
    realm: OFF,
    status: 401,
    reason: 'binding_mismatch',
    challenge: bearerOnly('invalid_token', BINDING),
  },
  { name: 'mode off: a Bearer token without cnf -> allowed', make: () => presented(OFF, { bound: false, scheme: 'Bearer', proof: false }), realm: OFF, status: 200, reason: '' },
  {
    name: 'mode allowed: a DPoP token without cnf.jkt (valid proof) -> binding_mismatch, error on the DPoP challenge',
    make: () => presented(ALLOWED, { bound: false, scheme: 'DPoP', proof: true }),
    realm: ALLOWED,
    status: 401,
    reason: 'binding_mismatch',
    challenge: bearerThenDpop('invalid_token', BINDING),
  },
  {
    name: 'mode required: a DPoP token without cnf.jkt -> binding_mismatch',
    make: () => presented(REQUIRED, { bound: false, scheme: 'DPoP', proof: true }),
    realm: REQUIRED,
    status: 401,
    reason: 'binding_mismatch',
    challenge: dpopOnly('invalid_token', BINDING),
  },
  {
    name: "mode allowed: a Bearer token's own failure (expired) -> the error on the Bearer challenge, DPoP offered",
    make: () => presented(ALLOWED, { bound: false, scheme: 'Bearer', proof: false, claims: { iat: nowSeconds() - 600, exp: nowSeconds() - 300 } }),
    realm: ALLOWED,
    status: 401,
    reason: 'expired',
    challenge: (realm) => `Bearer realm="${realm}", error="invalid_token", error_description="the token has expired", DPoP realm="${realm}", algs="${ALGS}"`,
  },
  {
    name: 'mode allowed: a DPoP-bound token as DPoP with an expired token -> expired, error on the DPoP challenge',
    make: () => presented(ALLOWED, { bound: true, scheme: 'DPoP', proof: true, claims: { iat: nowSeconds() - 600, exp: nowSeconds() - 300 } }),
    realm: ALLOWED,
    status: 401,
    reason: 'expired',
    challenge: bearerThenDpop('invalid_token', 'the token has expired'),
  },
  {
    name: 'mode allowed: Bearer and DPoP credentials together -> token_malformed',
    make: async () => {
      const token = await mintAccessToken(idpKey, { workload: ALLOWED, jkt: pair.jkt });
      return { workload: ALLOWED, ...GET, headers: [bearerAuth(token), dpopAuth(token), dpopHeader(proofFor(pair, { token }))] };
    },
    realm: ALLOWED,
    status: 401,
    reason: 'token_malformed',
  },
  {
    name: 'mode allowed: a DPoP token whose cnf.jkt is not a string -> binding_mismatch',
    make: async () => {
      const token = await mintAccessToken(idpKey, { workload: ALLOWED, claims: { cnf: { jkt: 42 } } });
      return { workload: ALLOWED, ...GET, headers: [dpopAuth(token), dpopHeader(proofFor(pair, { token }))] };
    },
    realm: ALLOWED,
    status: 401,
    reason: 'binding_mismatch',
    challenge: bearerThenDpop('invalid_token', BINDING),
  },
  {
    name: 'mode allowed: a token whose cnf.jkt is not a string, as Bearer -> dpop_required',
    make: async () => ({ workload: ALLOWED, ...GET, headers: [bearerAuth(await mintAccessToken(idpKey, { workload: ALLOWED, claims: { cnf: { jkt: '' } } }))] }),
    realm: ALLOWED,
    status: 401,
    reason: 'dpop_required',
    challenge: bearerThenDpop('invalid_token', DPOP_REQUIRED),
  },
  { name: 'mode allowed: a bound token as DPoP with its proof -> allowed', make: () => presented(ALLOWED, { bound: true, scheme: 'DPoP', proof: true }), realm: ALLOWED, status: 200, reason: '' },
  { name: 'mode required: a bound token as DPoP with its proof -> allowed', make: () => presented(REQUIRED, { bound: true, scheme: 'DPoP', proof: true }), realm: REQUIRED, status: 200, reason: '' },
  {
    name: 'the DPoP scheme name is case-insensitive (dpop <token>)',
    make: async () => {
      const token = await mintAccessToken(idpKey, { workload: ALLOWED, jkt: pair.jkt });
      return { workload: ALLOWED, ...GET, headers: [['authorization', `dpop ${token}`], dpopHeader(proofFor(pair, { token }))] };
    },
    realm: ALLOWED,
    status: 200,
    reason: '',
  },
];

describe('the Bearer downgrade and the DPoP scheme, through gRPC and HTTP', () => {
  it.each(PRESENTATIONS)('$name', async (test) => {
    for (const answer of await both(hg, test.make)) {
      expect(status(answer)).toEqual({ transport: answer.transport, status: test.status, reason: test.reason });
      if (test.challenge !== undefined) expect(answer.headers['www-authenticate']).toBe(test.challenge(test.realm));
      if (test.status !== 200) expect(answer.headers['x-hopguard-dpop-jkt']).toBeUndefined();
    }
  });
});

describe('what an allow tells the upstream', () => {
  it('an allowed DPoP request carries x-hopguard-dpop-jkt (overwriting a smuggled one) and dynamic_metadata.dpop_jkt', async () => {
    const make = async (): Promise<Req> => {
      const request = await presented(ALLOWED, { bound: true, scheme: 'DPoP', proof: true });
      return { ...request, headers: [...request.headers, ['x-hopguard-dpop-jkt', 'smuggled']] };
    };
    const [grpc, http] = await both(hg, make);
    for (const answer of [grpc, http]) {
      expect(answer.status).toBe(200);
      expect(answer.headers['x-hopguard-dpop-jkt']).toBe(pair.jkt);
      expect(answer.headersToRemove).not.toContain('x-hopguard-dpop-jkt');
    }
    expect(grpc.metadata).toMatchObject({ dpop_jkt: pair.jkt, workload: ALLOWED, iss: ISS });
    // gRPC: the header replaces the caller's, never appends to it.
    const raw = readCheckResponse(await hg.client.check(envoyCheckRequest({ workload: ALLOWED, host: 'api.shop.test', scheme: 'https', ...GET, rawHeaders: (await make()).headers })));
    expect(raw.appendActions['x-hopguard-dpop-jkt']).toBe('OVERWRITE_IF_EXISTS_OR_ADD');
  });

  it.each([
    ['mode allowed', ALLOWED],
    ['mode off', OFF],
  ])('%s: a Bearer allow removes x-hopguard-dpop-jkt, so a caller cannot smuggle one', async (_name, workload) => {
    const make = async (): Promise<Req> => {
      const request = await presented(workload, { bound: false, scheme: 'Bearer', proof: false });
      return { ...request, headers: [...request.headers, ['x-hopguard-dpop-jkt', pair.jkt]] };
    };
    const [grpc, http] = await both(hg, make);
    for (const answer of [grpc, http]) {
      expect(answer.status).toBe(200);
      expect(answer.headersToRemove).toContain('x-hopguard-dpop-jkt');
      expect(answer.headers['x-hopguard-dpop-jkt']).toBeUndefined();
    }
    expect(grpc.metadata.dpop_jkt).toBeUndefined();
  });
});

describe('hopguard_dpop_proofs_total{workload, outcome} on the admin port', () => {
  it('counts accepted, invalid, replayed and nonce_required proofs by workload; a Bearer request counts none', async () => {
    const admin = hg.hopguard.adminAddress as string;
    const count = async (workload: string, outcome: string) => (await scrape(admin)).value('hopguard_dpop_proofs_total', { workload, outcome }) ?? 0;
    const before = {
      accepted: await count(COUNTED, 'accepted'),
      invalid: await count(COUNTED, 'invalid'),
      replayed: await count(COUNTED, 'replayed'),
      nonce: await count(NONCE, 'nonce_required'),
      nonceAccepted: await count(NONCE, 'accepted'),
    };

    // COUNTED: 3 accepted (2 via gRPC, 1 via HTTP), 2 invalid, 1 replayed, and a Bearer allow that counts nothing.
    const token = await mintAccessToken(idpKey, { workload: COUNTED, jkt: pair.jkt });
    const request = (proof: string): Req => ({ workload: COUNTED, ...GET, headers: [dpopAuth(token), dpopHeader(proof)] });
    const reused = proofFor(pair, { token });
    expect((await viaGrpc(hg, request(reused))).status).toBe(200);
    expect((await viaHttp(hg, request(reused))).reason).toBe('dpop_proof_replayed');
    expect((await viaGrpc(hg, request(proofFor(pair, { token })))).status).toBe(200);
    expect((await viaHttp(hg, request(proofFor(pair, { token })))).status).toBe(200);
    expect((await viaGrpc(hg, request(proofFor(pair, { token, method: 'POST' })))).reason).toBe('dpop_proof_invalid');
    expect((await viaHttp(hg, { workload: COUNTED, ...GET, headers: [dpopAuth(token)] })).reason).toBe('dpop_proof_invalid');
    expect((await viaGrpc(hg, await presented(COUNTED, { bound: false, scheme: 'Bearer', proof: false }))).status).toBe(200);
    // NONCE: 2 nonce_required, then 1 accepted with the nonce handed out.
    const nonceToken = await mintAccessToken(idpKey, { workload: NONCE, jkt: pair.jkt });
    const first = await viaGrpc(hg, { workload: NONCE, ...GET, headers: [dpopAuth(nonceToken), dpopHeader(proofFor(pair, { token: nonceToken }))] });
    const second = await viaHttp(hg, { workload: NONCE, ...GET, headers: [dpopAuth(nonceToken), dpopHeader(proofFor(pair, { token: nonceToken, claims: { nonce: 'stale' } }))] });
    expect([first.reason, second.reason]).toEqual(['dpop_nonce_required', 'dpop_nonce_required']);
    const nonce = second.headers['dpop-nonce'] as string;
    expect((await viaGrpc(hg, { workload: NONCE, ...GET, headers: [dpopAuth(nonceToken), dpopHeader(proofFor(pair, { token: nonceToken, claims: { nonce } }))] })).status).toBe(200);

    expect({
      accepted: (await count(COUNTED, 'accepted')) - before.accepted,
      invalid: (await count(COUNTED, 'invalid')) - before.invalid,
      replayed: (await count(COUNTED, 'replayed')) - before.replayed,
      nonce: (await count(NONCE, 'nonce_required')) - before.nonce,
      nonceAccepted: (await count(NONCE, 'accepted')) - before.nonceAccepted,
    }).toEqual({ accepted: 3, invalid: 2, replayed: 1, nonce: 2, nonceAccepted: 1 });
    const metrics = await scrape(admin);
    expect(metrics.value('hopguard_dpop_proofs_total', { workload: COUNTED, outcome: 'nonce_required' })).toBeUndefined();
    // The reasons are in hopguard_checks_total too.
    for (const reason of ['dpop_proof_invalid', 'dpop_proof_replayed', 'dpop_nonce_required']) {
      expect(metrics.text).toMatch(new RegExp(`hopguard_checks_total\\{[^}]*reason="${reason}"[^}]*\\} [1-9]`));
    }
  });
});

describe('a client reuses its DPoP access token with a fresh proof per request (replay source-bound, the default)', () => {
  it('without an mTLS caller: allowed every time, on both transports', async () => {
    const token = await mintAccessToken(idpKey, { workload: ALLOWED, jkt: pair.jkt });
    for (let i = 0; i < 6; i += 1) {
      const send = i % 2 === 0 ? viaGrpc : viaHttp;
      const answer = await send(hg, { workload: ALLOWED, ...GET, headers: [dpopAuth(token), dpopHeader(proofFor(pair, { token }))] });
      expect(status(answer)).toEqual({ transport: answer.transport, status: 200, reason: '' });
      expect(answer.headers['x-hopguard-dpop-jkt']).toBe(pair.jkt);
    }
  });

  it('with an mTLS caller principal: allowed every time; another caller presenting the same token is replayed', async () => {
    const token = await mintAccessToken(idpKey, { workload: ALLOWED, jkt: pair.jkt });
    for (let i = 0; i < 6; i += 1) {
      const send = i % 2 === 0 ? viaGrpc : viaHttp;
      const answer = await send(hg, { workload: ALLOWED, ...GET, source: FRONTEND, headers: [dpopAuth(token), dpopHeader(proofFor(pair, { token }))] });
      expect(status(answer)).toEqual({ transport: answer.transport, status: 200, reason: '' });
    }
    const stolen = await viaGrpc(hg, { workload: ALLOWED, ...GET, source: INTRUDER, headers: [dpopAuth(token), dpopHeader(proofFor(pair, { token }))] });
    expect(status(stolen)).toEqual({ transport: 'grpc', status: 401, reason: 'replayed' });
  });

  it('a Bearer token (no cnf) presented twice without an mTLS caller is still replayed: only a proven key binds', async () => {
    const token = await mintAccessToken(idpKey, { workload: ALLOWED, jkt: null });
    const request: Req = { workload: ALLOWED, ...GET, headers: [bearerAuth(token)] };
    expect((await viaGrpc(hg, request)).status).toBe(200);
    expect(status(await viaHttp(hg, request))).toEqual({ transport: 'http', status: 401, reason: 'replayed' });
  });
});

describe.skipIf(!opensslAvailable())('a token bound to a key (cnf.jkt) and to a certificate (cnf x5t#S256)', () => {
  it('needs both: the proof for jkt (dpop step) and the caller certificate for x5t#S256 (caller step)', async () => {
    const frontend = createWorkloadCertificate(FRONTEND);
    const other = createWorkloadCertificate(FRONTEND);
    const token = await mintAccessToken(idpKey, { workload: ALLOWED, claims: { cnf: { jkt: pair.jkt, 'x5t#S256': frontend.thumbprint } } });
    const withCert = (certificate: string | undefined, proof: boolean): Req => ({
      workload: ALLOWED,
      ...GET,
      source: FRONTEND,
      ...(certificate === undefined ? {} : { certificate }),
      headers: proof ? [dpopAuth(token), dpopHeader(proofFor(pair, { token }))] : [dpopAuth(token)],
    });
    for (const send of [viaGrpc, viaHttp]) {
      expect(status(await send(hg, withCert(frontend.urlEncodedPem, true)))).toMatchObject({ status: 200, reason: '' });
      expect(status(await send(hg, withCert(other.urlEncodedPem, true)))).toMatchObject({ status: 401, reason: 'binding_mismatch' });
      expect(status(await send(hg, withCert(undefined, true)))).toMatchObject({ status: 401, reason: 'binding_mismatch' });
      expect(status(await send(hg, withCert(frontend.urlEncodedPem, false)))).toMatchObject({ status: 401, reason: 'dpop_proof_invalid' });
    }
  });
});

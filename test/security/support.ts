/**
 * Shared setup for the security suites: a real hopguard (startHopguard) on an ephemeral loopback
 * port with a manual clock, a real JWKS server for the issuer, a decoy JWKS server that nothing
 * may ever contact, and raw token assembly so a test can write any header bytes it likes.
 */
import { Buffer } from 'node:buffer';
import { randomUUID, sign as cryptoSign, constants, KeyObject } from 'node:crypto';
import { expect } from 'vitest';
import { loadConfigObject } from '../../src/config/load.js';
import type { HopguardConfig } from '../../src/config/types.js';
import { startHopguard, type RunningHopguard } from '../../src/server.js';
import { createEnvoyClient, envoyCheckRequest, readCheckResponse, type CheckResponseView, type EnvoyClient, type EnvoyRequestOptions } from '../helpers/envoy-client.js';
import { startJwksServer, type JwksServer } from '../helpers/jwks-server.js';
import { generateTestKey, jwksOf, type TestKey } from '../helpers/keys.js';
import { testLogger } from '../helpers/test-logs.js';

export const ISSUER = 'https://idp.security.test';
export const ORDERS = 'spiffe://cluster.local/ns/shop/sa/orders';
export const ONCE = 'spiffe://cluster.local/ns/shop/sa/payments';
export const AGED = 'spiffe://cluster.local/ns/shop/sa/ledger';
export const ADMIN_ONLY = 'spiffe://cluster.local/ns/shop/sa/admin';
export const FRONTEND = 'spiffe://cluster.local/ns/shop/sa/frontend';
export const OTHER_CALLER = 'spiffe://cluster.local/ns/shop/sa/intruder';

export const b64url = (value: string | Uint8Array): string => Buffer.from(value).toString('base64url');

/** A manual clock: the JWKS cooldown and token lifetimes move only when a test says so. */
export class ManualClock {
  constructor(private now: number) {}
  nowMs(): number {
    return this.now;
  }
  advance(ms: number): void {
    this.now += ms;
  }
  seconds(): number {
    return Math.floor(this.now / 1000);
  }
}

/** Signs `input` the way JWS `alg` demands, with node:crypto (so no library check stands in the way). */
export function rawSign(key: TestKey, input: string): Buffer {
  const privateKey = KeyObject.from(key.privateKey);
  const data = Buffer.from(input);
  if (key.alg.startsWith('ES')) {
    const hash = { ES256: 'sha256', ES384: 'sha384', ES512: 'sha512' }[key.alg as 'ES256'];
    return cryptoSign(hash, data, { key: privateKey, dsaEncoding: 'ieee-p1363' });
  }
  const hash = `sha${key.alg.slice(2)}`;
  if (key.alg.startsWith('PS')) {
    return cryptoSign(hash, data, { key: privateKey, padding: constants.RSA_PKCS1_PSS_PADDING, saltLength: Number(key.alg.slice(2)) / 8 });
  }
  return cryptoSign(hash, data, privateKey);
}

/**
 * A compact token from a header and payload given as objects or as raw JSON text (for duplicate
 * members), signed by `signer` over the signing input.
 */
export function assemble(header: object | string, payload: object | string, signer: (input: string) => Uint8Array | string): string {
  const encode = (part: object | string) => b64url(typeof part === 'string' ? part : JSON.stringify(part));
  const input = `${encode(header)}.${encode(payload)}`;
  const signature = signer(input);
  return `${input}.${typeof signature === 'string' ? signature : b64url(signature)}`;
}

export interface SecurityRig {
  readonly hopguard: RunningHopguard;
  readonly client: EnvoyClient;
  readonly jwks: JwksServer;
  /** Serves the attacker's keys; any request it receives is a failure. */
  readonly decoy: JwksServer;
  readonly clock: ManualClock;
  readonly es256: TestKey;
  readonly rs256: TestKey;
  readonly attacker: TestKey;
  readonly config: HopguardConfig;
  /** Claims a good token for `audience` carries: iss, aud, sub, a fresh jti, iat and exp from the clock. */
  claims(audience?: string, extra?: Record<string, unknown>): Record<string, unknown>;
  /** A token the server accepts, signed by the issuer's ES256 key (or `key`). */
  goodToken(audience?: string, extra?: Record<string, unknown>, key?: TestKey): string;
  check(options: EnvoyRequestOptions): Promise<CheckResponseView>;
  /** Sends the request, expects the denial with exactly `reason` and `httpStatus`, then proves the server still serves. */
  expectDenied(options: EnvoyRequestOptions, reason: string, httpStatus?: number): Promise<CheckResponseView>;
  expectAllowed(options: EnvoyRequestOptions): Promise<CheckResponseView>;
  close(): Promise<void>;
}

const STATUS_BY_REASON: Readonly<Record<string, number>> = {
  source_not_allowed: 403,
  claims_not_satisfied: 403,
  workload_unknown: 403,
  jwks_unavailable: 503,
  replay_store_unavailable: 503,
  overloaded: 503,
};

export function configFor(jwksUrl: string, extra: Record<string, unknown> = {}): HopguardConfig {
  const loaded = loadConfigObject({
    listen: { grpc: '127.0.0.1:0' },
    issuers: [{ issuer: ISSUER, jwksUri: jwksUrl, algorithms: ['ES256', 'RS256', 'PS256'] }],
    workloads: [
      { id: ORDERS, sources: [FRONTEND] },
      { id: ONCE, replay: 'once' },
      { id: AGED, maxTokenAge: '1h' },
      { id: ADMIN_ONLY, claims: { admin: { equals: true } } },
    ],
    ...extra,
  });
  if (!loaded.ok) throw new Error(`config refused: ${loaded.errors.join('; ')}`);
  return loaded.config;
}

export async function startRig(): Promise<SecurityRig> {
  const clock = new ManualClock(Math.floor(Date.now() / 1000) * 1000);
  const [es256, rs256, attacker] = await Promise.all([
    generateTestKey('ES256', { kid: 'issuer-es256' }),
    generateTestKey('RS256', { kid: 'issuer-rs256' }),
    generateTestKey('ES256', { kid: 'attacker-es256' }),
  ]);
  const jwks = await startJwksServer();
  jwks.setKeys(jwksOf(es256, rs256));
  const decoy = await startJwksServer();
  decoy.setKeys(jwksOf(attacker));
  const config = configFor(jwks.jwksUrl);
  const hopguard = await startHopguard(config, { clock, logger: testLogger(config.logging.level) });
  const client = createEnvoyClient(hopguard.grpcAddress);

  const rig: SecurityRig = {
    hopguard,
    client,
    jwks,
    decoy,
    clock,
    es256,
    rs256,
    attacker,
    config,
    claims(audience = ORDERS, extra = {}) {
      const now = clock.seconds();
      return { iss: ISSUER, aud: audience, sub: FRONTEND, jti: randomUUID(), iat: now, exp: now + 300, ...extra };
    },
    goodToken(audience = ORDERS, extra = {}, key = es256) {
      return assemble({ alg: key.alg, kid: key.kid, typ: 'JWT' }, rig.claims(audience, extra), (input) => rawSign(key, input));
    },
    async check(options) {
      return readCheckResponse(await client.check(envoyCheckRequest({ workload: ORDERS, sourcePrincipal: FRONTEND, ...options })));
    },
    async expectDenied(options, reason, httpStatus = STATUS_BY_REASON[reason] ?? 401) {
      const view = await rig.check(options);
      expect({ allowed: view.allowed, reason: view.reason, httpStatus: view.httpStatus }).toEqual({ allowed: false, reason, httpStatus });
      expect(view.body).toMatchObject({ reason });
      await rig.expectAllowed({ token: rig.goodToken() });
      return view;
    },
    async expectAllowed(options) {
      const view = await rig.check(options);
      expect({ allowed: view.allowed, reason: view.reason }).toEqual({ allowed: true, reason: '' });
      return view;
    },
    async close() {
      client.close();
      await hopguard.close();
      await Promise.all([jwks.close(), decoy.close()]);
    },
  };
  return rig;
}

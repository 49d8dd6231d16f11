/**
 * End-to-end DPoP and Transaction Token tests: a real hopguard (gRPC with Envoy's official protos,
 * and listen.http as Envoy's HTTP ext_authz mode), tokens from a test issuer, proofs built by hand
 * (node:crypto) or with jose (test/unit/dpop/proofs.ts), and one view of both transports' answers.
 *
 *   const hg = await startDpopHopguard(document);
 *   const answers = await both(hg, async () => ({ workload, method: 'GET', path: '/orders/7', headers: [...] }));
 */
import { Buffer } from 'node:buffer';
import { createPrivateKey, randomUUID, sign } from 'node:crypto';
import { request as httpRequest } from 'node:http';
import type { JWK } from 'jose';
import { startHopguard, type RunningHopguard } from '../../src/server.js';
import { createLogger } from '../../src/telemetry/index.js';
import { configOf, eventually, LogSink } from '../integration/ops/fixture.js';
import { ath, handProof, type HandProofOptions, type ProofKeyPair } from '../unit/dpop/proofs.js';
import { createEnvoyClient, envoyCheckRequest, readCheckResponse, type EnvoyClient } from './envoy-client.js';
import { signToken, type TestKey } from './keys.js';

export const ISS = 'https://idp.dpop.test';
export const HOST = 'api.shop.test';
export const ORIGIN = `https://${HOST}`;
export const FRONTEND = 'spiffe://cluster.local/ns/shop/sa/frontend';
export const INTRUDER = 'spiffe://cluster.local/ns/shop/sa/intruder';

export const nowSeconds = (): number => Math.floor(Date.now() / 1000);

/** A request as the client sent it; each transport turns it into what Envoy would send. */
export interface Req {
  readonly workload: string;
  readonly method: string;
  /** The request path as sent (query included). */
  readonly path: string;
  readonly host?: string;
  readonly scheme?: string;
  /** Header lines, duplicates kept apart. */
  readonly headers: readonly (readonly [string, string])[];
  /** The mTLS caller (gRPC source.principal; x-forwarded-client-cert in HTTP mode). */
  readonly source?: string;
  /** The caller's certificate, URL-encoded PEM (gRPC source.certificate; XFCC Cert in HTTP mode). */
  readonly certificate?: string;
  /** HTTP mode only: leave out x-forwarded-proto (Envoy forwards it only when allowed_headers lists it). */
  readonly noForwardedProto?: boolean;
}

/** One transport's answer, in the same shape for both. */
export interface Answer {
  readonly transport: 'grpc' | 'http';
  readonly allowed: boolean;
  readonly status: number;
  /** The reason code ('' on an allow): status.message for gRPC, the body's reason for HTTP. */
  readonly reason: string;
  /** Denial headers, or the headers an allow sets upstream (names lower-case). */
  readonly headers: Readonly<Record<string, string>>;
  readonly headersToRemove: readonly string[];
  /** The denial body (JSON), null on an allow. */
  readonly body: unknown;
  /** dynamic_metadata (gRPC only; {} for HTTP, which has none). */
  readonly metadata: Readonly<Record<string, unknown>>;
}

export interface DpopHopguard {
  readonly hopguard: RunningHopguard;
  readonly client: EnvoyClient;
  readonly logs: LogSink;
  close(): Promise<void>;
}

export async function startDpopHopguard(document: Record<string, unknown>): Promise<DpopHopguard> {
  const logs = new LogSink();
  const hopguard = await startHopguard(configOf(document), { logger: createLogger('info', logs), random: () => 0 });
  const client = createEnvoyClient(hopguard.grpcAddress);
  return {
    hopguard,
    client,
    logs,
    async close() {
      client.close();
      await hopguard.close();
    },
  };
}

export async function viaGrpc(hg: DpopHopguard, req: Req): Promise<Answer> {
  const raw = await hg.client.check(
    envoyCheckRequest({
      workload: req.workload,
      method: req.method,
      path: req.path,
      host: req.host ?? HOST,
      scheme: req.scheme ?? 'https',
      rawHeaders: req.headers,
      ...(req.source === undefined ? {} : { sourcePrincipal: req.source }),
      ...(req.certificate === undefined ? {} : { sourceCertificate: req.certificate }),
    }),
  );
  const view = readCheckResponse(raw);
  return {
    transport: 'grpc',
    allowed: view.allowed,
    status: view.httpStatus,
    reason: view.reason,
    headers: view.headers,
    headersToRemove: view.headersToRemove,
    body: view.allowed ? null : view.body,
    metadata: view.metadata,
  };
}

export function viaHttp(hg: DpopHopguard, req: Req): Promise<Answer> {
  const [host, port] = (hg.hopguard.httpAddress as string).split(':') as [string, string];
  const lines: [string, string][] = [['host', req.host ?? HOST], ['x-hopguard-workload', req.workload]];
  if (req.noForwardedProto !== true) lines.push(['x-forwarded-proto', req.scheme ?? 'https']);
  // HTTP mode has no mTLS peer: Envoy's x-forwarded-client-cert names the caller (the workload must trust it).
  if (req.source !== undefined) {
    const cert = req.certificate === undefined ? '' : `;Cert="${req.certificate}"`;
    lines.push(['x-forwarded-client-cert', `By=${req.workload}${cert};URI=${req.source}`]);
  }
  lines.push(...req.headers.map(([name, value]) => [name, value] as [string, string]));
  return new Promise((resolve, reject) => {
    const outgoing = httpRequest({ host, port: Number(port), method: req.method, path: req.path, headers: lines.flat() }, (response) => {
      const chunks: Buffer[] = [];
      response.on('data', (chunk: Buffer) => chunks.push(chunk));
      response.on('end', () => {
        const text = Buffer.concat(chunks).toString('utf8');
        const allowed = response.statusCode === 200;
        const headers: Record<string, string> = {};
        for (const [name, value] of Object.entries(response.headers)) {
          if (['date', 'connection', 'keep-alive', 'transfer-encoding', 'content-length', 'x-envoy-auth-headers-to-remove'].includes(name)) continue;
          headers[name] = Array.isArray(value) ? value.join(', ') : String(value);
        }
        const removal = response.headers['x-envoy-auth-headers-to-remove'];
        const body = allowed ? null : (JSON.parse(text) as { reason: string });
        resolve({
          transport: 'http',
          allowed,
          status: response.statusCode ?? 0,
          reason: body === null ? '' : String(body.reason),
          headers,
          headersToRemove: typeof removal === 'string' ? removal.split(',') : [],
          body,
          metadata: {},
        });
      });
    });
    outgoing.on('error', reject);
    outgoing.end();
  });
}

/**
 * The same request through gRPC and then HTTP; `make` is called once per transport so that each
 * gets its own proof (a proof is single-use) and token.
 */
export async function both(hg: DpopHopguard, make: () => Req | Promise<Req>): Promise<[Answer, Answer]> {
  const grpc = await viaGrpc(hg, await make());
  const http = await viaHttp(hg, await make());
  return [grpc, http];
}

/**
 * The decision log line of the next check that `act` causes (checks must not overlap). `first`
 * asserts on the answer before waiting for the line (an unlogged allow would otherwise only time out).
 */
export async function decisionLineOf<T>(hg: DpopHopguard, act: () => Promise<T>, first?: (result: T) => void): Promise<{ result: T; line: Record<string, unknown> }> {
  const before = hg.logs.decisions().length;
  const result = await act();
  first?.(result);
  const line = await eventually(() => hg.logs.decisions()[before], 'the decision log line');
  return { result, line };
}

export interface TokenOptions {
  readonly workload: string;
  /** The key whose thumbprint goes in cnf.jkt; null: no cnf. */
  readonly jkt?: string | null;
  readonly claims?: Record<string, unknown>;
}

let tokenCounter = 0;

/** An access token of ISS for `workload`, bound to `jkt` when given. */
export function mintAccessToken(key: TestKey, options: TokenOptions): Promise<string> {
  const jkt = options.jkt ?? null;
  return signToken(key, {
    iss: ISS,
    sub: FRONTEND,
    aud: options.workload,
    jti: `dpop-e2e-${process.pid}-${++tokenCounter}`,
    ...(jkt === null ? {} : { cnf: { jkt } }),
    ...options.claims,
  });
}

export interface ProofFor {
  readonly token: string;
  readonly method?: string;
  /** htu path, default /orders/7. */
  readonly path?: string;
  readonly origin?: string;
  /** Claims replaced (undefined removes one). */
  readonly claims?: Record<string, unknown>;
  readonly header?: Record<string, unknown>;
  readonly signWith?: HandProofOptions['signWith'];
  readonly signAlg?: string;
}

/** A proof built by hand (JSON, base64url, node:crypto) for a request now. */
export function proofFor(pair: ProofKeyPair, options: ProofFor): string {
  return handProof(pair, {
    claims: {
      jti: randomUUID(),
      htm: options.method ?? 'GET',
      htu: `${options.origin ?? ORIGIN}${options.path ?? '/orders/7'}`,
      iat: nowSeconds(),
      ath: ath(options.token),
      ...options.claims,
    },
    ...(options.header === undefined ? {} : { header: options.header }),
    ...(options.signWith === undefined ? {} : { signWith: options.signWith }),
    ...(options.signAlg === undefined ? {} : { signAlg: options.signAlg }),
  });
}

const b64 = (value: unknown): string => Buffer.from(JSON.stringify(value)).toString('base64url');

/** A JWT signed by hand with node:crypto (ES256 or EdDSA private JWK), for claims jose would fill in. */
export function signJwtByHand(privateJwk: JWK, header: Record<string, unknown>, payload: Record<string, unknown>): string {
  const key = createPrivateKey({ key: privateJwk as unknown as import('node:crypto').JsonWebKey, format: 'jwk' });
  const input = `${b64(header)}.${b64(payload)}`;
  const signature = header.alg === 'EdDSA' ? sign(null, Buffer.from(input, 'ascii'), key) : sign('sha256', Buffer.from(input, 'ascii'), { key, dsaEncoding: 'ieee-p1363' });
  return `${input}.${signature.toString('base64url')}`;
}

export const dpopAuth = (token: string): [string, string] => ['authorization', `DPoP ${token}`];
export const bearerAuth = (token: string): [string, string] => ['authorization', `Bearer ${token}`];
export const dpopHeader = (proof: string): [string, string] => ['dpop', proof];

/**
 * Shared pieces of the operations tests: an IdP whose JWKS endpoint can be held (so checks stay
 * in flight for as long as a test wants, with no timing involved), config builders, a gRPC health
 * client, a metrics scraper, and a log sink.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Writable } from 'node:stream';
import * as grpc from '@grpc/grpc-js';
import { loadConfigObject } from '../../../src/config/load.js';
import type { HopguardConfig } from '../../../src/config/types.js';
import { hopguardProtos } from '../../../src/transport/proto.js';
import { generateTestKey, jwksOf, signToken, type TestKey } from '../../helpers/keys.js';

export const ORDERS = 'spiffe://cluster.local/ns/shop/sa/orders';
export const BILLING = 'spiffe://cluster.local/ns/shop/sa/billing';
export const SHADOW = 'spiffe://cluster.local/ns/shop/sa/shadow';
export const FRONTEND = 'spiffe://cluster.local/ns/shop/sa/frontend';

/**
 * A JWKS server that serves `key` at once, and `key` plus `lateKey` to any later request, which
 * it holds until `release()`: a token signed by `lateKey` waits on that refetch.
 */
export interface HeldIdp {
  readonly issuer: string;
  readonly jwksUrl: string;
  readonly key: TestKey;
  readonly lateKey: TestKey;
  /** Requests to /jwks so far. */
  fetches(): number;
  /** Resolves once `n` requests have arrived. */
  waitForFetches(n: number): Promise<void>;
  /** Lets held (and future) requests through. */
  release(): void;
  mint(claims?: Record<string, unknown>, signer?: TestKey): Promise<string>;
  close(): Promise<void>;
}

let jtiCounter = 0;

export async function startHeldIdp(): Promise<HeldIdp> {
  const key = await generateTestKey('ES256');
  const lateKey = await generateTestKey('ES256');
  let count = 0;
  let released = false;
  const held: (() => void)[] = [];
  const arrivals: { n: number; resolve: () => void }[] = [];
  const server: Server = createServer((request, response) => {
    if (request.url !== '/jwks') {
      response.writeHead(404).end();
      return;
    }
    count += 1;
    for (const waiter of arrivals.filter((w) => count >= w.n)) waiter.resolve();
    const serve = (jwks: unknown) => response.writeHead(200, { 'content-type': 'application/json', 'cache-control': 'max-age=300' }).end(JSON.stringify(jwks));
    if (count === 1) serve(jwksOf(key));
    else if (released) serve(jwksOf(key, lateKey));
    else held.push(() => serve(jwksOf(key, lateKey)));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const issuer = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return {
    issuer,
    jwksUrl: `${issuer}/jwks`,
    key,
    lateKey,
    fetches: () => count,
    waitForFetches: (n) => (count >= n ? Promise.resolve() : new Promise((resolve) => arrivals.push({ n, resolve }))),
    release() {
      released = true;
      for (const go of held.splice(0)) go();
    },
    mint: (claims = {}, signer = key) => signToken(signer, { iss: issuer, sub: FRONTEND, aud: ORDERS, jti: `ops-${process.pid}-${++jtiCounter}`, ...claims }),
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

/** A config document (as a user writes it) around one issuer. */
export function configDocument(idp: { issuer: string; jwksUrl: string }, overrides: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    listen: { grpc: '127.0.0.1:0', http: '127.0.0.1:0', admin: '127.0.0.1:0' },
    issuers: [{ issuer: idp.issuer, jwksUri: idp.jwksUrl, algorithms: ['ES256'], jwksCache: { unknownKidCooldown: '0s', timeout: '20s' } }],
    workloads: [
      { id: ORDERS, replay: 'off', forward: { claimsToHeaders: { tenant: 'x-tenant' } } },
      { id: BILLING, replay: 'once' },
      { id: SHADOW, replay: 'off', mode: 'shadow' },
    ],
    logging: { level: 'info', allowSampleRate: 0 },
    ...overrides,
  };
}

export function configOf(document: unknown): HopguardConfig {
  const loaded = loadConfigObject(document);
  if (!loaded.ok) throw new Error(`test config invalid: ${loaded.errors.join('; ')}`);
  return loaded.config;
}

/** Collects pino's JSON lines. */
export class LogSink extends Writable {
  readonly lines: Record<string, unknown>[] = [];
  readonly raw: string[] = [];
  override _write(chunk: Buffer, _encoding: string, done: () => void): void {
    for (const line of chunk.toString('utf8').split('\n')) {
      if (line.trim() === '') continue;
      this.raw.push(line);
      this.lines.push(JSON.parse(line) as Record<string, unknown>);
    }
    done();
  }
  decisions(): Record<string, unknown>[] {
    return this.lines.filter((line) => line.msg === 'decision');
  }
}

export interface Scrape {
  readonly text: string;
  /** The sample value of `name{labels}` (labels matched exactly as a set), or undefined. */
  value(name: string, labels?: Record<string, string>): number | undefined;
}

export async function scrape(adminAddress: string): Promise<Scrape> {
  const response = await fetch(`http://${adminAddress}/metrics`);
  if (response.status !== 200) throw new Error(`/metrics answered ${response.status}`);
  const text = await response.text();
  const samples = text
    .split('\n')
    .filter((line) => line !== '' && !line.startsWith('#'))
    .map((line) => {
      const match = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$/.exec(line);
      if (!match) throw new Error(`unparsable sample: ${line}`);
      const labels: Record<string, string> = {};
      for (const pair of (match[2] ?? '').matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g)) labels[pair[1] as string] = pair[2] as string;
      delete labels.otel_scope_name;
      delete labels.otel_scope_version;
      delete labels.otel_scope_schema_url;
      return { name: match[1] as string, labels, value: Number(match[3]) };
    });
  return {
    text,
    value(name, labels = {}) {
      const wanted = JSON.stringify(Object.entries(labels).sort());
      return samples.find((sample) => sample.name === name && JSON.stringify(Object.entries(sample.labels).sort()) === wanted)?.value;
    },
  };
}

export async function getJson(url: string): Promise<{ status: number; body: Record<string, unknown> }> {
  const response = await fetch(url);
  return { status: response.status, body: (await response.json()) as Record<string, unknown> };
}

export interface HealthClient {
  check(service?: string): Promise<string>;
  /** Opens a Watch stream; `statuses` fills as updates arrive. */
  watch(service?: string): { statuses: string[]; next(count: number): Promise<void>; ended: Promise<void>; cancel(): void };
  close(): void;
}

export function createHealthClient(address: string): HealthClient {
  const Client = grpc.makeGenericClientConstructor(hopguardProtos().healthService, 'Health');
  const client = new Client(address, grpc.credentials.createInsecure()) as unknown as Record<string, (...args: unknown[]) => unknown> & grpc.Client;
  return {
    check: (service = '') =>
      new Promise((resolve, reject) => {
        (client.Check as (request: object, callback: (error: grpc.ServiceError | null, response?: { status: string }) => void) => void).call(client, { service }, (error, response) =>
          error ? reject(error) : resolve(response?.status ?? ''),
        );
      }),
    watch(service = '') {
      const call = (client.Watch as (request: object) => grpc.ClientReadableStream<{ status: string }>).call(client, { service });
      const statuses: string[] = [];
      const waiters: { count: number; resolve: () => void }[] = [];
      call.on('data', (message: { status: string }) => {
        statuses.push(message.status);
        for (const waiter of waiters.filter((w) => statuses.length >= w.count)) waiter.resolve();
      });
      call.on('error', () => undefined);
      const ended = new Promise<void>((resolve) => call.on('end', () => resolve()));
      return {
        statuses,
        ended,
        next: (count) => (statuses.length >= count ? Promise.resolve() : new Promise<void>((resolve) => waiters.push({ count, resolve }))),
        cancel: () => call.cancel(),
      };
    },
    close: () => client.close(),
  };
}

/** Waits (without asserting any duration) until `condition` holds; fails after `limitMs`. */
export async function eventually<T>(condition: () => Promise<T | undefined | false> | T | undefined | false, what: string, limitMs = 15_000): Promise<T> {
  const deadline = Date.now() + limitMs;
  for (;;) {
    const value = await condition();
    if (value !== undefined && value !== false) return value;
    if (Date.now() > deadline) throw new Error(`gave up waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
}

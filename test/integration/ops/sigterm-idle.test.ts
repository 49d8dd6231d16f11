/**
 * SIGTERM while clients keep their connections open, as Envoy does: gRPC channels that stay
 * connected after their checks, HTTP and admin keep-alive sockets. hopguard answers the check in
 * flight, closes the idle connections at once (GOAWAY) and exits 0 within drainTimeout, in one
 * process and with `workers: 2` (the primary after every worker).
 */
import { Agent, createServer, request as httpRequest, type ServerResponse } from 'node:http';
import { connect, type AddressInfo, type Socket } from 'node:net';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import * as grpc from '@grpc/grpc-js';
import { envoyCheckRequest, envoyProtos, readCheckResponse, type EnvoyCheckResponse } from '../../helpers/envoy-client.js';
import { startRedisServer, type RedisServer } from '../../helpers/redis-server.js';
import { BUILD_TIMEOUT_MS, ensureBuilt, startServe, type ServeProcess } from './cli-process.js';
import { generateTestKey, jwksOf, signToken, type TestKey } from '../../helpers/keys.js';
import { configDocument, eventually, FRONTEND, ORDERS } from './fixture.js';

const DRAIN_TIMEOUT_MS = 6_000;
/**
 * Waiting for idle peers would take the whole drainTimeout; a prompt drain is done long before.
 * The bound is generous (the machine is shared) and still below what any wait for peers costs.
 */
const PROMPT_EXIT_MS = DRAIN_TIMEOUT_MS - 2_000;

let dir: string;
let redis: RedisServer;
let idp: ArmedIdp | undefined;
let hopguard: ServeProcess | undefined;
const channels: grpc.Client[] = [];
const sockets: Socket[] = [];

const HTTP2_PREFACE = Buffer.concat([Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n'), Buffer.from([0, 0, 0, 4, 0, 0, 0, 0, 0])]);

/**
 * A peer that never closes its side: it connects, optionally writes `hello`, reads whatever comes
 * (a GOAWAY, a FIN) and keeps its half of the connection open.
 */
function stubbornPeer(address: string, hello?: Buffer): { socket: Socket; closedByServer: Promise<void> } {
  const colon = address.lastIndexOf(':');
  const socket = connect({ host: address.slice(0, colon), port: Number(address.slice(colon + 1)), allowHalfOpen: true });
  const closedByServer = new Promise<void>((resolve) => {
    socket.on('end', () => resolve());
    socket.on('error', () => resolve()); // a reset is a close too
  });
  socket.on('data', () => undefined);
  if (hello) socket.write(hello);
  sockets.push(socket);
  return { socket, closedByServer };
}

/**
 * An IdP that serves its first key to every fetch until `hold()`; then the next fetch (the refetch
 * a token signed by `lateKey` causes) waits for `release()`. With two workers each loads the keys
 * at start, so the hold cannot be armed from the first request on.
 */
interface ArmedIdp {
  readonly issuer: string;
  readonly jwksUrl: string;
  readonly lateKey: TestKey;
  hold(): void;
  /** Resolves once a fetch is being held. */
  held(): Promise<void>;
  release(): void;
  mint(signer?: TestKey): Promise<string>;
  close(): Promise<void>;
}

let jti = 0;

async function startArmedIdp(): Promise<ArmedIdp> {
  const key = await generateTestKey('ES256');
  const lateKey = await generateTestKey('ES256');
  let holding = false;
  const waiting: ServerResponse[] = [];
  const onHeld: (() => void)[] = [];
  const serve = (response: ServerResponse) =>
    response.writeHead(200, { 'content-type': 'application/json', 'cache-control': 'max-age=300' }).end(JSON.stringify(jwksOf(key, lateKey)));
  const server = createServer((request, response) => {
    if (request.url !== '/jwks') return void response.writeHead(404).end();
    if (!holding) return void response.writeHead(200, { 'content-type': 'application/json', 'cache-control': 'max-age=300' }).end(JSON.stringify(jwksOf(key)));
    waiting.push(response);
    for (const resolve of onHeld.splice(0)) resolve();
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const issuer = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return {
    issuer,
    jwksUrl: `${issuer}/jwks`,
    lateKey,
    hold: () => void (holding = true),
    held: () => (waiting.length > 0 ? Promise.resolve() : new Promise<void>((resolve) => onHeld.push(resolve))),
    release() {
      holding = false;
      for (const response of waiting.splice(0)) serve(response);
    },
    mint: (signer = key) => signToken(signer, { iss: issuer, sub: FRONTEND, aud: ORDERS, jti: `idle-${process.pid}-${++jti}` }),
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

/** A channel with its own connection (grpc-js shares one per address unless told not to). */
function openChannel(address: string) {
  const Client = grpc.makeGenericClientConstructor(envoyProtos().authorizationService, 'Authorization');
  const client = new Client(address, grpc.credentials.createInsecure(), { 'grpc.use_local_subchannel_pool': 1 });
  channels.push(client);
  const check = (token: string) =>
    new Promise<EnvoyCheckResponse>((resolve, reject) =>
      (client.Check as unknown as (request: object, options: grpc.CallOptions, callback: (error: grpc.ServiceError | null, response?: EnvoyCheckResponse) => void) => void).call(
        client,
        envoyCheckRequest({ token, workload: ORDERS }),
        { deadline: Date.now() + 20_000 },
        (error, reply) => (error ? reject(error) : resolve(reply ?? {})),
      ),
    );
  return { client, check };
}

/** One GET over a keep-alive agent: the socket stays open, idle, afterwards. */
function keepAliveGet(agent: Agent, url: string, headers: Record<string, string> = {}): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = httpRequest(url, { agent, headers }, (response) => {
      response.resume();
      response.on('end', () => resolve(response.statusCode ?? 0));
    });
    req.on('error', reject);
    req.end();
  });
}

beforeAll(async () => {
  ensureBuilt();
  dir = mkdtempSync(join(tmpdir(), 'hopguard-sigterm-idle-'));
  redis = await startRedisServer();
}, BUILD_TIMEOUT_MS);

afterEach(async () => {
  for (const channel of channels.splice(0)) channel.close();
  for (const socket of sockets.splice(0)) socket.destroy();
  if (hopguard && hopguard.child.exitCode === null) hopguard.kill('SIGKILL');
  hopguard = undefined;
  idp?.release();
  await idp?.close();
  idp = undefined;
});

afterAll(async () => {
  await redis?.close();
  rmSync(dir, { recursive: true, force: true });
});

describe.each([
  { workers: 1, name: 'one process' },
  { workers: 2, name: 'workers: 2' },
])('SIGTERM with idle connections held open ($name)', ({ workers }) => {
  it('answers the check in flight, closes idle connections and exits 0 within drainTimeout', async () => {
    idp = await startArmedIdp();
    const path = join(dir, `config-${workers}.json`);
    writeFileSync(
      path,
      JSON.stringify(
        configDocument(idp, {
          workers,
          drainTimeout: `${DRAIN_TIMEOUT_MS}ms`,
          logging: { level: 'warn', allowSampleRate: 0 },
          ...(workers > 1 ? { replay: { store: 'redis', redis: { url: redis.url, keyPrefix: `idle-${process.pid}:` } } } : {}),
        }),
      ),
    );
    const running = await startServe(path);
    hopguard = running;
    const held = idp;

    // Idle gRPC connections (enough for both workers to hold some), each used once and kept.
    const idle = Array.from({ length: 6 }, () => openChannel(running.grpc));
    const first = await Promise.all(idle.map(async (channel) => readCheckResponse(await channel.check(await held.mint()))));
    expect(first.every((answer) => answer.allowed)).toBe(true);
    // Idle keep-alive HTTP connections: the ext_authz HTTP listener and the admin port.
    const agent = new Agent({ keepAlive: true, maxSockets: 4 });
    expect(await keepAliveGet(agent, `http://${running.http}/`, { authorization: `Bearer ${await held.mint()}`, 'x-hopguard-workload': ORDERS })).toBe(200);
    expect(await keepAliveGet(agent, `http://${running.admin}/healthz`)).toBe(200);
    // Peers that never close their side: TCP only, an HTTP/2 preface and SETTINGS, an HTTP socket.
    const stubborn = Array.from({ length: 4 }, () => [
      stubbornPeer(running.grpc),
      stubbornPeer(running.grpc, HTTP2_PREFACE),
      stubbornPeer(running.http as string),
    ]).flat();
    await eventually(() => stubborn.every((peer) => peer.socket.readyState === 'open') || undefined, 'the idle peers to connect');

    // A check in flight: its key refetch is held by the IdP.
    const busy = openChannel(running.grpc);
    held.hold();
    const inFlight = busy.check(await held.mint(held.lateKey));
    await held.held();

    const signalled = Date.now();
    running.kill('SIGTERM');
    // Idle connections are closed at once, while the check in flight still waits on the IdP.
    const idleClosed = await Promise.race([
      Promise.all(stubborn.map((peer) => peer.closedByServer)).then(() => true),
      new Promise<false>((resolve) => setTimeout(() => resolve(false), PROMPT_EXIT_MS)),
    ]);
    held.release();
    expect(idleClosed).toBe(true);
    expect(readCheckResponse(await inFlight).allowed).toBe(true);
    const code = await running.exited;
    const elapsed = Date.now() - signalled;
    expect(code).toBe(0);
    expect(elapsed).toBeLessThan(PROMPT_EXIT_MS);
    expect(running.output()).not.toContain('drain did not finish in time');
    await eventually(() => agent.totalSocketCount === 0 || undefined, 'the keep-alive sockets to be closed by hopguard', 2_000);
    agent.destroy();
  }, 30_000);
});

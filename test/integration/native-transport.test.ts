/**
 * The native node:http2 transport against what Envoy and gRPC clients rely on: each behaviour
 * proven with a real @grpc/grpc-js client where one can produce it, and with raw node:http2 (or
 * a raw TCP socket) for what a well-behaved client never sends.
 */
import { Buffer } from 'node:buffer';
import http2 from 'node:http2';
import net from 'node:net';
import zlib from 'node:zlib';
import * as grpc from '@grpc/grpc-js';
import { afterEach, describe, expect, it } from 'vitest';
import type { CheckInput, Decision } from '../../src/decision/types.js';
import { hopguardProtos } from '../../src/transport/proto.js';
import { allowDecision, denyDecision, ORDERS } from '../conformance/decisions.js';
import { createEnvoyClient, envoyCheckRequest, envoyProtos, readCheckResponse, type EnvoyClient } from '../helpers/envoy-client.js';
import { connectRaw, grpcFrame, HeldChecks, rawGrpcCall, startTestGrpcServer, until, type TestGrpcServer } from '../helpers/grpc-transports.js';

const official = envoyProtos().authorizationService.Check!;
const HEALTH_CHECK = '/grpc.health.v1.Health/Check';

function decide(input: CheckInput): Decision {
  return input.headers.get('authorization')?.[0] === 'Bearer good' ? allowDecision() : denyDecision('token_missing');
}
const answerAtOnce = async (input: CheckInput): Promise<Decision> => decide(input);

function checkBytes(token = 'good'): Buffer {
  return Buffer.from(official.requestSerialize(envoyCheckRequest({ token, workload: ORDERS })));
}

let server: TestGrpcServer | undefined;
const clients: { close(): void }[] = [];
const sessions: http2.ClientHttp2Session[] = [];
const sockets: net.Socket[] = [];

afterEach(async () => {
  for (const client of clients.splice(0)) client.close();
  for (const session of sessions.splice(0)) session.destroy();
  for (const socket of sockets.splice(0)) socket.destroy();
  await server?.close(100);
  server = undefined;
});

async function start(check = answerAtOnce, native: Parameters<typeof startTestGrpcServer>[1]['native'] = {}): Promise<TestGrpcServer> {
  server = await startTestGrpcServer('native', { check, native });
  return server;
}

function envoyClient(address: string): EnvoyClient {
  const client = createEnvoyClient(address);
  clients.push(client);
  return client;
}

function rawSession(address: string): http2.ClientHttp2Session {
  const session = connectRaw(address);
  sessions.push(session);
  return session;
}

function genericClient(address: string, options: grpc.ChannelOptions = {}): grpc.Client {
  const client = new grpc.Client(address, grpc.credentials.createInsecure(), options);
  clients.push(client);
  return client;
}

function unary(client: grpc.Client, path: string, request: Buffer, options: grpc.CallOptions = {}): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    client.makeUnaryRequest(path, (value: Buffer) => value, (value: Buffer) => value, request, new grpc.Metadata(), options, (error, response) =>
      error ? reject(error) : resolve(response as Buffer),
    );
  });
}

function decodeCheckResponse(data: Buffer): Record<string, unknown> {
  expect(data[0]).toBe(0);
  expect(data.readUInt32BE(1)).toBe(data.length - 5);
  return official.responseDeserialize(data.subarray(5)) as Record<string, unknown>;
}

/** A TCP connection that speaks just enough HTTP/2 to be a session: the preface and an empty SETTINGS. */
function rawTcp(address: string, bytes?: Buffer): Promise<{ socket: net.Socket; closed: Promise<number> }> {
  const [host, port] = [address.slice(0, address.lastIndexOf(':')), Number(address.slice(address.lastIndexOf(':') + 1))];
  return new Promise((resolve, reject) => {
    const opened = Date.now();
    const socket = net.connect(port, host, () => {
      if (bytes !== undefined) socket.write(bytes);
      // Read (and drop) what the server sends, so its close is seen.
      socket.resume();
      resolve({ socket, closed: new Promise((done) => socket.on('close', () => done(Date.now() - opened))) });
    });
    socket.on('error', () => undefined);
    socket.once('error', reject);
    sockets.push(socket);
  });
}
const PREFACE_AND_SETTINGS = Buffer.concat([Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n'), Buffer.from([0, 0, 0, 4, 0, 0, 0, 0, 0])]);

describe('the calls Envoy and grpc-js make', () => {
  it('answers Check with grpc-status 0 and the decision inside, for application/grpc and application/grpc+proto', async () => {
    const { address } = await start();
    for (const contentType of ['application/grpc', 'application/grpc+proto', 'application/grpc+proto; charset=utf-8']) {
      const answer = await rawGrpcCall(address, { headers: { 'content-type': contentType }, body: [grpcFrame(checkBytes())] });
      expect([answer.status, answer.trailersOnly, answer.headers[':status']]).toEqual([0, false, 200]);
      expect(answer.trailers).toMatchObject({ 'grpc-status': '0' });
      expect(readCheckResponse(decodeCheckResponse(answer.data)).allowed).toBe(true);
    }
    const denied = await envoyClient(address).check(envoyCheckRequest({ token: 'bad', workload: ORDERS }));
    expect(readCheckResponse(denied)).toMatchObject({ allowed: false, reason: 'token_missing', httpStatus: 401 });
  });

  it('refuses another content-type with HTTP 415, and another method than POST with 405', async () => {
    const { address } = await start();
    expect((await rawGrpcCall(address, { headers: { 'content-type': 'application/json' }, body: [grpcFrame(checkBytes())] })).headers[':status']).toBe(415);
    expect((await rawGrpcCall(address, { headers: { ':method': 'GET' }, end: true })).headers[':status']).toBe(405);
  });

  it('answers an unknown service or method with UNIMPLEMENTED (12) in a trailers-only response', async () => {
    const { address } = await start();
    const client = genericClient(address);
    await expect(unary(client, '/envoy.service.auth.v3.Authorization/Nope', checkBytes())).rejects.toMatchObject({ code: 12 });
    await expect(unary(client, '/no.such.Service/Check', checkBytes())).rejects.toMatchObject({ code: 12 });
    const raw = await rawGrpcCall(address, { path: '/no.such.Service/Check', body: [grpcFrame(checkBytes())] });
    expect(raw).toMatchObject({ status: 12, trailersOnly: true, trailers: null });
    expect(raw.headers).toMatchObject({ ':status': 200, 'content-type': 'application/grpc', 'grpc-status': '12' });
  });

  it('percent-encodes grpc-message, and grpc-js decodes it back', async () => {
    const { address } = await start();
    const service = 'ünknown 100% \n✓';
    const request = Buffer.from(hopguardProtos().healthService.Check!.requestSerialize({ service }));
    await expect(unary(genericClient(address), HEALTH_CHECK, request)).rejects.toMatchObject({ code: 5, details: `unknown service ${service}` });
    const raw = await rawGrpcCall(address, { path: HEALTH_CHECK, body: [grpcFrame(request)] });
    expect(raw.message).toBe('unknown service %C3%BCnknown 100%25 %0A%E2%9C%93');
  });

  it('serves grpc.health.v1.Health Check and a Watch that follows the state and ends on drain', async () => {
    const running = await start();
    const Client = grpc.makeGenericClientConstructor(hopguardProtos().healthService, 'Health');
    const client = new Client(running.address, grpc.credentials.createInsecure()) as unknown as Record<string, (...args: unknown[]) => unknown> & grpc.Client;
    clients.push(client);
    const check = (service: string) =>
      new Promise<string>((resolve, reject) =>
        (client.Check as (r: object, cb: (e: grpc.ServiceError | null, v?: { status: string }) => void) => void).call(client, { service }, (error, value) =>
          error ? reject(error) : resolve(value?.status ?? ''),
        ),
      );
    expect(await check('')).toBe('SERVING');
    expect(await check('envoy.service.auth.v3.Authorization')).toBe('SERVING');
    const watch = (client.Watch as (r: object) => grpc.ClientReadableStream<{ status: string }>).call(client, { service: '' });
    const statuses: string[] = [];
    watch.on('data', (message: { status: string }) => statuses.push(message.status));
    const ended = new Promise<grpc.StatusObject>((resolve) => watch.on('status', resolve));
    watch.on('error', () => undefined);
    await until(() => statuses.length === 1, 'first status');
    running.health.set(false);
    await until(() => statuses.length === 2, 'second status');
    running.health.drain();
    expect((await ended).code).toBe(0);
    expect(statuses).toEqual(['SERVING', 'NOT_SERVING']);
  });

  it('accepts gzip and deflate messages, as grpc-js sends them with compression on', async () => {
    const { address } = await start();
    for (const algorithm of [1, 2]) {
      const client = genericClient(address, { 'grpc.default_compression_algorithm': algorithm });
      const response = await unary(client, '/envoy.service.auth.v3.Authorization/Check', checkBytes());
      expect(readCheckResponse(official.responseDeserialize(response) as Record<string, unknown>).allowed).toBe(true);
    }
  });
});

describe('what a call may not do', () => {
  it('refuses a compressed message without a supported grpc-encoding with UNIMPLEMENTED (12), naming what it accepts', async () => {
    const { address } = await start();
    const gzipped = zlib.gzipSync(checkBytes());
    for (const headers of [{}, { 'grpc-encoding': 'identity' }, { 'grpc-encoding': 'snappy' }]) {
      const answer = await rawGrpcCall(address, { headers, body: [grpcFrame(gzipped, 1)] });
      expect(answer).toMatchObject({ status: 12, trailersOnly: true });
      expect(answer.headers['grpc-accept-encoding']).toBe('identity,deflate,gzip');
    }
    // An uncompressed message is fine whatever grpc-encoding says.
    expect((await rawGrpcCall(address, { headers: { 'grpc-encoding': 'snappy' }, body: [grpcFrame(checkBytes())] })).status).toBe(0);
  });

  it('refuses a message over the receive limit with RESOURCE_EXHAUSTED (8), before reading it, and after decompression', async () => {
    const { address } = await start(answerAtOnce, { maxReceiveBytes: 64 * 1024 });
    const client = envoyClient(address);
    await expect(client.check(envoyCheckRequest({ token: 'good', workload: ORDERS, headers: { 'x-pad': 'x'.repeat(70 * 1024) } }))).rejects.toMatchObject({ code: 8 });
    expect(readCheckResponse(await client.check(envoyCheckRequest({ token: 'good', workload: ORDERS, headers: { 'x-pad': 'x'.repeat(60 * 1024) } }))).allowed).toBe(true);
    // Only the length prefix is sent: the answer does not wait for the body.
    const early = await rawGrpcCall(address, { body: [grpcFrame(Buffer.alloc(0), 0, 64 * 1024 + 1)], end: false });
    expect(early).toMatchObject({ status: 8, trailersOnly: true });
    const bomb = zlib.gzipSync(Buffer.alloc(1024 * 1024));
    expect(await rawGrpcCall(address, { headers: { 'grpc-encoding': 'gzip' }, body: [grpcFrame(bomb, 1)] })).toMatchObject({ status: 8 });
  });

  it.each([
    ['a message flag other than 0 or 1', () => grpcFrame(checkBytes(), 2)],
    ['a truncated message', () => grpcFrame(checkBytes()).subarray(0, 12)],
    ['a truncated length prefix', () => Buffer.from([0, 0, 0])],
    ['bytes that are not protobuf', () => grpcFrame(Buffer.from([0x0a, 0x05, 0x01]))],
    ['a known field with the wrong wire type', () => grpcFrame(Buffer.from([0x08, 0x01]))],
  ])('answers %s with INTERNAL (13), never a crash', async (_name, body) => {
    const held = new HeldChecks(decide);
    held.release();
    const { address } = await start(held.check);
    expect(await rawGrpcCall(address, { body: [body()] })).toMatchObject({ status: 13, trailersOnly: true });
    expect(held.inputs).toEqual([]);
    expect((await rawGrpcCall(address, { body: [grpcFrame(checkBytes())] })).status).toBe(0);
  });

  it('answers no message, or a second one, with UNIMPLEMENTED (12) as grpc-js does', async () => {
    const { address } = await start();
    expect(await rawGrpcCall(address, { body: [] })).toMatchObject({ status: 12 });
    expect(await rawGrpcCall(address, { body: [grpcFrame(checkBytes()), grpcFrame(checkBytes())] })).toMatchObject({ status: 12 });
  });

  it('answers an invalid grpc-timeout with INTERNAL (13)', async () => {
    const { address } = await start();
    expect(await rawGrpcCall(address, { headers: { 'grpc-timeout': 'soon' }, body: [grpcFrame(checkBytes())] })).toMatchObject({ status: 13, trailersOnly: true });
  });

  it('survives garbage bytes instead of the HTTP/2 preface, or after it, and keeps serving', async () => {
    // After a connection error nghttp2 sends GOAWAY but node keeps the socket: the unanswered keepalive PING drops it.
    const { address } = await start(answerAtOnce, { keepaliveTimeMs: 100, keepaliveTimeoutMs: 1000 });
    const { closed } = await rawTcp(address, Buffer.from('GET / HTTP/1.1\r\nHost: x\r\n\r\n\u0000\u00ff garbage'));
    await closed;
    // A DATA frame on stream 0 is a connection error (PROTOCOL_ERROR).
    const garbageAfterPreface = await rawTcp(address, Buffer.concat([PREFACE_AND_SETTINGS, Buffer.from([0, 0, 4, 0, 0, 0, 0, 0, 0, 1, 2, 3, 4])]));
    expect(await garbageAfterPreface.closed).toBeLessThan(5000);
    expect(readCheckResponse(await envoyClient(address).check(envoyCheckRequest({ token: 'good', workload: ORDERS }))).allowed).toBe(true);
  });
});

describe('deadlines and cancellation', () => {
  it('answers DEADLINE_EXCEEDED (4) when grpc-timeout passes during the check, and drops the late decision', async () => {
    const held = new HeldChecks(decide);
    const decided: Decision[] = [];
    server = await startTestGrpcServer('native', { check: held.check, onDecision: (decision) => decided.push(decision) });
    const started = Date.now();
    const answer = await rawGrpcCall(server.address, { headers: { 'grpc-timeout': '150m' }, body: [grpcFrame(checkBytes())] });
    expect(answer).toMatchObject({ status: 4, trailersOnly: true });
    expect(Date.now() - started).toBeGreaterThanOrEqual(140);
    expect(server.stats().calls).toBe(0);
    held.release();
    await until(() => decided.length === 1, 'the late decision');
    expect((await rawGrpcCall(server.address, { body: [grpcFrame(checkBytes())] })).status).toBe(0);
  });

  it('does not start the check when the deadline passes before the request has arrived', async () => {
    const held = new HeldChecks(decide);
    held.release();
    const { address } = await start(held.check);
    const answer = await rawGrpcCall(address, {
      headers: { 'grpc-timeout': '50m' },
      body: [grpcFrame(checkBytes()).subarray(0, 3), () => new Promise((resolve) => setTimeout(resolve, 200)), grpcFrame(checkBytes()).subarray(3)],
    });
    expect(answer.status).toBe(4);
    expect(held.inputs).toEqual([]);
  });

  it('a grpc-js client deadline ends the call on both sides', async () => {
    const held = new HeldChecks(decide);
    const running = await start(held.check);
    const client = genericClient(running.address);
    // Connected first, so the deadline is spent on the server, not on connecting.
    await unary(client, HEALTH_CHECK, Buffer.alloc(0));
    const call = unary(client, '/envoy.service.auth.v3.Authorization/Check', checkBytes(), { deadline: Date.now() + 300 });
    await held.started(1);
    expect(running.stats().calls).toBe(1);
    await expect(call).rejects.toMatchObject({ code: 4 });
    await until(() => running.stats().calls === 0, 'the call released');
    held.release();
  });

  it('releases a call the client cancels (RST_STREAM), and writes nothing for it later', async () => {
    const held = new HeldChecks(decide);
    const running = await start(held.check);
    const client = genericClient(running.address);
    const call = client.makeUnaryRequest('/envoy.service.auth.v3.Authorization/Check', (value: Buffer) => value, (value: Buffer) => value, checkBytes(), () => undefined);
    await held.started(1);
    expect(running.stats().calls).toBe(1);
    call.cancel();
    await until(() => running.stats().calls === 0, 'the cancelled call released');
    held.release();
    expect(readCheckResponse(official.responseDeserialize(await unary(client, '/envoy.service.auth.v3.Authorization/Check', checkBytes())) as Record<string, unknown>).allowed).toBe(true);
  });
});

describe('connections: keepalive, concurrency, drain, hostile clients', () => {
  it('answers keepalive PINGs: a grpc-js client pinging every 100 ms keeps its one connection', async () => {
    const running = await start();
    const client = genericClient(running.address, { 'grpc.keepalive_time_ms': 100, 'grpc.keepalive_timeout_ms': 1000, 'grpc.keepalive_permit_without_calls': 1 });
    await unary(client, '/envoy.service.auth.v3.Authorization/Check', checkBytes());
    await new Promise((resolve) => setTimeout(resolve, 700));
    await unary(client, '/envoy.service.auth.v3.Authorization/Check', checkBytes());
    expect(running.stats().connections).toBe(1);
    expect(client.getChannel().getConnectivityState(false)).toBe(grpc.connectivityState.READY);
    const raw = rawSession(running.address);
    await new Promise((resolve) => raw.once('remoteSettings', resolve));
    const rtt = await new Promise<number>((resolve, reject) => raw.ping((error, duration) => (error ? reject(error) : resolve(duration))));
    expect(rtt).toBeGreaterThanOrEqual(0);
  });

  it('PINGs its peers and drops one that stops answering', async () => {
    const running = await start(answerAtOnce, { keepaliveTimeMs: 100, keepaliveTimeoutMs: 1000, idleTimeoutMs: 60_000 });
    // Preface and SETTINGS, then silence: PINGs go unanswered.
    const { closed } = await rawTcp(running.address, PREFACE_AND_SETTINGS);
    expect(await closed).toBeLessThan(5000);
    // A real client answers them and stays.
    const client = envoyClient(running.address);
    await client.check(envoyCheckRequest({ token: 'good', workload: ORDERS }));
    await new Promise((resolve) => setTimeout(resolve, 500));
    expect(running.stats().connections).toBe(1);
  });

  it('advertises and enforces SETTINGS_MAX_CONCURRENT_STREAMS', async () => {
    const held = new HeldChecks(decide);
    const running = await start(held.check, { maxConcurrentStreams: 2 });
    const raw = rawSession(running.address);
    await new Promise((resolve) => raw.once('remoteSettings', resolve));
    expect(raw.remoteSettings.maxConcurrentStreams).toBe(2);
    const client = envoyClient(running.address);
    const calls = Array.from({ length: 5 }, () => client.check(envoyCheckRequest({ token: 'good', workload: ORDERS })));
    await held.started(2);
    await new Promise((resolve) => setTimeout(resolve, 200));
    expect(held.inputs.length).toBe(2);
    held.release();
    expect((await Promise.all(calls)).map((response) => readCheckResponse(response).allowed)).toEqual([true, true, true, true, true]);
    expect(held.maxInFlight).toBe(2);
  });

  it('on close: stops accepting, GOAWAYs idle connections at once, answers calls in flight', async () => {
    const held = new HeldChecks(decide);
    const running = await start(held.check);
    const idle = rawSession(running.address);
    const busy = rawSession(running.address);
    await new Promise((resolve) => idle.once('remoteSettings', resolve));
    const inFlight = rawGrpcCall(running.address, { session: busy, body: [grpcFrame(checkBytes())] });
    await held.started(1);
    const goaways: string[] = [];
    idle.on('goaway', (code) => goaways.push(`idle:${code}`));
    busy.on('goaway', (code) => goaways.push(`busy:${code}`));
    const idleClosed = new Promise((resolve) => idle.on('close', resolve));
    const closing = running.close(10_000);
    await idleClosed;
    expect(goaways).toContain('idle:0');
    await until(() => goaways.includes('busy:0'), 'GOAWAY on the busy connection');
    await expect(rawTcp(running.address)).rejects.toMatchObject({ code: 'ECONNREFUSED' });
    expect(running.stats().connections).toBe(1);
    held.release();
    expect((await inFlight).status).toBe(0);
    await closing;
    expect(running.stats().connections).toBe(0);
  });

  it('on close: destroys what is still open when the grace period ends', async () => {
    const held = new HeldChecks(decide);
    const running = await start(held.check);
    const inFlight = rawGrpcCall(running.address, { body: [grpcFrame(checkBytes())] });
    await held.started(1);
    const started = Date.now();
    await running.close(200);
    expect(Date.now() - started).toBeLessThan(2000);
    expect((await inFlight).status).toBeNull();
    held.release();
  });

  it('closes a connection that never completes the HTTP/2 preface', async () => {
    const running = await start(answerAtOnce, { handshakeTimeoutMs: 200 });
    const silent = await rawTcp(running.address);
    const half = await rawTcp(running.address, Buffer.from('PRI * HTTP/2.0\r\n'));
    expect(await silent.closed).toBeLessThan(3000);
    expect(await half.closed).toBeLessThan(3000);
  });

  it('answers a request stream that never ends with DEADLINE_EXCEEDED after receiveTimeoutMs, while other clients are served', async () => {
    const held = new HeldChecks(decide);
    held.release();
    const running = await start(held.check, { receiveTimeoutMs: 1500 });
    const stalled = rawGrpcCall(running.address, { body: [grpcFrame(checkBytes()).subarray(0, 20)], end: false });
    const complete = rawGrpcCall(running.address, { body: [grpcFrame(checkBytes())], end: false });
    let stalledAnswered = false;
    void stalled.then(() => (stalledAnswered = true));
    const client = envoyClient(running.address);
    expect(readCheckResponse(await client.check(envoyCheckRequest({ token: 'good', workload: ORDERS }))).allowed).toBe(true);
    expect(stalledAnswered).toBe(false);
    expect(await stalled).toMatchObject({ status: 4, trailersOnly: true });
    // A whole message without END_STREAM is not a finished unary request either.
    expect((await complete).status).toBe(4);
    expect(held.inputs.length).toBe(1);
  });

  it('lets go of streams reset as soon as they open (rapid reset), and keeps serving', async () => {
    const held = new HeldChecks(decide);
    const running = await start(held.check);
    const session = rawSession(running.address);
    await new Promise((resolve) => session.once('remoteSettings', resolve));
    const closed: Promise<void>[] = [];
    for (let i = 0; i < 300; i++) {
      const stream = session.request({ ':method': 'POST', ':path': '/envoy.service.auth.v3.Authorization/Check', 'content-type': 'application/grpc' });
      stream.on('error', () => undefined);
      if (i % 2 === 0) stream.write(grpcFrame(checkBytes()));
      closed.push(new Promise((resolve) => stream.on('close', () => resolve())));
      stream.close(http2.constants.NGHTTP2_CANCEL);
    }
    await Promise.all(closed);
    await until(() => running.stats().calls === 0, 'every reset call released');
    held.release();
    expect((await rawGrpcCall(running.address, { body: [grpcFrame(checkBytes())] })).status).toBe(0);
  });

  it('bounds the bytes held for unfinished requests across all connections', async () => {
    const running = await start(answerAtOnce, { maxBufferedBytes: 12 * 1024, receiveTimeoutMs: 1000 });
    const partial = (bytes: number) => grpcFrame(Buffer.alloc(bytes), 0, 64 * 1024).subarray(0, bytes);
    const first = rawGrpcCall(running.address, { body: [partial(8 * 1024)], end: false });
    await until(() => running.stats().calls === 1, 'the first partial request');
    await new Promise((resolve) => setTimeout(resolve, 50));
    const second = await rawGrpcCall(running.address, { body: [partial(8 * 1024)], end: false });
    expect(second).toMatchObject({ status: 8, trailersOnly: true });
    expect((await first).status).toBe(4);
    // What the first one held is released with it.
    expect((await rawGrpcCall(running.address, { body: [grpcFrame(checkBytes())] })).status).toBe(0);
  });

  it('closes a connection idle for idleTimeoutMs with GOAWAY', async () => {
    const running = await start(answerAtOnce, { idleTimeoutMs: 200 });
    const session = rawSession(running.address);
    await rawGrpcCall(running.address, { session, body: [grpcFrame(checkBytes())] });
    const goaway = new Promise<number>((resolve) => session.on('goaway', resolve));
    expect(await goaway).toBe(0);
    await until(() => running.stats().connections === 0, 'the idle connection closed');
  });

  it('refuses connections beyond maxConnections', async () => {
    const running = await start(answerAtOnce, { maxConnections: 1 });
    const first = rawSession(running.address);
    await rawGrpcCall(running.address, { session: first, body: [grpcFrame(checkBytes())] });
    const { closed } = await rawTcp(running.address, PREFACE_AND_SETTINGS);
    await closed;
    expect((await rawGrpcCall(running.address, { session: first, body: [grpcFrame(checkBytes())] })).status).toBe(0);
  });
});

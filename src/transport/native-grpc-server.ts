/**
 * The gRPC edge served directly on node:http2 (h2c): envoy.service.auth.v3.Authorization/Check
 * and grpc.health.v1.Health (Check, Watch). A unary gRPC call is one HEADERS frame, one
 * length-prefixed protobuf message, response HEADERS, one message and `grpc-status` trailers;
 * doing that by hand skips grpc-js's per-call machinery, and the CheckRequest is decoded straight
 * into CheckInput (check-request-decoder.ts).
 *
 * As with the grpc-js transport (grpc-server.ts), every Check that reaches the pipeline is
 * answered with grpc-status 0 and the decision inside CheckResponse. A failed RPC is reserved for
 * what is wrong with the call itself:
 *   unknown service or method, compressed message without a supported grpc-encoding,
 *   no message or a second one                        UNIMPLEMENTED (12)
 *   message over the receive limit                    RESOURCE_EXHAUSTED (8)
 *   malformed length prefix or protobuf, bad timeout  INTERNAL (13)
 *   grpc-timeout passed, or the request not received within receiveTimeoutMs
 *                                                     DEADLINE_EXCEEDED (4)
 * Errors before a response started are trailers-only responses; grpc-message is percent-encoded.
 *
 * No client can hold more than its share: SETTINGS_MAX_CONCURRENT_STREAMS per connection, a cap
 * on connections, a deadline for the HTTP/2 preface, for each request to arrive, and for idle
 * connections, keepalive PINGs that drop a peer which stopped answering, and a bound on the bytes
 * held for requests that arrive in pieces. Hot path: one object per call, listeners and response
 * headers shared by every call, no closures per call.
 */
import { Buffer } from 'node:buffer';
import http2 from 'node:http2';
import { performance } from 'node:perf_hooks';
import zlib from 'node:zlib';
import type { CheckInput, Decision } from '../decision/types.js';
import { decodeCheckRequest, ProtobufDecodeError } from './check-request-decoder.js';
import { encodeCheckResponseFrame } from './check-response-encoder.js';
import { checkResponseFrom } from './envoy-response.js';
import { MAX_RECEIVE_BYTES, type GrpcServerOptions } from './grpc-server.js';
import { encodeGrpcMessage, frame, FRAME_HEADER_BYTES, GrpcStatus, isGrpcContentType, parseGrpcTimeout, type GrpcStatusCode } from './grpc-wire.js';
import type { HealthState } from './health.js';
import { ListenError } from './listen-error.js';
import { internalErrorDenial } from './overload.js';
import { AUTHORIZATION_SERVICE_NAME, CHECK_METHOD_PATH, HEALTH_SERVICE_NAME } from './proto.js';
import { ProtobufReader, WIRE_BYTES, wrongWireType } from './protobuf-reader.js';

export interface NativeGrpcServerOptions extends GrpcServerOptions {
  /** Largest request message accepted, after decompression (default: the grpc-js transport's, 1 MiB). */
  readonly maxReceiveBytes?: number;
  /** SETTINGS_MAX_CONCURRENT_STREAMS: calls one connection may have open at once (default 1000). */
  readonly maxConcurrentStreams?: number;
  /** Connections at once; more are closed as they arrive (default 10 000). */
  readonly maxConnections?: number;
  /** A connection must complete the HTTP/2 preface within this (default 10 s). */
  readonly handshakeTimeoutMs?: number;
  /** A connection without a call for this long is closed with GOAWAY (default 5 min). */
  readonly idleTimeoutMs?: number;
  /** A call's request message must have arrived in full within this (default 10 s). */
  readonly receiveTimeoutMs?: number;
  /**
   * Each connection is PINGed this often (default 30 s) ... A peer that died, or a connection
   * nghttp2 already gave up on (it GOAWAYs a protocol error, but node keeps the socket), is
   * found this way.
   */
  readonly keepaliveTimeMs?: number;
  /** ... and dropped when the PING is not answered within this (default 10 s). */
  readonly keepaliveTimeoutMs?: number;
  /** Bytes held, across all calls, for request messages not yet complete (default 64 MiB). */
  readonly maxBufferedBytes?: number;
}

export interface RunningNativeGrpcServer {
  /** host:port actually bound (the port resolved when 0 was asked for). */
  readonly address: string;
  /** Stop accepting; GOAWAY every connection (idle ones close at once); in-flight calls are answered until `graceMs`, then connections are destroyed. */
  close(graceMs: number): Promise<void>;
  /** Open connections and calls not yet answered or cancelled (tests and diagnostics). */
  stats(): { readonly connections: number; readonly calls: number };
}

const {
  HTTP2_HEADER_STATUS,
  HTTP2_HEADER_CONTENT_TYPE,
  HTTP2_HEADER_METHOD,
  HTTP2_HEADER_PATH,
  HTTP_STATUS_OK,
  HTTP_STATUS_METHOD_NOT_ALLOWED,
  HTTP_STATUS_UNSUPPORTED_MEDIA_TYPE,
  NGHTTP2_NO_ERROR,
} = http2.constants;

const ACCEPT_ENCODING = 'identity,deflate,gzip';
const CONNECTION_WINDOW_BYTES = 1024 * 1024;
const RESPONSE_HEADERS: http2.OutgoingHttpHeaders = {
  [HTTP2_HEADER_STATUS]: HTTP_STATUS_OK,
  [HTTP2_HEADER_CONTENT_TYPE]: 'application/grpc',
  'grpc-accept-encoding': ACCEPT_ENCODING,
};
const OK_TRAILERS: http2.OutgoingHttpHeaders = { 'grpc-status': '0' };
const RESPOND_WITH_TRAILERS: http2.ServerStreamResponseOptions = { waitForTrailers: true, sendDate: false } as http2.ServerStreamResponseOptions;
const RESPOND_AND_END: http2.ServerStreamResponseOptions = { endStream: true, sendDate: false } as http2.ServerStreamResponseOptions;

const enum Method {
  Check,
  HealthCheck,
  HealthWatch,
}
const METHODS = new Map<string, Method>([
  [CHECK_METHOD_PATH, Method.Check],
  [`/${HEALTH_SERVICE_NAME}/Check`, Method.HealthCheck],
  [`/${HEALTH_SERVICE_NAME}/Watch`, Method.HealthWatch],
]);

const enum CallState {
  Receiving,
  Running,
  /** Answered, failed or cancelled: nothing more is written. */
  Done,
}

// grpc.health.v1.HealthCheckResponse { ServingStatus status = 1 }: SERVING 1, NOT_SERVING 2, SERVICE_UNKNOWN 3
const HEALTH_FRAMES = {
  SERVING: frame(Uint8Array.of(0x08, 1)),
  NOT_SERVING: frame(Uint8Array.of(0x08, 2)),
  SERVICE_UNKNOWN: frame(Uint8Array.of(0x08, 3)),
} as const;
const HEALTH_SERVICES = new Set(['', AUTHORIZATION_SERVICE_NAME]);

const healthReader = new ProtobufReader();

/** grpc.health.v1.HealthCheckRequest { string service = 1 } */
function decodeHealthService(bytes: Buffer): string {
  const reader = healthReader.reset(bytes);
  let service = '';
  while (reader.position < bytes.length) {
    const tag = reader.tag(bytes.length);
    if (tag >>> 3 === 1) {
      if (tag !== ((1 << 3) | WIRE_BYTES)) wrongWireType(1);
      service = reader.string(bytes.length);
    } else {
      reader.skip(tag, bytes.length);
    }
  }
  return service;
}

function healthFrameFor(service: string, health: HealthState): Buffer {
  if (!HEALTH_SERVICES.has(service)) return HEALTH_FRAMES.SERVICE_UNKNOWN;
  return health.isServing() ? HEALTH_FRAMES.SERVING : HEALTH_FRAMES.NOT_SERVING;
}

const CALL = Symbol('hopguard.call');
const SESSION = Symbol('hopguard.session');

interface CallStream extends http2.ServerHttp2Stream {
  [CALL]?: Call;
}

interface SessionState {
  readonly createdAt: number;
  settled: boolean;
  calls: number;
  idleSince: number;
  lastPingAt: number;
  pingOutstanding: boolean;
  closing: boolean;
}

interface TrackedSession extends http2.ServerHttp2Session {
  [SESSION]?: SessionState;
}

// ---- listeners shared by every stream (`this` is the stream) ----

function ignoreError(): void {
  // Every stream or session error is followed by its 'close', which does the cleanup.
}
function onStreamData(this: CallStream, chunk: Buffer): void {
  this[CALL]?.data(chunk);
}
function onStreamEnd(this: CallStream): void {
  this[CALL]?.end();
}
function onStreamClose(this: CallStream): void {
  this[CALL]?.closed();
}
function onWantTrailers(this: CallStream): void {
  const call = this[CALL];
  this.sendTrailers(call?.trailers ?? OK_TRAILERS);
}
function onCallTimer(call: Call): void {
  call.timerFired();
}

/** Answers with headers and trailers in one HEADERS frame, and stops reading what the client still sends. */
function respondTrailersOnly(stream: http2.ServerHttp2Stream, code: GrpcStatusCode, message: string, extra?: http2.OutgoingHttpHeaders): void {
  if (stream.destroyed || stream.closed || stream.headersSent) return;
  try {
    stream.respond(
      {
        [HTTP2_HEADER_STATUS]: HTTP_STATUS_OK,
        [HTTP2_HEADER_CONTENT_TYPE]: 'application/grpc',
        'grpc-status': String(code),
        'grpc-message': encodeGrpcMessage(message),
        ...extra,
      },
      RESPOND_AND_END,
    );
    // RST_STREAM(NO_ERROR) once the answer is out: the request body, if any, is not wanted.
    stream.close(NGHTTP2_NO_ERROR);
  } catch {
    stream.destroy();
  }
}

function respondHttpError(stream: http2.ServerHttp2Stream, status: number): void {
  try {
    stream.respond({ [HTTP2_HEADER_STATUS]: status }, RESPOND_AND_END);
    stream.close(NGHTTP2_NO_ERROR);
  } catch {
    stream.destroy();
  }
}

async function runCheck(call: Call, input: CheckInput): Promise<void> {
  let decision: Decision;
  try {
    decision = await call.server.options.check(input);
  } catch (error) {
    decision = internalErrorDenial(error);
  }
  try {
    call.decided(decision, input);
  } catch {
    // Nothing thrown here may become an unhandled rejection (it would end the process).
    call.stream.destroy();
  }
}

class Call {
  state = CallState.Receiving;
  /** Trailers to send when the response ends (OK unless set). */
  trailers: http2.OutgoingHttpHeaders = OK_TRAILERS;
  private timer: NodeJS.Timeout | null = null;
  private timerIsDeadline = false;
  private first: Buffer | null = null;
  private chunks: Buffer[] | null = null;
  private buffered = 0;
  private received = 0;
  private declared = -1;
  private readonly deadlineAt: number;
  private readonly started = performance.now();
  private stopWatching: (() => void) | null = null;

  constructor(
    readonly server: NativeServer,
    readonly stream: CallStream,
    private readonly session: SessionState,
    private readonly method: Method,
    private readonly encoding: string | undefined,
    deadlineMs: number,
  ) {
    session.calls += 1;
    server.calls += 1;
    stream[CALL] = this;
    stream.on('data', onStreamData);
    stream.on('end', onStreamEnd);
    stream.on('close', onStreamClose);
    const receiveMs = server.receiveTimeoutMs;
    if (deadlineMs >= 0) {
      this.deadlineAt = Date.now() + deadlineMs;
      this.timerIsDeadline = deadlineMs <= receiveMs;
      this.timer = setTimeout(onCallTimer, Math.min(deadlineMs, receiveMs), this);
    } else {
      this.deadlineAt = Infinity;
      this.timer = setTimeout(onCallTimer, receiveMs, this);
    }
  }

  data(chunk: Buffer): void {
    if (this.state !== CallState.Receiving) return;
    const received = this.received + chunk.length;
    this.received = received;
    if (this.first === null) this.first = chunk;
    else (this.chunks ??= [this.first]).push(chunk);
    this.buffered += chunk.length;
    this.server.bufferedBytes += chunk.length;
    const max = this.server.maxReceiveBytes;
    if (this.declared < 0 && received >= FRAME_HEADER_BYTES) {
      const header = this.first.length >= FRAME_HEADER_BYTES ? this.first : Buffer.concat(this.chunks as Buffer[], received);
      const flag = header[0] as number;
      if (flag > 1) return this.fail(GrpcStatus.INTERNAL, `invalid gRPC message flag ${flag}`);
      this.declared = header.readUInt32BE(1);
      if (this.declared > max) return this.fail(GrpcStatus.RESOURCE_EXHAUSTED, `Received message larger than max (${this.declared} vs. ${max})`);
    }
    if (this.declared >= 0 && received > FRAME_HEADER_BYTES + this.declared) {
      return this.fail(GrpcStatus.UNIMPLEMENTED, `Received a second request message for ${this.methodPath()}`);
    }
    if (this.server.bufferedBytes > this.server.maxBufferedBytes) {
      return this.fail(GrpcStatus.RESOURCE_EXHAUSTED, 'too many request bytes in flight on this server');
    }
  }

  end(): void {
    if (this.state !== CallState.Receiving) return;
    if (this.received === 0) return this.fail(GrpcStatus.UNIMPLEMENTED, `Received no request message for ${this.methodPath()}`);
    if (this.declared < 0 || this.received < FRAME_HEADER_BYTES + this.declared) return this.fail(GrpcStatus.INTERNAL, 'truncated gRPC message');
    const whole = this.chunks === null ? (this.first as Buffer) : Buffer.concat(this.chunks, this.received);
    const compressed = whole[0] === 1;
    let message = whole.subarray(FRAME_HEADER_BYTES);
    this.release();
    if (Date.now() >= this.deadlineAt) return this.fail(GrpcStatus.DEADLINE_EXCEEDED, 'Deadline exceeded');
    if (compressed) {
      const inflated = this.decompress(message);
      if (inflated === null) return;
      message = inflated;
    }
    this.state = CallState.Running;
    if (!this.timerIsDeadline) {
      // The receive timer has done its job; a deadline, if any, takes over.
      clearTimeout(this.timer as NodeJS.Timeout);
      this.timer = this.deadlineAt === Infinity ? null : setTimeout(onCallTimer, Math.max(0, this.deadlineAt - Date.now()), this);
      this.timerIsDeadline = true;
    }
    switch (this.method) {
      case Method.Check:
        return this.check(message);
      case Method.HealthCheck:
        return this.healthCheck(message);
      case Method.HealthWatch:
        return this.healthWatch(message);
    }
  }

  private decompress(message: Buffer): Buffer | null {
    const encoding = this.encoding;
    if (encoding !== 'gzip' && encoding !== 'deflate') {
      this.fail(GrpcStatus.UNIMPLEMENTED, `Received message compressed with unsupported encoding "${encoding ?? 'identity'}"`, { 'grpc-accept-encoding': ACCEPT_ENCODING });
      return null;
    }
    const limit = { maxOutputLength: this.server.maxReceiveBytes };
    try {
      return encoding === 'gzip' ? zlib.gunzipSync(message, limit) : zlib.inflateSync(message, limit);
    } catch (error) {
      if ((error as { code?: string }).code === 'ERR_BUFFER_TOO_LARGE') {
        this.fail(GrpcStatus.RESOURCE_EXHAUSTED, `Received message that decompresses to a size larger than ${this.server.maxReceiveBytes}`);
      } else {
        this.fail(GrpcStatus.INTERNAL, 'Failed to decompress message');
      }
      return null;
    }
  }

  private check(message: Buffer): void {
    let input: CheckInput;
    try {
      input = decodeCheckRequest(message, this.server.options.limits());
    } catch (error) {
      if (error instanceof ProtobufDecodeError) return this.fail(GrpcStatus.INTERNAL, `Error deserializing request: ${error.message}`);
      // A bug in the decoder itself: deny like any internal error, never allow.
      return this.decided(internalErrorDenial(error, 'unreadable CheckRequest'), null);
    }
    void runCheck(this, input);
  }

  decided(decision: Decision, input: CheckInput | null): void {
    try {
      this.server.options.onDecision?.(decision, (performance.now() - this.started) / 1000, input);
    } catch {
      // Telemetry must never keep Envoy from its answer.
    }
    if (this.state === CallState.Done) return;
    let response: Buffer;
    try {
      response = encodeCheckResponseFrame(checkResponseFrom(decision));
    } catch {
      return this.fail(GrpcStatus.INTERNAL, 'hopguard could not encode its answer');
    }
    this.respondWith(response);
  }

  private healthCheck(message: Buffer): void {
    let service: string;
    try {
      service = decodeHealthService(message);
    } catch (error) {
      return this.fail(GrpcStatus.INTERNAL, `Error deserializing request: ${(error as Error).message}`);
    }
    if (!HEALTH_SERVICES.has(service)) return this.fail(GrpcStatus.NOT_FOUND, `unknown service ${service}`);
    this.respondWith(healthFrameFor(service, this.server.options.health));
  }

  private healthWatch(message: Buffer): void {
    let service: string;
    try {
      service = decodeHealthService(message);
    } catch (error) {
      return this.fail(GrpcStatus.INTERNAL, `Error deserializing request: ${(error as Error).message}`);
    }
    const stream = this.stream;
    if (stream.destroyed || stream.closed) return this.finish();
    const health = this.server.options.health;
    try {
      stream.on('wantTrailers', onWantTrailers);
      stream.respond(RESPONSE_HEADERS, RESPOND_WITH_TRAILERS);
      stream.write(healthFrameFor(service, health));
    } catch {
      this.finish();
      stream.destroy();
      return;
    }
    // Rare and long-lived: closures are fine here.
    const stopStatus = health.watch(() => {
      if (this.state !== CallState.Done && !stream.destroyed) stream.write(healthFrameFor(service, health));
    });
    const stopDrain = health.onDrain(() => this.endWatch(OK_TRAILERS));
    this.server.watches.add(this);
    this.stopWatching = () => {
      stopStatus();
      stopDrain();
      this.server.watches.delete(this);
    };
  }

  /** Ends a Watch stream with these trailers (OK on drain). */
  endWatch(trailers: http2.OutgoingHttpHeaders): void {
    if (this.state === CallState.Done) return;
    this.finish();
    this.trailers = trailers;
    if (!this.stream.destroyed && !this.stream.closed) this.stream.end();
  }

  /** Response headers, one message, OK trailers. */
  private respondWith(message: Buffer): void {
    this.finish();
    const stream = this.stream;
    if (stream.destroyed || stream.closed) return;
    try {
      stream.on('wantTrailers', onWantTrailers);
      stream.respond(RESPONSE_HEADERS, RESPOND_WITH_TRAILERS);
      stream.end(message);
    } catch {
      stream.destroy();
    }
  }

  /** A failed RPC: trailers-only when nothing was sent yet, else trailers after what was. */
  fail(code: GrpcStatusCode, message: string, extra?: http2.OutgoingHttpHeaders): void {
    if (this.state === CallState.Done) return;
    this.finish();
    if (this.stream.headersSent) {
      this.trailers = { 'grpc-status': String(code), 'grpc-message': encodeGrpcMessage(message) };
      if (!this.stream.destroyed && !this.stream.closed) this.stream.end();
      return;
    }
    respondTrailersOnly(this.stream, code, message, extra);
  }

  timerFired(): void {
    this.timer = null;
    if (this.state === CallState.Done) return;
    if (Date.now() >= this.deadlineAt || this.timerIsDeadline) return this.fail(GrpcStatus.DEADLINE_EXCEEDED, 'Deadline exceeded');
    this.fail(GrpcStatus.DEADLINE_EXCEEDED, `request message not received within ${this.server.receiveTimeoutMs} ms`);
  }

  /** The stream is gone: answered, reset by the client (cancel), or its connection closed. */
  closed(): void {
    this.finish();
    this.stream[CALL] = undefined;
    this.server.calls -= 1;
    const session = this.session;
    session.calls -= 1;
    if (session.calls === 0) session.idleSince = Date.now();
    this.server.onCallGone?.();
  }

  /** Nothing more to do for this call: timers, buffers and watchers let go. */
  private finish(): void {
    if (this.state === CallState.Done) return;
    this.state = CallState.Done;
    if (this.timer !== null) {
      clearTimeout(this.timer);
      this.timer = null;
    }
    this.release();
    if (this.stopWatching !== null) {
      this.stopWatching();
      this.stopWatching = null;
    }
  }

  private release(): void {
    this.server.bufferedBytes -= this.buffered;
    this.buffered = 0;
    this.first = null;
    this.chunks = null;
  }

  private methodPath(): string {
    return this.method === Method.Check ? CHECK_METHOD_PATH : `/${HEALTH_SERVICE_NAME}/${this.method === Method.HealthCheck ? 'Check' : 'Watch'}`;
  }
}

class NativeServer {
  readonly sessions = new Set<TrackedSession>();
  readonly watches = new Set<Call>();
  calls = 0;
  bufferedBytes = 0;
  draining = false;
  readonly maxReceiveBytes: number;
  readonly receiveTimeoutMs: number;
  readonly maxBufferedBytes: number;
  private readonly handshakeTimeoutMs: number;
  private readonly idleTimeoutMs: number;
  private readonly keepaliveTimeMs: number;
  private readonly keepaliveTimeoutMs: number;
  private readonly sweeper: NodeJS.Timeout;
  readonly http: http2.Http2Server;

  constructor(readonly options: NativeGrpcServerOptions) {
    this.maxReceiveBytes = options.maxReceiveBytes ?? MAX_RECEIVE_BYTES;
    this.receiveTimeoutMs = options.receiveTimeoutMs ?? 10_000;
    this.maxBufferedBytes = options.maxBufferedBytes ?? 64 * 1024 * 1024;
    this.handshakeTimeoutMs = options.handshakeTimeoutMs ?? 10_000;
    this.idleTimeoutMs = options.idleTimeoutMs ?? 300_000;
    this.keepaliveTimeMs = options.keepaliveTimeMs ?? 30_000;
    this.keepaliveTimeoutMs = options.keepaliveTimeoutMs ?? 10_000;
    this.http = http2.createServer({
      settings: { maxConcurrentStreams: options.maxConcurrentStreams ?? 1000, maxHeaderListSize: 64 * 1024 },
      // nghttp2's own bounds on a misbehaving peer (the defaults, stated): 10 MB of session
      // memory, 128 header fields, 1000 invalid frames, 100 streams refused.
      maxSessionMemory: 10,
      maxHeaderListPairs: 128,
      maxSessionInvalidFrames: 1000,
      maxSessionRejectedStreams: 100,
    });
    this.http.maxConnections = options.maxConnections ?? 10_000;
    this.http.on('connection', (socket: import('node:net').Socket) => {
      this.sockets.add(socket);
      socket.once('close', () => this.sockets.delete(socket));
    });
    this.http.on('session', (session: TrackedSession) => this.onSession(session));
    this.http.on('stream', (stream: CallStream, headers: http2.IncomingHttpHeaders) => this.onStream(stream, headers));
    this.http.on('sessionError', ignoreError);
    const sweepMs = Math.max(10, Math.min(1000, Math.floor(Math.min(this.handshakeTimeoutMs, this.idleTimeoutMs, this.keepaliveTimeMs, this.keepaliveTimeoutMs) / 4)));
    this.sweeper = setInterval(() => this.sweep(), sweepMs);
    this.sweeper.unref();
  }

  private onSession(session: TrackedSession): void {
    session.on('error', ignoreError);
    if (this.draining) {
      session.destroy();
      return;
    }
    const now = Date.now();
    const state: SessionState = { createdAt: now, settled: false, calls: 0, idleSince: now, lastPingAt: now, pingOutstanding: false, closing: false };
    session[SESSION] = state;
    this.sessions.add(session);
    try {
      // Room for many small requests in flight on one connection (Envoy multiplexes its checks)
      // without waiting on WINDOW_UPDATEs; every byte is read at once, so this buffers nothing.
      session.setLocalWindowSize(CONNECTION_WINDOW_BYTES);
    } catch {
      // An old peer or a session already gone: the default window still works.
    }
    session.once('remoteSettings', () => {
      state.settled = true;
    });
    session.once('close', () => {
      this.sessions.delete(session);
    });
  }

  /** Set by close(): called as each call goes. */
  onCallGone: (() => void) | null = null;
  /** Every accepted TCP connection, HTTP/2 session or not yet, so a drain can close them all. */
  readonly sockets = new Set<import('node:net').Socket>();

  private onStream(stream: CallStream, headers: http2.IncomingHttpHeaders): void {
    stream.on('error', ignoreError);
    const session = (stream.session as TrackedSession | undefined)?.[SESSION];
    if (session === undefined) {
      stream.destroy();
      return;
    }
    if (headers[HTTP2_HEADER_METHOD] !== 'POST') return respondHttpError(stream, HTTP_STATUS_METHOD_NOT_ALLOWED);
    const contentType = headers[HTTP2_HEADER_CONTENT_TYPE];
    if (typeof contentType !== 'string' || !isGrpcContentType(contentType)) return respondHttpError(stream, HTTP_STATUS_UNSUPPORTED_MEDIA_TYPE);
    const path = headers[HTTP2_HEADER_PATH] as string | undefined;
    const method = path === undefined ? undefined : METHODS.get(path);
    if (method === undefined) return respondTrailersOnly(stream, GrpcStatus.UNIMPLEMENTED, `The server does not implement the method ${path ?? ''}`);
    let deadlineMs = -1;
    const timeout = headers['grpc-timeout'];
    if (timeout !== undefined) {
      const parsed = typeof timeout === 'string' ? parseGrpcTimeout(timeout) : null;
      if (parsed === null) return respondTrailersOnly(stream, GrpcStatus.INTERNAL, `Invalid grpc-timeout value "${String(timeout)}"`);
      deadlineMs = parsed;
    }
    const encoding = headers['grpc-encoding'];
    new Call(this, stream, session, method, typeof encoding === 'string' ? encoding : undefined, deadlineMs);
  }

  /** Handshake, idle and keepalive deadlines, for every connection, on one timer. */
  private sweep(): void {
    const now = Date.now();
    for (const session of this.sessions) {
      try {
        this.sweepSession(session, session[SESSION] as SessionState, now);
      } catch {
        // A timer callback must never throw: a session in a state node refuses to act on goes.
        session.destroy();
      }
    }
  }

  private sweepSession(session: TrackedSession, state: SessionState, now: number): void {
    if (!state.settled) {
      if (now - state.createdAt >= this.handshakeTimeoutMs) session.destroy();
      return;
    }
    if (state.pingOutstanding) {
      if (now - state.lastPingAt >= this.keepaliveTimeoutMs) session.destroy();
      return;
    }
    if (state.calls === 0 && !state.closing && now - state.idleSince >= this.idleTimeoutMs) {
      state.closing = true;
      session.close();
      return;
    }
    if (now - state.lastPingAt >= this.keepaliveTimeMs && !session.destroyed) {
      state.lastPingAt = now;
      state.pingOutstanding = true;
      const sent = session.ping((error) => {
        state.pingOutstanding = false;
        state.lastPingAt = Date.now();
        if (error !== null) session.destroy();
      });
      if (!sent) state.pingOutstanding = false;
    }
  }

  /**
   * Drains without waiting for peers: GOAWAY to every connection, then, once no call is in flight
   * (or at `graceMs`), every connection is closed by us. An idle client (Envoy keeps its connections
   * open) or a socket that never finished its handshake would otherwise hold the drain to the end.
   */
  close(graceMs: number): Promise<void> {
    this.draining = true;
    return new Promise<void>((resolve) => {
      let finished = false;
      const finish = () => {
        if (finished) return;
        finished = true;
        clearTimeout(force);
        clearInterval(this.sweeper);
        this.onCallGone = null;
        // One turn for the GOAWAY frames to reach the sockets, then the connections go.
        setImmediate(() => {
          for (const session of this.sessions) session.destroy();
          for (const socket of this.sockets) socket.destroy();
          resolve();
        });
      };
      const force = setTimeout(finish, graceMs);
      force.unref();
      this.http.close();
      for (const watch of [...this.watches]) watch.endWatch(OK_TRAILERS);
      for (const session of this.sessions) {
        const state = session[SESSION] as SessionState;
        state.closing = true;
        session.close();
      }
      this.onCallGone = () => {
        if (this.calls === 0) finish();
      };
      if (this.calls === 0) finish();
    });
  }
}

function listenAddress(address: string): { host: string; port: number } {
  const colon = address.lastIndexOf(':');
  if (colon < 0) throw new Error(`listen address ${address} has no port`);
  const host = address.slice(0, colon);
  const port = Number(address.slice(colon + 1));
  if (!Number.isInteger(port) || port < 0 || port > 65535) throw new Error(`listen address ${address} has no valid port`);
  return { host: host.startsWith('[') && host.endsWith(']') ? host.slice(1, -1) : host, port };
}

export async function startNativeGrpcServer(options: NativeGrpcServerOptions): Promise<RunningNativeGrpcServer> {
  const server = new NativeServer(options);
  const { host, port } = listenAddress(options.address);
  await new Promise<void>((resolve, reject) => {
    const onError = (error: Error) => reject(ListenError.from('grpc', options.address, error));
    server.http.once('error', onError);
    server.http.listen(port, host, () => {
      server.http.off('error', onError);
      server.http.on('error', ignoreError);
      resolve();
    });
  });
  const bound = server.http.address();
  const boundPort = typeof bound === 'object' && bound !== null ? bound.port : port;
  const shownHost = options.address.slice(0, options.address.lastIndexOf(':'));
  let closing: Promise<void> | null = null;
  return {
    address: `${shownHost}:${boundPort}`,
    close: (graceMs: number) => (closing ??= server.close(graceMs)),
    stats: () => ({ connections: server.sessions.size, calls: server.calls }),
  };
}

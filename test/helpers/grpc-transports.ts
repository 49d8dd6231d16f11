/**
 * Both gRPC server transports behind one call, so a suite can run against each, and a raw
 * node:http2 gRPC client for what a well-behaved client never sends.
 *
 *   for (const transport of GRPC_TRANSPORTS) describe(transport, () => { ... startTestGrpcServer(transport, { check }) ... });
 *   const answer = await rawGrpcCall(address, { body: grpcFrame(bytes) });   // { status, message, headers, trailers, data, ... }
 */
import { Buffer } from 'node:buffer';
import http2 from 'node:http2';
import type { GrpcTransport } from '../../src/config/types.js';
import type { CheckInput, Decision } from '../../src/decision/types.js';
import type { RequestLimits } from '../../src/transport/envoy-request.js';
import { startGrpcServer } from '../../src/transport/grpc-server.js';
import { HealthState } from '../../src/transport/health.js';
import { startNativeGrpcServer, type NativeGrpcServerOptions } from '../../src/transport/native-grpc-server.js';
import { CHECK_METHOD_PATH } from '../../src/transport/proto.js';
import type { Limits } from '../../src/config/types.js';

export const GRPC_TRANSPORTS: readonly GrpcTransport[] = ['native', 'grpc-js'];

export const TEST_LIMITS: RequestLimits = { maxHeaders: 100, maxHeaderBytes: 16 * 1024 };

export interface TestGrpcServer {
  readonly address: string;
  readonly health: HealthState;
  close(graceMs?: number): Promise<void>;
  /** Native transport only: open connections and unanswered calls. */
  stats(): { connections: number; calls: number };
}

export interface TestGrpcServerOptions {
  readonly check: (input: CheckInput) => Promise<Decision>;
  readonly limits?: RequestLimits;
  readonly onDecision?: (decision: Decision, seconds: number, input: CheckInput | null) => void;
  /** Native-only knobs (timeouts, bounds). */
  readonly native?: Partial<NativeGrpcServerOptions>;
}

export async function startTestGrpcServer(transport: GrpcTransport, options: TestGrpcServerOptions): Promise<TestGrpcServer> {
  const health = new HealthState();
  const limits = (options.limits ?? TEST_LIMITS) as Limits;
  const common = { address: '127.0.0.1:0', check: options.check, limits: () => limits, health, ...(options.onDecision ? { onDecision: options.onDecision } : {}) };
  if (transport === 'native') {
    const running = await startNativeGrpcServer({ ...common, ...options.native });
    health.set(true);
    return { address: running.address, health, close: (graceMs = 1000) => running.close(graceMs), stats: () => running.stats() };
  }
  const running = await startGrpcServer(common);
  health.set(true);
  return {
    address: running.address,
    health,
    close: (graceMs = 1000) => running.close(graceMs),
    stats: () => {
      throw new Error('stats() is native-only');
    },
  };
}

/** One gRPC message: flag byte, 32-bit length, bytes. */
export function grpcFrame(message: Uint8Array, flag = 0, declaredLength = message.length): Buffer {
  const header = Buffer.alloc(5);
  header[0] = flag;
  header.writeUInt32BE(declaredLength, 1);
  return Buffer.concat([header, message]);
}

export interface RawGrpcAnswer {
  /** Response headers (for a trailers-only answer, they carry grpc-status). */
  readonly headers: http2.IncomingHttpHeaders;
  readonly trailers: http2.IncomingHttpHeaders | null;
  readonly data: Buffer;
  /** grpc-status from the trailers, or from the headers of a trailers-only answer; null when none came. */
  readonly status: number | null;
  /** grpc-message exactly as sent (still percent-encoded). */
  readonly message: string | null;
  readonly trailersOnly: boolean;
  readonly rstCode: number;
}

export interface RawGrpcCall {
  readonly path?: string;
  readonly headers?: http2.OutgoingHttpHeaders;
  /** Written in order; a function is awaited between writes (to send pieces late). */
  readonly body?: readonly (Buffer | (() => Promise<void>))[];
  /** End the request stream after the body (default true). */
  readonly end?: boolean;
  /** Reuse a session; otherwise one is opened and closed for this call. */
  readonly session?: http2.ClientHttp2Session;
}

export function connectRaw(address: string): http2.ClientHttp2Session {
  const session = http2.connect(`http://${address}`);
  session.on('error', () => undefined);
  return session;
}

export async function rawGrpcCall(address: string, call: RawGrpcCall = {}): Promise<RawGrpcAnswer> {
  const session = call.session ?? connectRaw(address);
  try {
    const stream = session.request({
      ':method': 'POST',
      ':path': call.path ?? CHECK_METHOD_PATH,
      'content-type': 'application/grpc',
      te: 'trailers',
      ...call.headers,
    });
    stream.on('error', () => undefined);
    const answer = new Promise<RawGrpcAnswer>((resolve) => {
      let headers: http2.IncomingHttpHeaders = {};
      let trailers: http2.IncomingHttpHeaders | null = null;
      const chunks: Buffer[] = [];
      stream.on('response', (received) => (headers = received));
      stream.on('trailers', (received) => (trailers = received));
      stream.on('data', (chunk: Buffer) => chunks.push(chunk));
      stream.on('close', () => {
        const source = trailers ?? headers;
        const status = source['grpc-status'];
        resolve({
          headers,
          trailers,
          data: Buffer.concat(chunks),
          status: status === undefined ? null : Number(status),
          message: (source['grpc-message'] as string | undefined) ?? null,
          trailersOnly: trailers === null && headers['grpc-status'] !== undefined,
          rstCode: stream.rstCode ?? 0,
        });
      });
    });
    for (const piece of call.body ?? []) {
      if (typeof piece === 'function') await piece();
      else if (!stream.destroyed) stream.write(piece);
    }
    if (call.end !== false && !stream.destroyed) stream.end();
    return await answer;
  } finally {
    if (call.session === undefined) session.close();
  }
}

/** A check handler whose answers wait until released; counts how many are in flight. */
export class HeldChecks {
  readonly inputs: CheckInput[] = [];
  inFlight = 0;
  maxInFlight = 0;
  private readonly waiting: (() => void)[] = [];
  private released = false;

  constructor(private readonly decide: (input: CheckInput) => Decision) {}

  readonly check = async (input: CheckInput): Promise<Decision> => {
    this.inputs.push(input);
    this.inFlight += 1;
    this.maxInFlight = Math.max(this.maxInFlight, this.inFlight);
    try {
      if (!this.released) await new Promise<void>((resolve) => this.waiting.push(resolve));
      return this.decide(input);
    } finally {
      this.inFlight -= 1;
    }
  };

  release(): void {
    this.released = true;
    for (const resolve of this.waiting.splice(0)) resolve();
  }

  /** Resolves once `count` checks have started. */
  async started(count: number, limitMs = 5000): Promise<void> {
    const deadline = Date.now() + limitMs;
    while (this.inputs.length < count) {
      if (Date.now() > deadline) throw new Error(`only ${this.inputs.length} of ${count} checks started`);
      await new Promise((resolve) => setTimeout(resolve, 5));
    }
  }
}

/** Waits until `condition` holds; fails after `limitMs`. */
export async function until(condition: () => boolean, what: string, limitMs = 5000): Promise<void> {
  const deadline = Date.now() + limitMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`gave up waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

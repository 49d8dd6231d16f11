/**
 * The gRPC edge: envoy.service.auth.v3.Authorization/Check and grpc.health.v1.Health on one port.
 * Every Check is answered with RPC status OK and the decision inside CheckResponse.status: a failed
 * RPC means "error" to Envoy (failure_mode_allow), never "deny".
 */
import * as grpc from '@grpc/grpc-js';
import type { Limits } from '../config/types.js';
import type { CheckInput, Decision } from '../decision/types.js';
import { checkInputFrom } from './envoy-request.js';
import { checkResponseFrom } from './envoy-response.js';
import { AUTHORIZATION_SERVICE_NAME, hopguardProtos, type CheckResponse, type DecodedCheckRequest } from './proto.js';
import { createHealthService, type HealthState } from './health.js';
import { ListenError } from './listen-error.js';
import { edgeDenial, internalErrorDenial } from './overload.js';

export type CheckHandler = (input: CheckInput) => Promise<Decision>;

export interface GrpcServerOptions {
  readonly address: string;
  readonly check: CheckHandler;
  readonly limits: () => Limits;
  readonly health: HealthState;
  /** Called once per answered check, with its duration in seconds (telemetry hooks in here). */
  readonly onDecision?: (decision: Decision, seconds: number, input: CheckInput | null) => void;
}

export interface RunningGrpcServer {
  /** host:port actually bound (the port resolved when 0 was asked for). */
  readonly address: string;
  readonly server: grpc.Server;
  /**
   * Stops accepting, sends every connection a GOAWAY, and resolves once the calls in flight are
   * answered (or `graceMs` passed): idle connections are not waited for.
   */
  close(graceMs: number): Promise<void>;
}

/**
 * Counts the calls whose stream is open, from the request's headers to the stream's close. A
 * server interceptor sees a call from its first frame, before its message has arrived, so a check
 * half received is counted too. grpc-js reports every stream's close as onCancel, answered or not.
 */
export function createCallTracker(): { interceptor: grpc.ServerInterceptor; active(): number; whenIdle(callback: () => void): void } {
  let active = 0;
  const idleWaiters: (() => void)[] = [];
  const ended = () => {
    active -= 1;
    if (active === 0) for (const waiter of idleWaiters.splice(0)) waiter();
  };
  const interceptor: grpc.ServerInterceptor = (_method, call) => {
    active += 1;
    let open = true;
    return new grpc.ServerInterceptingCall(call, {
      start: (next) =>
        next({
          onCancel: () => {
            if (!open) return;
            open = false;
            ended();
          },
        }),
    });
  };
  return {
    interceptor,
    active: () => active,
    whenIdle(callback) {
      if (active === 0) callback();
      else idleWaiters.push(callback);
    },
  };
}

/** hopguard reads headers only; a 1 MiB request is already far beyond any real CheckRequest. */
export const MAX_RECEIVE_BYTES = 1024 * 1024;

export async function startGrpcServer(options: GrpcServerOptions): Promise<RunningGrpcServer> {
  const protos = hopguardProtos();
  const calls = createCallTracker();
  const server = new grpc.Server({
    'grpc.max_receive_message_length': MAX_RECEIVE_BYTES,
    'grpc.keepalive_permit_without_calls': 1,
    interceptors: [calls.interceptor],
  });

  const check: grpc.handleUnaryCall<DecodedCheckRequest, CheckResponse> = (call, callback) => {
    const started = process.hrtime.bigint();
    const limits = options.limits();
    const finish = (decision: Decision, input: CheckInput | null) => {
      const seconds = Number(process.hrtime.bigint() - started) / 1e9;
      try {
        options.onDecision?.(decision, seconds, input);
      } catch {
        // Telemetry must never keep Envoy from its answer.
      }
      callback(null, checkResponseFrom(decision));
    };
    let input: CheckInput;
    try {
      input = checkInputFrom(call.request, limits);
    } catch (error) {
      finish(internalErrorDenial(error, 'unreadable CheckRequest'), null);
      return;
    }
    // Load shedding happens in `check` (one bound per process, shared with the HTTP transport).
    options
      .check(input)
      .then(
        (decision) => finish(decision, input),
        // An unexpected error is hopguard's, never the token's (SPEC: Errors inside hopguard).
        (error: unknown) => finish(internalErrorDenial(error), input),
      )
      .catch(() => callback({ code: grpc.status.INTERNAL, details: 'hopguard could not encode its answer' }));
  };

  server.addService(protos.authorizationService, { Check: check } as grpc.UntypedServiceImplementation);
  server.addService(protos.healthService, createHealthService(options.health, [AUTHORIZATION_SERVICE_NAME]));

  // grpc-js logs a failed bind itself, besides the error it hands back; hopguard reports that
  // error in one line, so the library's own line is silenced for the bind unless asked for.
  const verbosity = (process.env.GRPC_NODE_VERBOSITY ?? process.env.GRPC_VERBOSITY ?? '').toUpperCase();
  const quietBind = verbosity === '' || verbosity === 'ERROR';
  if (quietBind) grpc.setLogVerbosity(grpc.logVerbosity.NONE);
  const port = await new Promise<number>((resolve, reject) => {
    server.bindAsync(options.address, grpc.ServerCredentials.createInsecure(), (error, boundPort) =>
      error ? reject(ListenError.from('grpc', options.address, error)) : resolve(boundPort),
    );
  }).finally(() => {
    if (quietBind) grpc.setLogVerbosity(grpc.logVerbosity.ERROR);
  });
  const host = options.address.slice(0, options.address.lastIndexOf(':'));

  return {
    address: `${host}:${port}`,
    server,
    close: (graceMs: number) =>
      new Promise<void>((resolve) => {
        let finished = false;
        const finish = () => {
          if (finished) return;
          finished = true;
          clearTimeout(timer);
          server.forceShutdown();
          resolve();
        };
        const timer = setTimeout(finish, graceMs);
        timer.unref();
        // Closes the listener and sends every connection a GOAWAY; it reports only once every
        // peer has closed its side, which an idle Envoy connection may never do, so the calls in
        // flight decide instead. A call's stream closes after its answer is written.
        server.tryShutdown(finish);
        calls.whenIdle(() => setImmediate(finish));
      }),
  };
}

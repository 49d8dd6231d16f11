/**
 * Envoy's HTTP ext_authz mode (`http_service`): Envoy replays the original request (any method,
 * any path) with the headers its config allows, and reads our answer: 200 means allow, and the
 * answer's headers named by `allowed_upstream_headers` are set on the upstream request; any other
 * status is a denial whose status, headers and body go back to the client.
 *
 * The same CheckInput and the same pipeline as gRPC. What gRPC gets from the CheckRequest comes
 * here from headers Envoy sets itself: the workload from `x-hopguard-workload` (Envoy's
 * `headers_to_add`), or from the `By` field of a trusted `x-forwarded-client-cert`.
 */
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Limits } from '../config/types.js';
import { deniedHttpResponse } from '../decision/reasons.js';
import type { CheckInput, Decision } from '../decision/types.js';
import { callerFromXfcc } from '../identity/index.js';
import { checkInputFrom } from './envoy-request.js';
import type { CheckHandler } from './grpc-server.js';
import { ListenError } from './listen-error.js';
import { edgeDenial, internalErrorDenial } from './overload.js';

export const WORKLOAD_HEADER = 'x-hopguard-workload';
/** Envoy removes the upstream headers listed here (comma-separated) when the check allows. */
export const HEADERS_TO_REMOVE_HEADER = 'x-envoy-auth-headers-to-remove';
/** Room for a maximal token plus Envoy's own headers; Node's default (16 KiB) is too tight. */
const MAX_REQUEST_HEADER_BYTES = 96 * 1024;

export interface HttpServerOptions {
  readonly address: string;
  readonly check: CheckHandler;
  readonly limits: () => Limits;
  /** Whether `id` is a configured workload that trusts x-forwarded-client-cert. */
  readonly trustsXfcc: (id: string) => boolean;
  readonly onDecision?: (decision: Decision, seconds: number, input: CheckInput | null) => void;
}

export interface RunningHttpServer {
  readonly address: string;
  /** Stops accepting connections; resolves when in-flight checks are answered or `graceMs` passed. */
  close(graceMs: number): Promise<void>;
}

/** rawHeaders keeps every header line apart, where `request.headers` would drop a second Authorization. */
function headerLines(request: IncomingMessage): { key: string; value: string }[] {
  const lines: { key: string; value: string }[] = [];
  const raw = request.rawHeaders;
  for (let i = 0; i + 1 < raw.length; i += 2) lines.push({ key: raw[i] as string, value: raw[i + 1] as string });
  return lines;
}

function valuesOf(lines: readonly { key: string; value: string }[], name: string): string[] {
  return lines.filter((line) => line.key.length === name.length && line.key.toLowerCase() === name).map((line) => line.value);
}

/** The receiving workload, as gRPC would carry it: a context extension or a destination principal. */
function workloadOf(lines: readonly { key: string; value: string }[], trustsXfcc: (id: string) => boolean): { extension: string | null; destination: string } {
  const named = valuesOf(lines, WORKLOAD_HEADER);
  // Two values cannot both be Envoy's: the joined text names no workload and the check denies.
  if (named.length > 0) return { extension: named.join(','), destination: '' };
  const xfcc = valuesOf(lines, 'x-forwarded-client-cert');
  if (xfcc.length === 0) return { extension: null, destination: '' };
  const parsed = callerFromXfcc(xfcc.join(','));
  if (!parsed.ok) return { extension: null, destination: '' };
  const trusted = parsed.caller.by.find((id) => trustsXfcc(id));
  return { extension: null, destination: trusted ?? '' };
}

export function checkInputFromHttp(request: IncomingMessage, limits: Limits, trustsXfcc: (id: string) => boolean): CheckInput {
  const lines = headerLines(request);
  const workload = workloadOf(lines, trustsXfcc);
  // Envoy replays the original request line; `x-forwarded-proto` is the scheme the client used.
  const forwardedProto = valuesOf(lines, 'x-forwarded-proto');
  const host = request.headers.host ?? '';
  const http = {
    header_map: { headers: lines },
    method: request.method ?? '',
    path: request.url ?? '',
    host,
    scheme: forwardedProto.length === 1 ? (forwardedProto[0] as string).trim().toLowerCase() : 'http',
  };
  return checkInputFrom(
    {
      attributes: {
        request: { http },
        destination: { principal: workload.destination },
        context_extensions: workload.extension === null ? {} : { 'hopguard.workload': workload.extension },
      },
    },
    limits,
  );
}

/** Header values Node refuses to write (outside latin1) are not forwarded; the name is removed instead. */
function writableHeaderValue(value: string): boolean {
  return /^[\t\x20-\x7e\x80-\xff]*$/.test(value);
}

function respond(response: ServerResponse, decision: Decision): void {
  if (decision.allowed) {
    const remove = new Set(decision.headersToRemove);
    const headers: Record<string, string> = {};
    for (const [name, value] of decision.headersToSet) {
      if (writableHeaderValue(value)) headers[name] = value;
      else remove.add(name);
    }
    if (remove.size > 0) headers[HEADERS_TO_REMOVE_HEADER] = [...remove].join(',');
    response.writeHead(200, headers).end();
    return;
  }
  const denied = deniedHttpResponse(decision.reason, decision.workload, decision.denialHeaders);
  response.writeHead(denied.httpStatus, { ...denied.headers }).end(denied.body);
}

export async function startHttpServer(options: HttpServerOptions): Promise<RunningHttpServer> {
  let draining = false;
  // Requests between their headers and their answer's last byte written: what a drain waits for.
  let inFlight = 0;
  const idleWaiters: (() => void)[] = [];

  const server = createServer({ maxHeaderSize: MAX_REQUEST_HEADER_BYTES }, (request, response) => {
    inFlight += 1;
    response.once('close', () => {
      inFlight -= 1;
      if (inFlight === 0) for (const waiter of idleWaiters.splice(0)) waiter();
    });
    // Envoy may send the request body (with_request_body); the decision never reads it.
    request.resume();
    const started = process.hrtime.bigint();
    const finish = (decision: Decision, input: CheckInput | null) => {
      const seconds = Number(process.hrtime.bigint() - started) / 1e9;
      options.onDecision?.(decision, seconds, input);
      if (draining) response.setHeader('connection', 'close');
      respond(response, decision);
    };
    let input: CheckInput;
    try {
      input = checkInputFromHttp(request, options.limits(), options.trustsXfcc);
    } catch (error) {
      finish(internalErrorDenial(error, 'unreadable request'), null);
      return;
    }
    // Load shedding happens in `check` (one bound per process, shared with the gRPC transport).
    options.check(input).then(
      (decision) => finish(decision, input),
      (error: unknown) => finish(internalErrorDenial(error), input),
    );
  });
  server.keepAliveTimeout = 60_000;
  server.headersTimeout = 10_000;
  server.requestTimeout = 30_000;

  const colon = options.address.lastIndexOf(':');
  const host = options.address.slice(0, colon).replace(/^\[(.*)\]$/, '$1');
  await new Promise<void>((resolve, reject) => {
    const failed = (error: Error) => reject(ListenError.from('http', options.address, error));
    server.once('error', failed);
    server.listen(Number(options.address.slice(colon + 1)), host, () => {
      server.off('error', failed);
      resolve();
    });
  });
  const bound = server.address() as AddressInfo;

  return {
    address: `${host.includes(':') ? `[${host}]` : host}:${bound.port}`,
    close(graceMs) {
      draining = true;
      // Idle keep-alive connections are closed at once; answers sent while draining say
      // `connection: close`. Once no request is in flight, whatever is still open (a peer that
      // sent nothing, or half a request) is cut: nothing there was accepted as a check.
      return new Promise<void>((resolve) => {
        let finished = false;
        const finish = () => {
          if (finished) return;
          finished = true;
          clearTimeout(timer);
          server.closeAllConnections();
          resolve();
        };
        const timer = setTimeout(finish, graceMs);
        timer.unref();
        server.close(finish);
        server.closeIdleConnections();
        if (inFlight === 0) finish();
        else idleWaiters.push(finish);
      });
    },
  };
}

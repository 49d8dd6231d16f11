/**
 * hopguard's gRPC server, on each transport (native node:http2 and grpc-js), called by a client
 * built only from Envoy's official protos: the service path, request decoding and response
 * encoding all line up over HTTP/2 on loopback.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { CheckInput, Decision } from '../../src/decision/types.js';
import { CHECK_METHOD_PATH, hopguardProtos } from '../../src/transport/proto.js';
import { createEnvoyClient, envoyCheckRequest, envoyProtos, readCheckResponse, type EnvoyClient } from '../helpers/envoy-client.js';
import { GRPC_TRANSPORTS, startTestGrpcServer, type TestGrpcServer } from '../helpers/grpc-transports.js';
import { allowDecision, denyDecision, FRONTEND, ORDERS } from './decisions.js';

const LIMITS = { maxHeaders: 100, maxHeaderBytes: 16 * 1024 };

/** Stands in for the pipeline: one good token is allowed, anything else is token_missing. */
function trivialDecision(input: CheckInput): Decision {
  const workload = input.contextExtensions['hopguard.workload'] ?? input.destinationPrincipal;
  const authorization = input.headers.get('authorization');
  if (authorization?.length === 1 && authorization[0] === 'Bearer good') return allowDecision();
  return denyDecision('token_missing', workload);
}

describe.each(GRPC_TRANSPORTS)('Authorization service over gRPC (%s transport), called with Envoy official protos', (transport) => {
  const seen: CheckInput[] = [];
  let server: TestGrpcServer;
  let client: EnvoyClient;

  beforeAll(async () => {
    server = await startTestGrpcServer(transport, {
      limits: LIMITS,
      check: async (input) => {
        seen.push(input);
        if (input.headers.get('authorization')?.[0] === 'Bearer explode') throw new Error('a bug, not a bad token');
        return trivialDecision(input);
      },
    });
    client = createEnvoyClient(server.address);
  });

  afterAll(async () => {
    client?.close();
    await server?.close();
  });

  it('serves the path Envoy calls', () => {
    expect(envoyProtos().authorizationService.Check?.path).toBe('/envoy.service.auth.v3.Authorization/Check');
    expect(hopguardProtos().authorizationService.Check?.path).toBe(CHECK_METHOD_PATH);
    expect(CHECK_METHOD_PATH).toBe('/envoy.service.auth.v3.Authorization/Check');
  });

  it('allows with overwriting headers and metadata, and hands the pipeline what Envoy sent', async () => {
    seen.length = 0;
    const response = await client.check(
      envoyCheckRequest({ token: 'good', workload: ORDERS, destinationPrincipal: ORDERS, sourcePrincipal: FRONTEND, sourceCertificate: 'PEM%0A' }),
    );
    expect(readCheckResponse(response)).toEqual({
      allowed: true,
      grpcCode: 0,
      reason: '',
      httpStatus: 200,
      headers: { 'x-hopguard-sub': 'user-1', 'x-hopguard-iss': 'https://idp.example.com', 'x-hopguard-workload': ORDERS },
      appendActions: {
        'x-hopguard-sub': 'OVERWRITE_IF_EXISTS_OR_ADD',
        'x-hopguard-iss': 'OVERWRITE_IF_EXISTS_OR_ADD',
        'x-hopguard-workload': 'OVERWRITE_IF_EXISTS_OR_ADD',
      },
      appendFieldSet: false,
      headersToRemove: ['x-hopguard-shadow-reason'],
      body: null,
      metadata: {
        iss: 'https://idp.example.com',
        sub: 'user-1',
        aud: [ORDERS, 'orders-api'],
        jti: 'jti-0001',
        exp: 1767229200,
        workload: ORDERS,
        source: FRONTEND,
      },
    });
    expect(seen).toEqual([
      {
        request: { method: 'GET', path: '/orders?id=1', host: 'api.demo.local', scheme: 'http' },
        headers: new Map([
          ['x-request-id', ['c0ffee00-0000-4000-8000-000000000001']],
          ['authorization', ['Bearer good']],
        ]),
        contextExtensions: { 'hopguard.workload': ORDERS },
        destinationPrincipal: ORDERS,
        sourcePrincipal: FRONTEND,
        sourceCertificate: 'PEM%0A',
      },
    ]);
  });

  it('denies with a custom 401 inside a successful RPC, as Envoy needs for a non-403 status', async () => {
    const view = readCheckResponse(await client.check(envoyCheckRequest({ workload: ORDERS })));
    expect(view).toMatchObject({ allowed: false, grpcCode: 16, reason: 'token_missing', httpStatus: 401, body: { error: 'invalid_request', reason: 'token_missing' } });
    expect(view.headers['www-authenticate']).toBe(`Bearer realm="${ORDERS}", error="invalid_request", error_description="no bearer token"`);
    expect(view.metadata).toEqual({ reason: 'token_missing', workload: ORDERS });
  });

  it('reads raw header lines (encode_raw_headers) and keeps duplicates apart', async () => {
    seen.length = 0;
    const view = readCheckResponse(
      await client.check(envoyCheckRequest({ rawHeaders: [['authorization', 'Bearer good'], ['authorization', 'Bearer good']], workload: ORDERS })),
    );
    expect(seen[0]?.headers.get('authorization')).toEqual(['Bearer good', 'Bearer good']);
    expect(view.allowed).toBe(false);
  });

  it('answers a request with no attributes at all without failing the RPC', async () => {
    const view = readCheckResponse(await client.check({}));
    expect(view).toMatchObject({ allowed: false, reason: 'token_missing', httpStatus: 401 });
  });

  it('denies internal_error (HTTP 500, status 13) inside a successful RPC when the check itself fails', async () => {
    const view = readCheckResponse(await client.check(envoyCheckRequest({ token: 'explode', workload: ORDERS })));
    expect(view).toMatchObject({ allowed: false, grpcCode: 13, reason: 'internal_error', httpStatus: 500 });
    expect(view.headers['www-authenticate']).toBeUndefined();
  });
});

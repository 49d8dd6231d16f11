/**
 * Benchmark fixtures, generated at run time: signing keys and their JWKS, tokens signed with
 * node:crypto directly (fast enough to mint tens of thousands), and CheckRequests encoded once
 * into gRPC frames (1-byte flag, 4-byte length, CheckRequest bytes) with hopguard's own protos.
 */
import { createPrivateKey, generateKeyPairSync, sign } from 'node:crypto';
import { hopguardProtos } from '../../dist/src/transport/proto.js';

export const ISSUER = 'https://idp.bench.local';
export const WORKLOAD = 'spiffe://bench.local/ns/shop/sa/orders';
export const CALLER = 'spiffe://bench.local/ns/shop/sa/frontend';
export const CHECK_PATH = '/envoy.service.auth.v3.Authorization/Check';

const b64url = (value) => Buffer.from(typeof value === 'string' ? value : JSON.stringify(value)).toString('base64url');

export function generateSigningKey(alg, kid) {
  const pair =
    alg === 'ES256'
      ? generateKeyPairSync('ec', { namedCurve: 'P-256' })
      : generateKeyPairSync('rsa', { modulusLength: 2048 });
  const publicJwk = { ...pair.publicKey.export({ format: 'jwk' }), kid, alg, use: 'sig' };
  return { alg, kid, privateKey: pair.privateKey, publicJwk, privatePem: pair.privateKey.export({ format: 'pem', type: 'pkcs8' }) };
}

/** Rebuilds a key from generateSigningKey's fields (for worker processes). */
export function signingKeyFrom({ alg, kid, privatePem, publicJwk }) {
  return { alg, kid, publicJwk, privatePem, privateKey: createPrivateKey(privatePem) };
}

export function signJwt(key, claims) {
  const signingInput = `${b64url({ alg: key.alg, kid: key.kid, typ: 'JWT' })}.${b64url(claims)}`;
  const signature =
    key.alg === 'ES256'
      ? sign('sha256', Buffer.from(signingInput), { key: key.privateKey, dsaEncoding: 'ieee-p1363' })
      : sign('sha256', Buffer.from(signingInput), key.privateKey);
  return `${signingInput}.${signature.toString('base64url')}`;
}

/** A valid token for the bench workload; `n` makes jti (and so the token) distinct. */
export function benchToken(key, n, { lifetimeSeconds = 3600 } = {}) {
  const now = Math.floor(Date.now() / 1000);
  return signJwt(key, {
    iss: ISSUER,
    sub: CALLER,
    aud: WORKLOAD,
    iat: now,
    exp: now + lifetimeSeconds,
    jti: `bench-${n}-${Math.random().toString(36).slice(2, 10)}`,
    scope: 'orders:read orders:write',
  });
}

/** The token with its signature's first character changed: same header and payload, bad signature. */
export function withBadSignature(token) {
  const cut = token.lastIndexOf('.') + 1;
  const first = token[cut] === 'A' ? 'B' : 'A';
  return `${token.slice(0, cut)}${first}${token.slice(cut + 1)}`;
}

/** A CheckRequest as Envoy's sidecar sends it, with a few ordinary headers around the token. */
export function checkRequest(token) {
  return {
    attributes: {
      source: { principal: CALLER, address: { socket_address: { address: '10.0.0.7', port_value: 43122 } } },
      destination: { principal: WORKLOAD, address: { socket_address: { address: '10.0.0.9', port_value: 8080 } } },
      request: {
        time: { seconds: String(Math.floor(Date.now() / 1000)), nanos: 0 },
        http: {
          id: '1234567890',
          method: 'GET',
          path: '/orders/42',
          host: 'orders.shop.svc.cluster.local',
          scheme: 'http',
          protocol: 'HTTP/1.1',
          headers: {
            ':authority': 'orders.shop.svc.cluster.local',
            ':method': 'GET',
            ':path': '/orders/42',
            accept: 'application/json',
            'user-agent': 'bench/1.0',
            'x-request-id': '9f1c7f6e-4b7a-4a53-9d5e-0a4f3f1c2b11',
            traceparent: '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01',
            authorization: `Bearer ${token}`,
          },
        },
      },
      context_extensions: { 'hopguard.workload': WORKLOAD },
    },
  };
}

export function grpcFrame(message) {
  const frame = Buffer.allocUnsafe(5 + message.length);
  frame.writeUInt8(0, 0);
  frame.writeUInt32BE(message.length, 1);
  message.copy(frame, 5);
  return frame;
}

const checkMethod = () => hopguardProtos().authorizationService.Check;

export function checkFrame(token) {
  return grpcFrame(checkMethod().requestSerialize(checkRequest(token)));
}

export function decodeCheckResponse(bytes) {
  return checkMethod().responseDeserialize(bytes);
}

/** A hopguard config document (JSON-serialisable, read by servers/hopguard.mjs). */
export function hopguardConfig({ keys, replay = 'off', store = 'memory', redisUrl, signatureCacheEntries, grpcPort }) {
  return {
    listen: { grpc: `127.0.0.1:${grpcPort}` },
    issuers: [{ issuer: ISSUER, jwks: { keys: keys.map((key) => key.publicJwk) }, algorithms: ['ES256', 'RS256'] }],
    workloads: [
      {
        id: WORKLOAD,
        sources: ['spiffe://bench.local/ns/shop/*'],
        replay,
        claims: { scope: { contains: 'orders:read' } },
        forward: { claimsToHeaders: { scope: 'x-scope' } },
      },
    ],
    replay: { store, ...(store === 'redis' ? { redis: { url: redisUrl } } : {}) },
    limits: { ...(signatureCacheEntries === undefined ? {} : { signatureCacheEntries }), maxConcurrentChecks: 100_000 },
  };
}

/**
 * Benchmark fixtures, generated at run time: signing keys and their JWKS, tokens signed with
 * node:crypto directly (fast enough to mint tens of thousands), and CheckRequests encoded once
 * into gRPC frames (1-byte flag, 4-byte length, CheckRequest bytes) with hopguard's own protos.
 */
import { createHash, createPrivateKey, generateKeyPairSync, sign } from 'node:crypto';
import { hopguardProtos } from '../../dist/src/transport/proto.js';

export const ISSUER = 'https://idp.bench.local';
export const WORKLOAD = 'spiffe://bench.local/ns/shop/sa/orders';
export const CALLER = 'spiffe://bench.local/ns/shop/sa/frontend';
export const CHECK_PATH = '/envoy.service.auth.v3.Authorization/Check';

const b64url = (value) => Buffer.from(typeof value === 'string' ? value : JSON.stringify(value)).toString('base64url');

/** The request every scenario sends, as Envoy's ext_authz filter describes it. */
export const REQUEST = { method: 'GET', scheme: 'http', host: 'orders.shop.svc.cluster.local', path: '/orders/42' };

export function generateSigningKey(alg, kid) {
  const pair =
    alg === 'ES256'
      ? generateKeyPairSync('ec', { namedCurve: 'P-256' })
      : alg === 'EdDSA'
        ? generateKeyPairSync('ed25519')
        : generateKeyPairSync('rsa', { modulusLength: 2048 });
  const publicJwk = { ...pair.publicKey.export({ format: 'jwk' }), kid, alg, use: 'sig' };
  return { alg, kid, privateKey: pair.privateKey, publicJwk, privatePem: pair.privateKey.export({ format: 'pem', type: 'pkcs8' }) };
}

/** Rebuilds a key from generateSigningKey's fields (for worker processes). */
export function signingKeyFrom({ alg, kid, privatePem, publicJwk }) {
  return { alg, kid, publicJwk, privatePem, privateKey: createPrivateKey(privatePem) };
}

export function signJwt(key, claims, header = { alg: key.alg, kid: key.kid, typ: 'JWT' }) {
  const signingInput = `${b64url(header)}.${b64url(claims)}`;
  const signature =
    key.alg === 'ES256'
      ? sign('sha256', Buffer.from(signingInput), { key: key.privateKey, dsaEncoding: 'ieee-p1363' })
      : key.alg === 'EdDSA'
        ? sign(null, Buffer.from(signingInput), key.privateKey)
        : sign('sha256', Buffer.from(signingInput), key.privateKey);
  return `${signingInput}.${signature.toString('base64url')}`;
}

/** A valid token for the bench workload; `n` makes jti (and so the token) distinct. */
export function benchToken(key, n, { lifetimeSeconds = 3600, extraClaims = {} } = {}) {
  const now = Math.floor(Date.now() / 1000);
  return signJwt(key, {
    iss: ISSUER,
    sub: CALLER,
    aud: WORKLOAD,
    iat: now,
    exp: now + lifetimeSeconds,
    jti: `bench-${n}-${Math.random().toString(36).slice(2, 10)}`,
    scope: 'orders:read orders:write',
    ...extraClaims,
  });
}

// ---------- DPoP (RFC 9449) ----------

/** The caller's proof key: ES256, its public JWK and RFC 7638 thumbprint. */
export function generateDpopKey() {
  const key = generateSigningKey('ES256', undefined);
  const { crv, kty, x, y } = key.publicJwk;
  const jwk = { crv, kty, x, y };
  // RFC 7638: the required members in lexicographic order, no whitespace.
  const thumbprint = createHash('sha256').update(JSON.stringify({ crv, kty, x, y })).digest('base64url');
  return { ...key, jwk, thumbprint };
}

/** An access token bound to the proof key (cnf.jkt). */
export function dpopBoundToken(key, dpopKey, n) {
  return benchToken(key, n, { extraClaims: { cnf: { jkt: dpopKey.thumbprint } } });
}

/** A fresh proof for the bench request: new jti, now as iat, ath of the access token. */
export function dpopProof(dpopKey, accessToken, n) {
  return signJwt(
    dpopKey,
    {
      jti: `proof-${n}-${Math.random().toString(36).slice(2, 10)}`,
      htm: REQUEST.method,
      htu: `${REQUEST.scheme}://${REQUEST.host}${REQUEST.path}`,
      iat: Math.floor(Date.now() / 1000),
      ath: createHash('sha256').update(accessToken).digest('base64url'),
    },
    { typ: 'dpop+jwt', alg: 'ES256', jwk: dpopKey.jwk },
  );
}

/** The token with its signature's first character changed: same header and payload, bad signature. */
export function withBadSignature(token) {
  const cut = token.lastIndexOf('.') + 1;
  const first = token[cut] === 'A' ? 'B' : 'A';
  return `${token.slice(0, cut)}${first}${token.slice(cut + 1)}`;
}

/**
 * A CheckRequest as an Istio sidecar's ext_authz filter sends it: source and destination
 * principals from mTLS, and the request headers a mesh request carries (17 with the token: the
 * pseudo-headers, Envoy's and B3/W3C tracing headers, XFCC).
 */
export function checkRequest(token, { scheme = 'Bearer', dpop } = {}) {
  return {
    attributes: {
      source: { principal: CALLER, address: { socket_address: { address: '10.0.0.7', port_value: 43122 } } },
      destination: { principal: WORKLOAD, address: { socket_address: { address: '10.0.0.9', port_value: 8080 } } },
      request: {
        time: { seconds: String(Math.floor(Date.now() / 1000)), nanos: 0 },
        http: {
          id: '1234567890',
          method: REQUEST.method,
          path: REQUEST.path,
          host: REQUEST.host,
          scheme: REQUEST.scheme,
          protocol: 'HTTP/1.1',
          headers: {
            ':authority': REQUEST.host,
            ':method': REQUEST.method,
            ':path': REQUEST.path,
            ':scheme': REQUEST.scheme,
            accept: 'application/json',
            'accept-encoding': 'gzip, deflate, br',
            'user-agent': 'bench/1.0',
            'x-forwarded-proto': 'http',
            'x-request-id': '9f1c7f6e-4b7a-4a53-9d5e-0a4f3f1c2b11',
            'x-envoy-attempt-count': '1',
            'x-forwarded-client-cert': `By=${WORKLOAD};Hash=4b2c6b1e3f0d2a9c8e7f6a5b4c3d2e1f0a9b8c7d6e5f4a3b2c1d0e9f8a7b6c5d;Subject="";URI=${CALLER}`,
            'x-b3-traceid': '4bf92f3577b34da6a3ce929d0e0e4736',
            'x-b3-spanid': '00f067aa0ba902b7',
            'x-b3-parentspanid': '5fbf3b7a2b0e9c11',
            'x-b3-sampled': '0',
            traceparent: '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01',
            authorization: `${scheme} ${token}`,
            ...(dpop === undefined ? {} : { dpop }),
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

export function checkFrame(token, options) {
  return grpcFrame(checkMethod().requestSerialize(checkRequest(token, options)));
}

export function decodeCheckResponse(bytes) {
  return checkMethod().responseDeserialize(bytes);
}

/**
 * `count` operations for the bench workload, only the last matching the bench request (GET
 * /orders/42): every check walks all of them, the worst case of a first-match list.
 */
export function benchOperations(count) {
  const others = Array.from({ length: Math.max(0, count - 1) }, (_, n) => ({
    name: `other-${n}`,
    methods: n % 2 === 0 ? ['POST', 'PUT'] : ['GET'],
    paths: [`/other-${n}/*`, `/tenants/{tenant}/other-${n}/**`],
    claims: { scope: { contains: 'orders:write' } },
  }));
  return [...others, { name: 'read', methods: ['GET', 'HEAD'], paths: ['/orders', '/orders/*'], claims: { scope: { contains: 'orders:read' } } }];
}

/**
 * A hopguard config document (JSON-serialisable, read by servers/hopguard.mjs or `hopguard serve`).
 * `operations` (SPEC "The request"), `dpop` (SPEC "DPoP"), `transport` (`listen.transport`) and
 * `workers` are only written when asked for, so a server that does not know them yet still loads
 * the other scenarios' configs.
 */
export function hopguardConfig({ keys, replay = 'off', store = 'memory', redisUrl, signatureCacheEntries, grpcPort, operations, dpop, transport, workers }) {
  return {
    listen: { grpc: `127.0.0.1:${grpcPort}`, ...(transport ? { transport } : {}) },
    issuers: [{ issuer: ISSUER, jwks: { keys: keys.map((key) => key.publicJwk) }, algorithms: [...new Set(keys.map((key) => key.alg))] }],
    workloads: [
      {
        id: WORKLOAD,
        sources: ['spiffe://bench.local/ns/shop/*'],
        replay,
        claims: { scope: { contains: 'orders:read' } },
        forward: { claimsToHeaders: { scope: 'x-scope' } },
        ...(operations ? { operations: benchOperations(operations) } : {}),
        // The proofs are minted before the scenario starts: a generous proofMaxAge keeps them valid.
        ...(dpop ? { dpop: { mode: 'required', algorithms: ['ES256'], proofMaxAge: '10m' } } : {}),
      },
    ],
    replay: { store, ...(store === 'redis' ? { redis: { url: redisUrl } } : {}) },
    limits: { ...(signatureCacheEntries === undefined ? {} : { signatureCacheEntries }), maxConcurrentChecks: 100_000 },
    ...(workers ? { workers } : {}),
  };
}

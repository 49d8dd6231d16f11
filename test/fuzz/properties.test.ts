/**
 * Property tests over everything that reads caller- or operator-supplied bytes: the bearer
 * extraction, the token pre-parser and header decoding, the XFCC parser, the config loader, the
 * CheckRequest decoder, and the whole pipeline behind them. Arbitrary input yields a decision or a
 * config error, never an exception; sizes kept are bounded by the limits. Hangs surface as test
 * timeouts. `npm run fuzz` (scripts/fuzz.mjs) runs the same properties with far more inputs.
 */
import { Buffer } from 'node:buffer';
import { randomUUID } from 'node:crypto';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfigObject, loadConfigText } from '../../src/config/load.js';
import type { HopguardConfig } from '../../src/config/types.js';
import { createPipeline, type Pipeline } from '../../src/decision/pipeline.js';
import { isReasonCode } from '../../src/decision/reasons.js';
import { decodeJsonObject, MAX_JSON_DEPTH, parseCompact, parseCompactJws } from '../../src/jwt/compact.js';
import { extractAuthorization } from '../helpers/authorization.js';
import { createKeySetRegistry, type KeySetRegistry } from '../../src/jwt/keysets/index.js';
import { createJoseSignatureVerifier } from '../../src/jwt/signature.js';
import { callerFromXfcc, formatXfcc, parseXfcc, MAX_XFCC_ELEMENTS } from '../../src/identity/xfcc.js';
import { createReplayStore } from '../../src/replay/index.js';
import { checkInputFrom, OVERSIZE_HEADER_VALUE } from '../../src/transport/envoy-request.js';
import { envoyCheckRequest } from '../helpers/envoy-client.js';
import { generateTestKey, jwksOf, type TestKey } from '../helpers/keys.js';
import { assemble, rawSign } from '../security/support.js';
import { checkAsyncProperty, checkProperty } from './fuzz-settings.js';

/** Cheap "any character": ASCII often, any UTF-16 unit (lone surrogates too), astral code points. */
const anyChar = fc.oneof(
  { arbitrary: fc.integer({ min: 0, max: 0x7f }).map((code) => String.fromCharCode(code)), weight: 4 },
  { arbitrary: fc.integer({ min: 0, max: 0xffff }).map((code) => String.fromCharCode(code)), weight: 2 },
  { arbitrary: fc.integer({ min: 0x10000, max: 0x10ffff }).map((code) => String.fromCodePoint(code)), weight: 1 },
);
const anyString = (maxLength: number) => fc.string({ unit: anyChar, maxLength });
/** Characters tokens are made of, plus the ones parsers trip on. */
const tokenChar = fc.constantFrom(...'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_.=+/ ,\t"{}:'.split(''));
const tokenish = (maxLength: number) => fc.string({ unit: tokenChar, maxLength });
const b64 = (value: string | Uint8Array) => Buffer.from(value).toString('base64url');

/** A compact JWS built from arbitrary JSON text for header and payload, and arbitrary signature bytes. */
const jwsFromJson = fc
  .tuple(fc.oneof(fc.json({ maxDepth: 4 }), anyString(64)), fc.oneof(fc.json({ maxDepth: 4 }), anyString(64)), fc.uint8Array({ maxLength: 80 }))
  .map(([header, payload, signature]) => `${b64(header)}.${b64(payload)}.${b64(signature)}`);
/** Headers that are almost right: alg/kid/typ/crit/cty/b64/enc with any JSON value. */
const headerObject = fc.record(
  {
    alg: fc.oneof(fc.constantFrom('ES256', 'RS256', 'none', 'HS256', 'EdDSA'), fc.jsonValue()),
    kid: fc.oneof(fc.string({ maxLength: 300 }), fc.jsonValue()),
    typ: fc.oneof(fc.constantFrom('JWT', 'at+jwt', 'application/jwt'), fc.jsonValue()),
    crit: fc.jsonValue(),
    cty: fc.oneof(fc.constantFrom('JWT', 'jwt', 'json'), fc.jsonValue()),
    b64: fc.jsonValue(),
    enc: fc.jsonValue(),
  },
  { requiredKeys: [] },
);
const shapedJws = fc
  .tuple(headerObject, fc.dictionary(fc.string({ maxLength: 8 }), fc.jsonValue({ maxDepth: 3 }), { maxKeys: 6 }), fc.uint8Array({ maxLength: 80 }))
  .map(([header, payload, signature]) => `${b64(JSON.stringify(header))}.${b64(JSON.stringify(payload))}.${b64(signature)}`);

const ISSUER = 'https://idp.fuzz.test';
const WORKLOAD = 'spiffe://fuzz.test/ns/default/sa/api';
const CALLER = 'spiffe://fuzz.test/ns/default/sa/caller';
const LIMITS = { maxHeaders: 16, maxHeaderBytes: 4096 };

describe('token pre-parser and header extraction', () => {
  it('the token extractor: any authorization values give a token within the limit or a token reason', () => {
    checkProperty('extractToken/authorization', [fc.array(fc.oneof(tokenish(200), anyString(200)), { maxLength: 4 }), fc.integer({ min: 1, max: 300 }), fc.boolean()], (values, max, dpop) => {
      const result = extractAuthorization(values, max, dpop);
      if (result.ok) {
        expect(Buffer.byteLength(result.token)).toBeLessThanOrEqual(max);
        expect(result.token).not.toContain(',');
      } else {
        expect(['token_missing', 'token_malformed', 'token_too_large']).toContain(result.reason);
      }
    });
  });

  it('parseCompact: any string is parsed or token_malformed, never an exception', () => {
    checkProperty('parseCompact/any-string', [fc.oneof(tokenish(400), anyString(400), jwsFromJson, shapedJws)], (token) => {
      const result = parseCompact(token);
      if (!result.ok) {
        expect(result.reason).toBe('token_malformed');
        return;
      }
      const { header } = result.value;
      expect(typeof header.alg).toBe('string');
      expect(header.kid === undefined || (typeof header.kid === 'string' && header.kid.length <= 256)).toBe(true);
      for (const forbidden of ['crit', 'b64', 'enc']) expect(header).not.toHaveProperty(forbidden);
      expect(token.split('.')).toHaveLength(3);
    });
  });

  it('parseCompactJws and parseCompact agree on every header decision', () => {
    checkProperty('parseCompactJws/parseCompact', [fc.oneof(jwsFromJson, shapedJws)], (token) => {
      const jws = parseCompactJws(token);
      const jwt = parseCompact(token);
      if (jwt.ok) expect(jws.ok && jws.value.header).toEqual(jwt.value.header);
      if (!jws.ok) expect(jwt.ok).toBe(false);
    });
  });

  it('strict JSON accepts every object without duplicates within the depth limit, as JSON.parse reads it', () => {
    checkProperty('decodeJsonObject/round-trip', [fc.dictionary(fc.string({ maxLength: 10 }), fc.jsonValue({ maxDepth: 6 }), { maxKeys: 8 })], (object) => {
      const text = JSON.stringify(object);
      expect(decodeJsonObject(Buffer.from(text))).toEqual(JSON.parse(text));
    });
  });

  it('strict JSON refuses any object with a member name repeated, however it is spelled', () => {
    checkProperty(
      'decodeJsonObject/duplicates',
      [fc.dictionary(fc.string({ maxLength: 6 }), fc.jsonValue({ maxDepth: 2 }), { minKeys: 1, maxKeys: 5 }), fc.jsonValue({ maxDepth: 2 }), fc.boolean()],
      (object, value, escape) => {
        const name = Object.keys(object)[0] as string;
        const spelled = escape ? `"${[...name].map((char) => `\\u${char.charCodeAt(0).toString(16).padStart(4, '0')}`).join('')}"` : JSON.stringify(name);
        const text = `${JSON.stringify(object).slice(0, -1)},${spelled}:${JSON.stringify(value) ?? 'null'}}`;
        expect(decodeJsonObject(Buffer.from(text))).toBeNull();
      },
    );
  });

  it('strict JSON refuses nesting beyond MAX_JSON_DEPTH and accepts it up to the limit', () => {
    checkProperty('decodeJsonObject/depth', [fc.integer({ min: 1, max: 3 * MAX_JSON_DEPTH }), fc.constantFrom('[', '{"a":')], (depth, open) => {
      const close = open === '[' ? ']' : '}';
      const text = `{"x":${open.repeat(depth)}1${close.repeat(depth)}}`;
      const parsed = decodeJsonObject(Buffer.from(text));
      expect(parsed === null).toBe(depth + 1 > MAX_JSON_DEPTH);
    });
  });
});

describe('XFCC parser', () => {
  it('parses or refuses any header value, never throws, and stays within its element limit', () => {
    const xfccChar = fc.constantFrom(...'By=Hash;Cert"URI,DNS\\=Subject spiffe://a/b 0123456789abcdef%\t'.split(''));
    checkProperty('parseXfcc', [fc.oneof(fc.string({ unit: xfccChar, maxLength: 300 }), anyString(300), fc.anything())], (header) => {
      const parsed = parseXfcc(header);
      if (parsed.ok) {
        expect(parsed.elements.length).toBeGreaterThan(0);
        expect(parsed.elements.length).toBeLessThanOrEqual(MAX_XFCC_ELEMENTS);
        // What parses formats back to something that parses to the same elements.
        expect(parseXfcc(formatXfcc(parsed.elements))).toEqual(parsed);
      } else {
        expect(typeof parsed.error).toBe('string');
      }
      const caller = callerFromXfcc(header);
      expect(typeof caller.ok).toBe('boolean');
    });
  });
});

describe('config loader', () => {
  const valid = {
    issuers: [{ issuer: ISSUER, jwksUri: 'https://idp.fuzz.test/keys', algorithms: ['ES256'] }],
    workloads: [{ id: WORKLOAD, sources: [CALLER], claims: { scope: { contains: 'read' } } }],
    replay: { store: 'memory' },
  };
  const isResult = (result: ReturnType<typeof loadConfigObject>) => {
    if (result.ok) return;
    expect(result.errors.length).toBeGreaterThan(0);
    for (const error of result.errors) expect(typeof error).toBe('string');
  };

  it('gives a config or config errors for any parsed document', () => {
    checkProperty('loadConfigObject/anything', [fc.anything({ maxDepth: 4 })], (document) => {
      isResult(loadConfigObject(document));
    });
  });

  it('gives a config or config errors when any key of a valid config is replaced by anything', () => {
    const paths: readonly (readonly (string | number)[])[] = [
      ['issuers'], ['issuers', 0], ['issuers', 0, 'issuer'], ['issuers', 0, 'algorithms'], ['issuers', 0, 'jwksUri'], ['issuers', 0, 'jwksCache'],
      ['workloads'], ['workloads', 0, 'id'], ['workloads', 0, 'sources'], ['workloads', 0, 'claims'], ['workloads', 0, 'clockSkew'],
      ['replay'], ['replay', 'timeout'], ['limits'], ['listen'], ['defaults'], ['__proto__'], ['constructor'],
    ];
    checkProperty('loadConfigObject/mutated', [fc.constantFrom(...paths), fc.anything({ maxDepth: 3 })], (path, value) => {
      const document = structuredClone(valid) as Record<string, unknown>;
      let target: Record<string | number, unknown> = document;
      for (const key of path.slice(0, -1)) target = target[key] as Record<string | number, unknown>;
      Object.defineProperty(target, path[path.length - 1] as string, { value, enumerable: true, configurable: true, writable: true });
      isResult(loadConfigObject(document));
    });
  });

  it('gives a config or config errors for any text (YAML or JSON, valid or not)', () => {
    const yamlChar = fc.constantFrom(...'issuers:workloads- id &*!<<{}[]"\'\n  #|>%@`1.5e3~null'.split(''));
    const sample = JSON.stringify(valid);
    checkProperty(
      'loadConfigText',
      [fc.oneof(fc.string({ unit: yamlChar, maxLength: 300 }), anyString(300), fc.integer({ min: 0, max: sample.length }).map((cut) => sample.slice(0, cut)))],
      (text) => {
        isResult(loadConfigText(text));
      },
    );
  });
});

describe('CheckRequest decoder and the pipeline behind it', () => {
  let key: TestKey;
  let config: HopguardConfig;
  let registry: KeySetRegistry;
  let pipeline: Pipeline;
  const clock = { nowMs: () => 1_767_225_600_000 };
  const validToken = () =>
    assemble({ alg: 'ES256', kid: key.kid }, { iss: ISSUER, aud: WORKLOAD, sub: CALLER, jti: randomUUID(), iat: 1_767_225_600, exp: 1_767_225_900 }, (input) => rawSign(key, input));

  beforeAll(async () => {
    key = await generateTestKey('ES256', { kid: 'fuzz-1' });
    const loaded = loadConfigObject({
      issuers: [{ issuer: ISSUER, jwks: jwksOf(key), algorithms: ['ES256', 'RS256'] }],
      workloads: [{ id: WORKLOAD, replay: 'off', trustForwardedClientCert: true }],
      limits: { maxHeaders: LIMITS.maxHeaders, maxHeaderBytes: LIMITS.maxHeaderBytes },
    });
    if (!loaded.ok) throw new Error(loaded.errors.join('; '));
    config = loaded.config;
    registry = createKeySetRegistry(config.issuers.values(), { clock });
    await registry.start();
    pipeline = createPipeline({ config, verifier: createJoseSignatureVerifier((issuer) => registry.get(issuer)), replay: createReplayStore(config.replay, { clock }), clock });
  });

  afterAll(() => registry?.close());

  const expectDecision = (decision: Awaited<ReturnType<Pipeline['check']>>) => {
    if (decision.allowed) return;
    expect(isReasonCode(decision.reason)).toBe(true);
  };

  it('the control token is allowed (so the denials below are not a broken setup)', async () => {
    const decision = await pipeline.check(checkInputFrom(envoyCheckRequest({ token: validToken(), workload: WORKLOAD }), LIMITS));
    expect(decision).toMatchObject({ allowed: true });
  });

  it('checkInputFrom: anything gives a bounded CheckInput, never an exception', () => {
    const headerEntry = fc.record({ key: fc.oneof(fc.constantFrom('authorization', 'x-forwarded-client-cert', 'Authorization', 'x-request-id'), fc.anything()), raw_value: fc.oneof(fc.uint8Array({ maxLength: 6000 }), fc.anything()), value: fc.anything() }, { requiredKeys: [] });
    const request = fc.oneof(
      fc.anything({ maxDepth: 5 }),
      fc.record({
        attributes: fc.record({
          request: fc.record({ http: fc.record({ headers: fc.dictionary(fc.constantFrom('authorization', 'x-forwarded-client-cert', 'traceparent', 'x'), fc.oneof(tokenish(5000), fc.anything())), header_map: fc.record({ headers: fc.array(headerEntry, { maxLength: 40 }) }) }, { requiredKeys: [] }) }),
          context_extensions: fc.anything(),
          source: fc.anything(),
          destination: fc.anything(),
        }, { requiredKeys: [] }),
      }),
    );
    checkProperty('checkInputFrom', [request], (value) => {
      const input = checkInputFrom(value, LIMITS);
      let kept = 0;
      for (const values of input.headers.values()) {
        kept += values.length;
        for (const text of values) expect(text === OVERSIZE_HEADER_VALUE || text.length <= LIMITS.maxHeaderBytes).toBe(true);
      }
      expect(kept).toBeLessThanOrEqual(LIMITS.maxHeaders + 1);
      expect(typeof input.destinationPrincipal).toBe('string');
      expect(typeof input.sourcePrincipal).toBe('string');
    });
  });

  it('the pipeline answers any request with a decision carrying a known reason', async () => {
    const authorization = fc.oneof(
      tokenish(600).map((token) => `Bearer ${token}`),
      jwsFromJson.map((token) => `Bearer ${token}`),
      shapedJws.map((token) => `Bearer ${token}`),
      anyString(200),
    );
    const request = fc.record({
      authorization,
      xfcc: fc.option(fc.oneof(anyString(200), fc.constant(`URI=${CALLER};Hash=${'a'.repeat(64)}`)), { nil: undefined }),
      workload: fc.oneof(fc.constant(WORKLOAD), anyString(40)),
    });
    await checkAsyncProperty('pipeline/any-request', [request], async ({ authorization: value, xfcc, workload }) => {
      const headers: Record<string, string> = { authorization: value, ...(xfcc === undefined ? {} : { 'x-forwarded-client-cert': xfcc }) };
      const decision = await pipeline.check(checkInputFrom(envoyCheckRequest({ headers, workload }), LIMITS));
      expectDecision(decision);
      expect(decision.allowed).toBe(false);
    });
  });

  it('no single-character change to a valid token is allowed', async () => {
    const token = validToken();
    const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_.';
    await checkAsyncProperty(
      'pipeline/mutated-token',
      [fc.integer({ min: 0, max: token.length - 1 }), fc.constantFrom(...alphabet.split(''))],
      async (index, replacement) => {
        fc.pre(token[index] !== replacement);
        const mutated = token.slice(0, index) + replacement + token.slice(index + 1);
        const decision = await pipeline.check(checkInputFrom(envoyCheckRequest({ token: mutated, workload: WORKLOAD }), LIMITS));
        expectDecision(decision);
        expect(decision.allowed).toBe(false);
      },
    );
  });
});

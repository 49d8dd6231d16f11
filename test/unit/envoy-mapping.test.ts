import { Buffer } from 'node:buffer';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { JsonValue } from '../../src/decision/types.js';
import { OVERSIZE_PATH } from '../../src/decision/types.js';
import { checkInputFrom, DECISION_HEADERS, OVERSIZE_HEADER_VALUE } from '../../src/transport/envoy-request.js';
import { checkResponseFrom, jsonFromProtoStruct, structFrom } from '../../src/transport/envoy-response.js';
import { extractAuthorization } from '../helpers/authorization.js';
import { allowDecision, denyDecision, ORDERS } from '../conformance/decisions.js';

const LIMITS = { maxHeaders: 10, maxHeaderBytes: 1024 };

function withHttp(http: unknown): unknown {
  return { attributes: { request: { http } } };
}

describe('checkInputFrom', () => {
  it('keeps only the headers the decision reads, lower-cased, from the joined map', () => {
    const input = checkInputFrom(
      withHttp({
        headers: {
          Authorization: 'Bearer t',
          'X-Forwarded-Client-Cert': 'URI=spiffe://a',
          traceparent: 'tp',
          tracestate: 'ts',
          'x-request-id': 'r',
          'x-hopguard-workload': 'w',
          cookie: 'secret',
          ':path': '/',
        },
      }),
      LIMITS,
    );
    expect([...input.headers.keys()].sort()).toEqual([...DECISION_HEADERS].sort());
    expect(input.headers.get('authorization')).toEqual(['Bearer t']);
    expect(input.headers.get('x-forwarded-client-cert')).toEqual(['URI=spiffe://a']);
    expect(input.headers.has('cookie')).toBe(false);
  });

  it('reads header_map raw values byte for byte and keeps duplicate lines apart', () => {
    const input = checkInputFrom(
      withHttp({
        header_map: {
          headers: [
            { key: 'authorization', raw_value: Buffer.from('Bearer a') },
            { key: 'AUTHORIZATION', raw_value: new Uint8Array([0x42, 0xe9]) },
            { key: 'x-request-id', value: 'from-value' },
            { key: 'x-request-id', raw_value: Buffer.alloc(0), value: 'value-wins-over-empty-raw' },
            { key: 'traceparent', raw_value: Buffer.alloc(0) },
            // An empty header line as decoded: proto3 leaves empty bytes off the wire.
            { key: 'tracestate' },
            { key: 'x-hopguard-workload', raw_value: 'not bytes' },
          ],
        },
      }),
      LIMITS,
    );
    expect(input.headers.get('authorization')).toEqual(['Bearer a', 'B\u00e9']);
    expect(input.headers.get('x-request-id')).toEqual(['from-value', 'value-wins-over-empty-raw']);
    expect(input.headers.get('traceparent')).toEqual(['']);
    expect(input.headers.get('tracestate')).toEqual(['']);
    expect(input.headers.has('x-hopguard-workload')).toBe(false);
  });

  it('merges the joined map and header_map, so a token in each is two tokens', () => {
    const input = checkInputFrom(
      withHttp({ headers: { authorization: 'Bearer one' }, header_map: { headers: [{ key: 'authorization', raw_value: Buffer.from('Bearer two') }] } }),
      LIMITS,
    );
    expect(input.headers.get('authorization')).toEqual(['Bearer one', 'Bearer two']);
    expect(extractAuthorization(input.headers.get('authorization'), 8192)).toMatchObject({ ok: false, reason: 'token_malformed' });
  });

  it('reads context extensions and peers, with empty strings for what is absent', () => {
    expect(
      checkInputFrom(
        {
          attributes: {
            source: { principal: 'spiffe://src', certificate: 'PEM' },
            destination: { principal: 'spiffe://dst' },
            context_extensions: { 'hopguard.workload': 'w', n: 5, __proto__: 'x' },
          },
        },
        LIMITS,
      ),
    ).toEqual({
      request: { method: '', path: '', host: '', scheme: '' },
      headers: new Map(),
      contextExtensions: { 'hopguard.workload': 'w' },
      destinationPrincipal: 'spiffe://dst',
      sourcePrincipal: 'spiffe://src',
      sourceCertificate: 'PEM',
    });
    const fromJson = checkInputFrom(JSON.parse('{"attributes":{"context_extensions":{"__proto__":"p","k":"v"}}}'), LIMITS);
    expect(Object.getPrototypeOf(fromJson.contextExtensions)).toBe(Object.prototype);
    expect(Object.keys(fromJson.contextExtensions).sort()).toEqual(['__proto__', 'k']);
    expect(checkInputFrom({ attributes: { source: { principal: 7 }, destination: null } }, LIMITS)).toEqual({
      request: { method: '', path: '', host: '', scheme: '' },
      headers: new Map(),
      contextExtensions: {},
      destinationPrincipal: '',
      sourcePrincipal: '',
      sourceCertificate: '',
    });
  });

  it('replaces a value over maxHeaderBytes with the oversize marker, counting UTF-8 and raw bytes', () => {
    const limits = { maxHeaders: 10, maxHeaderBytes: 1024 };
    const atLimit = 'Bearer ' + 'a'.repeat(1024 - 7);
    const input = checkInputFrom(
      withHttp({
        headers: { authorization: atLimit, traceparent: '\u00e9'.repeat(513) },
        header_map: {
          headers: [
            { key: 'authorization', raw_value: Buffer.alloc(1025, 0x61) },
            { key: 'x-request-id', raw_value: Buffer.alloc(1024, 0x61) },
          ],
        },
      }),
      limits,
    );
    expect(input.headers.get('authorization')).toEqual([atLimit, OVERSIZE_HEADER_VALUE]);
    expect(input.headers.get('traceparent')).toEqual([OVERSIZE_HEADER_VALUE]);
    expect(input.headers.get('x-request-id')?.[0]).toHaveLength(1024);
  });

  it('never lets an oversize authorization value through the token extractor', () => {
    const input = checkInputFrom(withHttp({ headers: { authorization: 'Bearer ' + 'a'.repeat(5000) } }), LIMITS);
    expect(input.headers.get('authorization')).toEqual([OVERSIZE_HEADER_VALUE]);
    const extracted = extractAuthorization(input.headers.get('authorization'), 8192);
    // Whatever the pipeline reports, it is a refusal: a marker token is not a JWS.
    expect(extracted.ok === false || extracted.token.split('.').length !== 3).toBe(true);
  });

  it('stops at maxHeaders decision headers and then forces a denial through authorization', () => {
    const lines = [
      { key: 'authorization', raw_value: Buffer.from('Bearer ok.ok.ok') },
      ...Array.from({ length: 3 }, (_, i) => ({ key: 'x-request-id', value: `r${i}` })),
      { key: 'authorization', raw_value: Buffer.from('Bearer second') },
    ];
    const input = checkInputFrom(withHttp({ header_map: { headers: lines } }), { maxHeaders: 4, maxHeaderBytes: 1024 });
    expect(input.headers.get('authorization')).toEqual([OVERSIZE_HEADER_VALUE]);
    expect(input.headers.get('x-request-id')).toEqual(['r0', 'r1', 'r2']);
  });

  it('does not count headers it does not keep against maxHeaders', () => {
    const noise = Object.fromEntries(Array.from({ length: 500 }, (_, i) => [`x-noise-${i}`, 'v']));
    const input = checkInputFrom(withHttp({ headers: { ...noise, authorization: 'Bearer t' } }), { maxHeaders: 1, maxHeaderBytes: 1024 });
    expect(input.headers.get('authorization')).toEqual(['Bearer t']);
    expect(input.headers.size).toBe(1);
  });

  it('never throws, whatever the request', () => {
    const shapes = fc.oneof(
      fc.anything(),
      fc.anything().map((http) => withHttp(http)),
      fc.anything().map((headers) => withHttp({ headers })),
      fc.anything().map((headers) => withHttp({ header_map: { headers } })),
      fc.array(fc.record({ key: fc.anything(), value: fc.anything(), raw_value: fc.oneof(fc.uint8Array(), fc.anything()) })).map((headers) =>
        withHttp({ header_map: { headers } }),
      ),
      fc.anything().map((attributes) => ({ attributes })),
    );
    fc.assert(
      fc.property(shapes, (request) => {
        const input = checkInputFrom(request, LIMITS);
        expect(input.headers).toBeInstanceOf(Map);
        for (const [name, values] of input.headers) {
          expect(DECISION_HEADERS.has(name)).toBe(true);
          for (const value of values) expect(typeof value).toBe('string');
        }
        for (const value of [input.destinationPrincipal, input.sourcePrincipal, input.sourceCertificate]) expect(typeof value).toBe('string');
      }),
      { numRuns: 2000 },
    );
  });

  it('falls back to an empty input (denied workload_unknown) for hostile objects', () => {
    const throwing = { get attributes(): never { throw new Error('boom'); } };
    const revoked = Proxy.revocable({}, {});
    revoked.revoke();
    const trap = withHttp({ headers: new Proxy({}, { ownKeys: () => { throw new Error('trap'); } }) });
    for (const request of [throwing, revoked.proxy, trap]) {
      expect(checkInputFrom(request, LIMITS)).toEqual({
        request: { method: '', path: '', host: '', scheme: '' },
        headers: new Map(),
        contextExtensions: {},
        destinationPrincipal: '',
        sourcePrincipal: '',
        sourceCertificate: '',
      });
    }
  });
});

describe('checkResponseFrom', () => {
  it('maps an allow to OK, overwriting headers, removals and metadata, append left unset', () => {
    const response = checkResponseFrom(allowDecision({ shadowReason: 'audience_mismatch', headersToSet: [['x-hopguard-sub', 's']] }));
    expect(response).toEqual({
      status: { code: 0 },
      ok_response: {
        headers: [{ header: { key: 'x-hopguard-sub', value: 's' }, append_action: 'OVERWRITE_IF_EXISTS_OR_ADD' }],
        headers_to_remove: ['x-hopguard-shadow-reason'],
      },
      dynamic_metadata: structFrom({
        iss: 'https://idp.example.com',
        sub: 'user-1',
        aud: [ORDERS, 'orders-api'],
        jti: 'jti-0001',
        exp: 1767229200,
        workload: ORDERS,
        source: 'spiffe://cluster.local/ns/shop/sa/frontend',
        shadowReason: 'audience_mismatch',
      }),
    });
    expect(response.ok_response?.headers?.every((option) => !('append' in option))).toBe(true);
  });

  it('reports a replay store failure let through by onStoreError: allow', () => {
    const decision = allowDecision();
    const response = checkResponseFrom({ ...decision, audit: { ...decision.audit, storeError: true } });
    expect(jsonFromProtoStruct(response.dynamic_metadata)).toMatchObject({ storeError: true });
    expect(jsonFromProtoStruct(checkResponseFrom(decision).dynamic_metadata)).not.toHaveProperty('storeError');
  });

  it('maps a 403 denial without www-authenticate, and a 503 to UNAVAILABLE', () => {
    expect(checkResponseFrom(denyDecision('source_not_allowed'))).toEqual({
      status: { code: 7, message: 'source_not_allowed' },
      denied_response: {
        status: { code: 403 },
        headers: [{ header: { key: 'content-type', value: 'application/json' }, append_action: 'OVERWRITE_IF_EXISTS_OR_ADD' }],
        body: '{"error":"access_denied","reason":"source_not_allowed"}',
      },
      dynamic_metadata: structFrom({ reason: 'source_not_allowed', workload: ORDERS }),
    });
    const unavailable = checkResponseFrom(denyDecision('jwks_unavailable', ''));
    expect(unavailable.status).toEqual({ code: 14, message: 'jwks_unavailable' });
    expect(unavailable.denied_response?.status).toEqual({ code: 503 });
  });

  it('uses the workload as the realm, stripped of quotes', () => {
    const header = checkResponseFrom(denyDecision('token_missing', 'spiffe://x/"evil"')).denied_response?.headers?.find(
      (option) => option.header.key === 'www-authenticate',
    );
    expect(header?.header.value).toBe('Bearer realm="spiffe://x/evil", error="invalid_request", error_description="no bearer token"');
  });
});

describe('Struct helpers', () => {
  it('round-trips JSON through google.protobuf.Struct', () => {
    const json = { s: 'x', n: -1.25, b: false, z: null, list: [1, 'two', [true], { k: null }], obj: { deep: { deeper: [] } } };
    expect(structFrom(json)).toEqual({
      fields: {
        s: { stringValue: 'x' },
        n: { numberValue: -1.25 },
        b: { boolValue: false },
        z: { nullValue: 'NULL_VALUE' },
        list: {
          listValue: {
            values: [
              { numberValue: 1 },
              { stringValue: 'two' },
              { listValue: { values: [{ boolValue: true }] } },
              { structValue: { fields: { k: { nullValue: 'NULL_VALUE' } } } },
            ],
          },
        },
        obj: { structValue: { fields: { deep: { structValue: { fields: { deeper: { listValue: { values: [] } } } } } } } },
      },
    });
    expect(jsonFromProtoStruct(structFrom(json))).toEqual(json);
  });

  it('round-trips arbitrary JSON objects', () => {
    fc.assert(
      fc.property(fc.dictionary(fc.string(), fc.jsonValue()), (object) => {
        const json = JSON.parse(JSON.stringify(object)) as Record<string, JsonValue>;
        expect(jsonFromProtoStruct(structFrom(json))).toEqual(json);
      }),
      { numRuns: 500 },
    );
  });

  it('keeps a __proto__ key as a plain field both ways', () => {
    const json = JSON.parse('{"__proto__": {"polluted": true}}') as Record<string, JsonValue>;
    const back = jsonFromProtoStruct(structFrom(json));
    expect(Object.getPrototypeOf(back)).toBe(Object.prototype);
    expect(Object.keys(back)).toEqual(['__proto__']);
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
  });

  it('never throws on junk and cuts nesting deeper than 64 levels', () => {
    fc.assert(fc.property(fc.anything(), (junk) => void jsonFromProtoStruct(junk)));
    let deep: JsonValue = 'bottom';
    for (let i = 0; i < 100; i += 1) deep = { d: deep };
    let cursor = jsonFromProtoStruct(structFrom({ d: deep })) as JsonValue;
    let depth = 0;
    while (typeof cursor === 'object' && cursor !== null && !Array.isArray(cursor) && 'd' in cursor) {
      cursor = cursor.d as JsonValue;
      depth += 1;
    }
    // 65 nested objects (depths 0..64), then null where depth 65 begins.
    expect(cursor).toBeNull();
    expect(depth).toBe(66);
  });
});

describe('request attributes', () => {
  it('carries method, path, host and scheme from attributes.request.http', () => {
    const input = checkInputFrom({ attributes: { request: { http: { method: 'POST', path: '/a/b?c=1', host: 'api.shop', scheme: 'https' } } } }, LIMITS);
    expect(input.request).toEqual({ method: 'POST', path: '/a/b?c=1', host: 'api.shop', scheme: 'https' });
  });

  it('replaces a path over maxPathBytes by a marker that can only be path_invalid', () => {
    const long = `/${'a'.repeat(300)}`;
    expect(checkInputFrom({ attributes: { request: { http: { path: long } } } }, { ...LIMITS, maxPathBytes: 256 }).request.path).toBe(OVERSIZE_PATH);
    expect(checkInputFrom({ attributes: { request: { http: { path: long } } } }, { ...LIMITS, maxPathBytes: 1024 }).request.path).toBe(long);
  });

  it('keeps only the configured decision headers', () => {
    const http = { headers: { cookie: 'a=b', 'txn-token': 't', other: 'x' } };
    expect([...checkInputFrom({ attributes: { request: { http } } }, LIMITS).headers.keys()]).toEqual([]);
    const kept = checkInputFrom({ attributes: { request: { http } } }, { ...LIMITS, decisionHeaders: new Set(['cookie', 'txn-token']) });
    expect([...kept.headers.keys()].sort()).toEqual(['cookie', 'txn-token']);
  });
});

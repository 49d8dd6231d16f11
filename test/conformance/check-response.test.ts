/**
 * CheckResponse wire compatibility: what hopguard encodes with its own protos is what Envoy's
 * official protos decode, field by field, for allows and for denials.
 */
import { Buffer } from 'node:buffer';
import { describe, expect, it } from 'vitest';
import { REASON_CODES, reasonSpec, type ReasonCode } from '../../src/decision/reasons.js';
import { hopguardProtos } from '../../src/transport/proto.js';
import { checkResponseFrom } from '../../src/transport/envoy-response.js';
import { envoyProtos, readCheckResponse } from '../helpers/envoy-client.js';
import { allowDecision, denyDecision, ORDERS } from './decisions.js';

const official = envoyProtos().authorizationService.Check!;
const ours = hopguardProtos().authorizationService.Check!;

/** Encodes with hopguard, decodes with Envoy's protos, and checks both sides agree on every byte. */
function throughTheWire(response: object): Record<string, unknown> {
  const wire = Buffer.from(ours.responseSerialize(response));
  const byEnvoy = official.responseDeserialize(wire) as Record<string, unknown>;
  expect(ours.responseDeserialize(wire)).toEqual(byEnvoy);
  expect(Buffer.from(official.responseSerialize(byEnvoy)).equals(wire)).toBe(true);
  return byEnvoy;
}

describe('CheckResponse from hopguard protos to Envoy official protos', () => {
  it('carries an allow: OK status, overwriting headers, headers to remove and dynamic metadata', () => {
    const decoded = throughTheWire(checkResponseFrom(allowDecision({ headersToRemove: ['authorization', 'x-hopguard-shadow-reason'] })));
    expect(decoded).toEqual({
      status: { code: 0 },
      http_response: 'ok_response',
      ok_response: {
        headers: [
          { header: { key: 'x-hopguard-sub', value: 'user-1' }, append_action: 'OVERWRITE_IF_EXISTS_OR_ADD' },
          { header: { key: 'x-hopguard-iss', value: 'https://idp.example.com' }, append_action: 'OVERWRITE_IF_EXISTS_OR_ADD' },
          { header: { key: 'x-hopguard-workload', value: ORDERS }, append_action: 'OVERWRITE_IF_EXISTS_OR_ADD' },
        ],
        headers_to_remove: ['authorization', 'x-hopguard-shadow-reason'],
      },
      dynamic_metadata: {
        fields: {
          iss: { kind: 'stringValue', stringValue: 'https://idp.example.com' },
          sub: { kind: 'stringValue', stringValue: 'user-1' },
          aud: {
            kind: 'listValue',
            listValue: { values: [{ kind: 'stringValue', stringValue: ORDERS }, { kind: 'stringValue', stringValue: 'orders-api' }] },
          },
          jti: { kind: 'stringValue', stringValue: 'jti-0001' },
          exp: { kind: 'numberValue', numberValue: 1767229200 },
          workload: { kind: 'stringValue', stringValue: ORDERS },
          source: { kind: 'stringValue', stringValue: 'spiffe://cluster.local/ns/shop/sa/frontend' },
        },
      },
    });
    // The deprecated `append` stays unset, so every Envoy version overwrites (see envoy-response.ts).
    const view = readCheckResponse(decoded);
    expect(view.appendFieldSet).toBe(false);
    expect(view.allowed).toBe(true);
  });

  it('carries a 401 denial: UNAUTHENTICATED, status 401, www-authenticate, JSON body, reason metadata', () => {
    const decoded = throughTheWire(checkResponseFrom(denyDecision('expired')));
    expect(decoded).toEqual({
      status: { code: 16, message: 'expired' },
      http_response: 'denied_response',
      denied_response: {
        status: { code: 'Unauthorized' },
        headers: [
          { header: { key: 'content-type', value: 'application/json' }, append_action: 'OVERWRITE_IF_EXISTS_OR_ADD' },
          {
            header: {
              key: 'www-authenticate',
              value: `Bearer realm="${ORDERS}", error="invalid_token", error_description="the token has expired"`,
            },
            append_action: 'OVERWRITE_IF_EXISTS_OR_ADD',
          },
        ],
        body: '{"error":"invalid_token","reason":"expired"}',
      },
      dynamic_metadata: {
        fields: { reason: { kind: 'stringValue', stringValue: 'expired' }, workload: { kind: 'stringValue', stringValue: ORDERS } },
      },
    });
  });

  it('gives every reason code its HTTP status, gRPC code and body through Envoy protos', () => {
    for (const reason of REASON_CODES) {
      const view = readCheckResponse(throughTheWire(checkResponseFrom(denyDecision(reason))));
      const { http, error } = reasonSpec(reason);
      expect({ reason, allowed: view.allowed, grpcCode: view.grpcCode, httpStatus: view.httpStatus, message: view.reason, body: view.body }).toEqual({
        reason,
        allowed: false,
        grpcCode: { 400: 3, 401: 16, 403: 7, 500: 13, 503: 14 }[http],
        httpStatus: http,
        message: reason,
        body: error === null ? { reason } : { error, reason },
      });
      expect('www-authenticate' in view.headers).toBe(http === 401);
      expect(view.headers['content-type']).toBe('application/json');
      expect(view.metadata).toEqual({ reason, workload: ORDERS });
    }
  });

  it('matches SPEC.md for the statuses it names', () => {
    const httpOf = (reason: ReasonCode) => readCheckResponse(throughTheWire(checkResponseFrom(denyDecision(reason)))).httpStatus;
    expect(['token_missing', 'token_too_large', 'replayed', 'binding_mismatch'].map((r) => httpOf(r as ReasonCode))).toEqual([401, 401, 401, 401]);
    expect(['source_not_allowed', 'claims_not_satisfied', 'workload_unknown'].map((r) => httpOf(r as ReasonCode))).toEqual([403, 403, 403]);
    expect(['jwks_unavailable', 'replay_store_unavailable', 'overloaded'].map((r) => httpOf(r as ReasonCode))).toEqual([503, 503, 503]);
    expect(['operation_not_allowed', 'path_invalid', 'internal_error'].map((r) => httpOf(r as ReasonCode))).toEqual([403, 400, 500]);
    const internal = readCheckResponse(throughTheWire(checkResponseFrom(denyDecision('internal_error'))));
    expect({ grpcCode: internal.grpcCode, challenge: 'www-authenticate' in internal.headers }).toEqual({ grpcCode: 13, challenge: false });
    expect(readCheckResponse(throughTheWire(checkResponseFrom(denyDecision('path_invalid')))).grpcCode).toBe(3);
  });

  it('carries every OkHttpResponse field hopguard may set, nested metadata included', () => {
    const response = {
      status: { code: 0 },
      ok_response: {
        headers: [{ header: { key: 'x-a', value: '1' }, append_action: 'OVERWRITE_IF_EXISTS_OR_ADD', keep_empty_value: true }],
        headers_to_remove: ['authorization'],
        response_headers_to_add: [{ header: { key: 'x-b', value: '2' }, append_action: 'ADD_IF_ABSENT' }],
        query_parameters_to_set: [{ key: 'q', value: 'v' }],
        query_parameters_to_remove: ['token'],
      },
      dynamic_metadata: {
        fields: {
          nested: { structValue: { fields: { deep: { listValue: { values: [{ boolValue: true }, { nullValue: 'NULL_VALUE' }, { numberValue: -1.5 }] } } } } },
        },
      },
    };
    const decoded = throughTheWire(response);
    expect(decoded.ok_response).toEqual(response.ok_response);
    expect(readCheckResponse(decoded).metadata).toEqual({ nested: { deep: [true, null, -1.5] } });
  });

  it('sets the deprecated append only when asked, and Envoy decodes it as a BoolValue', () => {
    const decoded = throughTheWire({ status: { code: 0 }, ok_response: { headers: [{ header: { key: 'x', value: 'y' }, append: { value: true } }] } });
    expect((decoded.ok_response as { headers: unknown[] }).headers).toEqual([{ header: { key: 'x', value: 'y' }, append: { value: true } }]);
  });

  it('is skipped by Envoy builds without error_response (field 5), leaving a plain denial', () => {
    const wire = Buffer.from(
      ours.responseSerialize({ status: { code: 14, message: 'jwks_unavailable' }, error_response: { status: { code: 503 }, body: 'x' } }),
    );
    // The vendored data-plane-api predates error_response: the field is unknown there and skipped.
    expect(official.responseDeserialize(wire)).toEqual({ status: { code: 14, message: 'jwks_unavailable' } });
    expect(ours.responseDeserialize(wire)).toEqual({
      status: { code: 14, message: 'jwks_unavailable' },
      http_response: 'error_response',
      error_response: { status: { code: 'ServiceUnavailable' }, body: 'x' },
    });
  });
});

import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { encodeCheckResponse, encodeCheckResponseFrame } from '../../../src/transport/check-response-encoder.js';
import { structFrom } from '../../../src/transport/envoy-response.js';
import { AUTHORIZATION_SERVICE_NAME, hopguardProtos } from '../../../src/transport/proto.js';
import type { CheckResponse, HeaderAppendAction, HeaderValueOption } from '../../../src/transport/proto.js';
import type { JsonValue } from '../../../src/decision/types.js';

/** proto-loader's own serializer for CheckResponse: the reference the direct encoder must match. */
const protoLoaderCheck = (hopguardProtos().packageDefinition[AUTHORIZATION_SERVICE_NAME] as Record<string, { responseSerialize(value: unknown): Buffer }>).Check!;
const serverCheck = hopguardProtos().authorizationService.Check!;

// Any Unicode text (surrogate pairs included, lone surrogates not: see the test of its own below),
// short and long, so both the ASCII fast path and multi-byte lengths are covered.
const text = fc.oneof(fc.string({ unit: 'binary', maxLength: 20 }), fc.string({ unit: 'binary', minLength: 100, maxLength: 300 }), fc.string({ maxLength: 40 }));
const appendAction = fc.constantFrom<HeaderAppendAction>('APPEND_IF_EXISTS_OR_ADD', 'ADD_IF_ABSENT', 'OVERWRITE_IF_EXISTS_OR_ADD', 'OVERWRITE_IF_EXISTS');
const headerOption: fc.Arbitrary<HeaderValueOption> = fc.record(
  {
    header: fc.record({ key: text, value: text }),
    append: fc.record({ value: fc.boolean() }),
    append_action: appendAction,
    keep_empty_value: fc.boolean(),
  },
  { requiredKeys: ['header'] },
);
const headers = fc.array(headerOption, { maxLength: 6 });
const json: fc.Arbitrary<Record<string, JsonValue>> = fc.dictionary(
  text,
  fc.jsonValue({ maxDepth: 3 }).map((value) => value as JsonValue),
  { maxKeys: 8 },
);
const denied = fc.record(
  { status: fc.record({ code: fc.constantFrom(200, 401, 403, 429, 503) }), headers, body: text },
  { requiredKeys: [] },
);
const checkResponse: fc.Arbitrary<CheckResponse> = fc
  .tuple(
    fc.record({ code: fc.integer({ min: -(2 ** 31), max: 2 ** 31 - 1 }), message: text }, { requiredKeys: ['code'] }),
    fc.oneof(
      fc.record({
        ok_response: fc.record(
          {
            headers,
            headers_to_remove: fc.array(text, { maxLength: 6 }),
            response_headers_to_add: headers,
            query_parameters_to_set: fc.array(fc.record({ key: text, value: text }), { maxLength: 3 }),
            query_parameters_to_remove: fc.array(text, { maxLength: 3 }),
          },
          { requiredKeys: [] },
        ),
      }),
      fc.record({ denied_response: denied }),
      fc.record({ error_response: denied }),
      fc.constant({}),
    ),
    fc.option(json, { nil: undefined }),
  )
  .map(([status, body, metadata]) => ({ status, ...body, ...(metadata === undefined ? {} : { dynamic_metadata: structFrom(metadata) }) }));

describe('encodeCheckResponse', () => {
  it("writes exactly proto-loader's bytes for any CheckResponse", () => {
    fc.assert(
      fc.property(checkResponse, (response) => {
        expect(encodeCheckResponse(response).equals(protoLoaderCheck.responseSerialize(response))).toBe(true);
      }),
      { numRuns: 3000 },
    );
  });

  it('is what the server uses for Check, and its bytes decode back to the same response', () => {
    expect(serverCheck.responseSerialize).toBe(encodeCheckResponse);
    fc.assert(
      fc.property(checkResponse, (response) => {
        const viaLoader = serverCheck.responseDeserialize(protoLoaderCheck.responseSerialize(response));
        expect(serverCheck.responseDeserialize(encodeCheckResponse(response))).toEqual(viaLoader);
      }),
      { numRuns: 500 },
    );
  });

  it('shifts a nested message whose length needs a second (or third) length byte', () => {
    for (const size of [0, 1, 126, 127, 128, 129, 16_383, 16_384, 70_000]) {
      const response: CheckResponse = { status: { code: 0 }, ok_response: { headers: [{ header: { key: 'x-big', value: 'v'.repeat(size) } }] } };
      expect(encodeCheckResponse(response).equals(protoLoaderCheck.responseSerialize(response))).toBe(true);
    }
  });

  it('writes a lone surrogate as U+FFFD, so the bytes stay valid UTF-8 for Envoy', () => {
    const response: CheckResponse = { status: { code: 0 }, ok_response: { headers: [{ header: { key: 'x-claim', value: 'a\ud800b' } }] } };
    const decoded = serverCheck.responseDeserialize(encodeCheckResponse(response)) as { ok_response: { headers: { header: { value: string } }[] } };
    expect(decoded.ok_response.headers[0]!.header.value).toBe('a\ufffdb');
  });

  it('frames the same bytes as one gRPC message for the native transport: flag 0, 32-bit length, message', () => {
    fc.assert(
      fc.property(checkResponse, (response) => {
        const message = encodeCheckResponse(response);
        const framed = encodeCheckResponseFrame(response);
        expect(framed[0]).toBe(0);
        expect(framed.readUInt32BE(1)).toBe(message.length);
        expect(framed.subarray(5).equals(message)).toBe(true);
      }),
      { numRuns: 300 },
    );
  });
});

/**
 * The hand-written CheckRequest decoder against the reference: Envoy's OFFICIAL protos decoded by
 * proto-loader (as the grpc-js transport decodes), then checkInputFrom. Same bytes in, the same
 * CheckInput out, for generated requests: valid requests built as objects and serialized by the
 * official protos, and requests assembled on the wire with what a valid encoder may also produce
 * (fields in any order, repeated singular fields, unknown fields of every wire type at every
 * level, map entries with members missing, reordered or repeated, invalid UTF-8), under tight
 * limits so the OVERSIZE markers and the header-count bound are reached often.
 */
import { Buffer } from 'node:buffer';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { CheckInput } from '../../../src/decision/types.js';
import { decodeCheckRequest, ProtobufDecodeError } from '../../../src/transport/check-request-decoder.js';
import { checkInputFrom, type RequestLimits } from '../../../src/transport/envoy-request.js';
import { envoyCheckRequest, envoyProtos } from '../../helpers/envoy-client.js';

const official = envoyProtos().authorizationService.Check!;
const RUNS = Number(process.env.HOPGUARD_DECODER_RUNS ?? 3000);

function reference(bytes: Buffer, limits: RequestLimits): CheckInput {
  return checkInputFrom(official.requestDeserialize(bytes), limits);
}

/** Map order and own-key order are part of the result (they decide which headers count first). */
function comparable(input: CheckInput): unknown {
  return {
    request: { ...input.request },
    headers: [...input.headers.entries()],
    contextExtensions: Object.entries(input.contextExtensions),
    destinationPrincipal: input.destinationPrincipal,
    sourcePrincipal: input.sourcePrincipal,
    sourceCertificate: input.sourceCertificate,
  };
}

function expectSameDecoding(bytes: Buffer, limits: RequestLimits): void {
  let expected: unknown;
  try {
    expected = comparable(reference(bytes, limits));
  } catch (error) {
    expected = error;
  }
  if (expected instanceof Error) {
    expect(() => decodeCheckRequest(bytes, limits)).toThrow(ProtobufDecodeError);
    return;
  }
  expect(comparable(decodeCheckRequest(bytes, limits))).toEqual(expected);
}

// ---- generators ----

const HEADER_NAMES = [
  'authorization',
  'Authorization',
  'AUTHORIZATION',
  'x-request-id',
  'traceparent',
  'tracestate',
  'x-forwarded-client-cert',
  'x-hopguard-workload',
  'x-hopguard-wor\u212Aload', // KELVIN SIGN: lower-cases to an ASCII k
  'txn-token',
  'dpop',
  'cookie',
  '__proto__',
  'constructor',
  '123',
  '7',
  '',
  'x-other',
  ':authority',
  'a'.repeat(64),
  'a'.repeat(65),
  '\u00e4'.repeat(64),
  '\u00e4'.repeat(65),
];
const CONFIGURABLE_NAMES = ['authorization', 'x-request-id', 'traceparent', 'x-hopguard-workload', 'txn-token', 'dpop', 'cookie', '__proto__', '123', '7', 'a'.repeat(64), '\u00e4'.repeat(64)];

const headerName = fc.oneof({ weight: 4, arbitrary: fc.constantFrom(...HEADER_NAMES) }, { weight: 1, arbitrary: fc.string({ maxLength: 12 }) });
const text = fc.oneof(
  fc.string({ maxLength: 24 }),
  fc.string({ unit: 'binary', maxLength: 24 }),
  fc.string({ unit: 'grapheme-ascii', minLength: 20, maxLength: 80 }),
  fc.constantFrom('', 'Bearer a.b.c', 'Bearer a.b.c,Bearer d.e.f', '/orders/7?x=1', 'GET', 'https'),
);
const rawBytes = fc.oneof(fc.constant(Buffer.alloc(0)), fc.uint8Array({ maxLength: 40 }).map((bytes) => Buffer.from(bytes)));
const limits: fc.Arbitrary<RequestLimits> = fc.record(
  {
    maxHeaders: fc.integer({ min: 1, max: 6 }),
    maxHeaderBytes: fc.integer({ min: 0, max: 48 }),
    maxPathBytes: fc.integer({ min: 0, max: 30 }),
    decisionHeaders: fc.subarray(CONFIGURABLE_NAMES).map((names) => new Set(names)),
  },
  { requiredKeys: ['maxHeaders', 'maxHeaderBytes'] },
);

const peer = fc.record(
  {
    principal: text,
    certificate: text,
    service: text,
    labels: fc.dictionary(fc.string({ maxLength: 6 }), text, { maxKeys: 2 }),
    address: fc.constant({ socket_address: { address: '10.0.0.1', port_value: 8080 } }),
  },
  { requiredKeys: [] },
);
const httpRequest = fc.record(
  {
    id: fc.constant('42'),
    method: text,
    headers: fc.dictionary(headerName, text, { maxKeys: 8 }),
    header_map: fc.record({
      headers: fc.array(
        fc.record({ key: headerName, value: text, raw_value: rawBytes }, { requiredKeys: [] }),
        { maxLength: 8 },
      ),
    }),
    path: text,
    host: text,
    scheme: text,
    size: fc.constantFrom('0', '-1', '123456789012'),
    protocol: fc.constant('HTTP/2'),
    body: text,
    raw_body: rawBytes,
  },
  { requiredKeys: [] },
);
const checkRequestObject = fc.record(
  {
    attributes: fc.record(
      {
        source: peer,
        destination: peer,
        request: fc.record({ time: fc.constant({ seconds: '1767225600', nanos: 5 }), http: httpRequest }, { requiredKeys: [] }),
        context_extensions: fc.dictionary(fc.oneof(fc.constantFrom('hopguard.workload', '__proto__', '10', '2'), fc.string({ maxLength: 8 })), text, { maxKeys: 4 }),
        metadata_context: fc.constant({ filter_metadata: { f: { fields: { a: { stringValue: 'b' } } } } }),
        tls_session: fc.record({ sni: text }),
      },
      { requiredKeys: [] },
    ),
  },
  { requiredKeys: [] },
);

// ---- a wire-level builder: anything a valid encoder may emit, in any order ----

function varint(value: bigint): number[] {
  const out: number[] = [];
  let rest = value;
  while (rest > 0x7fn) {
    out.push(Number(rest & 0x7fn) | 0x80);
    rest >>= 7n;
  }
  out.push(Number(rest));
  return out;
}
const key = (field: number, wire: number): number[] => varint(BigInt(field) * 8n + BigInt(wire));
const delimited = (field: number, payload: Uint8Array): Buffer => Buffer.concat([Buffer.from(key(field, 2)), Buffer.from(varint(BigInt(payload.length))), payload]);
const message = (parts: readonly Uint8Array[]): Buffer => Buffer.concat(parts);

/** Field numbers no Envoy message uses: unknown to both decoders at every level. */
const unknownNumber = fc.oneof(fc.integer({ min: 100, max: 20_000 }), fc.constant(2 ** 29 - 1));
const unknownField: fc.Arbitrary<Buffer> = fc.letrec<{ field: Buffer }>((tie) => ({
  field: fc.oneof(
    { depthSize: 'small', withCrossShrink: true },
    fc.tuple(unknownNumber, fc.bigInt({ min: 0n, max: 2n ** 64n - 1n })).map(([field, value]) => Buffer.from([...key(field, 0), ...varint(value)])),
    fc.tuple(unknownNumber, fc.uint8Array({ minLength: 8, maxLength: 8 })).map(([field, bytes]) => Buffer.from([...key(field, 1), ...bytes])),
    fc.tuple(unknownNumber, fc.uint8Array({ maxLength: 12 })).map(([field, bytes]) => delimited(field, bytes)),
    fc.tuple(unknownNumber, fc.uint8Array({ minLength: 4, maxLength: 4 })).map(([field, bytes]) => Buffer.from([...key(field, 5), ...bytes])),
    fc
      .tuple(unknownNumber, fc.array(tie('field'), { maxLength: 3 }))
      .map(([field, inner]) => Buffer.concat([Buffer.from(key(field, 3)), ...inner, Buffer.from(key(field, 4))])),
  ),
})).field;

/** A string field: valid UTF-8 from a string, or arbitrary bytes (invalid UTF-8 included). */
const stringBytes = fc.oneof(text.map((value) => Buffer.from(value, 'utf8')), rawBytes);
const stringField = (field: number): fc.Arbitrary<Buffer> => stringBytes.map((bytes) => delimited(field, bytes));
const nameField = (field: number): fc.Arbitrary<Buffer> => fc.oneof(headerName.map((name) => delimited(field, Buffer.from(name, 'utf8'))), stringField(field));
/** A message of known fields (each likelier than an unknown one) and unknown fields, in any order. */
const parts = (...arbitraries: fc.Arbitrary<Buffer>[]): fc.Arbitrary<Buffer> =>
  fc
    .array(fc.oneof(...arbitraries.map((arbitrary) => ({ weight: 3, arbitrary })), { weight: 1, arbitrary: unknownField }), { minLength: 1, maxLength: 6 })
    .map(message);

const mapEntry = (keyArbitrary: fc.Arbitrary<Buffer>) => parts(keyArbitrary, stringField(2));
const headerValueWire = parts(nameField(1), stringField(2), rawBytes.map((bytes) => delimited(3, bytes)));
const headerMapWire = parts(headerValueWire.map((bytes) => delimited(1, bytes)));
const httpWire = fc
  .array(
    fc.oneof(
      stringField(1),
      stringField(2),
      { weight: 4, arbitrary: mapEntry(nameField(1)).map((bytes) => delimited(3, bytes)) },
      stringField(4),
      stringField(5),
      stringField(6),
      { weight: 2, arbitrary: headerMapWire.map((bytes) => delimited(13, bytes)) },
      unknownField,
    ),
    { maxLength: 14 },
  )
  .map(message);
const requestWire = parts(httpWire.map((bytes) => delimited(2, bytes)));
const peerWire = parts(stringField(2), stringField(4), stringField(5));
const attributesWire = parts(
  peerWire.map((bytes) => delimited(1, bytes)),
  peerWire.map((bytes) => delimited(2, bytes)),
  requestWire.map((bytes) => delimited(4, bytes)),
  mapEntry(fc.oneof(fc.constantFrom('hopguard.workload', '__proto__', '10', '2').map((name) => delimited(1, Buffer.from(name))), stringField(1))).map((bytes) => delimited(10, bytes)),
);
const checkRequestWire = parts(attributesWire.map((bytes) => delimited(1, bytes)));

describe('decodeCheckRequest', () => {
  it('gives the same CheckInput as the official protos + checkInputFrom, for requests serialized by the official protos', () => {
    fc.assert(
      fc.property(checkRequestObject, limits, (request, requestLimits) => {
        expectSameDecoding(Buffer.from(official.requestSerialize(request)), requestLimits);
      }),
      { numRuns: RUNS },
    );
  });

  it('gives the same CheckInput for requests assembled on the wire: any order, repeats, unknown fields of every wire type', () => {
    fc.assert(
      fc.property(checkRequestWire, limits, (bytes, requestLimits) => {
        expectSameDecoding(bytes, requestLimits);
      }),
      { numRuns: RUNS },
    );
  });

  it('decodes the request Envoy sends under production limits and the default header set', () => {
    const request = envoyCheckRequest({
      token: 'a.b.c',
      workload: 'spiffe://cluster.local/ns/shop/sa/orders',
      sourcePrincipal: 'spiffe://cluster.local/ns/shop/sa/frontend',
      sourceCertificate: 'PEM%0A',
      rawHeaders: [['authorization', 'Bearer x.y.z']],
    });
    const bytes = Buffer.from(official.requestSerialize(request));
    const input = decodeCheckRequest(bytes, { maxHeaders: 100, maxHeaderBytes: 16 * 1024 });
    expect(input.request).toEqual({ method: 'GET', path: '/orders?id=1', host: 'api.demo.local', scheme: 'http' });
    expect([...input.headers]).toEqual([
      ['x-request-id', ['c0ffee00-0000-4000-8000-000000000001']],
      ['authorization', ['Bearer a.b.c', 'Bearer x.y.z']],
    ]);
    expect(input.sourceCertificate).toBe('PEM%0A');
    expectSameDecoding(bytes, { maxHeaders: 100, maxHeaderBytes: 16 * 1024 });
  });

  it('reads an empty message as a request with nothing in it', () => {
    expect(decodeCheckRequest(Buffer.alloc(0), { maxHeaders: 10, maxHeaderBytes: 100 })).toEqual(checkInputFrom({}, { maxHeaders: 10, maxHeaderBytes: 100 }));
  });

  it.each([
    ['a truncated varint', [0x0a, 0x80]],
    ['a length past the end', [0x0a, 0x05, 0x01]],
    ['a nested length past its parent', [0x0a, 0x03, 0x0a, 0x05, 0x22, 0x01, 0x41, 0x41, 0x41]],
    ['a known field with the wrong wire type', [0x0a, 0x02, 0x20, 0x01]],
    ['field number zero', [0x00, 0x01]],
    ['wire type 6', [0x0e]],
    ['wire type 7', [0x0f]],
    ['an end group outside a group', [0xfc, 0x06]],
    ['a group that never ends', [0xfb, 0x06, 0x08, 0x01]],
    ['a group closed with another field number', [0xfb, 0x06, 0x84, 0x07]],
    ['a varint of eleven bytes', [0xf8, 0x06, ...Array(10).fill(0xff), 0x01]],
    ['a truncated fixed64', [0xf9, 0x06, 1, 2, 3]],
    ['a truncated fixed32', [0xfd, 0x06, 1, 2, 3]],
  ])('refuses %s with a ProtobufDecodeError', (_name, bytes) => {
    expect(() => decodeCheckRequest(Buffer.from(bytes), { maxHeaders: 10, maxHeaderBytes: 100 })).toThrow(ProtobufDecodeError);
  });

  it('refuses deeply nested groups without exhausting the stack', () => {
    const open = Array.from({ length: 10_000 }, () => [0xfb, 0x06]).flat();
    expect(() => decodeCheckRequest(Buffer.from(open), { maxHeaders: 10, maxHeaderBytes: 100 })).toThrow(ProtobufDecodeError);
  });

  it('never throws anything but ProtobufDecodeError, whatever the bytes', () => {
    const mutated = fc
      .tuple(checkRequestWire, fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 })), { minLength: 1, maxLength: 4 }), fc.nat())
      .map(([bytes, edits, cut]) => {
        const copy = Buffer.from(bytes);
        for (const [at, value] of edits) if (copy.length > 0) copy[at % copy.length] = value;
        return copy.subarray(0, copy.length === 0 ? 0 : cut % (copy.length + 1));
      });
    fc.assert(
      fc.property(fc.oneof(mutated, fc.uint8Array({ maxLength: 64 }).map((bytes) => Buffer.from(bytes))), limits, (bytes, requestLimits) => {
        try {
          const input = decodeCheckRequest(bytes, requestLimits);
          expect(input.headers.size).toBeLessThanOrEqual(requestLimits.maxHeaders + 1);
        } catch (error) {
          expect(error).toBeInstanceOf(ProtobufDecodeError);
        }
      }),
      { numRuns: RUNS },
    );
  });
});

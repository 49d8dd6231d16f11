/**
 * CheckRequest protobuf bytes -> CheckInput, in one pass, reading only what the decision reads.
 *
 * The result is exactly what proto-loader's decoding (hopguard's LOADER_OPTIONS) followed by
 * `checkInputFrom` gives for the same bytes; test/unit/transport/check-request-decoder.test.ts
 * checks that on generated requests against Envoy's official protos. Where protobufjs has its
 * own reading of valid input, this follows it, so both transports see the same request:
 * - a singular message field that occurs twice is replaced by the later one (not merged);
 * - a map entry repeated with the same key keeps its first position and its last value, and
 *   map keys iterate in JavaScript's own-property order (integer-like keys first);
 * - strings are UTF-8 with invalid sequences replaced by U+FFFD.
 * Where input is not valid protobuf (a length past its parent, a known field with the wrong
 * wire type, a truncated varint), protobufjs may read on regardless; this throws a
 * ProtobufDecodeError instead, which the transport answers as INTERNAL.
 *
 * Field numbers are those of proto/ (identical to Envoy's): CheckRequest.attributes = 1;
 * AttributeContext { source = 1; destination = 2; request = 4; context_extensions = 10 };
 * Peer { principal = 4; certificate = 5 }; Request { http = 2 }; HttpRequest { method = 2;
 * headers = 3; path = 4; host = 5; scheme = 6; header_map = 13 }; HeaderMap { headers = 1 };
 * HeaderValue { key = 1; value = 2; raw_value = 3 }; map entries { key = 1; value = 2 }.
 */
import { Buffer } from 'node:buffer';
import { BASE_DECISION_HEADERS } from '../decision/request-headers.js';
import type { CheckInput } from '../decision/types.js';
import { HeaderCollector, requestAttributesFrom, type RequestLimits } from './envoy-request.js';
import { ProtobufReader, WIRE_BYTES, wrongWireType } from './protobuf-reader.js';

export { ProtobufDecodeError } from './protobuf-reader.js';

const tagOf = (field: number, wire: number): number => (field << 3) | wire;

/** UTF-16 units of a header name beyond which HeaderCollector skips it (one unit is at most 3 UTF-8 bytes). */
const MAX_HEADER_NAME_UNITS = 64;

interface PeerFields {
  principal: string;
  certificate: string;
}

interface HeaderLine {
  readonly key: string;
  readonly value: string | Uint8Array;
}

interface HttpFields {
  method: string;
  path: string;
  host: string;
  scheme: string;
  /** Kept entries of the joined `headers` map, in wire order (duplicates resolved at the end). */
  joined: [string, string][] | null;
  /** Kept lines of the last `header_map`; null when there was none. */
  lines: HeaderLine[] | null;
}

interface AttributeFields {
  source: PeerFields | null;
  destination: PeerFields | null;
  /** undefined: no `request`; null: a `request` without `http`. */
  http: HttpFields | null | undefined;
  extensions: [string, string][] | null;
}

/** One reader for every call: decoding is synchronous and never re-entered. */
const reader = new ProtobufReader();

/** Whether HeaderCollector would keep a header of this name (it lower-cases, then looks it up). */
function keeps(name: string, names: ReadonlySet<string>): boolean {
  return name.length <= MAX_HEADER_NAME_UNITS && names.has(name.toLowerCase());
}

/** The kept names that are ASCII, as bytes, by length: most header names are matched without a string. */
type NamesByLength = ReadonlyMap<number, readonly Uint8Array[]>;
const asciiNames = new WeakMap<ReadonlySet<string>, NamesByLength>();

function asciiNamesOf(names: ReadonlySet<string>): NamesByLength {
  let byLength = asciiNames.get(names);
  if (byLength !== undefined) return byLength;
  const built = new Map<number, Uint8Array[]>();
  for (const name of names) {
    // Only a lower-case ASCII entry can equal the lower-cased form of an ASCII header name.
    if (!/^[\x00-\x7f]*$/.test(name) || name !== name.toLowerCase() || name.length > MAX_HEADER_NAME_UNITS) continue;
    const list = built.get(name.length) ?? [];
    list.push(Buffer.from(name, 'latin1'));
    built.set(name.length, list);
  }
  byLength = built;
  asciiNames.set(names, byLength);
  return byLength;
}

/**
 * Reads a header name only when HeaderCollector would keep it; otherwise skips its bytes and
 * returns null. An ASCII name (the rule) is compared byte by byte, case-folding A-Z as
 * toLowerCase does; any other name is decoded and looked up as HeaderCollector does (a
 * non-ASCII name can lower-case to an ASCII one: KELVIN SIGN to k).
 */
function headerName(end: number, names: ReadonlySet<string>): string | null {
  const stop = reader.lengthEnd(end);
  const start = reader.position;
  reader.position = stop;
  const length = stop - start;
  if (length > MAX_HEADER_NAME_UNITS * 3) return null;
  const buffer = reader.buffer;
  for (let i = start; i < stop; i++) {
    if ((buffer[i] as number) >= 0x80) {
      const name = buffer.utf8Slice(start, stop);
      return keeps(name, names) ? name : null;
    }
  }
  const candidates = asciiNamesOf(names).get(length);
  if (candidates === undefined) return null;
  for (const candidate of candidates) {
    let at = 0;
    while (at < length) {
      let byte = buffer[start + at] as number;
      if (byte >= 0x41 && byte <= 0x5a) byte |= 0x20;
      if (byte !== candidate[at]) break;
      at++;
    }
    if (at === length) return buffer.latin1Slice(start, stop);
  }
  return null;
}

// map<string, string> entry { key = 1; value = 2 }: absent members are ''.
function readStringEntry(end: number): [string, string] {
  const stop = reader.lengthEnd(end);
  let key = '';
  let value = '';
  while (reader.position < stop) {
    const tag = reader.tag(stop);
    switch (tag >>> 3) {
      case 1:
        if (tag !== tagOf(1, WIRE_BYTES)) wrongWireType(1);
        key = reader.string(stop);
        break;
      case 2:
        if (tag !== tagOf(2, WIRE_BYTES)) wrongWireType(2);
        value = reader.string(stop);
        break;
      default:
        reader.skip(tag, stop);
    }
  }
  return [key, value];
}

// A `headers` map entry, read only as far as needed: the value is decoded when the name is kept.
function readJoinedHeader(end: number, names: ReadonlySet<string>, into: HttpFields): void {
  const stop = reader.lengthEnd(end);
  let key = '';
  let keyKept = false;
  let valueStart = -1;
  let valueEnd = -1;
  while (reader.position < stop) {
    const tag = reader.tag(stop);
    switch (tag >>> 3) {
      case 1: {
        if (tag !== tagOf(1, WIRE_BYTES)) wrongWireType(1);
        const name = headerName(stop, names);
        keyKept = name !== null;
        key = name ?? '';
        break;
      }
      case 2:
        if (tag !== tagOf(2, WIRE_BYTES)) wrongWireType(2);
        valueEnd = reader.lengthEnd(stop);
        valueStart = reader.position;
        reader.position = valueEnd;
        break;
      default:
        reader.skip(tag, stop);
    }
  }
  // An entry without a key has the key '', which no config keeps.
  if (!keyKept && !keeps('', names)) return;
  const value = valueStart < valueEnd ? reader.buffer.utf8Slice(valueStart, valueEnd) : '';
  (into.joined ??= []).push([key, value]);
}

// HeaderValue { key = 1; value = 2; raw_value = 3 }, mapped as envoy-request.ts headerLineValue does.
function readHeaderLine(end: number, names: ReadonlySet<string>, lines: HeaderLine[]): void {
  const stop = reader.lengthEnd(end);
  let key: string | null = null;
  let keySeen = false;
  let valueStart = -1;
  let valueEnd = -1;
  let rawStart = -1;
  let rawEnd = -1;
  while (reader.position < stop) {
    const tag = reader.tag(stop);
    switch (tag >>> 3) {
      case 1:
        if (tag !== tagOf(1, WIRE_BYTES)) wrongWireType(1);
        keySeen = true;
        key = headerName(stop, names);
        break;
      case 2:
        if (tag !== tagOf(2, WIRE_BYTES)) wrongWireType(2);
        valueEnd = reader.lengthEnd(stop);
        valueStart = reader.position;
        reader.position = valueEnd;
        break;
      case 3:
        if (tag !== tagOf(3, WIRE_BYTES)) wrongWireType(3);
        rawEnd = reader.lengthEnd(stop);
        rawStart = reader.position;
        reader.position = rawEnd;
        break;
      default:
        reader.skip(tag, stop);
    }
  }
  if (!keySeen || key === null) return;
  let value: string | Uint8Array;
  if (rawStart >= 0 && (rawEnd > rawStart || valueStart < 0)) value = reader.buffer.subarray(rawStart, rawEnd);
  else if (valueStart >= 0) value = valueStart < valueEnd ? reader.buffer.utf8Slice(valueStart, valueEnd) : '';
  else value = '';
  lines.push({ key, value });
}

// HeaderMap { repeated HeaderValue headers = 1 }
function readHeaderMap(end: number, names: ReadonlySet<string>): HeaderLine[] {
  const stop = reader.lengthEnd(end);
  const lines: HeaderLine[] = [];
  while (reader.position < stop) {
    const tag = reader.tag(stop);
    if (tag >>> 3 === 1) {
      if (tag !== tagOf(1, WIRE_BYTES)) wrongWireType(1);
      readHeaderLine(stop, names, lines);
    } else {
      reader.skip(tag, stop);
    }
  }
  return lines;
}

function readHttp(end: number, names: ReadonlySet<string>): HttpFields {
  const stop = reader.lengthEnd(end);
  const http: HttpFields = { method: '', path: '', host: '', scheme: '', joined: null, lines: null };
  while (reader.position < stop) {
    const tag = reader.tag(stop);
    const field = tag >>> 3;
    switch (field) {
      case 2:
      case 4:
      case 5:
      case 6: {
        if (tag !== tagOf(field, WIRE_BYTES)) wrongWireType(field);
        const text = reader.string(stop);
        if (field === 2) http.method = text;
        else if (field === 4) http.path = text;
        else if (field === 5) http.host = text;
        else http.scheme = text;
        break;
      }
      case 3:
        if (tag !== tagOf(3, WIRE_BYTES)) wrongWireType(3);
        readJoinedHeader(stop, names, http);
        break;
      case 13:
        if (tag !== tagOf(13, WIRE_BYTES)) wrongWireType(13);
        http.lines = readHeaderMap(stop, names);
        break;
      default:
        reader.skip(tag, stop);
    }
  }
  return http;
}

// AttributeContext.Request { Timestamp time = 1; HttpRequest http = 2 }
function readRequest(end: number, names: ReadonlySet<string>): HttpFields | null {
  const stop = reader.lengthEnd(end);
  let http: HttpFields | null = null;
  while (reader.position < stop) {
    const tag = reader.tag(stop);
    if (tag >>> 3 === 2) {
      if (tag !== tagOf(2, WIRE_BYTES)) wrongWireType(2);
      http = readHttp(stop, names);
    } else {
      reader.skip(tag, stop);
    }
  }
  return http;
}

function readPeer(end: number): PeerFields {
  const stop = reader.lengthEnd(end);
  const peer: PeerFields = { principal: '', certificate: '' };
  while (reader.position < stop) {
    const tag = reader.tag(stop);
    const field = tag >>> 3;
    if (field === 4 || field === 5) {
      if (tag !== tagOf(field, WIRE_BYTES)) wrongWireType(field);
      const text = reader.string(stop);
      if (field === 4) peer.principal = text;
      else peer.certificate = text;
    } else {
      reader.skip(tag, stop);
    }
  }
  return peer;
}

function readAttributes(end: number, names: ReadonlySet<string>): AttributeFields {
  const stop = reader.lengthEnd(end);
  const attributes: AttributeFields = { source: null, destination: null, http: undefined, extensions: null };
  while (reader.position < stop) {
    const tag = reader.tag(stop);
    const field = tag >>> 3;
    switch (field) {
      case 1:
      case 2: {
        if (tag !== tagOf(field, WIRE_BYTES)) wrongWireType(field);
        const peer = readPeer(stop);
        if (field === 1) attributes.source = peer;
        else attributes.destination = peer;
        break;
      }
      case 4:
        if (tag !== tagOf(4, WIRE_BYTES)) wrongWireType(4);
        attributes.http = readRequest(stop, names);
        break;
      case 10:
        if (tag !== tagOf(10, WIRE_BYTES)) wrongWireType(10);
        (attributes.extensions ??= []).push(readStringEntry(stop));
        break;
      default:
        reader.skip(tag, stop);
    }
  }
  return attributes;
}

/** Whether `key` is an array index, which a JavaScript object lists first, in numeric order. */
function isArrayIndex(key: string): boolean {
  const first = key.charCodeAt(0);
  return first >= 0x30 && first <= 0x39 && /^(?:0|[1-9]\d{0,9})$/.test(key) && Number(key) < 2 ** 32 - 1;
}

/**
 * The joined `headers` map in the order protobufjs's object gives it: a repeated key keeps its
 * first place and its last value, and array-index keys come first. Entries that need neither
 * (the rule) are added as they came.
 */
function addJoined(collector: HeaderCollector, joined: readonly [string, string][]): void {
  let plain = true;
  for (let i = 0; i < joined.length && plain; i++) {
    const name = (joined[i] as [string, string])[0];
    if (isArrayIndex(name)) plain = false;
    for (let j = 0; j < i && plain; j++) if ((joined[j] as [string, string])[0] === name) plain = false;
  }
  if (plain) {
    for (const [name, value] of joined) collector.add(name, value);
    return;
  }
  const object = Object.fromEntries(joined);
  for (const name of Object.keys(object)) collector.add(name, object[name]);
}

const NO_ATTRIBUTES: AttributeFields = { source: null, destination: null, http: undefined, extensions: null };

/**
 * Decodes a CheckRequest message (the bytes after the gRPC length prefix).
 * Throws ProtobufDecodeError when the bytes are not a valid protobuf encoding.
 */
export function decodeCheckRequest(bytes: Buffer, limits: RequestLimits): CheckInput {
  const names = limits.decisionHeaders ?? BASE_DECISION_HEADERS;
  reader.reset(bytes);
  const end = bytes.length;
  let attributes = NO_ATTRIBUTES;
  try {
    while (reader.position < end) {
      const tag = reader.tag(end);
      if (tag >>> 3 === 1) {
        if (tag !== tagOf(1, WIRE_BYTES)) wrongWireType(1);
        attributes = readAttributes(end, names);
      } else {
        reader.skip(tag, end);
      }
    }
  } finally {
    // Do not keep the caller's bytes alive until the next call.
    reader.reset(EMPTY);
  }

  const { http } = attributes;
  const collector = new HeaderCollector(limits);
  if (http != null) {
    if (http.joined !== null) addJoined(collector, http.joined);
    if (http.lines !== null) for (const line of http.lines) collector.add(line.key, line.value);
  }
  return {
    request: requestAttributesFrom((http ?? undefined) as Readonly<Record<string, unknown>> | undefined, limits),
    headers: collector.headers,
    contextExtensions: attributes.extensions === null ? {} : Object.fromEntries(attributes.extensions),
    destinationPrincipal: attributes.destination?.principal ?? '',
    sourcePrincipal: attributes.source?.principal ?? '',
    sourceCertificate: attributes.source?.certificate ?? '',
  };
}

const EMPTY = new Uint8Array(0) as Buffer;

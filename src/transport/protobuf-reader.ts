/**
 * A strict, bounded protobuf wire reader for the few messages the native gRPC transport decodes
 * by hand (CheckRequest, HealthCheckRequest).
 *
 * Every read is checked against the end of the message it belongs to, so a length that points
 * past its parent, a truncated varint or an impossible wire type is a ProtobufDecodeError, never
 * an out-of-bounds read or a silently shifted cursor. Unknown fields of every wire type are
 * skipped, groups included (nesting bounded).
 */
import type { Buffer } from 'node:buffer';

export class ProtobufDecodeError extends Error {
  override readonly name = 'ProtobufDecodeError';
}

export const WIRE_VARINT = 0;
export const WIRE_FIXED64 = 1;
export const WIRE_BYTES = 2;
export const WIRE_START_GROUP = 3;
export const WIRE_END_GROUP = 4;
export const WIRE_FIXED32 = 5;

/** Groups inside groups deeper than this are refused rather than followed. */
const MAX_GROUP_DEPTH = 32;

/**
 * Buffer's own slice decoders: what `toString('utf8', start, end)` ends in, without its argument
 * handling (a quarter of the cost of a short string). Present on every Node Buffer; protobufjs
 * reads strings with them too.
 */
export interface SlicingBuffer extends Buffer {
  utf8Slice(start: number, end: number): string;
  latin1Slice(start: number, end: number): string;
}

export class ProtobufReader {
  buffer!: SlicingBuffer;
  position = 0;

  reset(buffer: Buffer): this {
    this.buffer = buffer as SlicingBuffer;
    this.position = 0;
    return this;
  }

  /**
   * A varint of up to ten bytes, as an unsigned 32-bit number (the low bits, as protobuf
   * truncates a 64-bit varint read into a 32-bit field).
   */
  uint32(end: number): number {
    const buffer = this.buffer;
    let position = this.position;
    if (position >= end) throw new ProtobufDecodeError('truncated varint');
    let byte = buffer[position++] as number;
    if (byte < 0x80) {
      this.position = position;
      return byte;
    }
    let value = byte & 0x7f;
    let shift = 7;
    for (let count = 1; ; count++) {
      if (position >= end) throw new ProtobufDecodeError('truncated varint');
      if (count >= 10) throw new ProtobufDecodeError('varint longer than ten bytes');
      byte = buffer[position++] as number;
      if (shift < 32) value |= (byte & 0x7f) << shift;
      shift += 7;
      if (byte < 0x80) break;
    }
    this.position = position;
    return value >>> 0;
  }

  /** A length prefix: the end of the field's bytes, which must lie within `end`. */
  lengthEnd(end: number): number {
    const start = this.position;
    const length = this.uint32(end);
    // A length of 2^31 or more (or one that needed more than five bytes) cannot fit anyway.
    if (this.position - start > 5 || length > end - this.position) throw new ProtobufDecodeError('length beyond the end of its message');
    return this.position + length;
  }

  /** A length-delimited field read as UTF-8 (invalid sequences become U+FFFD, as protobufjs does). */
  string(end: number): string {
    const stop = this.lengthEnd(end);
    const start = this.position;
    this.position = stop;
    return start === stop ? '' : this.buffer.utf8Slice(start, stop);
  }

  /** Skips the field whose tag was just read. */
  skip(tag: number, end: number): void {
    this.skipWire(tag & 7, tag >>> 3, end, 0);
  }

  private skipWire(wireType: number, field: number, end: number, depth: number): void {
    switch (wireType) {
      case WIRE_VARINT:
        this.uint32(end);
        return;
      case WIRE_FIXED64:
        this.advance(8, end);
        return;
      case WIRE_BYTES:
        this.position = this.lengthEnd(end);
        return;
      case WIRE_FIXED32:
        this.advance(4, end);
        return;
      case WIRE_START_GROUP: {
        if (depth >= MAX_GROUP_DEPTH) throw new ProtobufDecodeError('groups nested too deep');
        for (;;) {
          const inner = this.tag(end);
          if ((inner & 7) === WIRE_END_GROUP) {
            if (inner >>> 3 !== field) throw new ProtobufDecodeError('mismatched end group');
            return;
          }
          this.skipWire(inner & 7, inner >>> 3, end, depth + 1);
        }
      }
      default:
        // An end group outside a group, or wire types 6 and 7, which do not exist.
        throw new ProtobufDecodeError(`unexpected wire type ${wireType}`);
    }
  }

  /** A field tag; field number 0 does not exist. */
  tag(end: number): number {
    const tag = this.uint32(end);
    if (tag >>> 3 === 0) throw new ProtobufDecodeError('field number 0');
    return tag;
  }

  private advance(bytes: number, end: number): void {
    if (end - this.position < bytes) throw new ProtobufDecodeError('truncated fixed-width field');
    this.position += bytes;
  }
}

/** A known field arrived with another wire type than its declaration: refused, never guessed at. */
export function wrongWireType(field: number): never {
  throw new ProtobufDecodeError(`field ${field} has the wrong wire type`);
}

/**
 * The gRPC-over-HTTP/2 details the native transport needs: status codes, the grpc-timeout and
 * content-type headers, grpc-message percent-encoding, and message framing
 * (https://github.com/grpc/grpc/blob/master/doc/PROTOCOL-HTTP2.md).
 */
import { Buffer } from 'node:buffer';

export const GrpcStatus = {
  OK: 0,
  CANCELLED: 1,
  INVALID_ARGUMENT: 3,
  DEADLINE_EXCEEDED: 4,
  NOT_FOUND: 5,
  RESOURCE_EXHAUSTED: 8,
  UNIMPLEMENTED: 12,
  INTERNAL: 13,
  UNAVAILABLE: 14,
} as const;

export type GrpcStatusCode = (typeof GrpcStatus)[keyof typeof GrpcStatus];

/** The length prefix: one flag byte (1 = compressed) and a 32-bit big-endian length. */
export const FRAME_HEADER_BYTES = 5;

const TIMEOUT_UNITS_MS: Readonly<Record<string, number>> = { H: 3_600_000, M: 60_000, S: 1000, m: 1, u: 0.001, n: 0.000001 };
const TIMEOUT_PATTERN = /^(\d{1,8})([HMSmun])$/;

/**
 * `grpc-timeout: 1-8 digits + unit` in milliseconds, rounded up (a deadline is never cut short);
 * null when the value is not of that form.
 */
export function parseGrpcTimeout(value: string): number | null {
  const match = TIMEOUT_PATTERN.exec(value);
  if (match === null) return null;
  return Math.ceil(Number(match[1]) * (TIMEOUT_UNITS_MS[match[2] as string] as number));
}

/** application/grpc, application/grpc+proto, and either with parameters; nothing else. */
export function isGrpcContentType(value: string | undefined): boolean {
  if (value === undefined) return false;
  if (value === 'application/grpc' || value === 'application/grpc+proto') return true;
  const semicolon = value.indexOf(';');
  const type = (semicolon < 0 ? value : value.slice(0, semicolon)).trim().toLowerCase();
  return type === 'application/grpc' || type === 'application/grpc+proto';
}

/**
 * grpc-message is percent-encoded UTF-8: every byte outside printable ASCII, and `%` itself,
 * becomes %XX. Messages that need none (the usual case) are returned as they are.
 */
export function encodeGrpcMessage(message: string): string {
  let plain = true;
  for (let i = 0; i < message.length; i++) {
    const code = message.charCodeAt(i);
    if (code < 0x20 || code > 0x7e || code === 0x25) {
      plain = false;
      break;
    }
  }
  if (plain) return message;
  let encoded = '';
  for (const byte of Buffer.from(message, 'utf8')) {
    encoded += byte >= 0x20 && byte <= 0x7e && byte !== 0x25 ? String.fromCharCode(byte) : `%${byte < 16 ? '0' : ''}${byte.toString(16).toUpperCase()}`;
  }
  return encoded;
}

/** One uncompressed gRPC message around `message`. */
export function frame(message: Uint8Array): Buffer {
  const framed = Buffer.allocUnsafe(FRAME_HEADER_BYTES + message.length);
  framed[0] = 0;
  framed.writeUInt32BE(message.length, 1);
  framed.set(message, FRAME_HEADER_BYTES);
  return framed;
}

/**
 * Fixed-size keys for replay records. Everything hashed here may be long or chosen by a token's
 * author, so the store keeps only a SHA-256 digest (RFC 9449 §11.1: "store only a hash"), and the
 * fields are length-prefixed so no two different triples encode to the same bytes.
 */
import { createHash } from 'node:crypto';
import { MAX_JTI_BYTES, MAX_RECORD_TTL_MS } from './defaults.js';

const KEY_DOMAIN = 'hopguard/replay-key/v1';
const SOURCE_DOMAIN = 'hopguard/replay-source/v1';

/**
 * Strings are encoded as UTF-16 code units rather than UTF-8: UTF-8 maps every lone surrogate
 * (legal in a JSON string) to U+FFFD, which would make distinct jtis share a key.
 */
function digest(domain: string, fields: readonly string[]): string {
  const hash = createHash('sha256');
  hash.update(domain);
  const length = Buffer.alloc(4);
  for (const field of fields) {
    const bytes = Buffer.from(field, 'utf16le');
    length.writeUInt32BE(bytes.length, 0);
    hash.update(length);
    hash.update(bytes);
  }
  return hash.digest('base64url');
}

/** 43 characters, whatever the lengths of workload, issuer and jti. */
export function replayKey(workload: string, issuer: string, jti: string): string {
  return digest(KEY_DOMAIN, [workload, issuer, jti]);
}

/** What a `source-bound` record remembers of its caller: 43 characters, never the literal `1` a `once` record holds. */
export function sourceDigest(source: string): string {
  return digest(SOURCE_DOMAIN, [source]);
}

/** The value a `once` record holds; no source digest can equal it. */
export const ONCE_MARKER = '1';

/** True when the jti is over MAX_JTI_BYTES in UTF-8; the pipeline then denies `token_malformed`. */
export function jtiTooLong(jti: string): boolean {
  // Cheap bound first: a string of n UTF-16 units is at most 3n UTF-8 bytes and at least n.
  if (jti.length > MAX_JTI_BYTES) return true;
  if (jti.length * 3 <= MAX_JTI_BYTES) return false;
  return Buffer.byteLength(jti, 'utf8') > MAX_JTI_BYTES;
}

/**
 * Remaining lifetime of a record, in whole ms within [1, MAX_RECORD_TTL_MS]: at least 1 since a
 * TTL of 0 means "forever" to both stores; an absurd or non-numeric expiry is remembered for the
 * longest time rather than the shortest, so an odd value can never shorten replay protection.
 */
export function remainingTtlMs(expiresAtMs: number, nowMs: number): number {
  const remaining = Math.ceil(expiresAtMs - nowMs);
  if (Number.isNaN(remaining) || remaining > MAX_RECORD_TTL_MS) return MAX_RECORD_TTL_MS;
  return remaining >= 1 ? remaining : 1;
}

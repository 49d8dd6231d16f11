/**
 * Stateless DPoP nonces (RFC 9449 §9): a nonce is the time hopguard issued it plus an HMAC of that
 * time under a secret that every replica reads from the same file, so any replica accepts any
 * replica's nonce and none keeps state. The nonce proves freshness, not identity: a client may use
 * one nonce for several proofs (§11.3), and each proof's jti is still single-use.
 *
 *   nonce = base64url( issuedAtMs as 8 bytes big-endian || HMAC-SHA256(secret, DOMAIN || those 8 bytes) )
 *
 * 54 base64url characters, all of them NQCHAR as §8.1 requires.
 */
import { createHmac, timingSafeEqual } from 'node:crypto';
import { decodeBase64url } from '../jwt/compact.js';

const DOMAIN = 'hopguard/dpop-nonce/v1';
const TIME_BYTES = 8;
const MAC_BYTES = 32;
export const NONCE_LENGTH = Math.ceil(((TIME_BYTES + MAC_BYTES) * 4) / 3);
/** A nonce from a replica whose clock runs this far ahead is still accepted. */
export const DEFAULT_NONCE_FUTURE_SKEW_MS = 5_000;
/** The shortest secret accepted: 256 bits, the HMAC-SHA256 key strength. */
export const MIN_NONCE_SECRET_BYTES = 32;

function mac(secret: Uint8Array, time: Buffer): Buffer {
  return createHmac('sha256', secret).update(DOMAIN).update(time).digest();
}

/** A fresh nonce issued at `nowMs`. */
export function issueNonce(secret: Uint8Array, nowMs: number): string {
  const time = Buffer.alloc(TIME_BYTES);
  time.writeBigUInt64BE(BigInt(Math.max(0, Math.floor(nowMs))));
  return Buffer.concat([time, mac(secret, time)]).toString('base64url');
}

export type NonceCheck =
  | { readonly ok: true; readonly issuedAtMs: number }
  | { readonly ok: false; readonly why: 'malformed' | 'forged' | 'expired' | 'future' };

/**
 * Whether `nonce` is one issued under `secret` within the last `lifetimeMs` (and not more than
 * `futureSkewMs` ahead of this replica's clock). The MAC is compared in constant time.
 */
export function checkNonce(
  secret: Uint8Array,
  nonce: string,
  nowMs: number,
  lifetimeMs: number,
  futureSkewMs: number = DEFAULT_NONCE_FUTURE_SKEW_MS,
): NonceCheck {
  if (nonce.length !== NONCE_LENGTH) return { ok: false, why: 'malformed' };
  const bytes = decodeBase64url(nonce);
  if (bytes === null || bytes.length !== TIME_BYTES + MAC_BYTES) return { ok: false, why: 'malformed' };
  const time = bytes.subarray(0, TIME_BYTES);
  if (!timingSafeEqual(bytes.subarray(TIME_BYTES), mac(secret, time))) return { ok: false, why: 'forged' };
  const issuedAtMs = Number(time.readBigUInt64BE());
  if (issuedAtMs > nowMs + futureSkewMs) return { ok: false, why: 'future' };
  if (nowMs - issuedAtMs > lifetimeMs) return { ok: false, why: 'expired' };
  return { ok: true, issuedAtMs };
}

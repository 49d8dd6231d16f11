import { describe, expect, it } from 'vitest';
import { NONCE_LENGTH, checkNonce, issueNonce } from '../../../src/dpop/index.js';

const SECRET = Buffer.from('0123456789abcdef0123456789abcdef-shared-by-replicas');
const NOW = 1_767_225_600_000;
const LIFETIME = 300_000;

describe('stateless DPoP nonces', () => {
  it('round-trips, and is made of NQCHAR (RFC 9449 §8.1)', () => {
    const nonce = issueNonce(SECRET, NOW);
    expect(nonce).toHaveLength(NONCE_LENGTH);
    expect(nonce).toMatch(/^[\x21\x23-\x5b\x5d-\x7e]+$/);
    expect(checkNonce(SECRET, nonce, NOW, LIFETIME)).toEqual({ ok: true, issuedAtMs: NOW });
    expect(checkNonce(SECRET, nonce, NOW + LIFETIME, LIFETIME).ok).toBe(true);
  });

  it('expires after its lifetime', () => {
    const nonce = issueNonce(SECRET, NOW);
    expect(checkNonce(SECRET, nonce, NOW + LIFETIME + 1, LIFETIME)).toEqual({ ok: false, why: 'expired' });
  });

  it('refuses a nonce issued too far in the future (a replica clock far ahead)', () => {
    expect(checkNonce(SECRET, issueNonce(SECRET, NOW + 5_000), NOW, LIFETIME).ok).toBe(true);
    expect(checkNonce(SECRET, issueNonce(SECRET, NOW + 5_001), NOW, LIFETIME)).toEqual({ ok: false, why: 'future' });
    expect(checkNonce(SECRET, issueNonce(SECRET, NOW + 20_000), NOW, LIFETIME, 30_000).ok).toBe(true);
  });

  it('refuses a tampered timestamp or MAC', () => {
    const bytes = Buffer.from(issueNonce(SECRET, NOW - 400_000), 'base64url');
    // Move the timestamp forward to make a stale nonce look fresh: the MAC no longer matches.
    bytes.writeBigUInt64BE(BigInt(NOW), 0);
    expect(checkNonce(SECRET, bytes.toString('base64url'), NOW, LIFETIME)).toEqual({ ok: false, why: 'forged' });
    const mac = Buffer.from(issueNonce(SECRET, NOW), 'base64url');
    mac[39] = (mac[39] as number) ^ 1;
    expect(checkNonce(SECRET, mac.toString('base64url'), NOW, LIFETIME)).toEqual({ ok: false, why: 'forged' });
  });

  it('refuses malformed nonces', () => {
    const nonce = issueNonce(SECRET, NOW);
    for (const bad of ['', 'abc', `${nonce}A`, nonce.slice(1), `${nonce.slice(0, -1)}+`, `${nonce.slice(0, -1)}=`]) {
      expect(checkNonce(SECRET, bad, NOW, LIFETIME)).toEqual({ ok: false, why: 'malformed' });
    }
  });

  it('is accepted by every replica sharing the secret, and by none with another', () => {
    const replicaA = { secret: Buffer.from(SECRET) };
    const replicaB = { secret: Buffer.from(SECRET) };
    const stranger = { secret: Buffer.from('another-secret-another-secret-another-secret') };
    const fromA = issueNonce(replicaA.secret, NOW);
    const fromB = issueNonce(replicaB.secret, NOW + 1_000);
    expect(checkNonce(replicaB.secret, fromA, NOW + 2_000, LIFETIME).ok).toBe(true);
    expect(checkNonce(replicaA.secret, fromB, NOW + 2_000, LIFETIME).ok).toBe(true);
    expect(checkNonce(stranger.secret, fromA, NOW + 2_000, LIFETIME)).toEqual({ ok: false, why: 'forged' });
  });

  it('differs from one millisecond to the next', () => {
    expect(issueNonce(SECRET, NOW)).not.toBe(issueNonce(SECRET, NOW + 1));
  });
});

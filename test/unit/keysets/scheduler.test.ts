/**
 * Review finding in src/jwt/keysets/scheduler.ts: Node's setTimeout turns any delay over
 * 2^31-1 ms (about 24.8 days) into 1 ms. A key set whose TTL is long (jwksCache.minTtl or maxTtl
 * of 30d with an IdP sending a long max-age) plans its background refresh at 80-90 % of the TTL,
 * so the refresh ran after 1 ms, planned the next one the same way, and hammered the IdP.
 */
import { describe, expect, it } from 'vitest';
import { realScheduler } from '../../../src/jwt/keysets/scheduler.js';

const THIRTY_DAYS_MS = 30 * 24 * 3_600_000;

describe('realScheduler with delays beyond setTimeout range', () => {
  it('does not run a task planned 30 days ahead within the next timer tick', async () => {
    let ran = false;
    const handle = realScheduler.after(THIRTY_DAYS_MS, () => {
      ran = true;
    });
    // A timer armed after ours with a longer delay fires after a 1 ms overflowed one would have.
    await new Promise((resolve) => setTimeout(resolve, 25));
    handle.cancel();
    expect(ran).toBe(false);
  });

  it('still runs short tasks', async () => {
    let ran = false;
    realScheduler.after(1, () => {
      ran = true;
    });
    await new Promise((resolve) => setTimeout(resolve, 25));
    expect(ran).toBe(true);
  });
});

import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { MAX_ACT_NESTING, actorChain, buildAllowlist, checkDelegation, type DelegationPolicy } from '../../../src/identity/index.js';

/**
 * RFC 8693 §4.1's example shape: the user is sub; the frontend exchanged the user's token, then the
 * orders service exchanged it again, so orders is the current actor and frontend a prior actor.
 */
const delegated = {
  iss: 'https://sts.example.com',
  sub: 'user@example.com',
  aud: 'spiffe://cluster.local/ns/shop/sa/payments',
  act: {
    sub: 'spiffe://cluster.local/ns/shop/sa/orders',
    act: { sub: 'spiffe://cluster.local/ns/shop/sa/frontend', iss: 'https://sts.example.com' },
  },
};

const noRules: DelegationPolicy = { maxDelegationDepth: null, allowedActors: null };

/** A chain of `depth` actors, current first. */
function chainOf(depth: number): Record<string, unknown> {
  let act: Record<string, unknown> | undefined;
  for (let level = depth; level >= 1; level--) act = { sub: `spiffe://td/actor/${level}`, ...(act ? { act } : {}) };
  return act ? { sub: 'user', act } : { sub: 'user' };
}

describe('actorChain', () => {
  it('lists the current actor first, then prior actors, most recent first', () => {
    expect(actorChain(delegated)).toEqual({
      ok: true,
      actors: [
        { sub: 'spiffe://cluster.local/ns/shop/sa/orders', iss: null },
        { sub: 'spiffe://cluster.local/ns/shop/sa/frontend', iss: 'https://sts.example.com' },
      ],
      depth: 2,
    });
  });

  it('is empty for a token without act', () => {
    expect(actorChain({ sub: 'user' })).toEqual({ ok: true, actors: [], depth: 0 });
  });

  it('ignores may_act, and non-identity members inside act', () => {
    const result = actorChain({ may_act: { sub: 'x' }, act: { sub: 'spiffe://td/a', exp: 1, aud: 'x' } });
    expect(result).toEqual({ ok: true, actors: [{ sub: 'spiffe://td/a', iss: null }], depth: 1 });
  });

  it.each<[string, unknown]>([
    ['act a string', 'spiffe://td/a'],
    ['act null', null],
    ['act an array', [{ sub: 'spiffe://td/a' }]],
    ['an actor without sub', { iss: 'https://sts' }],
    ['an actor with an empty sub', { sub: '' }],
    ['an actor with a numeric sub', { sub: 7 }],
    ['an actor with a non-string iss', { sub: 'a', iss: 7 }],
    ['a prior actor without sub', { sub: 'a', act: { iss: 'x' } }],
    ['a prior actor that is not an object', { sub: 'a', act: 'b' }],
    ['an oversized actor sub', { sub: 'a'.repeat(2049) }],
  ])('refuses %s', (_what, act) => {
    expect(actorChain({ act }).ok).toBe(false);
  });

  it('reads up to the hard cap of nesting and refuses one more', () => {
    expect(actorChain(chainOf(MAX_ACT_NESTING))).toMatchObject({ ok: true, depth: MAX_ACT_NESTING });
    expect(actorChain(chainOf(MAX_ACT_NESTING + 1))).toEqual({ ok: false, error: `act is nested deeper than ${MAX_ACT_NESTING}` });
  });

  it('bounds the work on a very deep chain (stops at the cap, no recursion)', () => {
    expect(actorChain(chainOf(100_000)).ok).toBe(false);
  });

  it('never throws on arbitrary JSON', () => {
    fc.assert(
      fc.property(fc.jsonValue({ maxDepth: 6 }), (act) => {
        actorChain({ act });
        checkDelegation({ act }, { maxDelegationDepth: 1, allowedActors: buildAllowlist(['spiffe://td/*']) });
      }),
      { numRuns: 2000 },
    );
  });
});

describe('checkDelegation', () => {
  it('applies no rule when neither option is set: a well-formed delegated token passes', () => {
    expect(checkDelegation(delegated, noRules)).toBeNull();
  });

  it('lets a token without act through any policy (no one is acting on anyone\'s behalf)', () => {
    const strict = { maxDelegationDepth: 0, allowedActors: buildAllowlist(['spiffe://td/only']) };
    expect(checkDelegation({ sub: 'user' }, strict)).toBeNull();
  });

  it('refuses a malformed act even with no policy (fail closed)', () => {
    expect(checkDelegation({ act: 'spiffe://td/a' }, noRules)).toEqual({ reason: 'delegation_not_allowed', detail: 'act at depth 1 is not an object' });
    expect(checkDelegation({ act: { iss: 'x' } }, noRules)?.reason).toBe('delegation_not_allowed');
    expect(checkDelegation(chainOf(MAX_ACT_NESTING + 1), noRules)?.reason).toBe('delegation_not_allowed');
  });

  it('counts every act level against maxDelegationDepth (0 forbids delegation)', () => {
    expect(checkDelegation(chainOf(1), { maxDelegationDepth: 0, allowedActors: null })).toEqual({
      reason: 'delegation_not_allowed',
      detail: 'delegation depth 1 exceeds the allowed 0',
    });
    expect(checkDelegation(delegated, { maxDelegationDepth: 2, allowedActors: null })).toBeNull();
    expect(checkDelegation(delegated, { maxDelegationDepth: 1, allowedActors: null })?.reason).toBe('delegation_not_allowed');
    expect(checkDelegation(chainOf(32), { maxDelegationDepth: 32, allowedActors: null })).toBeNull();
  });

  it('matches only the current actor against allowedActors; prior actors do not count', () => {
    const ordersOnly = { maxDelegationDepth: null, allowedActors: buildAllowlist(['spiffe://cluster.local/ns/shop/sa/orders']) };
    expect(checkDelegation(delegated, ordersOnly)).toBeNull();
    const frontendOnly = { maxDelegationDepth: null, allowedActors: buildAllowlist(['spiffe://cluster.local/ns/shop/sa/frontend']) };
    expect(checkDelegation(delegated, frontendOnly)).toEqual({ reason: 'delegation_not_allowed', detail: 'the current actor is not an allowed actor' });
  });

  it('supports prefix entries for actors at a path-segment boundary', () => {
    const shop = { maxDelegationDepth: null, allowedActors: buildAllowlist(['spiffe://cluster.local/ns/shop/*']) };
    expect(checkDelegation(delegated, shop)).toBeNull();
    const shopping = { act: { sub: 'spiffe://cluster.local/ns/shopping/sa/orders' } };
    expect(checkDelegation(shopping, shop)?.reason).toBe('delegation_not_allowed');
  });

  it('accepts the resolved config allowlist shape (prefixes stored without the *)', () => {
    const resolved = { maxDelegationDepth: 2, allowedActors: { exact: new Set<string>(), prefixes: ['spiffe://cluster.local/ns/shop/'] } };
    expect(checkDelegation(delegated, resolved)).toBeNull();
  });
});

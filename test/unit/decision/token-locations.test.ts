/** Where the token is read (`tokens:`), exactly once, and how `removeToken` hides it from the upstream. */
import { describe, expect, it } from 'vitest';
import { OVERSIZE_HEADER_VALUE } from '../../../src/jwt/compact.js';
import { config, goodClaims, input, reasonOf, setup, token } from './support.js';

const LOCATIONS = {
  tokens: [{ header: 'authorization', scheme: 'Bearer' }, { header: 'txn-token' }, { cookie: 'id_token' }, { query: 'access_token' }],
};

function allowOf(decision: Awaited<ReturnType<ReturnType<typeof setup>['pipeline']['check']>>) {
  if (!decision.allowed) throw new Error(`expected allow, got ${decision.reason}: ${decision.detail}`);
  return decision;
}

describe('token locations', () => {
  it('reads the default authorization Bearer token, scheme in any case', async () => {
    const { pipeline } = setup();
    expect(reasonOf(await pipeline.check(input({ authorization: [`bEaReR ${token(goodClaims())}`] })))).toBe('allow');
    expect(reasonOf(await pipeline.check(input({ authorization: [`Basic dXNlcjpwYXNz`] })))).toBe('token_missing');
    expect(reasonOf(await pipeline.check(input({ headers: new Map([['cookie', [`id_token=${token(goodClaims())}`]]]) })))).toBe('token_missing');
  });

  it.each([
    ['header with a scheme', { authorization: [`Bearer ${token(goodClaims())}`] }],
    ['header without a scheme', { headers: new Map([['txn-token', [token(goodClaims())]]]) }],
    ['cookie', { headers: new Map([['cookie', [`theme=dark; id_token=${token(goodClaims())}; lang=en`]]]) }],
    ['quoted cookie', { headers: new Map([['cookie', [`id_token="${token(goodClaims())}"`]]]) }],
    ['query parameter', { path: `/orders?x=1&access_token=${token(goodClaims())}` }],
  ])('reads a token from a %s', async (_name, request) => {
    const { pipeline } = setup(config({}, LOCATIONS));
    expect(reasonOf(await pipeline.check(input(request)))).toBe('allow');
  });

  it.each([
    ['two places', { authorization: [`Bearer ${token(goodClaims())}`], path: `/?access_token=${token(goodClaims())}` }],
    ['a header and a cookie', { headers: new Map([['txn-token', [token(goodClaims())]], ['cookie', [`id_token=${token(goodClaims())}`]]]) }],
    ['two Bearer credentials', { authorization: [`Bearer ${token(goodClaims())},Bearer ${token(goodClaims())}`] }],
    ['Bearer beside Basic', { authorization: [`Basic eA==, Bearer ${token(goodClaims())}`] }],
    ['two values of a plain header', { headers: new Map([['txn-token', [token(goodClaims()), token(goodClaims())]]]) }],
    ['a cookie twice', { headers: new Map([['cookie', [`id_token=${token(goodClaims())}`, `id_token=${token(goodClaims())}`]]]) }],
    ['an empty cookie', { headers: new Map([['cookie', ['id_token=']]]) }],
    ['a query parameter twice', { path: `/?access_token=${token(goodClaims())}&access_token=${token(goodClaims())}` }],
    ['a malformed query escape', { path: '/?access_token=%zz' }],
    ['an empty Bearer credential', { authorization: ['Bearer '] }],
  ])('denies token_malformed for %s', async (_name, request) => {
    const { pipeline } = setup(config({}, LOCATIONS));
    expect(reasonOf(await pipeline.check(input(request)))).toBe('token_malformed');
  });

  it('denies token_missing naming every place it looked', async () => {
    const decision = await setup(config({}, LOCATIONS)).pipeline.check(input({ path: '/?other=1' }));
    expect(reasonOf(decision)).toBe('token_missing');
    expect(decision.allowed ? '' : decision.detail).toBe('no token in bearer in authorization, header txn-token, cookie id_token, query parameter access_token');
  });

  it('denies token_too_large for an oversize token header of any location', async () => {
    const { pipeline } = setup(config({}, LOCATIONS));
    expect(reasonOf(await pipeline.check(input({ headers: new Map([['txn-token', [OVERSIZE_HEADER_VALUE]]]) })))).toBe('token_too_large');
    expect(reasonOf(await pipeline.check(input({ path: `/?access_token=${'a'.repeat(9000)}` })))).toBe('token_too_large');
  });

  it('the config keeps the headers it reads', () => {
    expect([...config({}, LOCATIONS).limits.decisionHeaders]).toEqual(expect.arrayContaining(['authorization', 'txn-token', 'cookie']));
    expect(config().limits.decisionHeaders.has('cookie')).toBe(false);
  });
});

describe('removeToken', () => {
  const removing = { ...LOCATIONS, forward: { removeToken: true } };

  it('removes a token header', async () => {
    const decision = allowOf(await setup(config({}, removing)).pipeline.check(input({ headers: new Map([['txn-token', [token(goodClaims())]]]) })));
    expect(decision.headersToRemove).toContain('txn-token');
    expect(decision.headersToRemove).not.toContain('authorization');
    expect(decision.queryParametersToRemove).toEqual([]);
  });

  it('removes a query parameter', async () => {
    const decision = allowOf(await setup(config({}, removing)).pipeline.check(input({ path: `/o?access_token=${token(goodClaims())}` })));
    expect(decision.queryParametersToRemove).toEqual(['access_token']);
  });

  it('rewrites the cookie header without the token cookie, keeping the others', async () => {
    const decision = allowOf(
      await setup(config({}, removing)).pipeline.check(input({ headers: new Map([['cookie', [`theme=dark; id_token=${token(goodClaims())}`, 'lang=en']]]) })),
    );
    expect(Object.fromEntries(decision.headersToSet).cookie).toBe('theme=dark; lang=en');
  });

  it('removes the cookie header when the token was the only cookie', async () => {
    const decision = allowOf(await setup(config({}, removing)).pipeline.check(input({ headers: new Map([['cookie', [`id_token=${token(goodClaims())}`]]]) })));
    expect(decision.headersToRemove).toContain('cookie');
    expect(Object.fromEntries(decision.headersToSet).cookie).toBeUndefined();
  });

  it('leaves the token in place without removeToken; removeAuthorization still removes authorization', async () => {
    const kept = allowOf(await setup(config({}, LOCATIONS)).pipeline.check(input({ path: `/o?access_token=${token(goodClaims())}` })));
    expect(kept.queryParametersToRemove).toEqual([]);
    expect(kept.headersToRemove).not.toContain('authorization');
    const alias = allowOf(await setup(config({}, { forward: { removeAuthorization: true } })).pipeline.check(input({ token: token(goodClaims()) })));
    expect(alias.headersToRemove).toContain('authorization');
  });
});

/** Per-route rules: the request's method and normalised path pick an operation, whose rules then apply. */
import { describe, expect, it } from 'vitest';
import { loadConfigObject } from '../../../src/config/load.js';
import { createPipeline } from '../../../src/decision/pipeline.js';
import type { SignatureVerifier } from '../../../src/decision/types.js';
import { OVERSIZE_PATH } from '../../../src/decision/types.js';
import { config, fakeVerifier, FakeReplayStore, FRONTEND, goodClaims, input, ISS, NOW_S, ORDERS, reasonOf, setup, token } from './support.js';

const INTRUDER = 'spiffe://cluster.local/ns/shop/sa/intruder';

const SHOP = {
  claims: { scope: { contains: 'orders' } },
  operations: [
    { name: 'read', methods: ['GET', 'HEAD'], paths: ['/orders', '/orders/*'], claims: { scope: { contains: 'orders:read' } } },
    {
      name: 'write-own-tenant',
      methods: ['POST', 'PUT', 'DELETE'],
      paths: ['/tenants/{tenant}/orders/**'],
      claims: { tenant: { equals: '{tenant}' } },
      sources: [FRONTEND],
      replay: 'once',
    },
    { name: 'health', paths: ['/healthz', '/readyz'], public: true },
    { methods: ['GET'], paths: ['/reports/{year}/{month}'], claims: { years: { oneOf: ['{year}', 'any'] }, region: { prefix: 'eu-{month}' } } },
  ],
};

const readToken = (extra: Record<string, unknown> = {}) => token(goodClaims({ scope: 'orders orders:read', ...extra }));
const writeToken = (tenant: string) => token(goodClaims({ scope: 'orders orders:write', tenant }));

describe('operations: matching', () => {
  it.each([
    ['GET', '/orders', 'allow', 'read'],
    ['HEAD', '/orders/7', 'allow', 'read'],
    ['GET', '/orders/7/items', 'operation_not_allowed', ''],
    ['POST', '/orders', 'operation_not_allowed', ''],
    ['get', '/orders', 'operation_not_allowed', ''],
    ['GET', '/elsewhere', 'operation_not_allowed', ''],
    ['GET', '/orders?limit=5', 'allow', 'read'],
    ['GET', '/orders/./7', 'allow', 'read'],
    ['GET', '//orders', 'allow', 'read'],
    ['GET', '/x/../orders', 'allow', 'read'],
    ['GET', '/%6Frders', 'allow', 'read'],
  ])('%s %s -> %s', async (method, path, expected, operation) => {
    const { pipeline } = setup(config({}, SHOP));
    const decision = await pipeline.check(input({ token: readToken(), method, path }));
    expect(reasonOf(decision)).toBe(expected);
    expect(decision.operation).toBe(operation);
  });

  it('adds the operation claims to the workload claims: both must hold', async () => {
    const { pipeline } = setup(config({}, SHOP));
    expect(reasonOf(await pipeline.check(input({ token: token(goodClaims({ scope: 'orders:read' })), path: '/orders' })))).toBe('claims_not_satisfied');
    expect(reasonOf(await pipeline.check(input({ token: token(goodClaims({ scope: 'orders' })), path: '/orders' })))).toBe('claims_not_satisfied');
    expect(reasonOf(await pipeline.check(input({ token: readToken(), path: '/orders' })))).toBe('allow');
  });

  it('first match wins', async () => {
    const cfg = config({}, {
      operations: [
        { name: 'strict', paths: ['/a/**'], claims: { scope: { contains: 'admin' } } },
        { name: 'lenient', paths: ['/a/b'] },
      ],
    });
    const decision = await setup(cfg).pipeline.check(input({ token: readToken(), path: '/a/b' }));
    expect(reasonOf(decision)).toBe('claims_not_satisfied');
    expect(decision.operation).toBe('strict');
  });

  it('names an operation without a name by its index', async () => {
    const decision = await setup(config({}, SHOP)).pipeline.check(input({ token: readToken({ years: '2026', region: 'eu-05' }), path: '/reports/2026/05' }));
    expect(reasonOf(decision)).toBe('allow');
    expect(decision.operation).toBe('#3');
  });

  it('unmatched: allow applies only the workload rules', async () => {
    const cfg = config({}, { ...SHOP, unmatched: 'allow' });
    const { pipeline } = setup(cfg);
    expect(reasonOf(await pipeline.check(input({ token: token(goodClaims({ scope: 'orders' })), path: '/elsewhere' })))).toBe('allow');
    expect(reasonOf(await pipeline.check(input({ token: token(goodClaims({ scope: 'other' })), path: '/elsewhere' })))).toBe('claims_not_satisfied');
  });

  it('a workload without operations ignores the method and path, even a hostile one', async () => {
    const { pipeline } = setup(config());
    expect(reasonOf(await pipeline.check(input({ token: token(goodClaims()), method: 'BREW', path: '/a/%2F/../../etc' })))).toBe('allow');
  });
});

describe('operations: the path is normalised or refused', () => {
  it.each([
    '/orders%2F7',
    '/orders%2f7',
    '/orders%5C7',
    '/orders\\7',
    '/orders/%00',
    '/orders/\u0000',
    '/orders/%zz',
    '/orders/%4',
    '/../orders',
    '/orders/../../orders',
    'orders',
    '*',
    '',
    OVERSIZE_PATH,
  ])('denies path_invalid for %j, before reading any token', async (path) => {
    const verifier = fakeVerifier();
    const decision = await setup(config({}, SHOP), verifier).pipeline.check(input({ path }));
    expect(reasonOf(decision)).toBe('path_invalid');
    expect(verifier.calls).toBe(0);
  });

  it('refuses the same escapes whatever the case of their hex digits', async () => {
    const { pipeline } = setup(config({}, SHOP));
    for (const path of ['/orders%2F7', '/orders%2f7', '/a%5c..%5Corders']) {
      expect(reasonOf(await pipeline.check(input({ token: readToken(), path })))).toBe('path_invalid');
    }
  });

  it('a fragment never takes part in matching', async () => {
    const { pipeline } = setup(config({}, SHOP));
    expect(reasonOf(await pipeline.check(input({ token: readToken(), path: '/orders#/../admin' })))).toBe('allow');
  });
});

describe('operations: captures bound to claims', () => {
  it('allows a token for tenant acme on /tenants/acme/..., and denies it on /tenants/globex/...', async () => {
    const { pipeline } = setup(config({}, SHOP));
    expect(reasonOf(await pipeline.check(input({ token: writeToken('acme'), method: 'POST', path: '/tenants/acme/orders' })))).toBe('allow');
    expect(reasonOf(await pipeline.check(input({ token: writeToken('acme'), method: 'POST', path: '/tenants/acme/orders/7/items' })))).toBe('allow');
    const crossTenant = await pipeline.check(input({ token: writeToken('acme'), method: 'POST', path: '/tenants/globex/orders/7' }));
    expect(reasonOf(crossTenant)).toBe('claims_not_satisfied');
    expect(crossTenant.allowed ? '' : crossTenant.detail).toBe('tenant must equal "globex"');
  });

  it('compares with the percent-decoded segment', async () => {
    const { pipeline } = setup(config({}, SHOP));
    expect(reasonOf(await pipeline.check(input({ token: writeToken('ac me'), method: 'PUT', path: '/tenants/ac%20me/orders' })))).toBe('allow');
    expect(reasonOf(await pipeline.check(input({ token: writeToken('acme'), method: 'PUT', path: '/tenants/ac%6De/orders' })))).toBe('allow');
    expect(reasonOf(await pipeline.check(input({ token: writeToken('ac%20me'), method: 'PUT', path: '/tenants/ac%20me/orders' })))).toBe('claims_not_satisfied');
  });

  it('substitutes captures in oneOf and prefix rules', async () => {
    const { pipeline } = setup(config({}, SHOP));
    expect(reasonOf(await pipeline.check(input({ token: readToken({ years: 'any', region: 'eu-05-x' }), path: '/reports/2026/05' })))).toBe('allow');
    expect(reasonOf(await pipeline.check(input({ token: readToken({ years: '2025', region: 'eu-05' }), path: '/reports/2026/05' })))).toBe('claims_not_satisfied');
    expect(reasonOf(await pipeline.check(input({ token: readToken({ years: '2026', region: 'eu-06' }), path: '/reports/2026/05' })))).toBe('claims_not_satisfied');
  });
});

describe('operations: sources, replay and public', () => {
  it("an operation's sources replace the workload's", async () => {
    const { pipeline } = setup(config({}, { ...SHOP, sources: [INTRUDER] }));
    expect(reasonOf(await pipeline.check(input({ token: writeToken('acme'), method: 'POST', path: '/tenants/acme/orders', sourcePrincipal: FRONTEND })))).toBe('allow');
    expect(reasonOf(await pipeline.check(input({ token: writeToken('acme'), method: 'POST', path: '/tenants/acme/orders', sourcePrincipal: INTRUDER })))).toBe('source_not_allowed');
    // the read operation keeps the workload's sources
    expect(reasonOf(await pipeline.check(input({ token: readToken(), path: '/orders', sourcePrincipal: FRONTEND })))).toBe('source_not_allowed');
  });

  it("an operation's replay mode replaces the workload's", async () => {
    const { pipeline, replay } = setup(config({}, SHOP));
    const write = writeToken('acme');
    expect(reasonOf(await pipeline.check(input({ token: write, method: 'POST', path: '/tenants/acme/orders' })))).toBe('allow');
    expect(reasonOf(await pipeline.check(input({ token: write, method: 'POST', path: '/tenants/acme/orders' })))).toBe('replayed');
    expect(replay.records.map((record) => record.mode)).toEqual(['once', 'once']);
    const read = readToken();
    expect(reasonOf(await pipeline.check(input({ token: read, path: '/orders' })))).toBe('allow');
    expect(reasonOf(await pipeline.check(input({ token: read, path: '/orders' })))).toBe('allow');
  });

  it('a public operation allows without a token, ignores a token sent, and strips identity headers', async () => {
    const verifier = fakeVerifier();
    const { pipeline, replay } = setup(config({}, { ...SHOP, forward: { claimsToHeaders: { tenant: 'x-tenant' } } }), verifier);
    for (const authorization of [[], ['Bearer not-a-jwt'], [`Bearer ${token(goodClaims({ aud: 'elsewhere' }))}`]]) {
      const decision = await pipeline.check(input({ authorization, path: '/healthz' }));
      if (!decision.allowed) throw new Error(`expected allow, got ${decision.reason}`);
      expect(decision.operation).toBe('health');
      expect(decision.shadowReason).toBeNull();
      expect(Object.fromEntries(decision.headersToSet)).toEqual({ 'x-hopguard-workload': ORDERS });
      expect(decision.headersToRemove).toEqual(expect.arrayContaining(['x-hopguard-sub', 'x-hopguard-iss', 'x-hopguard-shadow-reason', 'x-tenant']));
      expect(decision.metadata.sub).toBe('');
    }
    expect(verifier.calls).toBe(0);
    expect(replay.records).toEqual([]);
  });

  it('a public operation still applies sources', async () => {
    const cfg = config({}, { operations: [{ name: 'health', paths: ['/healthz'], public: true, sources: [FRONTEND] }] });
    const { pipeline } = setup(cfg);
    expect(reasonOf(await pipeline.check(input({ path: '/healthz', sourcePrincipal: FRONTEND })))).toBe('allow');
    expect(reasonOf(await pipeline.check(input({ path: '/healthz', sourcePrincipal: INTRUDER })))).toBe('source_not_allowed');
    expect(reasonOf(await pipeline.check(input({ path: '/healthz', sourcePrincipal: '' })))).toBe('source_not_allowed');
  });

  it('shadow mode lets an unmatched or invalid path through, reporting the reason', async () => {
    const { pipeline } = setup(config({}, { ...SHOP, mode: 'shadow' }));
    for (const [path, reason] of [['/elsewhere', 'operation_not_allowed'], ['/a%2Fb', 'path_invalid']] as const) {
      const decision = await pipeline.check(input({ token: readToken(), path }));
      if (!decision.allowed) throw new Error('expected a shadow allow');
      expect(decision.shadowReason).toBe(reason);
    }
  });

  it('explain records the normalised path, the operation and each capture', async () => {
    const { pipeline } = setup(config({}, SHOP));
    const decision = await pipeline.check(input({ token: writeToken('acme'), method: 'POST', path: '//tenants/./acme/orders/7?x=1' }));
    expect(decision.steps[1]).toEqual({ step: 'operation', passed: true, detail: '/tenants/acme/orders/7 matches write-own-tenant (tenant="acme")' });
  });
});

describe('operations: config', () => {
  const base = { issuers: [{ issuer: ISS, jwks: { keys: [] }, algorithms: ['ES256'] }] };
  const errorsOf = (workload: Record<string, unknown>) => {
    const loaded = loadConfigObject({ ...base, workloads: [{ id: ORDERS, ...workload }] });
    return loaded.ok ? [] : loaded.errors;
  };

  it.each([
    [{ operations: [{ paths: ['/a/**/b'] }] }, 'workloads[0].operations[0].paths[0]'],
    [{ operations: [{ paths: ['/a/{tenant'] }] }, 'workloads[0].operations[0].paths[0]'],
    [{ operations: [{ paths: ['/a/{t}/{t}'] }] }, 'workloads[0].operations[0].paths[0]'],
    [{ operations: [{ paths: ['/a/{t}'], claims: { tenant: { equals: '{tenant}' } } }] }, 'workloads[0].operations[0].claims.tenant'],
    [{ operations: [{ paths: ['/a/{tenant}', '/b'], claims: { tenant: { equals: '{tenant}' } } }] }, 'workloads[0].operations[0].claims.tenant'],
    [{ operations: [{ claims: { tenant: { equals: '{tenant}' } } }] }, 'workloads[0].operations[0].claims.tenant'],
    [{ operations: [{ methods: ['get'] }] }, 'workloads[0].operations[0].methods'],
    [{ operations: [{ paths: ['orders'] }] }, 'workloads[0].operations[0].paths'],
    [{ operations: [{ name: 'a' }, { name: 'a' }] }, 'workloads[0].operations[1].name'],
    [{ unmatched: 'allow' }, 'workloads[0].unmatched'],
  ])('refuses %j at load, naming %s', (workload, path) => {
    const errors = errorsOf(workload);
    expect(errors.some((line) => line.startsWith(path))).toBe(true);
  });

  it('accepts the SPEC example', () => {
    expect(errorsOf(SHOP)).toEqual([]);
  });
});

describe('internal errors', () => {
  const throwing: SignatureVerifier = {
    async verify() {
      throw new TypeError('a bug in a port');
    },
  };

  it('denies internal_error (never a token reason) and keeps the stack for the log', async () => {
    const pipeline = createPipeline({ config: config(), verifier: throwing, replay: new FakeReplayStore(), clock: { nowMs: () => NOW_S * 1000 } });
    const decision = await pipeline.check(input({ token: token(goodClaims()) }));
    expect(reasonOf(decision)).toBe('internal_error');
    expect(decision.audit.internalError).toContain('TypeError: a bug in a port');
  });

  it('allows in shadow mode, reporting internal_error', async () => {
    const pipeline = createPipeline({ config: config({}, { mode: 'shadow' }), verifier: throwing, replay: new FakeReplayStore(), clock: { nowMs: () => NOW_S * 1000 } });
    const decision = await pipeline.check(input({ token: token(goodClaims()) }));
    if (!decision.allowed) throw new Error('expected a shadow allow');
    expect(decision.shadowReason).toBe('internal_error');
    expect(decision.headersToRemove).toContain('x-hopguard-sub');
  });
});

import { describe, expect, it } from 'vitest';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadConfigFile, loadConfigObject, loadConfigText } from '../../../src/config/load.js';
import { parseDuration } from '../../../src/config/duration.js';

const ISSUER = { issuer: 'https://idp.example.com', jwksUri: 'https://idp.example.com/keys', algorithms: ['ES256'] };
const WORKLOAD = { id: 'spiffe://cluster.local/ns/shop/sa/orders' };

function errorsOf(document: unknown): string[] {
  const result = loadConfigObject(document);
  return result.ok ? [] : result.errors;
}

describe('config loading', () => {
  it('takes listen.transport: native (default) or grpc-js, nothing else', () => {
    const fallback = loadConfigObject({ listen: { transport: 'grpc-js' }, issuers: [ISSUER], workloads: [WORKLOAD] });
    expect(fallback.ok && fallback.config.listen.transport).toBe('grpc-js');
    const wrong = loadConfigObject({ listen: { transport: 'h3' }, issuers: [ISSUER], workloads: [WORKLOAD] });
    expect(wrong.ok ? [] : wrong.errors.join('\n')).toMatch(/^listen\.transport: /m);
  });

  it('applies defaults: listen, audiences, issuers, replay, skew, limits', () => {
    const result = loadConfigObject({ issuers: [ISSUER], workloads: [WORKLOAD] });
    if (!result.ok) throw new Error(result.errors.join('\n'));
    const { config } = result;
    expect(config.listen).toEqual({ grpc: '0.0.0.0:9191', http: null, admin: null, transport: 'native' });
    const workload = config.workloads.get(WORKLOAD.id)!;
    expect(workload.audiences).toEqual([WORKLOAD.id]);
    expect([...workload.issuers]).toEqual([ISSUER.issuer]);
    expect(workload.sources).toBeNull();
    expect(workload.replay).toBe('source-bound');
    expect(workload.clockSkewMs).toBe(30_000);
    expect(workload.mode).toBe('enforce');
    expect(workload.trustForwardedClientCert).toBe(false);
    expect(config.replay).toMatchObject({ store: 'memory', onStoreError: 'deny', timeoutMs: 500 });
    expect(config.limits.maxTokenBytes).toBe(8192);
    const issuer = config.issuers.get(ISSUER.issuer)!;
    expect(issuer.jwksCache).toEqual({ minTtlMs: 60_000, maxTtlMs: 86_400_000, unknownKidCooldownMs: 30_000, maxStaleMs: 86_400_000, timeoutMs: 5_000, maxBytes: 1_048_576 });
    expect(issuer.source).toEqual({ kind: 'uri', uri: ISSUER.jwksUri });
  });

  it('applies defaults under every workload, a workload key winning', () => {
    const result = loadConfigObject({
      issuers: [ISSUER],
      defaults: { replay: 'once', clockSkew: '5s', sources: ['spiffe://cluster.local/ns/shop/*'] },
      workloads: [WORKLOAD, { id: 'spiffe://cluster.local/ns/shop/sa/billing', replay: 'off' }],
    });
    if (!result.ok) throw new Error(result.errors.join('\n'));
    const [orders, billing] = [...result.config.workloads.values()];
    expect([orders!.replay, orders!.clockSkewMs]).toEqual(['once', 5000]);
    expect([billing!.replay, billing!.clockSkewMs]).toEqual(['off', 5000]);
    expect(billing!.sources?.prefixes).toEqual(['spiffe://cluster.local/ns/shop/*']);
  });

  it.each([
    [{ ...ISSUER, algorithms: ['HS256'] }, 'issuers[0].algorithms[0]'],
    [{ ...ISSUER, algorithms: ['none'] }, 'issuers[0].algorithms[0]'],
    [{ ...ISSUER, algorithms: [] }, 'issuers[0].algorithms'],
    [{ issuer: 'x', algorithms: ['ES256'] }, 'issuers[0]'],
    [{ ...ISSUER, jwksFile: '/etc/jwks.json' }, 'issuers[0]'],
    [{ ...ISSUER, jwksUri: 'ftp://idp/keys' }, 'issuers[0].jwksUri'],
    [{ ...ISSUER, jwksCache: { minTtl: 'soon' } }, 'issuers[0].jwksCache.minTtl'],
    [{ ...ISSUER, jwksCache: { minTtl: '2h', maxTtl: '1h' } }, 'issuers[0].jwksCache.minTtl'],
    [{ issuer: 'x', jwks: { keys: [] }, algorithms: ['ES256'], caFile: '/ca.pem' }, 'issuers[0].caFile'],
    [{ ...ISSUER, jwksUri: 'http://idp/keys', tokenFile: '/token' }, 'issuers[0].tokenFile'],
    [{ issuer: 'https://spire.example', jwks: { keys: [] }, algorithms: ['ES256'], profile: 'jwt-svid' }, 'issuers[0].trustDomain'],
  ])('refuses a bad issuer with its key path (%#)', (issuer, path) => {
    const errors = errorsOf({ issuers: [issuer], workloads: [WORKLOAD] });
    expect(errors.length).toBeGreaterThan(0);
    expect(errors.some((line) => line.startsWith(`${path}: `))).toBe(true);
  });

  it.each([
    [{ ...WORKLOAD, replay: 'twice' }, 'workloads[0].replay'],
    [{ ...WORKLOAD, clockSkew: 30 }, 'workloads[0].clockSkew'],
    [{ ...WORKLOAD, issuers: ['https://unknown.example.com'] }, 'workloads[0].issuers'],
    [{ ...WORKLOAD, claims: { scope: { startsWith: 'x' } } }, 'workloads[0].claims.scope'],
    [{ ...WORKLOAD, forward: { claimsToHeaders: { sub: 'X-Upper' } } }, 'workloads[0].forward.claimsToHeaders.sub'],
    [{ ...WORKLOAD, forward: { claimsToHeaders: { sub: 'x-hopguard-workload' } } }, 'workloads[0].forward.claimsToHeaders.sub'],
    [{ ...WORKLOAD, audience: ['typo'] }, 'workloads[0].audience'],
  ])('refuses a bad workload with its key path (%#)', (workload, path) => {
    const errors = errorsOf({ issuers: [ISSUER], workloads: [workload] });
    expect(errors.some((line) => line.startsWith(`${path}: `))).toBe(true);
  });

  it('refuses two jwt-svid issuers for one trust domain', () => {
    const svid = (issuer: string) => ({ issuer, jwks: { keys: [] }, algorithms: ['ES256'], profile: 'jwt-svid', trustDomain: 'cluster.local' });
    expect(errorsOf({ issuers: [svid('https://a.example'), svid('https://b.example')], workloads: [WORKLOAD] })).toEqual([
      'issuers[1].trustDomain: cluster.local is already the trust domain of issuers[0]',
    ]);
  });

  it('refuses duplicates, unknown top-level keys, memory replay with several workers and redis without a url', () => {
    expect(errorsOf({ issuers: [ISSUER, ISSUER], workloads: [WORKLOAD] })).toContain('issuers[1].issuer: duplicate issuer https://idp.example.com');
    expect(errorsOf({ issuers: [ISSUER], workloads: [WORKLOAD, WORKLOAD] })).toContain('workloads[1].id: duplicate workload spiffe://cluster.local/ns/shop/sa/orders');
    expect(errorsOf({ issuers: [ISSUER], workloads: [WORKLOAD], issuer: [] })).toContain('issuer: unknown key');
    expect(errorsOf({ issuers: [ISSUER], workloads: [WORKLOAD], workers: 2 })[0]).toMatch(/^replay\.store: /);
    expect(errorsOf({ issuers: [ISSUER], workloads: [WORKLOAD], replay: { store: 'redis' } })[0]).toMatch(/^replay\.redis\.url: /);
    expect(errorsOf(null)[0]).toMatch(/^\(root\): /);
  });

  it('reads YAML and JSON, and reports a syntax error instead of throwing', () => {
    const yaml = `issuers:\n  - issuer: https://idp.example.com\n    jwksUri: https://idp.example.com/keys\n    algorithms: [ES256]\nworkloads:\n  - id: spiffe://cluster.local/ns/shop/sa/orders\n`;
    expect(loadConfigText(yaml).ok).toBe(true);
    expect(loadConfigText(JSON.stringify({ issuers: [ISSUER], workloads: [WORKLOAD] })).ok).toBe(true);
    const broken = loadConfigText('issuers: [\n');
    expect(broken.ok).toBe(false);
    expect(loadConfigText('a: 1\na: 2\n').ok).toBe(false);
    expect(loadConfigText('issuers: !secret [x]\nworkloads: []\n')).toMatchObject({ ok: false, errors: [expect.stringMatching(/^\(config\):1:\d+: not valid YAML/)] });
  });

  it('parses durations', () => {
    expect([parseDuration('500ms'), parseDuration('30s'), parseDuration('5m'), parseDuration('24h')]).toEqual([500, 30_000, 300_000, 86_400_000]);
    expect(parseDuration('1.5s')).toBeUndefined();
    expect(parseDuration('-1s')).toBeUndefined();
  });
});

describe('config errors, as a new user reads them', () => {
  const withRule = (rule: unknown) => errorsOf({ issuers: [ISSUER], workloads: [{ ...WORKLOAD, claims: { scope: rule } }] });
  const RULE = 'workloads[0].claims.scope';
  const OPERATORS = 'one of equals, oneOf, contains, exists, prefix';

  it('a misspelt claim-rule operator names the key, guesses the operator and lists them all', () => {
    expect(withRule({ contain: 'orders:read' })).toEqual([`${RULE}: unknown operator "contain" (did you mean "contains"?); use ${OPERATORS}`]);
    expect(withRule({ matches: 'x' })).toEqual([`${RULE}: unknown operator "matches"; use ${OPERATORS}`]);
  });

  it('a claim rule with two operators, none, a wrong value or no object at all says which', () => {
    expect(withRule({ contains: 'a', equals: 'b' })).toEqual([`${RULE}: one operator per rule, found "contains", "equals"`]);
    expect(withRule({})).toEqual([`${RULE}: needs an operator: ${OPERATORS}`]);
    expect(withRule({ contains: {} })).toEqual([`${RULE}.contains: must be string or number`]);
    expect(withRule({ exists: false })).toEqual([`${RULE}.exists: must be true`]);
    expect(withRule('orders:read')).toEqual([`${RULE}: must be an object with one operator, ${OPERATORS} (such as { equals: ... })`]);
  });

  it('a missing required key says required', () => {
    expect(errorsOf({ issuers: [ISSUER] })).toEqual(['workloads: required (a list)']);
    expect(errorsOf({ issuers: [{ issuer: ISSUER.issuer, jwksUri: ISSUER.jwksUri }], workloads: [WORKLOAD] })).toEqual(['issuers[0].algorithms: required (a list)']);
    expect(errorsOf({ issuers: [ISSUER], workloads: [{}] })).toEqual(['workloads[0].id: required (a string)']);
    expect(errorsOf({ issuers: [ISSUER], workloads: 'orders' })).toEqual(['workloads: expected array, received string']);
    expect(errorsOf({ issuers: [ISSUER], workloads: [WORKLOAD], workers: 'many' })).toEqual(['workers: must be number or "auto"']);
  });

  it('file and YAML errors name the file (and the line)', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'hopguard-load-'));
    try {
      const missing = join(dir, 'missing.yaml');
      expect(await loadConfigFile(missing)).toEqual({ ok: false, errors: [`${missing}: cannot read the file: no such file (ENOENT)`] });
      expect(await loadConfigFile(dir)).toEqual({ ok: false, errors: [`${dir}: cannot read the file: is a directory, not a file (EISDIR)`] });
      const broken = join(dir, 'broken.yaml');
      writeFileSync(broken, 'issuers:\n  - issuer: x\n  issuer: y\n');
      const result = await loadConfigFile(broken);
      expect(result.ok ? [] : result.errors).toEqual([expect.stringMatching(new RegExp(`^${broken.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}:3:\\d+: not valid YAML or JSON: \\S`))]);
      const empty = join(dir, 'empty.yaml');
      writeFileSync(empty, '# nothing yet\n');
      expect(await loadConfigFile(empty)).toEqual({ ok: false, errors: [`${empty}: empty; a config needs at least issuers and workloads`] });
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

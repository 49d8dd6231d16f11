import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ALLOWED_ALGORITHMS } from '../../../src/config/schema.js';
import { DPOP_OFF, DPOP_PROOF_ALGORITHMS, dpopSchema, resolveDpop, type RawDpop } from '../../../src/dpop/index.js';

const dir = mkdtempSync(join(tmpdir(), 'hopguard-dpop-'));
const secretFile = join(dir, 'nonce.key');
writeFileSync(secretFile, `${'s'.repeat(48)}\n`);
const shortFile = join(dir, 'short.key');
writeFileSync(shortFile, 'too-short\n');

function parse(value: unknown): RawDpop {
  const parsed = dpopSchema.safeParse(value);
  if (!parsed.success) throw new Error(parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('\n'));
  return parsed.data;
}

function issues(value: unknown): string[] {
  const parsed = dpopSchema.safeParse(value);
  return parsed.success ? [] : parsed.error.issues.map((issue) => `${issue.path.join('.')}: ${issue.message}`);
}

describe('dpopSchema', () => {
  it('accepts the SPEC example', () => {
    expect(
      issues({
        mode: 'allowed',
        algorithms: ['ES256', 'EdDSA', 'PS256', 'RS256'],
        proofMaxAge: '60s',
        proofClockSkew: '5s',
        origins: ['https://api.example.com'],
        nonce: { required: false, lifetime: '5m', secretFile: '/etc/hopguard/dpop-nonce.key' },
      }),
    ).toEqual([]);
  });

  it('refuses none, HS* and unknown algorithms', () => {
    for (const alg of ['none', 'HS256', 'HS512', 'A128KW', 'es256']) {
      expect(issues({ algorithms: [alg] }).join()).toMatch(/^algorithms\.0: must be one of .*never none or HS\*/);
    }
    expect(issues({ algorithms: [] }).join()).toMatch(/algorithms: must name at least one/);
  });

  it('keeps its algorithm list equal to the issuers allowlist', () => {
    expect([...DPOP_PROOF_ALGORITHMS].sort()).toEqual([...ALLOWED_ALGORITHMS].sort());
  });

  it('refuses an unknown mode, key, bad durations and bad origins', () => {
    expect(issues({ mode: 'on' }).join()).toMatch(/^mode:/);
    expect(issues({ extra: 1 }).join()).toMatch(/extra|Unrecognized/);
    expect(issues({ proofMaxAge: '60' }).join()).toMatch(/^proofMaxAge: must be a duration/);
    expect(issues({ proofMaxAge: '2h' }).join()).toMatch(/^proofMaxAge: must be at most 1h/);
    expect(issues({ proofClockSkew: '10m' }).join()).toMatch(/^proofClockSkew: must be at most 5m/);
    expect(issues({ nonce: { lifetime: '500ms' } }).join()).toMatch(/^nonce\.lifetime: must be at least 1s/);
    expect(issues({ nonce: { lifetime: '2d' } }).join()).toMatch(/^nonce\.lifetime: must be at most 24h/);
    expect(issues({ nonce: { other: true } }).join()).toMatch(/nonce/);
    expect(issues({ origins: ['https://api.example.com/path'] }).join()).toMatch(/^origins\.0: must be an origin/);
    expect(issues({ origins: ['api.example.com'] }).join()).toMatch(/^origins\.0: must be an origin/);
    expect(issues({ origins: [] }).join()).toMatch(/^origins:/);
  });
});

describe('resolveDpop', () => {
  it('is off without a dpop key', () => {
    expect(resolveDpop(undefined, 'workloads[0].dpop')).toEqual({ ok: true, value: DPOP_OFF });
  });

  it('applies the SPEC defaults', () => {
    const result = resolveDpop(parse({}), 'workloads[0].dpop');
    expect(result).toEqual({
      ok: true,
      value: {
        mode: 'off',
        algorithms: ['ES256', 'EdDSA', 'PS256', 'RS256'],
        proofMaxAgeMs: 60_000,
        proofClockSkewMs: 5_000,
        origins: null,
        nonce: { required: false, lifetimeMs: 300_000, secret: null },
      },
    });
  });

  it('resolves durations to ms, normalises origins and reads the secret (one trailing newline dropped)', () => {
    const result = resolveDpop(
      parse({
        mode: 'required',
        algorithms: ['EdDSA', 'EdDSA'],
        proofMaxAge: '30s',
        proofClockSkew: '2s',
        origins: ['HTTPS://API.example.com:443/', 'https://api.example.com'],
        nonce: { required: true, lifetime: '1m', secretFile },
      }),
      'workloads[1].dpop',
    );
    if (!result.ok) throw new Error(JSON.stringify(result.errors));
    expect(result.value.mode).toBe('required');
    expect(result.value.algorithms).toEqual(['EdDSA']);
    expect(result.value.proofMaxAgeMs).toBe(30_000);
    expect(result.value.proofClockSkewMs).toBe(2_000);
    expect(result.value.origins).toEqual(['https://api.example.com']);
    expect(result.value.nonce.required).toBe(true);
    expect(result.value.nonce.lifetimeMs).toBe(60_000);
    expect(result.value.nonce.secret?.toString()).toBe('s'.repeat(48));
  });

  it('fails with the key path when a nonce is required without a secret file', () => {
    expect(resolveDpop(parse({ mode: 'allowed', nonce: { required: true } }), 'workloads[2].dpop')).toEqual({
      ok: false,
      errors: [{ path: 'workloads[2].dpop.nonce.secretFile', message: expect.stringMatching(/is required with nonce.required: true/) }],
    });
  });

  it('fails on an unreadable or too short secret file', () => {
    const missing = resolveDpop(parse({ nonce: { secretFile: join(dir, 'absent.key') } }), 'defaults.dpop');
    expect(missing).toEqual({ ok: false, errors: [{ path: 'defaults.dpop.nonce.secretFile', message: expect.stringMatching(/cannot read .*ENOENT/) }] });
    const short = resolveDpop(parse({ nonce: { required: true, secretFile: shortFile } }), 'workloads[0].dpop');
    expect(short).toEqual({ ok: false, errors: [{ path: 'workloads[0].dpop.nonce.secretFile', message: expect.stringMatching(/at least 32/) }] });
    const directory = resolveDpop(parse({ nonce: { secretFile: dir } }), 'workloads[0].dpop');
    expect(directory.ok).toBe(false);
  });

  it('reads the secret through an injected reader', () => {
    const result = resolveDpop(parse({ nonce: { required: true, secretFile: '/virtual' } }), 'w', { readFile: () => Buffer.alloc(40, 1) });
    expect(result.ok && result.value.nonce.secret?.length).toBe(40);
  });
});

/**
 * The compiled CLI as a user runs it (`npm test` compiles first): validate, explain, check, and the
 * embedded demo whose printed commands must run exactly as printed.
 */
import { execFile, spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfigObject } from '../../src/config/load.js';
import { startHopguard, type RunningHopguard } from '../../src/server.js';
import { generateTestKey, jwksOf, signToken, type TestKey } from '../helpers/keys.js';
import { testLogger } from '../helpers/test-logs.js';

const ROOT = resolve(import.meta.dirname, '../..');
const CLI = join(ROOT, 'dist/src/cli.js');
const ISS = 'https://idp.test';
const ORDERS = 'spiffe://cluster.local/ns/shop/sa/orders';
const FRONTEND = 'spiffe://cluster.local/ns/shop/sa/frontend';

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

function run(args: string[], options: { shell?: boolean } = {}): Promise<Run> {
  return new Promise((done) => {
    const [file, argv] = options.shell ? ['sh', ['-c', args[0] as string]] : [process.execPath, [CLI, ...args]];
    execFile(file, argv, { cwd: ROOT, timeout: 15_000 }, (error, stdout, stderr) => {
      const code = error === null ? 0 : typeof error.code === 'number' ? error.code : -1;
      done({ code, stdout, stderr });
    });
  });
}

let dir: string;
let key: TestKey;
let configPath: string;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'hopguard-cli-'));
  key = await generateTestKey('ES256');
  configPath = join(dir, 'hopguard.yaml');
  writeFileSync(
    configPath,
    [
      'listen: { grpc: 127.0.0.1:0 }',
      'issuers:',
      `  - issuer: ${ISS}`,
      `    jwks: ${JSON.stringify(jwksOf(key))}`,
      '    algorithms: [ES256]',
      'workloads:',
      `  - id: ${ORDERS}`,
      '    claims: { scope: { contains: orders:read } }',
      '',
    ].join('\n'),
  );
});

afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('hopguard validate', () => {
  it('exits 0 for a valid config', async () => {
    const result = await run(['validate', '--config', configPath]);
    expect(result.code).toBe(0);
    expect(result.stdout).toContain('valid');
  });

  it('exits 1 with one `path: message` line per error', async () => {
    const bad = join(dir, 'bad.yaml');
    writeFileSync(bad, 'issuers:\n  - issuer: x\n    jwksUri: http://x/keys\n    algorithms: [HS256]\nworkloads:\n  - id: a\n    replay: twice\n');
    const result = await run(['validate', '--config', bad]);
    expect(result.code).toBe(1);
    const lines = result.stdout.trim().split('\n');
    expect(lines).toHaveLength(2);
    expect(lines[0]).toMatch(/^issuers\[0\]\.algorithms\[0\]: /);
    expect(lines[1]).toMatch(/^workloads\[0\]\.replay: /);
  });

  it('exits 1 for a missing file, 2 for a usage error', async () => {
    expect((await run(['validate', '--config', join(dir, 'nope.yaml')])).code).toBe(1);
    expect((await run(['validate', '--bogus'])).code).toBe(2);
  });
});

describe('hopguard explain', () => {
  it('prints every step and exits 0 on allow', async () => {
    const token = await signToken(key, { iss: ISS, aud: ORDERS, sub: FRONTEND, jti: 'e-1', scope: 'orders:read' });
    const result = await run(['explain', '--config', configPath, '--token', token, '--workload', ORDERS, '--source', FRONTEND]);
    expect(result.code).toBe(0);
    for (const step of ['workload', 'token', 'issuer', 'header', 'signature', 'lifetime', 'audience', 'caller', 'claims', 'replay']) {
      expect(result.stdout).toMatch(new RegExp(`\\b${step}\\s+pass`));
    }
    expect(result.stdout.trim().endsWith('ALLOW')).toBe(true);
  });

  it('names the failing step and reason and exits 1 on deny', async () => {
    const token = await signToken(key, { iss: ISS, aud: ORDERS, jti: 'e-2', scope: 'profile' });
    const result = await run(['explain', '--config', configPath, '--token', token, '--workload', ORDERS]);
    expect(result.code).toBe(1);
    expect(result.stdout).toMatch(/claims\s+FAIL\s+claims_not_satisfied: scope must contain "orders:read"/);
    expect(result.stdout).toContain('DENY claims_not_satisfied (HTTP 403, insufficient_scope)');
  });
});

describe('hopguard explain --method --path', () => {
  it('prints the normalised path, the matched operation and its captures', async () => {
    const routes = join(dir, 'routes.yaml');
    writeFileSync(
      routes,
      [
        'issuers:',
        `  - issuer: ${ISS}`,
        `    jwks: ${JSON.stringify(jwksOf(key))}`,
        '    algorithms: [ES256]',
        'workloads:',
        `  - id: ${ORDERS}`,
        '    replay: off',
        '    operations:',
        '      - name: write-own-tenant',
        '        methods: [POST]',
        '        paths: ["/tenants/{tenant}/orders/**"]',
        '        claims: { tenant: { equals: "{tenant}" } }',
        '',
      ].join('\n'),
    );
    const token = await signToken(key, { iss: ISS, aud: ORDERS, sub: FRONTEND, tenant: 'acme' });
    const allowed = await run(['explain', '--config', routes, '--token', token, '--workload', ORDERS, '--method', 'POST', '--path', '/tenants//acme/./orders/7?x=1']);
    expect(allowed.code).toBe(0);
    expect(allowed.stdout).toMatch(/operation\s+pass\s+\/tenants\/acme\/orders\/7 matches write-own-tenant \(tenant="acme"\)/);
    const crossTenant = await run(['explain', '--config', routes, '--token', token, '--workload', ORDERS, '--method', 'POST', '--path', '/tenants/globex/orders/7']);
    expect(crossTenant.code).toBe(1);
    expect(crossTenant.stdout).toContain('DENY claims_not_satisfied (HTTP 403, insufficient_scope): tenant must equal "globex"');
    const unmatched = await run(['explain', '--config', routes, '--token', token, '--workload', ORDERS, '--path', '/tenants/acme/orders/7']);
    expect(unmatched.stdout).toContain('DENY operation_not_allowed (HTTP 403, access_denied): no operation matches GET /tenants/acme/orders/7');
    const invalid = await run(['explain', '--config', routes, '--token', token, '--workload', ORDERS, '--method', 'POST', '--path', '/tenants/a%2Fb/orders']);
    expect(invalid.stdout).toMatch(/operation\s+FAIL\s+path_invalid: /);
    expect(invalid.stdout).toContain('DENY path_invalid (HTTP 400, invalid_request)');
  });
});

describe('hopguard check', () => {
  let server: RunningHopguard;

  beforeAll(async () => {
    const loaded = loadConfigObject({
      listen: { grpc: '127.0.0.1:0' },
      issuers: [{ issuer: ISS, jwks: jwksOf(key), algorithms: ['ES256'] }],
      workloads: [{ id: ORDERS, sources: [FRONTEND] }],
    });
    if (!loaded.ok) throw new Error(loaded.errors.join('\n'));
    server = await startHopguard(loaded.config, { logger: testLogger(loaded.config.logging.level) });
  });

  afterAll(async () => server?.close());

  it('exits 0 and prints the decision as JSON on allow', async () => {
    const token = await signToken(key, { iss: ISS, aud: ORDERS, sub: FRONTEND, jti: 'c-1' });
    const result = await run(['check', '--server', server.grpcAddress, '--token', token, '--workload', ORDERS, '--source', FRONTEND, '--header', 'x-request-id:abc']);
    expect(result.code).toBe(0);
    const decision = JSON.parse(result.stdout);
    expect(decision).toMatchObject({ allowed: true, grpcStatus: 0, httpStatus: 200, headers: { 'x-hopguard-workload': ORDERS } });
  });

  it('exits 1 on deny, with the reason and HTTP status', async () => {
    const token = await signToken(key, { iss: ISS, aud: ORDERS, sub: FRONTEND, jti: 'c-2' });
    const result = await run(['check', '--server', server.grpcAddress, '--token', token, '--workload', ORDERS, '--source', 'spiffe://cluster.local/ns/x/sa/y']);
    expect(result.code).toBe(1);
    expect(JSON.parse(result.stdout)).toMatchObject({ allowed: false, reason: 'source_not_allowed', httpStatus: 403, grpcStatus: 7 });
  });

  it('exits 2 when the server cannot be reached', async () => {
    const result = await run(['check', '--server', '127.0.0.1:1', '--token', 'x', '--workload', ORDERS]);
    expect(result.code).toBe(2);
  });
});

describe('the embedded demo (npm start)', () => {
  let demo: ChildProcessWithoutNullStreams;
  let banner = '';

  beforeAll(async () => {
    demo = spawn(process.execPath, [CLI, 'serve'], {
      cwd: ROOT,
      env: { ...process.env, HOPGUARD_CONFIG: '', HOPGUARD_DEMO_GRPC: '127.0.0.1:0', HOPGUARD_DEMO_ADMIN: '127.0.0.1:0' },
    });
    demo.stdout.on('data', (chunk: Buffer) => (banner += chunk.toString()));
    demo.stderr.on('data', (chunk: Buffer) => (banner += chunk.toString()));
    const deadline = Date.now() + 15_000;
    while (!/And a denial[^\n]*\n\s+node [^\n]+\n/.test(banner)) {
      if (Date.now() > deadline || demo.exitCode !== null) throw new Error(`demo did not start:\n${banner}`);
      await new Promise((r) => setTimeout(r, 50));
    }
  });

  afterAll(() => {
    if (demo.exitCode === null) demo.kill('SIGKILL');
  });

  function printedCommand(after: string): string {
    const match = new RegExp(`${after}[^\\n]*\\n\\s+(node [^\\n]+)\\n`).exec(banner);
    if (!match) throw new Error(`no command after "${after}" in:\n${banner}`);
    return match[1] as string;
  }

  it('prints a token and an allowed check command that runs exactly as printed', async () => {
    expect(banner).toContain('spiffe://demo.local/ns/default/sa/api');
    const result = await run([printedCommand('Try it \\(allowed\\):')], { shell: true });
    expect(result.code).toBe(0);
    expect(JSON.parse(result.stdout)).toMatchObject({ allowed: true });
  });

  it('prints a denied check command that runs exactly as printed', async () => {
    const result = await run([printedCommand('And a denial')], { shell: true });
    expect(result.code).toBe(1);
    expect(JSON.parse(result.stdout)).toMatchObject({ allowed: false, reason: 'audience_mismatch', httpStatus: 401 });
  });

  it('prints a DPoP check whose proof is made by hopguard dpop-proof, allowed as printed, twice (a fresh proof each run)', async () => {
    const command = printedCommand('DPoP \\(RFC 9449\\)');
    expect(command).toContain('--dpop "$(node ');
    for (let run_ = 0; run_ < 2; run_ += 1) {
      const result = await run([command], { shell: true });
      expect(result.code).toBe(0);
      expect(JSON.parse(result.stdout)).toMatchObject({ allowed: true });
      expect(JSON.parse(result.stdout).headers['x-hopguard-dpop-jkt']).toMatch(/^[A-Za-z0-9_-]{43}$/);
    }
  });

  it('prints the DPoP token sent as Bearer, denied dpop_required with a DPoP challenge', async () => {
    const result = await run([printedCommand('And the same token sent as Bearer')], { shell: true });
    expect(result.code).toBe(1);
    const summary = JSON.parse(result.stdout);
    expect(summary).toMatchObject({ allowed: false, reason: 'dpop_required', httpStatus: 401 });
    expect(summary.headers['www-authenticate']).toMatch(/^DPoP realm="spiffe:\/\/demo.local\/ns\/default\/sa\/payments", algs="ES256 EdDSA PS256 RS256", error="invalid_token"/);
  });

  it('drains and exits 0 on SIGTERM', async () => {
    const exited = new Promise<number | null>((done) => demo.once('exit', (code) => done(code)));
    demo.kill('SIGTERM');
    expect(await exited).toBe(0);
  });
});

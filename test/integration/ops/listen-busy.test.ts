/**
 * A port already taken: `hopguard serve` says so in one line naming the address and the listener
 * (and, for the demo, the variable that moves it), exits 2, and prints no stack trace.
 */
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type AddressInfo, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BUILD_TIMEOUT_MS, CLI, ensureBuilt, ROOT } from './cli-process.js';

let dir: string;
let squatter: Server;
let busy: string;

function serve(args: string[], env: NodeJS.ProcessEnv = {}): Promise<{ code: number | null; stderr: string }> {
  return new Promise((resolve) => {
    const child = execFile(process.execPath, [CLI, 'serve', ...args], { cwd: ROOT, env: { ...process.env, HOPGUARD_CONFIG: '', ...env }, timeout: 20_000 }, (_error, _stdout, stderr) =>
      resolve({ code: child.exitCode, stderr }),
    );
  });
}

function configWith(listen: Record<string, string>, extra: Record<string, unknown> = {}): string {
  const path = join(dir, `config-${Object.keys(listen).join('-')}-${Object.keys(extra).join('-')}.json`);
  writeFileSync(
    path,
    JSON.stringify({
      listen,
      issuers: [{ issuer: 'https://idp.example.com', jwks: { keys: [] }, algorithms: ['ES256'] }],
      workloads: [{ id: 'spiffe://cluster.local/ns/shop/sa/orders', replay: 'off' }],
      logging: { level: 'silent' },
      ...extra,
    }),
  );
  return path;
}

const oneLine = (stderr: string) => stderr.trimEnd().split('\n');

beforeAll(async () => {
  ensureBuilt();
  dir = mkdtempSync(join(tmpdir(), 'hopguard-busy-'));
  squatter = createServer();
  await new Promise<void>((resolve) => squatter.listen(0, '127.0.0.1', resolve));
  busy = `127.0.0.1:${(squatter.address() as AddressInfo).port}`;
}, BUILD_TIMEOUT_MS);

afterAll(async () => {
  await new Promise<void>((resolve) => squatter.close(() => resolve()));
  rmSync(dir, { recursive: true, force: true });
});

describe('a busy port', () => {
  it.each([
    ['grpc', { grpc: 'BUSY', admin: '127.0.0.1:0' }],
    ['http', { grpc: '127.0.0.1:0', http: 'BUSY' }],
    ['admin', { grpc: '127.0.0.1:0', admin: 'BUSY' }],
  ])('%s: one line naming the address, exit 2', async (listener, listen) => {
    const addresses = Object.fromEntries(Object.entries(listen).map(([key, value]) => [key, value === 'BUSY' ? busy : value]));
    const result = await serve(['--config', configWith(addresses)]);
    expect(result.code).toBe(2);
    expect(oneLine(result.stderr)).toEqual([`hopguard: cannot listen on ${busy} for ${listener}: the address is already in use (another hopguard, or another program, listens there)`]);
  });

  it('with workers: 2, the same one line', async () => {
    const path = configWith({ grpc: busy }, { workers: 2, replay: { store: 'redis', redis: { url: 'redis://127.0.0.1:1' } } });
    const result = await serve(['--config', path]);
    expect(result.code).toBe(2);
    expect(oneLine(result.stderr)).toEqual([`hopguard: cannot listen on ${busy} for grpc: the address is already in use (another hopguard, or another program, listens there)`]);
  });

  it('the demo names HOPGUARD_DEMO_GRPC or HOPGUARD_DEMO_ADMIN', async () => {
    const grpc = await serve([], { HOPGUARD_DEMO_GRPC: busy, HOPGUARD_DEMO_ADMIN: '127.0.0.1:0' });
    expect(grpc.code).toBe(2);
    expect(oneLine(grpc.stderr)).toEqual([expect.stringContaining(`hopguard: cannot listen on ${busy} for grpc: the address is already in use`)]);
    expect(grpc.stderr).toContain('HOPGUARD_DEMO_GRPC=127.0.0.1:0');
    const admin = await serve([], { HOPGUARD_DEMO_GRPC: '127.0.0.1:0', HOPGUARD_DEMO_ADMIN: busy });
    expect(admin.code).toBe(2);
    expect(oneLine(admin.stderr)).toEqual([expect.stringContaining(`for admin: the address is already in use`)]);
    expect(admin.stderr).toContain('HOPGUARD_DEMO_ADMIN');
  });
});

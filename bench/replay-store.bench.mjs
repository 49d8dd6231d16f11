#!/usr/bin/env node
/**
 * Added latency of the Redis replay store per record() against the memory store.
 *
 *   npm run build && node --expose-gc bench/replay-store.bench.mjs [--calls 20000] [--concurrency 1,32] [--memory-footprint]
 *
 * Starts its own redis-server (loopback, free port, no persistence). Each record() is a fresh
 * jti (the common case: a write), timed from the call to its settlement.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { createReplayStore } from '../dist/src/replay/index.js';

const { values: args } = parseArgs({
  options: {
    calls: { type: 'string', default: '20000' },
    concurrency: { type: 'string', default: '1,32' },
    'memory-footprint': { type: 'boolean', default: false },
  },
});
const CALLS = Number(args.calls);
const CONCURRENCIES = args.concurrency.split(',').map(Number);
const WARMUP = Math.min(2_000, CALLS);

const clock = { nowMs: () => Date.now() };

function freePort() {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address();
      server.close(() => resolve(port));
    });
  });
}

function ping(port) {
  return new Promise((resolve) => {
    const socket = connect({ host: '127.0.0.1', port });
    socket.once('error', () => resolve(false));
    socket.once('connect', () => socket.write('PING\r\n'));
    socket.once('data', (data) => {
      socket.destroy();
      resolve(data.toString().startsWith('+PONG'));
    });
  });
}

async function startRedis() {
  const port = await freePort();
  const dir = mkdtempSync(join(tmpdir(), 'hopguard-bench-redis-'));
  const child = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--dir', dir], {
    stdio: 'ignore',
  });
  child.once('error', (error) => {
    console.error(`cannot start redis-server (${error.code}); install it with: apt-get update && apt-get install -y redis-server`);
    process.exit(2);
  });
  for (let i = 0; i < 500 && !(await ping(port)); i += 1) await new Promise((r) => setTimeout(r, 20));
  return {
    url: `redis://127.0.0.1:${port}`,
    async stop() {
      const exited = new Promise((r) => child.once('exit', r));
      child.kill('SIGTERM');
      await exited;
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

function settings(store, url) {
  return {
    store,
    redis: { url, passwordFile: null, passwordEnv: null, keyPrefix: 'bench:jti:', sentinels: [], sentinelName: null, cluster: [] },
    onStoreError: 'deny',
    timeoutMs: 500,
    maxEntries: 1_000_000,
  };
}

let jtiCounter = 0;
function entry(mode) {
  return {
    workload: 'spiffe://cluster.local/ns/shop/sa/orders',
    issuer: 'https://idp.example.com',
    jti: `bench-${++jtiCounter}-${'x'.repeat(24)}`,
    source: 'spiffe://cluster.local/ns/shop/sa/frontend',
    mode,
    expiresAtMs: Date.now() + 300_000,
  };
}

/** Runs `calls` record() calls with `concurrency` callers; returns sorted latencies in µs and the wall time. */
async function run(store, mode, calls, concurrency) {
  const latencies = new Float64Array(calls);
  let next = 0;
  const started = process.hrtime.bigint();
  async function caller() {
    for (;;) {
      const index = next++;
      if (index >= calls) return;
      const e = entry(mode);
      const t0 = process.hrtime.bigint();
      const outcome = await store.record(e);
      latencies[index] = Number(process.hrtime.bigint() - t0) / 1_000;
      if (outcome !== 'fresh') throw new Error(`unexpected ${outcome}`);
    }
  }
  await Promise.all(Array.from({ length: concurrency }, caller));
  const wallMs = Number(process.hrtime.bigint() - started) / 1e6;
  latencies.sort();
  return { latencies, wallMs };
}

const pct = (sorted, p) => sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))];
const fmt = (us) => (Math.abs(us) >= 1000 ? `${(us / 1000).toFixed(2)} ms` : `${us.toFixed(1)} µs`);
const signed = (us) => (us >= 0 ? `+${fmt(us)}` : `-${fmt(-us)}`);

const redis = await startRedis();
const results = [];
try {
  for (const [label, store, mode] of [
    ['memory once', createReplayStore(settings('memory', redis.url), { clock }), 'once'],
    ['memory source-bound', createReplayStore(settings('memory', redis.url), { clock }), 'source-bound'],
    ['redis once (SET NX PX)', createReplayStore(settings('redis', redis.url), { clock }), 'once'],
    ['redis source-bound (Lua)', createReplayStore(settings('redis', redis.url), { clock }), 'source-bound'],
  ]) {
    await run(store, mode, WARMUP, 8);
    for (const concurrency of CONCURRENCIES) {
      const { latencies, wallMs } = await run(store, mode, CALLS, concurrency);
      results.push({
        store: label,
        concurrency,
        calls: CALLS,
        p50: pct(latencies, 50),
        p99: pct(latencies, 99),
        p999: pct(latencies, 99.9),
        perSecond: Math.round((CALLS / wallMs) * 1000),
      });
    }
    await store.close();
  }
} finally {
  await redis.stop();
}

console.log(`node ${process.version}, ${CALLS} record() calls per row, fresh jtis, redis-server on loopback\n`);
console.log('store                      conc      p50        p99      p99.9     calls/s');
for (const r of results) {
  console.log(
    `${r.store.padEnd(26)} ${String(r.concurrency).padStart(4)} ${fmt(r.p50).padStart(10)} ${fmt(r.p99).padStart(10)} ${fmt(r.p999).padStart(10)} ${String(r.perSecond).padStart(11)}`,
  );
}
console.log('\nadded by Redis over memory (same mode, same concurrency):');
for (const mode of ['once', 'source-bound']) {
  for (const concurrency of CONCURRENCIES) {
    const memory = results.find((r) => r.store.startsWith(`memory ${mode}`) && r.concurrency === concurrency);
    const remote = results.find((r) => r.store.startsWith(`redis ${mode}`) && r.concurrency === concurrency);
    console.log(`  ${mode.padEnd(13)} c=${String(concurrency).padEnd(3)} p50 ${signed(remote.p50 - memory.p50)}  p99 ${signed(remote.p99 - memory.p99)}`);
  }
}

if (args['memory-footprint']) {
  globalThis.gc?.();
  const before = process.memoryUsage();
  const store = createReplayStore(settings('memory', ''), { clock });
  globalThis.gc?.();
  const created = process.memoryUsage();
  for (let i = 0; i < 1_000_000; i += 1) await store.record(entry('source-bound'));
  globalThis.gc?.();
  const full = process.memoryUsage();
  const mib = (bytes) => `${(bytes / 1024 / 1024).toFixed(0)} MiB`;
  console.log(`\nmemory store, maxEntries 1,000,000: empty +${mib(created.rss - before.rss)} RSS, +${mib(created.heapUsed - before.heapUsed)} heap; full +${mib(full.rss - before.rss)} RSS, +${mib(full.heapUsed - before.heapUsed)} heap`);
  console.log(`  a 1,000,001st fresh jti: ${await store.record(entry('once'))}`);
  await store.close();
}

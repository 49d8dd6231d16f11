/**
 * RSS after N distinct tokens: the real decision stack in one process (key-set registry, the
 * signature cache, the memory replay store in `once` mode, the pipeline, the Envoy request
 * mapping), fed distinct valid ES256 tokens minted by a worker thread. After every checkpoint a
 * full GC runs and RSS, heap and the caches' sizes are recorded. Memory must level off at what the
 * configured bounds allow (limits.signatureCacheEntries, replay.maxEntries), not grow with N.
 *
 *   npm run build && node --expose-gc bench/memory.mjs --tokens 1000000 [--cache 10000] [--replay-max 100000]
 *
 * Prints a JSON summary on the last line (bench/run.mjs stores it in results.json).
 */
import { Worker } from 'node:worker_threads';
import { loadConfigObject } from '../dist/src/config/load.js';
import { createPipeline } from '../dist/src/decision/pipeline.js';
import { createKeySetRegistry } from '../dist/src/jwt/keysets/index.js';
import { createJoseSignatureVerifier } from '../dist/src/jwt/signature.js';
import { createCachingSignatureVerifier } from '../dist/src/jwt/signature-cache.js';
import { createReplayStore } from '../dist/src/replay/index.js';
import { checkInputFrom } from '../dist/src/transport/envoy-request.js';
import { checkRequest, generateSigningKey, hopguardConfig } from './lib/fixtures.mjs';
import { parseArgs } from './lib/common.mjs';

if (typeof globalThis.gc !== 'function') {
  console.error('run with node --expose-gc');
  process.exit(2);
}
const args = parseArgs(process.argv.slice(2));
const total = Number(args.tokens ?? 1_000_000);
const cacheEntries = Number(args.cache ?? 10_000);
const replayMax = Number(args['replay-max'] ?? 100_000);
const checkpoints = Number(args.checkpoints ?? 10);
const BATCH = 2_000;
const CONCURRENCY = 64;

const key = generateSigningKey('ES256', 'memory-es256');
const document = hopguardConfig({ keys: [key], grpcPort: 0, replay: 'once', signatureCacheEntries: cacheEntries });
document.replay.maxEntries = replayMax;
const loaded = loadConfigObject(document);
if (!loaded.ok) throw new Error(loaded.errors.join('\n'));
const config = loaded.config;
const clock = { nowMs: () => Date.now() };
const keySets = createKeySetRegistry(config.issuers.values(), { clock });
await keySets.start();
const verifier = createCachingSignatureVerifier(createJoseSignatureVerifier((issuer) => keySets.get(issuer)), { maxEntries: config.limits.signatureCacheEntries, clock, keySets });
const replay = createReplayStore(config.replay, { clock });
const pipeline = createPipeline({ config, verifier, replay, clock });

// The minting worker stays a batch ahead, so signing overlaps the checks (on the other core).
const worker = new Worker(
  `
  const { parentPort, workerData } = require('node:worker_threads');
  const { createPrivateKey, sign } = require('node:crypto');
  const key = createPrivateKey(workerData.privatePem);
  const b64 = (v) => Buffer.from(JSON.stringify(v)).toString('base64url');
  const header = b64({ alg: 'ES256', kid: workerData.kid, typ: 'JWT' });
  let n = 0;
  parentPort.on('message', (count) => {
    const now = Math.floor(Date.now() / 1000);
    const tokens = [];
    for (let i = 0; i < count; i++) {
      const input = header + '.' + b64({ iss: workerData.iss, sub: workerData.caller, aud: workerData.aud, iat: now, exp: now + 3600, jti: 'mem-' + (n++), scope: 'orders:read' });
      tokens.push(input + '.' + sign('sha256', Buffer.from(input), { key, dsaEncoding: 'ieee-p1363' }).toString('base64url'));
    }
    parentPort.postMessage(tokens);
  });
  `,
  { eval: true, workerData: { privatePem: key.privatePem, kid: key.kid, iss: document.issuers[0].issuer, aud: document.workloads[0].id, caller: 'spiffe://bench.local/ns/shop/sa/frontend' } },
);
const nextBatch = () => new Promise((resolve) => worker.once('message', resolve));
const request = (count) => worker.postMessage(count);

function sample(done, decisions) {
  globalThis.gc();
  const memory = process.memoryUsage();
  const stats = verifier.stats();
  return {
    tokens: done,
    rssMiB: +(memory.rss / 2 ** 20).toFixed(1),
    heapUsedMiB: +(memory.heapUsed / 2 ** 20).toFixed(1),
    signatureCacheEntries: stats.entries,
    decisions: { ...decisions },
  };
}

const samples = [sample(0, {})];
const decisions = {};
const every = Math.max(BATCH, Math.floor(total / checkpoints / BATCH) * BATCH);
const started = Date.now();
let done = 0;
request(Math.min(BATCH, total));
while (done < total) {
  const tokens = await nextBatch();
  const remaining = total - done - tokens.length;
  if (remaining > 0) request(Math.min(BATCH, remaining));
  for (let i = 0; i < tokens.length; i += CONCURRENCY) {
    const results = await Promise.all(tokens.slice(i, i + CONCURRENCY).map((token) => pipeline.check(checkInputFrom(checkRequest(token), config.limits))));
    for (const decision of results) {
      const label = decision.allowed ? 'allow' : decision.reason;
      decisions[label] = (decisions[label] ?? 0) + 1;
    }
  }
  done += tokens.length;
  if (done % every === 0 || done === total) {
    const point = sample(done, decisions);
    samples.push(point);
    console.error(`[memory] ${done} tokens: RSS ${point.rssMiB} MiB, heap ${point.heapUsedMiB} MiB, cache ${point.signatureCacheEntries}, ${JSON.stringify(point.decisions)}`);
  }
}
await worker.terminate();
keySets.close();
await replay.close();

const afterWarm = samples.filter((point) => point.tokens >= Math.min(total, Math.max(replayMax, cacheEntries) * 2));
const summary = {
  tokens: total,
  seconds: (Date.now() - started) / 1000,
  bounds: { signatureCacheEntries: cacheEntries, replayMaxEntries: replayMax },
  samples,
  rssMiBFirstFull: afterWarm[0]?.rssMiB ?? null,
  rssMiBLast: samples.at(-1).rssMiB,
  rssGrowthAfterFullMiB: afterWarm.length > 0 ? +(samples.at(-1).rssMiB - afterWarm[0].rssMiB).toFixed(1) : null,
};
console.log(JSON.stringify(summary));

/**
 * In-process cost of per-route rules on the warm path: one token checked again and again
 * (signature cache hit) by a workload without operations, and by the same workload with ten
 * operations where the request (GET /orders/42) matches only the last one, so every check
 * normalises the path and tries all ten. Alternating rounds, best of each (noise only adds time).
 *
 *   npm run build && taskset -c 0 node bench/operations-cost.mjs [--checks 200000] [--rounds 9] [--json]
 */
import { loadConfigObject } from '../dist/src/config/load.js';
import { createPipeline } from '../dist/src/decision/pipeline.js';
import { createKeySetRegistry } from '../dist/src/jwt/keysets/index.js';
import { createJoseSignatureVerifier } from '../dist/src/jwt/signature.js';
import { createCachingSignatureVerifier } from '../dist/src/jwt/signature-cache.js';
import { createReplayStore } from '../dist/src/replay/index.js';
import { checkInputFrom } from '../dist/src/transport/envoy-request.js';
import { hopguardProtos } from '../dist/src/transport/proto.js';
import { benchToken, checkRequest, generateSigningKey, hopguardConfig } from './lib/fixtures.mjs';
import { parseArgs } from './lib/common.mjs';

const args = parseArgs(process.argv.slice(2));
const checks = Number(args.checks ?? 200_000);
const rounds = Number(args.rounds ?? 9);

/** Ten operations; only the last matches GET /orders/42. */
export const TEN_OPERATIONS = [
  { name: 'create', methods: ['POST'], paths: ['/orders'] },
  { name: 'tenant-write', methods: ['PUT', 'DELETE'], paths: ['/tenants/{tenant}/orders/**'], claims: { tenant: { equals: '{tenant}' } } },
  { name: 'reports', methods: ['GET'], paths: ['/reports/{year}/{month}'] },
  { name: 'admin', paths: ['/admin/**'], claims: { scope: { contains: 'admin' } } },
  { name: 'health', paths: ['/healthz', '/readyz'], public: true },
  { name: 'items', methods: ['GET'], paths: ['/orders/*/items', '/orders/*/items/*'] },
  { name: 'search', methods: ['GET'], paths: ['/search'] },
  { name: 'export', methods: ['GET'], paths: ['/export/**'] },
  { name: 'carts', methods: ['GET', 'POST'], paths: ['/carts/{cart}'] },
  { name: 'read', methods: ['GET', 'HEAD'], paths: ['/orders', '/orders/*'], claims: { scope: { contains: 'orders:read' } } },
];

const key = generateSigningKey('ES256', 'es256-ops');
const token = benchToken(key, 1);
const clock = { nowMs: () => Date.now() };

async function pipelineFor(operations) {
  const document = hopguardConfig({ keys: [key], grpcPort: 0 });
  if (operations) document.workloads[0].operations = operations;
  const loaded = loadConfigObject(document);
  if (!loaded.ok) throw new Error(loaded.errors.join('\n'));
  const keySets = createKeySetRegistry(loaded.config.issuers.values(), { clock });
  await keySets.start();
  const verifier = createCachingSignatureVerifier(createJoseSignatureVerifier((name) => keySets.get(name)), { maxEntries: 1000, clock, keySets });
  const pipeline = createPipeline({ config: loaded.config, verifier, replay: createReplayStore(loaded.config.replay, { clock }), clock });
  const method = hopguardProtos().authorizationService.Check;
  const input = checkInputFrom(method.requestDeserialize(method.requestSerialize(checkRequest(token))), loaded.config.limits);
  const first = await pipeline.check(input);
  if (!first.allowed) throw new Error(`bench request denied: ${first.reason} ${first.detail}`);
  return { pipeline, input, close: () => keySets.close() };
}

async function nsPerCheck({ pipeline, input }) {
  const started = process.hrtime.bigint();
  for (let n = 0; n < checks; n += 1) await pipeline.check(input);
  return Number(process.hrtime.bigint() - started) / checks;
}

const none = await pipelineFor(null);
const ten = await pipelineFor(TEN_OPERATIONS);
await nsPerCheck(none);
await nsPerCheck(ten);
let bestNone = Infinity;
let bestTen = Infinity;
for (let round = 0; round < rounds; round += 1) {
  bestNone = Math.min(bestNone, await nsPerCheck(none));
  bestTen = Math.min(bestTen, await nsPerCheck(ten));
}
none.close();
ten.close();
const result = { checks, rounds, noOperationsNs: Math.round(bestNone), tenOperationsNs: Math.round(bestTen), overhead: bestTen / bestNone - 1 };
if (args.json) console.log(JSON.stringify(result));
else {
  console.log(`warm check, no operations:  ${(bestNone / 1000).toFixed(2)} µs`);
  console.log(`warm check, ten operations: ${(bestTen / 1000).toFixed(2)} µs (last one matches)`);
  console.log(`overhead: ${(100 * result.overhead).toFixed(1)}% (target: at most 5% of the whole check on the server)`);
}

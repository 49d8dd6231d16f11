/**
 * In-process cost of each stage of a warm check, in CPU microseconds per call (process.cpuUsage,
 * so other tenants of a shared machine inflate it less than wall time). No network: this is the
 * part of a check that is hopguard's own, next to what grpc-js and HTTP/2 cost (see run.mjs).
 *
 *   npm run build && node bench/hot-path.mjs [--iterations 50000]
 */
import { loadConfigObject } from '../dist/src/config/load.js';
import { createPipeline } from '../dist/src/decision/pipeline.js';
import { extractBearer, parseCompact } from '../dist/src/jwt/compact.js';
import { createKeySetRegistry } from '../dist/src/jwt/keysets/index.js';
import { createJoseSignatureVerifier } from '../dist/src/jwt/signature.js';
import { createCachingSignatureVerifier } from '../dist/src/jwt/signature-cache.js';
import { createReplayStore } from '../dist/src/replay/index.js';
import { checkInputFrom } from '../dist/src/transport/envoy-request.js';
import { checkResponseFrom } from '../dist/src/transport/envoy-response.js';
import { hopguardProtos } from '../dist/src/transport/proto.js';
import { benchToken, checkRequest, generateSigningKey, hopguardConfig } from './lib/fixtures.mjs';
import { parseArgs } from './lib/common.mjs';

const args = parseArgs(process.argv.slice(2));
const iterations = Number(args.iterations ?? 50_000);
const key = generateSigningKey('ES256', 'hot-es256');
const token = benchToken(key, 0);
const loaded = loadConfigObject(hopguardConfig({ keys: [key], grpcPort: 0 }));
if (!loaded.ok) throw new Error(loaded.errors.join('\n'));
const config = loaded.config;
const clock = { nowMs: () => Date.now() };
const keySets = createKeySetRegistry(config.issuers.values(), { clock });
await keySets.start();
const verifier = createCachingSignatureVerifier(createJoseSignatureVerifier((issuer) => keySets.get(issuer)), { maxEntries: 10_000, clock, keySets });
const pipeline = createPipeline({ config, verifier, replay: createReplayStore(config.replay, { clock }), clock });
const method = hopguardProtos().authorizationService.Check;
const requestBytes = method.requestSerialize(checkRequest(token));
const decoded = method.requestDeserialize(requestBytes);
const input = checkInputFrom(decoded, config.limits);
const decision = await pipeline.check(input);
if (!decision.allowed) throw new Error(`warm token denied: ${decision.reason}`);
const response = checkResponseFrom(decision);

async function cost(name, fn) {
  for (let i = 0; i < Math.min(5000, iterations); i++) await fn();
  const before = process.cpuUsage();
  for (let i = 0; i < iterations; i++) await fn();
  const used = process.cpuUsage(before);
  return [name, (used.user + used.system) / iterations];
}
const sync = (fn) => () => fn();
const rows = [
  await cost('protobuf decode CheckRequest (grpc-js does this)', sync(() => method.requestDeserialize(requestBytes))),
  await cost('checkInputFrom (envoy-request)', sync(() => checkInputFrom(decoded, config.limits))),
  await cost('  extractBearer', sync(() => extractBearer(input.headers.get('authorization'), config.limits.maxTokenBytes))),
  await cost('  parseCompact', sync(() => parseCompact(token))),
  await cost('  signature cache hit (verify)', () => verifier.verify(token, { alg: 'ES256', kid: key.kid }, config.issuers.values().next().value, Date.now())),
  await cost('pipeline.check (warm, whole decision)', () => pipeline.check(input)),
  await cost('checkResponseFrom (envoy-response)', sync(() => checkResponseFrom(decision))),
  await cost('protobuf encode CheckResponse (grpc-js does this)', sync(() => method.responseSerialize(response))),
];
keySets.close();
const width = Math.max(...rows.map(([name]) => name.length));
for (const [name, micros] of rows) console.log(`${name.padEnd(width)}  ${micros.toFixed(2).padStart(7)} µs`);
console.log(`(${iterations} iterations each, ${process.version})`);

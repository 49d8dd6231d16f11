/**
 * In-process cost of a cold check, layer by layer, in CPU microseconds per check with
 * `--concurrency` checks in flight (as in the server): the raw synchronous crypto.verify (KeyObject,
 * signature decoded beforehand), the verifier port (key lookup, JWS parse, verify, claims), the
 * caching verifier on a miss, the whole pipeline, and the pipeline plus the gRPC request/response
 * mapping. No network. Distinct tokens cycle through a pool larger than the signature cache.
 *
 *   npm run build && taskset -c 0 node bench/cold-path.mjs [--alg ES256|RS256|EdDSA] [--checks 8000] [--rounds 8] [--json]
 *
 * The machine is noisy, so the layers are measured in alternation, `--rounds` times, and each
 * keeps its best (noise only ever adds CPU time).
 */
import { createPublicKey, verify as cryptoVerify } from 'node:crypto';
import { loadConfigObject } from '../dist/src/config/load.js';
import { createPipeline } from '../dist/src/decision/pipeline.js';
import { createKeySetRegistry } from '../dist/src/jwt/keysets/index.js';
import { createSignatureVerifier } from '../dist/src/jwt/signature.js';
import { createCachingSignatureVerifier } from '../dist/src/jwt/signature-cache.js';
import { createReplayStore } from '../dist/src/replay/index.js';
import { checkInputFrom } from '../dist/src/transport/envoy-request.js';
import { checkResponseFrom } from '../dist/src/transport/envoy-response.js';
import { hopguardProtos } from '../dist/src/transport/proto.js';
import { benchToken, checkRequest, generateSigningKey, hopguardConfig } from './lib/fixtures.mjs';
import { parseArgs } from './lib/common.mjs';

const args = parseArgs(process.argv.slice(2));
const alg = String(args.alg ?? 'ES256');
const checks = Number(args.checks ?? 8_000);
const concurrency = Number(args.concurrency ?? 64);
const rounds = Number(args.rounds ?? 8);
const CACHE_ENTRIES = 1000;

const key = generateSigningKey(alg, `${alg.toLowerCase()}-cold`);
const tokens = Array.from({ length: 4 * CACHE_ENTRIES }, (_, n) => benchToken(key, n));
const loaded = loadConfigObject(hopguardConfig({ keys: [key], grpcPort: 0, signatureCacheEntries: CACHE_ENTRIES }));
if (!loaded.ok) throw new Error(loaded.errors.join('\n'));
const config = loaded.config;
const issuer = config.issuers.values().next().value;
const clock = { nowMs: () => Date.now() };
const keySets = createKeySetRegistry(config.issuers.values(), { clock });
await keySets.start();
const portVerifier = createSignatureVerifier((name) => keySets.get(name));
const cachingVerifier = createCachingSignatureVerifier(portVerifier, { maxEntries: CACHE_ENTRIES, clock, keySets });
const pipeline = createPipeline({ config, verifier: cachingVerifier, replay: createReplayStore(config.replay, { clock }), clock });
const method = hopguardProtos().authorizationService.Check;
const requests = tokens.map((token) => method.requestSerialize(checkRequest(token)));
const inputs = requests.map((bytes) => checkInputFrom(method.requestDeserialize(bytes), config.limits));
const rawKey = createPublicKey({ key: key.publicJwk, format: 'jwk' });
const rawOptions = alg === 'ES256' ? { key: rawKey, dsaEncoding: 'ieee-p1363' } : rawKey;
const rawHash = alg === 'EdDSA' ? null : 'sha256';
const rawSamples = tokens.map((token) => {
  const dot = token.lastIndexOf('.');
  return { input: Buffer.from(token.slice(0, dot), 'latin1'), signature: Buffer.from(token.slice(dot + 1), 'base64url') };
});
const header = { alg, kid: key.kid };

async function cpuPerCall(fn) {
  let next = 0;
  const run = async () => {
    while (next < checks) await fn(next++ % tokens.length);
  };
  await Promise.all(Array.from({ length: concurrency }, run)); // warm-up pass
  next = 0;
  const before = process.cpuUsage();
  await Promise.all(Array.from({ length: concurrency }, run));
  const used = process.cpuUsage(before);
  return (used.user + used.system) / checks;
}

const layers = [
  ['crypto.verify, synchronous (raw)', (i) => {
    if (!cryptoVerify(rawHash, rawSamples[i].input, rawOptions, rawSamples[i].signature)) throw new Error('raw verify failed');
  }],
  ['verifier port (key lookup, JWS parse, verify, claims)', (i) => portVerifier.verify(tokens[i], header, issuer, Date.now())],
  ['caching verifier, miss', (i) => cachingVerifier.verify(tokens[i], header, issuer, Date.now())],
  ['pipeline.check', async (i) => {
    const decision = await pipeline.check(inputs[i]);
    if (!decision.allowed) throw new Error(decision.reason);
  }],
  ['decode + pipeline + encode', async (i) => {
    const decision = await pipeline.check(checkInputFrom(method.requestDeserialize(requests[i]), config.limits));
    method.responseSerialize(checkResponseFrom(decision));
  }],
];
const best = new Map();
const only = args.only === undefined ? null : Number(args.only);
for (let round = 0; round < rounds; round++) {
  for (const [name, fn] of layers.filter((_, index) => only === null || index === only)) {
    const micros = await cpuPerCall(fn);
    best.set(name, Math.min(best.get(name) ?? Infinity, micros));
  }
}
keySets.close();
const raw = best.get(layers[0][0]) ?? NaN;
if (args.json) {
  const layersOut = layers.filter(([name]) => best.has(name)).map(([name]) => ({ layer: name, cpuPerCheckUs: Math.round(best.get(name) * 10) / 10, shareOfRawRate: Math.round((raw / best.get(name)) * 1000) / 1000 }));
  console.log(JSON.stringify({ alg, checks, rounds, concurrency, layers: layersOut }));
  process.exit(0);
}
const width = Math.max(...layers.map(([name]) => name.length));
for (const [name] of layers) {
  const micros = best.get(name);
  if (micros === undefined) continue;
  console.log(`${name.padEnd(width)}  ${micros.toFixed(1).padStart(7)} µs  ${((raw / micros) * 100).toFixed(0).padStart(4)}% of raw rate`);
}
console.log(`(${alg}, ${checks} checks x best of ${rounds}, ${concurrency} in flight, ${process.version})`);

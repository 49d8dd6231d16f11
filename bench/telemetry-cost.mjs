// CPU cost of telemetry per check: the same decision pipeline (the server's verifier and
// signature cache, so a repeated token is a warm check; inline JWKS, replay off) driven
// in-process, bare and wrapped in what the server adds per check (span wrapper with no SDK
// registered, metrics, decision log at the default 1% allow sampling to /dev/null). Rounds
// alternate so machine noise hits both sides alike.
//
//   npm run build && node bench/telemetry-cost.mjs [checks-per-round=20000] [rounds=5]
import { open } from 'node:fs/promises';
import { exportJWK, generateKeyPair, SignJWT } from 'jose';
import { loadConfigObject } from '../dist/src/config/load.js';
import { createPipeline } from '../dist/src/decision/pipeline.js';
import { createKeySetRegistry } from '../dist/src/jwt/keysets/index.js';
import { createSignatureVerifier } from '../dist/src/jwt/signature.js';
import { createCachingSignatureVerifier } from '../dist/src/jwt/signature-cache.js';
import { createReplayStore } from '../dist/src/replay/index.js';
import { createCheckTelemetry, createLogger, createMetricRegistry } from '../dist/src/telemetry/index.js';

const perRound = Number(process.argv[2] ?? 20_000);
const rounds = Number(process.argv[3] ?? 5);
const WORKLOAD = 'spiffe://bench.local/ns/default/sa/api';
const ISSUER = 'https://idp.bench.local';

const { publicKey, privateKey } = await generateKeyPair('ES256');
const jwk = { ...(await exportJWK(publicKey)), kid: 'k1', alg: 'ES256', use: 'sig' };
const loaded = loadConfigObject({
  issuers: [{ issuer: ISSUER, jwks: { keys: [jwk] }, algorithms: ['ES256'] }],
  workloads: [{ id: WORKLOAD, replay: 'off' }],
});
if (!loaded.ok) throw new Error(loaded.errors.join('; '));
const config = loaded.config;
const clock = { nowMs: () => Date.now() };
const keySets = createKeySetRegistry(config.issuers.values(), { clock });
await keySets.start();
const verifier = createCachingSignatureVerifier(createSignatureVerifier((issuer) => keySets.get(issuer)), { maxEntries: 1000, clock, keySets });
const pipeline = createPipeline({ config, verifier, replay: createReplayStore(config.replay, { clock }), clock });

const token = await new SignJWT({ scope: 'a' }).setProtectedHeader({ alg: 'ES256', kid: 'k1' }).setIssuer(ISSUER).setAudience(WORKLOAD).setSubject('bench').setJti('j').setIssuedAt().setExpirationTime('1h').sign(privateKey);
const allowInput = { headers: new Map([['authorization', [`Bearer ${token}`]], ['traceparent', ['00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01']]]), contextExtensions: { 'hopguard.workload': WORKLOAD }, destinationPrincipal: '', sourcePrincipal: '', sourceCertificate: '' };
const denyInput = { ...allowInput, headers: new Map([['authorization', ['Bearer x.y.z']]]) };

const devNull = await open('/dev/null', 'w');
const logger = createLogger('info', devNull.createWriteStream());
const telemetry = createCheckTelemetry({ registry: createMetricRegistry(), logger, currentConfig: () => config, keyStatuses: () => keySets.statuses() });

async function bare(input) {
  return pipeline.check(input);
}
async function instrumented(input) {
  const started = process.hrtime.bigint();
  const decision = await telemetry.tracer.traced(input, () => pipeline.check(input));
  telemetry.onDecision(decision, Number(process.hrtime.bigint() - started) / 1e9, input, 'grpc');
  return decision;
}

async function round(run, input) {
  const start = process.cpuUsage();
  const wall = process.hrtime.bigint();
  for (let i = 0; i < perRound; i += 1) await run(input);
  const cpu = process.cpuUsage(start);
  return { cpuUsPerCheck: (cpu.user + cpu.system) / perRound, checksPerSecond: perRound / (Number(process.hrtime.bigint() - wall) / 1e9) };
}

const results = { allow: { bare: [], on: [] }, deny: { bare: [], on: [] } };
for (const [name, input] of [['allow', allowInput], ['deny', denyInput]]) {
  await round(bare, input);
  await round(instrumented, input); // warm-up
  for (let r = 0; r < rounds; r += 1) {
    results[name].bare.push(await round(bare, input));
    results[name].on.push(await round(instrumented, input));
  }
}
const median = (values) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)];
for (const [name, sides] of Object.entries(results)) {
  const bareCpu = median(sides.bare.map((r) => r.cpuUsPerCheck));
  const onCpu = median(sides.on.map((r) => r.cpuUsPerCheck));
  console.log(
    `${name}: bare ${median(sides.bare.map((r) => r.checksPerSecond)).toFixed(0)} checks/s (${bareCpu.toFixed(1)} µs CPU/check); ` +
      `telemetry on ${median(sides.on.map((r) => r.checksPerSecond)).toFixed(0)} checks/s (${onCpu.toFixed(1)} µs CPU/check); ` +
      `telemetry cost ${(onCpu - bareCpu).toFixed(1)} µs CPU/check (${(((onCpu - bareCpu) / bareCpu) * 100).toFixed(1)}%)`,
  );
}
keySets.close();
await devNull.close();

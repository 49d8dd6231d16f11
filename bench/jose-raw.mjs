/**
 * jose's raw verify rate on this core: compactVerify over distinct pre-signed tokens with the key
 * imported exactly as hopguard's key sets import it (importJWK -> CryptoKey), `--concurrency`
 * verifications in flight (WebCrypto verifies are async). No gRPC, no pipeline: the cold ceiling.
 * Prints one JSON line per algorithm.
 */
import { compactVerify, importJWK } from 'jose';
import { performance } from 'node:perf_hooks';
import { benchToken, generateSigningKey } from './lib/fixtures.mjs';
import { parseArgs } from './lib/common.mjs';

const args = parseArgs(process.argv.slice(2));
const seconds = Number(args.duration ?? 5);
const concurrency = Number(args.concurrency ?? 64);
const algorithms = String(args.alg ?? 'ES256,RS256').split(',');

async function rate(alg) {
  const key = generateSigningKey(alg, `${alg.toLowerCase()}-raw`);
  const verifyKey = await importJWK(key.publicJwk, alg);
  const tokens = Array.from({ length: 2000 }, (_, n) => benchToken(key, n));
  let next = 0;
  let done = 0;
  const warmupEnd = performance.now() + 1000;
  let measuring = false;
  let from = 0;
  let until = Infinity;
  const cpuBefore = { value: null };
  await new Promise((resolve) => {
    let active = 0;
    const launch = () => {
      const now = performance.now();
      if (!measuring && now >= warmupEnd) {
        measuring = true;
        from = now;
        until = now + seconds * 1000;
        cpuBefore.value = process.cpuUsage();
      }
      if (now >= until) {
        if (active === 0) resolve();
        return;
      }
      active += 1;
      compactVerify(tokens[next++ % tokens.length], verifyKey, { algorithms: [alg] }).then(() => {
        active -= 1;
        if (measuring && performance.now() < until) done += 1;
        launch();
      });
    };
    for (let i = 0; i < concurrency; i++) launch();
  });
  const elapsed = (Math.min(performance.now(), until) - from) / 1000;
  const cpu = process.cpuUsage(cpuBefore.value);
  return { alg, verifiesPerSecond: done / elapsed, cpuPerVerifyUs: ((cpu.user + cpu.system) / done), verifies: done, seconds: elapsed };
}

for (const alg of algorithms) console.log(JSON.stringify(await rate(alg)));

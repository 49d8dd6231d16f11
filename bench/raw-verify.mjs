/**
 * The raw synchronous verify rate on this core: node:crypto.verify over distinct pre-signed
 * tokens (signing input and signature already decoded), with the key a KeyObject imported once,
 * one verify after the other on the calling thread: the cold ceiling that issue 16's composition
 * limit uses, 1 / (1/bare grpc-js rps + 1/this rate). No JOSE parsing, no gRPC, no pipeline.
 * Prints one JSON line per algorithm.
 *
 *   taskset -c 0 node bench/raw-verify.mjs [--alg ES256,RS256,EdDSA] [--duration 3]
 */
import { createPublicKey, verify } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import { benchToken, generateSigningKey } from './lib/fixtures.mjs';
import { parseArgs } from './lib/common.mjs';

const args = parseArgs(process.argv.slice(2));
const seconds = Number(args.duration ?? 3);
const algorithms = String(args.alg ?? 'ES256,RS256,EdDSA').split(',');

function verifierFor(alg, key) {
  if (alg === 'ES256') {
    const options = { key, dsaEncoding: 'ieee-p1363' };
    return (input, signature) => verify('sha256', input, options, signature);
  }
  if (alg === 'EdDSA') return (input, signature) => verify(null, input, key, signature);
  return (input, signature) => verify('sha256', input, key, signature);
}

function rate(alg) {
  const signing = generateSigningKey(alg, `${alg.toLowerCase()}-raw`);
  const key = createPublicKey({ key: signing.publicJwk, format: 'jwk' });
  const check = verifierFor(alg, key);
  const samples = Array.from({ length: 1000 }, (_, n) => {
    const token = benchToken(signing, n);
    const dot = token.lastIndexOf('.');
    return { input: Buffer.from(token.slice(0, dot), 'latin1'), signature: Buffer.from(token.slice(dot + 1), 'base64url') };
  });
  let next = 0;
  const once = () => {
    const sample = samples[next++ % samples.length];
    if (!check(sample.input, sample.signature)) throw new Error(`${alg}: a valid signature did not verify`);
  };
  const warmupUntil = performance.now() + 500;
  while (performance.now() < warmupUntil) once();
  const cpuBefore = process.cpuUsage();
  const from = performance.now();
  const until = from + seconds * 1000;
  let done = 0;
  // Check the clock every 64 verifies: reading it is not free next to an EdDSA verify.
  while (performance.now() < until) {
    for (let i = 0; i < 64; i++) once();
    done += 64;
  }
  const elapsed = (performance.now() - from) / 1000;
  const cpu = process.cpuUsage(cpuBefore);
  return { alg, verifiesPerSecond: Math.round(done / elapsed), cpuPerVerifyUs: Math.round(((cpu.user + cpu.system) / done) * 10) / 10, verifies: done, seconds: elapsed };
}

for (const alg of algorithms) console.log(JSON.stringify(rate(alg)));

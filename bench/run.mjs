/**
 * `npm run bench`: hopguard against a bare grpc-js server, same load, same machine, same run.
 *
 *   npm run bench                      # full run (a few minutes)
 *   npm run bench -- --quick           # shorter windows and pools
 *   npm run bench -- --only warm,bad-signature
 *   npm run bench -- --no-h2load       # force the node:http2 load client everywhere
 *   npm run bench -- --memory-tokens 1000000   # the RSS run over a million distinct tokens (~5-10 min)
 *   npm run bench -- --skip-memory
 *   npm run bench -- --memory-json FILE        # include a memory.mjs run recorded before (its JSON line)
 *   npm run bench -- --rounds 3                # bare/hopguard alternations per scenario (best kept; default 2, quick 1)
 *
 * Each server runs pinned to core 0 (taskset), each load generator in its own process on core 1.
 * Every scenario measures the bare server and then hopguard back to back with the same client and
 * the same request bodies, so each ratio compares two measurements taken moments apart (this
 * matters on a shared, noisy machine). CPU per check is the server process's user+system CPU time
 * over the measured window divided by the checks answered in it.
 *
 * Writes bench/results.json and bench/RESULTS.md.
 */
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import http2 from 'node:http2';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { cores, commandExists, contextSwitches, cpuSeconds, freePort, HAS_TASKSET, latencySummaryMs, parseArgs, pinned, sleep, spawnReady, stopChild } from './lib/common.mjs';
import { benchToken, CHECK_PATH, checkFrame, decodeCheckResponse, generateSigningKey, hopguardConfig, withBadSignature } from './lib/fixtures.mjs';

const here = dirname(fileURLToPath(import.meta.url));
const args = parseArgs(process.argv.slice(2));
const quick = Boolean(args.quick);
const durationS = Number(args.duration ?? (quick ? 4 : 10));
const warmupS = Number(args.warmup ?? (quick ? 1 : 2));
const connections = Number(args.connections ?? 4);
const streamsPerConnection = Number(args['streams-per-connection'] ?? 16);
/** Streams per connection in the fixed-rate scenarios (see h2loadArgs). */
const RATE_STREAMS = 2;
const concurrency = connections * streamsPerConnection;
const only = args.only ? new Set(String(args.only).split(',')) : null;
const rounds = Number(args.rounds ?? (quick ? 1 : 2));
const h2loadWanted = !args['no-h2load'];
const HAS_H2LOAD = commandExists('h2load');
const HAS_REDIS = commandExists('redis-server');
const cpu = cores();
const work = mkdtempSync(join(tmpdir(), 'hopguard-bench-'));
const log = (...parts) => console.error('[bench]', ...parts);

if (h2loadWanted && !HAS_H2LOAD) {
  log('h2load not found (Debian: apt-get install -y nghttp2-client); using the node:http2 load client for every scenario');
}
if (!HAS_TASKSET) log('taskset not found: processes are not pinned, figures mix server and load on the same cores');
if (cpu.count < 2) log('only one core: server and load generator share it');

// ---------- fixtures ----------

log('minting keys and tokens');
const es = generateSigningKey('ES256', 'bench-es256');
const rs = generateSigningKey('RS256', 'bench-rs256');
const keys = [es, rs];
const COLD_CACHE_ENTRIES = 1000;

function writeBodies(name, tokens) {
  const path = join(work, `${name}.bin`);
  writeFileSync(path, Buffer.concat(tokens.map((token) => checkFrame(token))));
  return path;
}

const warmToken = benchToken(es, 0);
const bodies = {
  warm: writeBodies('warm', [warmToken]),
  bad: writeBodies('bad', [withBadSignature(benchToken(es, 1))]),
  // Cycled through in order: a pool larger than the cache makes every check miss it (LRU).
  coldEs: writeBodies('cold-es256', Array.from({ length: quick ? 3000 : 4000 }, (_, n) => benchToken(es, n))),
  coldRs: writeBodies('cold-rs256', Array.from({ length: 2000 }, (_, n) => benchToken(rs, n))),
};
// Replay `once`: each token may be presented once, so the pool bounds the run (the client stops there).
const oncePool = quick ? 20_000 : 60_000;
let onceBodies = null;
const onceBodiesPath = () => (onceBodies ??= writeBodies('once', Array.from({ length: oncePool }, (_, n) => benchToken(es, 1e6 + n))));

// ---------- servers ----------

async function startServer(kind, config) {
  const port = await freePort();
  let script;
  let scriptArgs;
  if (kind === 'bare') {
    script = join(here, 'servers', 'bare.mjs');
    scriptArgs = [`127.0.0.1:${port}`];
  } else {
    const configPath = join(work, `config-${port}.json`);
    writeFileSync(configPath, JSON.stringify({ ...config, listen: { grpc: `127.0.0.1:${port}` } }));
    script = join(here, 'servers', 'hopguard.mjs');
    scriptArgs = [configPath];
  }
  const nodeFlags = kind === 'bare' ? [] : (process.env.HOPGUARD_BENCH_NODE_FLAGS ?? '').split(' ').filter(Boolean);
  const [command, commandArgs] = pinned(cpu.server, process.execPath, [...nodeFlags, script, ...scriptArgs]);
  const { child, message } = await spawnReady(command, commandArgs, { label: kind });
  return { child, pid: message.pid, address: message.address };
}

async function startRedis() {
  const port = await freePort();
  const child = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'], { stdio: 'ignore' });
  for (let attempt = 0; attempt < 100; attempt++) {
    if (spawnSync('redis-cli', ['-p', String(port), 'ping'], { encoding: 'utf8' }).stdout.trim() === 'PONG') return { child, url: `redis://127.0.0.1:${port}` };
    await sleep(50);
  }
  child.kill('SIGKILL');
  throw new Error('redis-server did not start');
}

/** One Check through node:http2, decoded: proves what a scenario's server answers. */
function probe(address, bodyPath) {
  const frame = readFileSync(bodyPath).subarray(0, 5 + readFileSync(bodyPath).readUInt32BE(1));
  return new Promise((resolve, reject) => {
    const session = http2.connect(`http://${address}`);
    session.on('error', reject);
    const request = session.request({ ':method': 'POST', ':path': CHECK_PATH, 'content-type': 'application/grpc', te: 'trailers' });
    const chunks = [];
    request.on('data', (chunk) => chunks.push(chunk));
    request.on('end', () => {
      session.close();
      const response = decodeCheckResponse(Buffer.concat(chunks).subarray(5));
      resolve(response.status?.code ? `${response.status.code}:${response.status.message}` : 'ok');
    });
    request.on('error', reject);
    request.end(frame);
  });
}

// ---------- load ----------

function runNodeClient(server, { bodiesPath, rate, once }) {
  const clientArgs = [
    join(here, 'load', 'node-client.mjs'),
    '--target', server.address, '--bodies', bodiesPath,
    '--connections', String(connections), '--concurrency', String(concurrency),
    '--duration', String(durationS), '--warmup', String(warmupS),
    ...(rate ? ['--rate', String(Math.round(rate))] : []),
    ...(once ? ['--once'] : []),
  ];
  const [command, commandArgs] = pinned(cpu.load, process.execPath, clientArgs);
  return new Promise((resolve, reject) => {
    const child = spawn(command, commandArgs, { stdio: ['ignore', 'pipe', 'inherit'] });
    let cpuAtStart = null;
    let cpuAtEnd = null;
    let switchesAtStart = null;
    let switchesAtEnd = null;
    let result = null;
    let buffered = '';
    child.stdout.setEncoding('utf8');
    child.stdout.on('data', (chunk) => {
      buffered += chunk;
      let newline;
      while ((newline = buffered.indexOf('\n')) >= 0) {
        const event = JSON.parse(buffered.slice(0, newline));
        buffered = buffered.slice(newline + 1);
        if (event.event === 'measure-start') {
          cpuAtStart = cpuSeconds(server.pid);
          switchesAtStart = contextSwitches(server.pid);
        } else if (event.event === 'measure-end') {
          cpuAtEnd = cpuSeconds(server.pid);
          switchesAtEnd = contextSwitches(server.pid);
        } else if (event.event === 'result') result = event;
      }
    });
    child.on('exit', (code) => {
      if (!result || cpuAtStart === null || cpuAtEnd === null) return reject(new Error(`load client failed (exit ${code})`));
      const serverContextSwitches = switchesAtStart === null || switchesAtEnd === null ? null : switchesAtEnd - switchesAtStart;
      resolve({ ...result, serverCpuSeconds: cpuAtEnd - cpuAtStart, serverContextSwitches });
    });
  });
}

function h2loadArgs(server, bodiesPath, seconds, logFile, rate) {
  return [
    // At a fixed rate, at most RATE_STREAMS in flight per connection: h2load's --rps issues what
    // fell due in one go, so with 16 streams a connection sends bursts of 16 and the latency is
    // that of the closed loop, not of the rate.
    '-c', String(connections), '-m', String(rate ? RATE_STREAMS : streamsPerConnection), '-D', String(seconds),
    // --rps is per client (connection).
    ...(rate ? [`--rps=${Math.max(1, Math.round(rate / connections))}`] : []),
    '-d', bodiesPath, '-H', 'content-type: application/grpc', '-H', 'te: trailers',
    ...(logFile ? [`--log-file=${logFile}`] : []),
    `http://${server.address}${CHECK_PATH}`,
  ];
}

function runH2load(server, { bodiesPath, rate }) {
  const run = (seconds, logFile) => {
    const [command, commandArgs] = pinned(cpu.load, 'h2load', h2loadArgs(server, bodiesPath, seconds, logFile, rate));
    return spawnSync(command, commandArgs, { encoding: 'utf8', maxBuffer: 1 << 24 });
  };
  run(warmupS, null);
  const logFile = join(work, `h2load-${Date.now()}.log`);
  const before = cpuSeconds(server.pid);
  const switchesBefore = contextSwitches(server.pid);
  const started = process.hrtime.bigint();
  const measured = run(durationS, logFile);
  const serverCpuSeconds = cpuSeconds(server.pid) - before;
  const switchesAfter = contextSwitches(server.pid);
  const serverContextSwitches = switchesBefore === null || switchesAfter === null ? null : switchesAfter - switchesBefore;
  const wallSeconds = Number(process.hrtime.bigint() - started) / 1e9;
  const out = measured.stdout;
  const succeeded = Number(/(\d+) succeeded/.exec(out)?.[1] ?? 0);
  const failed = Number(/(\d+) failed/.exec(out)?.[1] ?? 0) + Number(/(\d+) errored/.exec(out)?.[1] ?? 0);
  const finished = /finished in ([\d.]+)s/.exec(out);
  const seconds = finished ? Number(finished[1]) : wallSeconds;
  const latencies = readFileSync(logFile, 'utf8')
    .split('\n')
    .filter((line) => line !== '')
    .map((line) => Number(line.split('\t')[2]))
    .filter((value) => Number.isFinite(value));
  rmSync(logFile, { force: true });
  // h2load's CPU is its own process; the server's CPU is sampled around the measured run.
  return { client: 'h2load', seconds, requests: succeeded, errors: failed, grpcErrors: null, rps: succeeded / seconds, latencyMs: latencySummaryMs(latencies), serverCpuSeconds, serverContextSwitches };
}

async function measure(kind, scenario, config, redis) {
  const server = await startServer(kind, config);
  try {
    const bodiesPath = scenario.bodies();
    const decision = scenario.once ? null : await probe(server.address, bodiesPath);
    const useH2load = scenario.loader === 'h2load' && HAS_H2LOAD && h2loadWanted;
    const rate = scenario.rate ? scenario.rate() : undefined;
    const result = useH2load ? runH2load(server, { bodiesPath, rate }) : await runNodeClient(server, { bodiesPath, rate, once: scenario.once });
    return {
      ...result,
      probedDecision: decision,
      cpuPerCheckUs: result.requests > 0 ? (result.serverCpuSeconds / result.requests) * 1e6 : null,
      contextSwitchesPerCheck: result.requests > 0 && result.serverContextSwitches !== null ? Math.round((result.serverContextSwitches / result.requests) * 100) / 100 : null,
      serverCpuShare: result.serverCpuSeconds / result.seconds,
      ...(rate ? { targetRate: Math.round(rate) } : {}),
    };
  } finally {
    await stopChild(server.child);
    void redis;
  }
}

// ---------- scenarios ----------

const results = { scenarios: {}, joseRaw: null };

/** How much of core 0's time the machine itself takes away (bench/noise.mjs), for reading the latency tails. */
function noiseFloor() {
  const [command, commandArgs] = pinned(cpu.server, process.execPath, [join(here, 'noise.mjs'), '--duration', quick ? '3' : '5']);
  const out = spawnSync(command, commandArgs, { encoding: 'utf8' });
  return out.status === 0 ? JSON.parse(out.stdout.trim().split('\n').at(-1)) : { error: `noise.mjs exited with ${out.status}` };
}
log('noise floor of the server core');
results.noise = { before: noiseFloor() };
const scenarios = [
  { name: 'warm', what: 'one valid ES256 token repeated (signature cache hit), replay off', bodies: () => bodies.warm, loader: 'h2load', config: {}, expect: 'ok' },
  { name: 'cold-es256', what: `every check a signature verification: ${quick ? 3000 : 4000} distinct ES256 tokens cycled through a ${COLD_CACHE_ENTRIES}-entry cache`, bodies: () => bodies.coldEs, loader: 'node', config: { signatureCacheEntries: COLD_CACHE_ENTRIES }, expect: 'ok' },
  { name: 'cold-rs256', what: `same, 2000 distinct RS256 (2048-bit) tokens`, bodies: () => bodies.coldRs, loader: 'node', config: { signatureCacheEntries: COLD_CACHE_ENTRIES }, expect: 'ok' },
  { name: 'replay-once-memory', what: 'replay once, memory store: every token new (cold verification + jti record)', bodies: onceBodiesPath, loader: 'node', once: true, config: { replay: 'once' }, expect: 'ok' },
  { name: 'replay-once-redis', what: 'replay once, a real redis-server on loopback: every token new', bodies: onceBodiesPath, loader: 'node', once: true, config: { replay: 'once', store: 'redis' }, redis: true, expect: 'ok' },
  { name: 'bad-signature', what: 'denial path: one bad-signature ES256 token flooded (negative cache hit)', bodies: () => bodies.bad, loader: 'h2load', config: {}, expect: '16:signature_invalid' },
  {
    name: 'warm-half-rate',
    what: `warm path at half of the warm scenario's measured hopguard throughput, both servers at that same rate: h2load --rps with at most ${RATE_STREAMS} requests in flight per connection (the node client, when h2load is missing, sends each request at its due time and counts latency from it); best (lowest p99) of the rounds in which the server kept the rate`,
    bodies: () => bodies.warm,
    loader: 'h2load',
    rate: () => (results.scenarios.warm?.hopguard.rps ?? 1000) / 2,
    config: {},
    expect: 'ok',
  },
  {
    name: 'warm-quarter-rate',
    what: 'the same at a quarter of the warm throughput',
    bodies: () => bodies.warm,
    loader: 'h2load',
    rate: () => (results.scenarios.warm?.hopguard.rps ?? 1000) / 4,
    config: {},
    expect: 'ok',
  },
];

function ratio(a, b) {
  return typeof a === 'number' && typeof b === 'number' && b > 0 ? Math.round((a / b) * 1000) / 1000 : null;
}

for (const scenario of scenarios) {
  if (only && !only.has(scenario.name)) continue;
  if (scenario.redis && !HAS_REDIS) {
    log(`skipping ${scenario.name}: redis-server not found (apt-get install -y redis-server)`);
    results.scenarios[scenario.name] = { skipped: 'redis-server not installed' };
    continue;
  }
  log(`scenario ${scenario.name}`);
  const redis = scenario.redis ? await startRedis() : null;
  try {
    const config = hopguardConfig({ keys, grpcPort: 0, replay: scenario.config.replay ?? 'off', store: scenario.config.store ?? 'memory', redisUrl: redis?.url, signatureCacheEntries: scenario.config.signatureCacheEntries });
    // Alternate bare and hopguard `rounds` times and keep each one's best round (highest req/s;
    // at a fixed rate, lowest p99): neighbours on a shared machine only ever slow a run down.
    // Replay pools are single-use, so those scenarios get one round (a fresh redis/memory store
    // per server start keeps them valid).
    const roundsHere = scenario.once ? 1 : rounds;
    // A fixed-rate round counts only if the server kept the rate: a round it fell behind in carried
    // less load, and its lower p99 must not be the one reported.
    const keptRate = (round) => round.rps >= 0.95 * round.targetRate;
    const better = scenario.rate
      ? (candidate, best) => {
          if (best === null) return true;
          if (keptRate(candidate) !== keptRate(best)) return keptRate(candidate);
          if (!keptRate(candidate)) return candidate.rps > best.rps;
          return (candidate.latencyMs.p99 ?? Infinity) < (best.latencyMs.p99 ?? Infinity);
        }
      : (candidate, best) => best === null || candidate.rps > best.rps;
    let bare = null;
    let hopguard = null;
    const allRounds = [];
    for (let round = 0; round < roundsHere; round++) {
      const bareRound = await measure('bare', scenario, config, redis);
      if (redis) spawnSync('redis-cli', ['-u', redis.url, 'flushall']);
      const hopguardRound = await measure('hopguard', scenario, config, redis);
      allRounds.push({
        bareRps: Math.round(bareRound.rps),
        hopguardRps: Math.round(hopguardRound.rps),
        ...(scenario.rate ? { bareP99Ms: bareRound.latencyMs.p99, hopguardP99Ms: hopguardRound.latencyMs.p99 } : {}),
      });
      if (better(bareRound, bare)) bare = bareRound;
      if (better(hopguardRound, hopguard)) hopguard = hopguardRound;
    }
    if (hopguard.probedDecision !== null && hopguard.probedDecision !== scenario.expect) {
      throw new Error(`${scenario.name}: hopguard answered ${hopguard.probedDecision}, expected ${scenario.expect}`);
    }
    results.scenarios[scenario.name] = {
      what: scenario.what,
      rounds: allRounds,
      bare,
      hopguard,
      ratios: {
        rps: ratio(hopguard.rps, bare.rps),
        p50: ratio(hopguard.latencyMs.p50, bare.latencyMs.p50),
        p99: ratio(hopguard.latencyMs.p99, bare.latencyMs.p99),
        p999: ratio(hopguard.latencyMs.p999, bare.latencyMs.p999),
        cpuPerCheck: ratio(hopguard.cpuPerCheckUs, bare.cpuPerCheckUs),
        // Checks per server-CPU-second: robust to other tenants taking the core away.
        capacityPerCpu: ratio(bare.cpuPerCheckUs, hopguard.cpuPerCheckUs),
      },
    };
    log(`  bare ${Math.round(bare.rps)}/s, hopguard ${Math.round(hopguard.rps)}/s, p99 bare ${bare.latencyMs.p99} ms, hopguard ${hopguard.latencyMs.p99} ms, CPU/check ${Math.round(hopguard.cpuPerCheckUs)} µs (bare ${Math.round(bare.cpuPerCheckUs)} µs)`);
  } finally {
    if (redis) redis.child.kill('SIGKILL');
  }
}

if (!only || only.has('jose-raw')) {
  log('jose raw verify rate (core 0)');
  const [command, commandArgs] = pinned(cpu.server, process.execPath, [join(here, 'jose-raw.mjs'), '--duration', String(Math.max(2, durationS / 2))]);
  const out = spawnSync(command, commandArgs, { encoding: 'utf8' });
  results.joseRaw = Object.fromEntries(out.stdout.trim().split('\n').filter(Boolean).map((line) => JSON.parse(line)).map((entry) => [entry.alg, entry]));
}

if (!only || only.has('cold-in-process')) {
  log('cold path in process, layer by layer (core 0)');
  const [command, commandArgs] = pinned(cpu.server, process.execPath, [join(here, 'cold-path.mjs'), '--json', ...(quick ? ['--rounds', '4', '--checks', '4000'] : [])]);
  const out = spawnSync(command, commandArgs, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'] });
  results.coldInProcess = out.status === 0 ? JSON.parse(out.stdout.trim().split('\n').at(-1)) : { error: `cold-path.mjs exited with ${out.status}` };
}
results.noise.after = noiseFloor();

if (args['memory-json']) {
  // A memory run recorded separately (the million-token run takes minutes): included as recorded.
  results.memory = { ...JSON.parse(readFileSync(String(args['memory-json']), 'utf8').trim().split('\n').at(-1)), recordedSeparately: String(args['memory-json']) };
} else if (!args['skip-memory'] && (!only || only.has('memory'))) {
  const tokens = Number(args['memory-tokens'] ?? (quick ? 50_000 : 200_000));
  log(`memory: ${tokens} distinct tokens through the decision stack`);
  const out = spawnSync(process.execPath, ['--expose-gc', join(here, 'memory.mjs'), '--tokens', String(tokens), '--replay-max', String(Math.min(100_000, Math.floor(tokens / 4)))], {
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'inherit'],
    maxBuffer: 1 << 24,
  });
  const last = out.stdout.trim().split('\n').at(-1);
  results.memory = last ? JSON.parse(last) : { error: `memory.mjs exited with ${out.status}` };
}

// ---------- targets ----------

const s = results.scenarios;
const targets = [];
if (s.warm?.ratios) {
  targets.push({ target: 'warm path >= 70% of the bare server\'s throughput', measured: s.warm.ratios.rps, cpuNormalised: s.warm.ratios.capacityPerCpu, met: s.warm.ratios.rps >= 0.7 });
}
if (s['cold-es256']?.hopguard && results.joseRaw?.ES256) {
  const measured = ratio(s['cold-es256'].hopguard.rps, results.joseRaw.ES256.verifiesPerSecond);
  const cpuNormalised = ratio(results.joseRaw.ES256.cpuPerVerifyUs, s['cold-es256'].hopguard.cpuPerCheckUs);
  targets.push({ target: 'cold ES256 >= 80% of jose\'s raw verify rate on one core', measured, cpuNormalised, met: measured >= 0.8 });
}
if (s['warm-half-rate']?.hopguard) {
  const p99 = s['warm-half-rate'].hopguard.latencyMs.p99;
  const bareP99 = s['warm-half-rate'].bare.latencyMs.p99;
  targets.push({ target: 'p99 at half of max throughput < 2 ms', measured: p99, note: `bare server at the same rate: ${bareP99} ms`, met: p99 !== null && p99 < 2 });
}
results.targets = targets;

results.environment = {
  node: process.version,
  cpus: cpu.count,
  cpuModel: readFileSync('/proc/cpuinfo', 'utf8').match(/model name\s*:\s*(.*)/)?.[1] ?? 'unknown',
  loadAverageAtEnd: readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).join(' '),
  pinned: HAS_TASKSET ? { server: `core ${cpu.server}`, load: `core ${cpu.load}` } : 'no taskset',
  h2load: HAS_H2LOAD ? spawnSync('h2load', ['--version'], { encoding: 'utf8' }).stdout.trim().split('\n')[0] : 'missing',
  concurrency: `${connections} connections x ${streamsPerConnection} streams = ${concurrency} in flight (closed loop)`,
  windows: `${warmupS} s warm-up, ${durationS} s measured, best of ${rounds} alternating round(s) per server`,
  quick,
  command: `npm run bench${process.argv.length > 2 ? ` -- ${process.argv.slice(2).join(' ')}` : ''}`,
  date: new Date().toISOString(),
};

// ---------- report ----------

const fmt = (value, digits = 0) => (typeof value === 'number' ? value.toFixed(digits) : '–');
const pct = (value) => (typeof value === 'number' ? `${Math.round(value * 100)}%` : '–');
const lines = [];
lines.push('# hopguard benchmark results', '');
lines.push(`Command: \`${results.environment.command}\` (${results.environment.date}). ${results.environment.cpuModel}, ${cpu.count} cores, Node ${process.version};`);
lines.push(`server pinned to ${HAS_TASKSET ? `core ${cpu.server}` : '(no taskset)'}, load generator on ${HAS_TASKSET ? `core ${cpu.load}` : '(no taskset)'}; ${results.environment.concurrency}; ${results.environment.windows}.`);
lines.push(`Load average at the end: ${results.environment.loadAverageAtEnd} (the machine is shared: compare the ratios and CPU per check, not absolute rates).`, '');
lines.push('| scenario | client | bare req/s | hopguard req/s | ratio | p50 ms (ratio) | p99 ms (ratio) | p99.9 ms (ratio) | CPU/check µs (bare) | checks per CPU-s vs bare | context switches/check (bare) |');
lines.push('|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|');
for (const [name, entry] of Object.entries(s)) {
  if (entry.skipped) {
    lines.push(`| ${name} | skipped: ${entry.skipped} ||||||||||`);
    continue;
  }
  const { bare, hopguard, ratios } = entry;
  lines.push(
    `| ${name} | ${hopguard.client} | ${fmt(bare.rps)} | ${fmt(hopguard.rps)} | ${pct(ratios.rps)} | ${fmt(hopguard.latencyMs.p50, 2)} (${fmt(ratios.p50, 2)}x) | ${fmt(hopguard.latencyMs.p99, 2)} (${fmt(ratios.p99, 2)}x) | ${fmt(hopguard.latencyMs.p999, 2)} (${fmt(ratios.p999, 2)}x) | ${fmt(hopguard.cpuPerCheckUs)} (${fmt(bare.cpuPerCheckUs)}) | ${pct(ratios.capacityPerCpu)} | ${fmt(hopguard.contextSwitchesPerCheck, 2)} (${fmt(bare.contextSwitchesPerCheck, 2)}) |`,
  );
}
lines.push('');
if (results.joseRaw) {
  lines.push('jose raw verify (compactVerify, CryptoKey from importJWK, 64 in flight, core 0): ' +
    Object.values(results.joseRaw).map((entry) => `${entry.alg} ${fmt(entry.verifiesPerSecond)}/s, ${fmt(entry.cpuPerVerifyUs)} µs CPU/verify`).join('; ') + '.', '');
}
if (results.coldInProcess?.layers) {
  lines.push(`Cold ES256 in process, no gRPC (\`bench/cold-path.mjs\`, ${results.coldInProcess.concurrency} in flight, best of ${results.coldInProcess.rounds} alternating rounds, CPU µs per check and share of jose's raw rate): ` +
    results.coldInProcess.layers.map((layer) => `${layer.layer} ${fmt(layer.cpuPerCheckUs, 1)} µs (${pct(layer.shareOfRawRate)})`).join('; ') + '.', '');
}
const noiseLine = (label, noise) =>
  noise?.stalledShare === undefined ? `${label}: –` : `${label}: ${(noise.stalledShare * 100).toFixed(1)}% of the time lost, ${noise.stallsOver1ms} stalls over 1 ms (${(noise.timeInStallsOver1msShare * 100).toFixed(2)}% of the time), worst ${noise.worstMs.join(', ')} ms`;
lines.push(`Noise floor of core 0 (\`bench/noise.mjs\`: a loop that only reads the clock; every gap is time the machine took away): ${noiseLine('before', results.noise.before)}; ${noiseLine('after', results.noise.after)}.`, '');
lines.push('| target | measured | CPU-normalised | met |', '|---|---:|---:|---|');
for (const target of targets) {
  const measured = typeof target.measured === 'number' && target.measured < 1.5 && !target.target.includes('ms') ? pct(target.measured) : `${target.measured} ms`;
  lines.push(`| ${target.target} | ${measured}${target.note ? ` (${target.note})` : ''} | ${target.cpuNormalised === undefined ? '–' : pct(target.cpuNormalised)} | ${target.met ? 'yes' : 'no'} |`);
}
lines.push('');
for (const [name, entry] of Object.entries(s)) if (entry.what) lines.push(`- **${name}**: ${entry.what}.`);
if (results.memory?.samples) {
  const memory = results.memory;
  lines.push('', `Memory (\`node --expose-gc bench/memory.mjs --tokens ${memory.tokens}\`): ${memory.tokens} distinct ES256 tokens through the decision stack, signature cache ${memory.bounds.signatureCacheEntries} entries, replay \`once\` memory store ${memory.bounds.replayMaxEntries} entries (RSS after a full GC):`, '');
  lines.push('| tokens | RSS MiB | heap used MiB | signature-cache entries | decisions so far |', '|---:|---:|---:|---:|---|');
  for (const point of memory.samples) {
    lines.push(`| ${point.tokens} | ${point.rssMiB} | ${point.heapUsedMiB} | ${point.signatureCacheEntries} | ${Object.entries(point.decisions).map(([k, v]) => `${k} ${v}`).join(', ') || '–'} |`);
  }
}

writeFileSync(join(here, 'results.json'), `${JSON.stringify(results, null, 2)}\n`);
writeFileSync(join(here, 'RESULTS.md'), `${lines.join('\n')}\n`);
rmSync(work, { recursive: true, force: true });
console.log(lines.join('\n'));

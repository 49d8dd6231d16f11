/**
 * A gRPC load generator on node:http2: sends pre-encoded Check frames (read from --bodies, a file
 * of concatenated gRPC frames) over --connections HTTP/2 connections, either closed-loop at a fixed
 * --concurrency or open-loop at a fixed --rate (latency then counts from the intended send time,
 * so a stalled server cannot hide its queueing). Cycles through the bodies, or with --once stops
 * when every body was sent once (for replay scenarios, where a body may only be used once).
 *
 * stdout, one JSON object a line: {"event":"measure-start"}, {"event":"measure-end"}, then
 * {"event":"result", ...}. The orchestrator samples the server's CPU time at the two markers.
 */
import http2 from 'node:http2';
import { readFileSync } from 'node:fs';
import { performance } from 'node:perf_hooks';
import { decodeCheckResponse, CHECK_PATH } from '../lib/fixtures.mjs';
import { latencySummaryMs, parseArgs } from '../lib/common.mjs';

const args = parseArgs(process.argv.slice(2));
const target = args.target;
const connections = Number(args.connections ?? 4);
const concurrency = Number(args.concurrency ?? 64);
const durationMs = Number(args.duration ?? 10) * 1000;
const warmupMs = Number(args.warmup ?? 2) * 1000;
const rate = args.rate === undefined ? null : Number(args.rate);
const once = Boolean(args.once);
const MAX_OUTSTANDING = 20_000;

function readFrames(path) {
  const all = readFileSync(path);
  const frames = [];
  for (let offset = 0; offset < all.length; ) {
    const length = all.readUInt32BE(offset + 1);
    frames.push(all.subarray(offset, offset + 5 + length));
    offset += 5 + length;
  }
  return frames;
}

const frames = readFrames(args.bodies);
const emit = (event) => process.stdout.write(`${JSON.stringify(event)}\n`);
const sessions = await Promise.all(
  Array.from(
    { length: connections },
    () =>
      new Promise((resolve, reject) => {
        const session = http2.connect(`http://${target}`, { settings: { initialWindowSize: 1 << 20 } });
        session.once('connect', () => resolve(session));
        session.once('error', reject);
      }),
  ),
);

const HEADERS = { ':method': 'POST', ':path': CHECK_PATH, 'content-type': 'application/grpc', te: 'trailers' };
let nextBody = 0;
let nextSession = 0;
let outstanding = 0;
let exhausted = false;
let phase = 'warmup';
let stopped = false;
const stats = { completed: 0, errors: 0, grpcErrors: 0, latenciesUs: [], decisions: {} };
let sampleCountdown = 0;

function takeBody() {
  if (nextBody >= frames.length) {
    if (once) {
      exhausted = true;
      return null;
    }
    nextBody = 0;
  }
  return frames[nextBody++];
}

function tally(chunks) {
  try {
    const response = decodeCheckResponse(Buffer.concat(chunks).subarray(5));
    const code = response.status?.code ?? 0;
    const key = code === 0 ? 'ok' : `${code}:${response.status?.message ?? ''}`;
    stats.decisions[key] = (stats.decisions[key] ?? 0) + 1;
  } catch {
    stats.decisions.undecodable = (stats.decisions.undecodable ?? 0) + 1;
  }
}

/** Sends one Check; `startedAt` is the intended send time (open loop) or now. */
function send(startedAt, onDone) {
  const body = takeBody();
  if (body === null) return false;
  const session = sessions[nextSession];
  nextSession = (nextSession + 1) % sessions.length;
  outstanding += 1;
  const counted = phase === 'measure';
  const sample = counted && (sampleCountdown-- <= 0);
  if (sample) sampleCountdown = 200;
  const chunks = sample ? [] : null;
  let grpcStatus = null;
  let finished = false;
  const request = session.request(HEADERS);
  const finish = (failed) => {
    if (finished) return;
    finished = true;
    outstanding -= 1;
    // Closed loop counts what completes inside the window; open loop counts every request sent
    // inside it, however late it completes (a slow answer must not drop out of the latencies).
    if (counted && (rate !== null || !stopped)) {
      if (failed) stats.errors += 1;
      else if (grpcStatus !== '0') stats.grpcErrors += 1;
      else {
        stats.completed += 1;
        stats.latenciesUs.push((performance.now() - startedAt) * 1000);
        if (chunks) tally(chunks);
      }
    }
    onDone?.();
  };
  request.on('response', (headers) => {
    if (headers['grpc-status'] !== undefined) grpcStatus = String(headers['grpc-status']);
  });
  request.on('trailers', (trailers) => {
    grpcStatus = String(trailers['grpc-status']);
  });
  request.on('data', (chunk) => chunks?.push(chunk));
  request.on('end', () => finish(false));
  request.on('error', () => finish(true));
  request.end(body);
  return true;
}

const startedAt = performance.now();
const measureStart = startedAt + warmupMs;
const measureEnd = measureStart + durationMs;
let measuredFrom = measureStart;
let measuredTo = measureEnd;

const phaseTimer = setInterval(() => {
  const now = performance.now();
  if (phase === 'warmup' && now >= measureStart) {
    phase = 'measure';
    measuredFrom = now;
    emit({ event: 'measure-start' });
  }
  if ((phase === 'measure' && now >= measureEnd) || (exhausted && phase !== 'done')) {
    if (phase === 'measure') {
      measuredTo = now;
      emit({ event: 'measure-end' });
    }
    phase = 'done';
    stopped = true;
  }
}, 5);

if (rate === null) {
  const loop = () => {
    if (phase === 'done') return;
    send(performance.now(), loop);
  };
  for (let slot = 0; slot < concurrency; slot++) if (!send(performance.now(), loop)) break;
} else {
  // Open loop, paced on the event loop's every turn (setImmediate) rather than on a timer: timers
  // fire about every 1-2 ms, and a request sent a tick late would count that tick as latency.
  // Request k is due at origin + k/rate. The client spins on its own core; responses are still
  // read on every turn.
  let sent = 0;
  const origin = performance.now();
  const pace = () => {
    if (phase === 'done') return;
    const due = Math.floor(((performance.now() - origin) * rate) / 1000) + 1;
    while (sent < due && outstanding < MAX_OUTSTANDING) {
      const intended = origin + (sent * 1000) / rate;
      sent += 1;
      if (!send(intended)) break;
    }
    setImmediate(pace);
  };
  pace();
}

await new Promise((resolve) => {
  const wait = setInterval(() => {
    if (phase === 'done') {
      clearInterval(wait);
      resolve();
    }
  }, 10);
});
clearInterval(phaseTimer);
// Let the requests in flight finish (they are no longer counted), then close.
const drainUntil = performance.now() + (rate === null ? 5_000 : 30_000);
while (outstanding > 0 && performance.now() < drainUntil) await new Promise((resolve) => setTimeout(resolve, 10));
for (const session of sessions) session.close();

const seconds = (measuredTo - measuredFrom) / 1000;
const cpu = process.cpuUsage();
emit({
  event: 'result',
  client: 'node-http2',
  seconds,
  requests: stats.completed,
  errors: stats.errors,
  grpcErrors: stats.grpcErrors,
  rps: stats.completed / seconds,
  ...(rate === null ? {} : { unanswered: outstanding }),
  latencyMs: latencySummaryMs(stats.latenciesUs),
  sampledDecisions: stats.decisions,
  exhaustedBodies: exhausted,
  clientCpuSeconds: (cpu.user + cpu.system) / 1e6,
  clientWallSeconds: (performance.now() - startedAt) / 1000,
});
process.exit(0);

/**
 * The chaos suite's fixtures: signing keys and tokens, a JWKS server the scenarios control, a real
 * redis-server, a real hopguard process (`node dist/src/cli.js serve --config FILE`), a gRPC client
 * built from proto/ with @grpc/proto-loader, and a bounded mixed load whose every request carries
 * its known correct answer. Everything listens on 127.0.0.1; every child is registered so that the
 * runner can kill it on any exit.
 */
import { spawn, spawnSync } from 'node:child_process';
import { createPrivateKey, generateKeyPairSync, randomBytes, sign } from 'node:crypto';
import { mkdtempSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';

export const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
export const CLI = join(ROOT, 'dist', 'src', 'cli.js');
export const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

// ---------- child processes: every one registered, every one killed on exit ----------

const children = new Set();

/** Registers a child so that killAll() ends it (and its process group when `group`). */
export function track(child, { group = false } = {}) {
  const entry = { child, group };
  children.add(entry);
  child.once('exit', () => children.delete(entry));
  return child;
}

/** SIGCONT + SIGKILL to every child still alive (and to hopguard's workers, via its process group). */
export function killAll() {
  for (const { child, group } of children) {
    if (child.exitCode !== null || child.signalCode !== null) continue;
    for (const signal of ['SIGCONT', 'SIGKILL']) {
      try {
        if (group) process.kill(-child.pid, signal);
        else child.kill(signal);
      } catch {
        // already gone
      }
    }
  }
}

export function alive(pid) {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

export function childPids(pid) {
  try {
    return readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8').trim().split(/\s+/).filter(Boolean).map(Number);
  } catch {
    return [];
  }
}

export function rssBytes(pid) {
  try {
    const match = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return match ? Number(match[1]) * 1024 : 0;
  } catch {
    return 0;
  }
}

/** RSS of a process and its direct children (the primary and its workers). */
export function treeRss(pid) {
  return rssBytes(pid) + childPids(pid).reduce((sum, child) => sum + rssBytes(child), 0);
}

export function freePort() {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.on('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address();
      server.close(() => resolve(port));
    });
  });
}

export function tempDir(label) {
  return mkdtempSync(join(tmpdir(), `hopguard-chaos-${label}-`));
}

// ---------- keys and tokens ----------

const b64url = (value) => Buffer.from(typeof value === 'string' ? value : JSON.stringify(value)).toString('base64url');

export function signingKey(kid) {
  const pair = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  return { kid, privateKey: pair.privateKey, publicJwk: { ...pair.publicKey.export({ format: 'jwk' }), kid, alg: 'ES256', use: 'sig' } };
}

export function signJwt(key, claims, header = {}) {
  const input = `${b64url({ alg: 'ES256', kid: key.kid, typ: 'JWT', ...header })}.${b64url(claims)}`;
  const signature = sign('sha256', Buffer.from(input), { key: key.privateKey, dsaEncoding: 'ieee-p1363' });
  return `${input}.${signature.toString('base64url')}`;
}

let serial = 0;
/** A token for `aud` from `iss`; `lifetime` seconds from now (negative: expired), a fresh jti each call. */
export function token(key, { iss, aud, sub = CALLER, lifetime = 3600, extra = {} }) {
  const now = Math.floor(Date.now() / 1000);
  serial += 1;
  return signJwt(key, {
    iss,
    sub,
    aud,
    iat: now - (lifetime < 0 ? 7200 : 0),
    exp: now + lifetime,
    jti: `chaos-${process.pid}-${serial}-${randomBytes(4).toString('hex')}`,
    scope: 'orders:read',
    ...extra,
  });
}

/** The same header and payload with the signature's first character changed. */
export function withBadSignature(jwt) {
  const cut = jwt.lastIndexOf('.') + 1;
  return `${jwt.slice(0, cut)}${jwt[cut] === 'A' ? 'B' : 'A'}${jwt.slice(cut + 1)}`;
}

export const CALLER = 'spiffe://chaos.local/ns/shop/sa/frontend';
export const W_BOUND = 'spiffe://chaos.local/ns/shop/sa/orders';
export const W_ONCE = 'spiffe://chaos.local/ns/shop/sa/payments';
export const W_OFF = 'spiffe://chaos.local/ns/shop/sa/catalog';

// ---------- JWKS server ----------

/**
 * Serves one JWKS per path (`/a`, `/b`, ...). Per path: keys, a max-age, a behaviour (`serve`,
 * `status` 500, `hang`), and every request's time, so scenarios count fetches at the IdP itself.
 */
export async function startJwksServer() {
  const paths = new Map();
  const sockets = new Set();
  const hung = new Set();
  const entry = (path) => {
    if (!paths.has(path)) paths.set(path, { keys: [], maxAge: 600, behave: 'serve', requests: [] });
    return paths.get(path);
  };
  const server = http.createServer((request, response) => {
    const path = (request.url ?? '/').split('?')[0];
    const state = paths.get(path);
    if (!state) return void response.writeHead(404).end();
    state.requests.push(Date.now());
    if (state.behave === 'status') return void response.writeHead(500, { 'content-type': 'text/plain' }).end('failure');
    if (state.behave === 'hang') {
      hung.add(response);
      response.on('close', () => hung.delete(response));
      return;
    }
    response
      .writeHead(200, { 'content-type': 'application/jwk-set+json', 'cache-control': `max-age=${state.maxAge}` })
      .end(JSON.stringify({ keys: state.keys }));
  });
  server.on('connection', (socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
  });
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  const base = `http://127.0.0.1:${server.address().port}`;
  return {
    url: (path) => `${base}${path}`,
    setKeys: (path, keys, maxAge) => {
      const state = entry(path);
      state.keys = keys.map((key) => key.publicJwk);
      if (maxAge !== undefined) state.maxAge = maxAge;
      state.behave = 'serve';
    },
    behave: (path, behaviour) => {
      entry(path).behave = behaviour;
    },
    /** The times (epoch ms) of every request seen on `path`. */
    times: (path) => [...entry(path).requests],
    /** Requests seen on `path` in [from, to) (epoch ms). */
    count: (path, from = 0, to = Infinity) => entry(path).requests.filter((at) => at >= from && at < to).length,
    close: () => {
      for (const response of hung) response.destroy();
      for (const socket of sockets) socket.destroy();
      return new Promise((resolve) => server.close(() => resolve()));
    },
  };
}

// ---------- redis-server ----------

async function redisPing(port, timeoutMs = 500) {
  return new Promise((resolve) => {
    const socket = net.connect({ host: '127.0.0.1', port });
    const timer = setTimeout(() => {
      socket.destroy();
      resolve(false);
    }, timeoutMs);
    socket.once('error', () => {
      clearTimeout(timer);
      resolve(false);
    });
    socket.on('connect', () => socket.write('*1\r\n$4\r\nPING\r\n'));
    socket.on('data', (chunk) => {
      clearTimeout(timer);
      socket.destroy();
      resolve(chunk.toString().startsWith('+PONG'));
    });
  });
}

/** redis-server on a free loopback port, no persistence; kill (SIGKILL), pause (SIGSTOP), resume, restart on the same port. */
export async function startRedis() {
  if (spawnSync('sh', ['-c', 'command -v redis-server']).status !== 0) throw new Error('redis-server is not installed (apt-get install -y redis-server)');
  const port = await freePort();
  const dir = tempDir('redis');
  let child = null;
  const launch = async () => {
    child = track(spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--dir', dir], { stdio: 'ignore' }));
    const deadline = Date.now() + 10_000;
    while (!(await redisPing(port))) {
      if (Date.now() > deadline) throw new Error(`redis-server on ${port} did not answer PING`);
      await sleep(20);
    }
  };
  const exited = (process) => (process.exitCode !== null || process.signalCode !== null ? Promise.resolve() : new Promise((resolve) => process.once('exit', resolve)));
  await launch();
  return {
    port,
    url: `redis://127.0.0.1:${port}`,
    async kill() {
      const done = exited(child);
      child.kill('SIGKILL');
      await done;
    },
    pause: () => child.kill('SIGSTOP'),
    resume: () => child.kill('SIGCONT'),
    restart: launch,
    async close() {
      if (child && child.exitCode === null && child.signalCode === null) {
        const done = exited(child);
        child.kill('SIGCONT');
        child.kill('SIGKILL');
        await done;
      }
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

// ---------- hopguard ----------

/** Writes `config` (an object, as JSON, or a string as is) to `path` atomically (write + rename). */
export function writeConfigAtomically(path, config) {
  const text = typeof config === 'string' ? config : JSON.stringify(config, null, 2);
  const temp = `${path}.${process.pid}.${Date.now()}.tmp`;
  writeFileSync(temp, text);
  renameSync(temp, path);
}

/**
 * Spawns `node dist/src/cli.js serve --config FILE` in its own process group and resolves once it
 * printed `hopguard listening:`. stdout and stderr go to a log file in `dir`; the last lines are
 * kept for the report.
 */
export async function startHopguard(config, dir, { timeoutMs = 20_000 } = {}) {
  const configPath = join(dir, 'hopguard.json');
  writeConfigAtomically(configPath, config);
  const logPath = join(dir, 'hopguard.log');
  const child = track(spawn(process.execPath, [CLI, 'serve', '--config', configPath], { cwd: ROOT, detached: true, stdio: ['ignore', 'pipe', 'pipe'] }), { group: true });
  const tail = [];
  const logChunks = [];
  let listening = false;
  const exit = new Promise((resolve) => child.once('exit', (code, signal) => resolve({ code, signal, at: Date.now() })));
  const ready = new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`hopguard did not print "hopguard listening" within ${timeoutMs} ms; last output:\n${tail.join('\n')}`)), timeoutMs);
    exit.then(({ code, signal }) => {
      clearTimeout(timer);
      if (!listening) reject(new Error(`hopguard exited (code ${code}, signal ${signal}) before listening; last output:\n${tail.join('\n')}`));
    });
    const onLine = (line) => {
      tail.push(line.length > 400 ? `${line.slice(0, 400)}…` : line);
      if (tail.length > 40) tail.shift();
      if (!listening && line.startsWith('hopguard listening:')) {
        listening = true;
        clearTimeout(timer);
        resolve();
      }
    };
    for (const stream of [child.stdout, child.stderr]) {
      let buffered = '';
      stream.setEncoding('utf8');
      stream.on('data', (chunk) => {
        logChunks.push(chunk);
        if (logChunks.length > 2000) logChunks.splice(0, 1000);
        buffered += chunk;
        let newline;
        while ((newline = buffered.indexOf('\n')) >= 0) {
          onLine(buffered.slice(0, newline));
          buffered = buffered.slice(newline + 1);
        }
      });
    }
  });
  await ready;
  const grpcAddress = config.listen.grpc;
  return {
    pid: child.pid,
    child,
    configPath,
    grpcAddress,
    exit,
    tail,
    workers: () => childPids(child.pid),
    rss: () => treeRss(child.pid),
    running: () => child.exitCode === null && child.signalCode === null,
    saveLog() {
      writeFileSync(logPath, logChunks.join(''));
      return logPath;
    },
    /** SIGKILL to the whole group (primary and workers), and wait for the primary's exit. */
    async kill() {
      if (child.exitCode === null && child.signalCode === null) {
        try {
          process.kill(-child.pid, 'SIGKILL');
        } catch {
          // gone
        }
      }
      await exit;
    },
  };
}

/** The base config every scenario starts from: one issuer, the three workloads, memory replay. */
export function baseConfig({ grpcPort, adminPort, issuers, replay = { store: 'memory' }, extra = {}, workloads }) {
  return {
    listen: { grpc: `127.0.0.1:${grpcPort}`, ...(adminPort ? { admin: `127.0.0.1:${adminPort}` } : {}) },
    issuers,
    workloads: workloads ?? [
      { id: W_BOUND, sources: ['spiffe://chaos.local/ns/shop/*'], replay: 'source-bound' },
      { id: W_ONCE, sources: ['spiffe://chaos.local/ns/shop/*'], replay: 'once' },
      { id: W_OFF, sources: ['spiffe://chaos.local/ns/shop/*'], replay: 'off' },
    ],
    replay,
    logging: { level: process.env.CHAOS_LOG_LEVEL ?? 'warn' },
    ...extra,
  };
}

// ---------- gRPC client ----------

let protos = null;
export function checkService() {
  protos ??= protoLoader.loadSync('envoy/service/auth/v3/external_auth.proto', {
    keepCase: true,
    longs: String,
    enums: String,
    defaults: false,
    oneofs: true,
    includeDirs: [join(ROOT, 'proto')],
  });
  return protos['envoy.service.auth.v3.Authorization'];
}

/** A CheckRequest as Envoy's sidecar builds it, for `workload`, from CALLER, with `token` (or no authorization). */
export function checkRequest(workload, jwt, { headers = {}, source = CALLER } = {}) {
  return {
    attributes: {
      source: { principal: source, address: { socket_address: { address: '10.0.0.7', port_value: 43122 } } },
      destination: { principal: workload, address: { socket_address: { address: '10.0.0.9', port_value: 8080 } } },
      request: {
        http: {
          id: '1',
          method: 'GET',
          path: '/orders/42',
          host: 'orders.shop.svc.cluster.local',
          scheme: 'http',
          protocol: 'HTTP/1.1',
          headers: {
            ':authority': 'orders.shop.svc.cluster.local',
            ':method': 'GET',
            ':path': '/orders/42',
            'user-agent': 'chaos/1.0',
            ...(jwt === undefined ? {} : { authorization: `Bearer ${jwt}` }),
            ...headers,
          },
        },
      },
      context_extensions: { 'hopguard.workload': workload },
    },
  };
}

/**
 * `connections` independent gRPC channels to `address` (grpc-js, insecure), used round-robin.
 * check() resolves { allowed, code, reason } or { error: grpcCode, details }; it never rejects.
 */
export function createClients(address, connections = 4) {
  const Client = grpc.makeGenericClientConstructor(checkService(), 'Authorization');
  const clients = Array.from({ length: connections }, (_, n) => new Client(address, grpc.credentials.createInsecure(), {
    // Distinct channels (grpc-js would otherwise share one subchannel between identical targets).
    'grpc.chaos_channel': n,
    'grpc.max_send_message_length': 16 * 1024 * 1024,
    'grpc.max_receive_message_length': 16 * 1024 * 1024,
    'grpc.initial_reconnect_backoff_ms': 100,
    'grpc.max_reconnect_backoff_ms': 1000,
  }));
  let next = 0;
  return {
    check(request, deadlineMs = 5000) {
      const client = clients[next++ % clients.length];
      return new Promise((resolve) => {
        client.Check(request, new grpc.Metadata(), { deadline: Date.now() + deadlineMs }, (error, response) => {
          if (error) return resolve({ error: error.code, details: String(error.details ?? error.message).slice(0, 200) });
          const code = response?.status?.code ?? 0;
          resolve({ allowed: code === 0, code, reason: response?.status?.message ?? '' });
        });
      });
    },
    /** Waits until every channel is connected (or the deadline passes). */
    ready(timeoutMs = 5000) {
      return Promise.all(clients.map((client) => new Promise((resolve) => client.waitForReady(Date.now() + timeoutMs, () => resolve()))));
    },
    close() {
      for (const client of clients) client.close();
    },
  };
}

// ---------- the mixed load ----------

/**
 * Runs `kinds` (name -> { weight, run(ctx) }) at `rate` jobs per second for `durationMs`, never
 * more than `maxInFlight` jobs at once (a job beyond that is counted as `skipped`, never queued).
 * A job sends one or more checks through ctx.check(request, expect), where `expect` is
 * { allow: true } or { allow: false, reason } or { once: group } (a `once` presentation, judged
 * after the run). Every check is recorded with its send and answer times (ms since `t0`).
 */
export function startLoad({ clients, kinds, rate, durationMs, deadlineMs = 5000, maxInFlight = 4000, t0 = Date.now() }) {
  const records = [];
  const table = Object.entries(kinds).flatMap(([name, kind]) => Array(kind.weight).fill(name));
  let inFlight = 0;
  let skipped = 0;
  let stopped = false;
  const jobs = new Set();
  const ctx = (name) => ({
    async check(request, expect, deadline = deadlineMs) {
      const sent = Date.now() - t0;
      const record = { kind: name, sent, expect };
      records.push(record);
      const answer = await clients.check(request, deadline);
      record.answered = Date.now() - t0;
      Object.assign(record, answer);
      return record;
    },
  });
  const tickMs = 10;
  let issued = 0;
  let picks = 0;
  const started = Date.now();
  const timer = setInterval(() => {
    const elapsed = Date.now() - started;
    if (stopped || elapsed >= durationMs) return stop();
    // Jobs due by now (a late timer tick catches up, so the rate holds on a busy machine).
    const due = Math.floor((rate * elapsed) / 1000) - issued;
    for (let n = 0; n < due; n += 1) {
      issued += 1;
      if (inFlight >= maxInFlight) {
        skipped += 1;
        continue;
      }
      const name = table[picks++ % table.length];
      inFlight += 1;
      const job = Promise.resolve()
        .then(() => kinds[name].run(ctx(name)))
        .catch((error) => records.push({ kind: name, sent: Date.now() - t0, answered: Date.now() - t0, error: 'client', details: String(error?.message ?? error) }))
        .finally(() => {
          inFlight -= 1;
          jobs.delete(job);
        });
      jobs.add(job);
    }
  }, tickMs);
  let resolveDone;
  const done = new Promise((resolve) => (resolveDone = resolve));
  function stop() {
    if (stopped) return;
    stopped = true;
    clearInterval(timer);
    // Every job ends by itself (each check has a deadline).
    Promise.allSettled([...jobs]).then(() => resolveDone({ records, skipped }));
  }
  return { done, stop, records, inFlight: () => inFlight };
}

/**
 * Judges the records: every answer against its expectation. `windows` are [from, to] ms ranges in
 * which a wrong answer (a false denial, a 503) or a gRPC error is tolerated; a false allow never is.
 * `knownReplayWindow(first, second)` may excuse a `once` token allowed twice (documented cases).
 */
export function judge(records, { windows = [], knownReplayWindow = () => false } = {}) {
  if (process.env.CHAOS_DUMP) writeFileSync(`${process.env.CHAOS_DUMP}-${Date.now()}.json`, JSON.stringify(records));
  const inWindow = (record) => windows.some(([from, to]) => record.sent <= to && (record.answered ?? record.sent) >= from);
  const result = {
    checks: records.length,
    allows: 0,
    falseAllows: 0,
    falseAllowSamples: [],
    falseDenies: 0,
    wrongReasons: 0,
    unanswered: 0,
    unansweredOutside: 0,
    wrongOutside: 0,
    wrongOutsideSamples: [],
    knownReplayWindow: 0,
    lastBadAt: null,
    maxLatencyMs: 0,
    reasons: {},
    errors: {},
    errorSamples: [],
  };
  const onceAllowed = new Map();
  const onceTrouble = new Map();
  const sorted = [...records].sort((a, b) => a.sent - b.sent);
  for (const record of sorted) {
    const latency = (record.answered ?? record.sent) - record.sent;
    result.maxLatencyMs = Math.max(result.maxLatencyMs, latency);
    let bad = null;
    if (record.error !== undefined) {
      result.unanswered += 1;
      result.errors[record.error] = (result.errors[record.error] ?? 0) + 1;
      if (result.errorSamples.length < 5) result.errorSamples.push({ kind: record.kind, sent: record.sent, answered: record.answered, code: record.error, details: record.details });
      bad = `grpc error ${record.error} ${record.details ?? ''}`;
      if (record.expect?.once) onceTrouble.set(record.expect.once, true);
    } else {
      if (record.allowed) result.allows += 1;
      const key = record.allowed ? 'allow' : record.reason;
      result.reasons[key] = (result.reasons[key] ?? 0) + 1;
      const expect = record.expect ?? {};
      if (expect.once !== undefined) {
        const group = expect.once;
        if (record.allowed) {
          const first = onceAllowed.get(group);
          if (first !== undefined && !knownReplayWindow(first, record)) {
            result.falseAllows += 1;
            result.falseAllowSamples.push({ kind: record.kind, sent: record.sent, why: 'once token allowed twice' });
          } else if (first !== undefined) result.knownReplayWindow += 1;
          else onceAllowed.set(group, record);
        } else if (record.reason === 'replayed') {
          if (!onceAllowed.has(group) && !onceTrouble.get(group)) {
            result.falseDenies += 1;
            bad = 'replayed before any allow';
          }
        } else {
          result.falseDenies += 1;
          onceTrouble.set(group, true);
          bad = `once presentation denied ${record.reason}`;
        }
      } else if (expect.either) {
        // Allow or the named denial are both correct (a declared transition, e.g. a key on its way out).
        if (!record.allowed && record.reason !== expect.reason) {
          result.wrongReasons += 1;
          bad = `denied ${record.reason}, expected allow or ${expect.reason}`;
        }
      } else if (record.allowed && !expect.allow) {
        result.falseAllows += 1;
        result.falseAllowSamples.push({ kind: record.kind, sent: record.sent, why: `allowed, expected ${expect.reason}` });
      } else if (!record.allowed && expect.allow) {
        result.falseDenies += 1;
        bad = `denied ${record.reason}, expected allow`;
      } else if (!record.allowed && expect.reason !== undefined && expect.reason !== record.reason && !(expect.reasons ?? []).includes(record.reason)) {
        result.wrongReasons += 1;
        bad = `denied ${record.reason}, expected ${expect.reason}`;
      }
    }
    if (bad !== null) {
      result.lastBadAt = Math.max(result.lastBadAt ?? 0, record.answered ?? record.sent);
      if (!inWindow(record)) {
        if (record.error !== undefined) result.unansweredOutside += 1;
        else result.wrongOutside += 1;
        if (result.wrongOutsideSamples.length < 5) result.wrongOutsideSamples.push({ kind: record.kind, sent: record.sent, answered: record.answered, bad });
      }
    }
  }
  result.falseAllowSamples = result.falseAllowSamples.slice(0, 5);
  return result;
}

/** The time of the last bad answer (sent at or after `from`), relative to `from`; 0 when none. */
export function recoveryMs(records, from, isBad) {
  let last = null;
  for (const record of records) if (record.sent >= from && isBad(record)) last = Math.max(last ?? 0, record.answered ?? record.sent);
  return last === null ? 0 : Math.max(0, last - from);
}

/** A record is correct when answered and matching its expectation (once presentations: allow or replayed). */
export function isBadRecord(record) {
  if (record.error !== undefined) return true;
  const expect = record.expect ?? {};
  if (expect.once !== undefined) return !(record.allowed || record.reason === 'replayed');
  if (expect.either) return !record.allowed && record.reason !== expect.reason;
  if (record.allowed !== Boolean(expect.allow)) return true;
  return !record.allowed && expect.reason !== undefined && record.reason !== expect.reason && !(expect.reasons ?? []).includes(record.reason);
}

/** Samples `fn()` every `everyMs` until stop(); returns { stop: () => max }. */
export function sampleMax(fn, everyMs = 250) {
  let max = fn();
  const timer = setInterval(() => {
    max = Math.max(max, fn());
  }, everyMs);
  return {
    stop() {
      clearInterval(timer);
      max = Math.max(max, fn());
      return max;
    },
  };
}

export { createPrivateKey };

// ---------- raw HTTP/2 probes (a fresh connection per probe, as Envoy reconnects) ----------

/** One Check over a raw node:http2 session; resolves like createClients().check, never rejects. */
export function h2Check(session, request, deadlineMs = 2000) {
  const method = checkService().Check;
  const message = method.requestSerialize(request);
  const frame = Buffer.alloc(5 + message.length);
  frame.writeUInt32BE(message.length, 1);
  message.copy(frame, 5);
  return new Promise((resolve) => {
    let settled = false;
    const done = (answer) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      resolve(answer);
    };
    const timer = setTimeout(() => {
      done({ error: 4, details: `no answer within ${deadlineMs} ms (raw HTTP/2 probe)` });
      stream?.close();
    }, deadlineMs);
    let stream;
    try {
      stream = session.request({ ':method': 'POST', ':path': '/envoy.service.auth.v3.Authorization/Check', 'content-type': 'application/grpc', te: 'trailers' });
    } catch (error) {
      return done({ error: 14, details: String(error.message) });
    }
    const chunks = [];
    stream.on('data', (chunk) => chunks.push(chunk));
    stream.on('error', (error) => done({ error: 14, details: String(error.message) }));
    stream.on('trailers', (trailers) => {
      const status = Number(trailers['grpc-status'] ?? 0);
      if (status !== 0) return done({ error: status, details: String(trailers['grpc-message'] ?? '') });
      const body = Buffer.concat(chunks);
      try {
        const response = method.responseDeserialize(body.subarray(5, 5 + body.readUInt32BE(1)));
        const code = response?.status?.code ?? 0;
        done({ allowed: code === 0, code, reason: response?.status?.message ?? '' });
      } catch (error) {
        done({ error: 13, details: `undecodable answer: ${error.message}` });
      }
    });
    stream.on('close', () => done({ error: 14, details: 'stream closed without trailers' }));
    stream.end(frame);
  });
}

/**
 * A real redis-server for tests: a free loopback port, no persistence, a temp dir. It can be
 * stopped, killed, paused (SIGSTOP: a hung server) and restarted on the same port.
 *
 * Needs the `redis-server` binary; install it with `apt-get update && apt-get install -y redis-server`.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createServer, connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const INSTALL_HINT = 'apt-get update && apt-get install -y redis-server';
const START_TIMEOUT_MS = 10_000;

export interface RedisServerOptions {
  /** Starts the server with `--requirepass`. */
  readonly password?: string;
  /** More command-line options, e.g. `--cluster-enabled yes` or `--sentinel`. */
  readonly extraArgs?: readonly string[];
  /** A config file given before the options (Sentinel needs one it can rewrite). */
  readonly configFile?: string;
}

export interface RedisServer {
  readonly port: number;
  /** `redis://127.0.0.1:PORT` (no credentials). */
  readonly url: string;
  readonly running: boolean;
  /** SIGTERM and wait for the exit. */
  stop(): Promise<void>;
  /** SIGKILL and wait for the exit: a crash. */
  kill(): Promise<void>;
  /** SIGSTOP: the process keeps its sockets but answers nothing. */
  pause(): void;
  /** SIGCONT after pause(). */
  resume(): void;
  /** Starts again on the same port (after stop or kill); the data set starts empty. */
  restart(): Promise<void>;
  /** Sends one command over a fresh connection (authenticated when started with a password). */
  command(...args: string[]): Promise<Reply>;
  /** Stops the server for good and removes its temp dir. */
  close(): Promise<void>;
}

export async function freeLoopbackPort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      const port = typeof address === 'object' && address !== null ? address.port : 0;
      server.close(() => resolve(port));
    });
  });
}

function encodeCommand(args: readonly string[]): string {
  return `*${args.length}\r\n${args.map((a) => `$${Buffer.byteLength(a)}\r\n${a}\r\n`).join('')}`;
}

export type Reply = string | number | null | Reply[] | { readonly error: string };

/** Parses one RESP2 reply at `offset`; undefined while incomplete. */
function parseReply(text: string, offset: number): [Reply, number] | undefined {
  const lineEnd = text.indexOf('\r\n', offset);
  if (lineEnd < 0) return undefined;
  const kind = text[offset];
  const line = text.slice(offset + 1, lineEnd);
  const next = lineEnd + 2;
  switch (kind) {
    case '+':
      return [line, next];
    case '-':
      return [{ error: line }, next];
    case ':':
      return [Number(line), next];
    case '$': {
      const length = Number(line);
      if (length < 0) return [null, next];
      if (Buffer.byteLength(text.slice(next)) < length + 2) return undefined;
      const body = Buffer.from(text.slice(next)).subarray(0, length).toString('utf8');
      return [body, next + body.length + 2];
    }
    case '*': {
      const count = Number(line);
      if (count < 0) return [null, next];
      const items: Reply[] = [];
      let at = next;
      for (let i = 0; i < count; i += 1) {
        const parsed = parseReply(text, at);
        if (parsed === undefined) return undefined;
        items.push(parsed[0]);
        at = parsed[1];
      }
      return [items, at];
    }
    default:
      throw new Error(`unexpected RESP reply: ${JSON.stringify(text.slice(offset, offset + 40))}`);
  }
}

/** One command on a fresh TCP connection (after AUTH when a password is given); resolves with its reply. */
export function rawCommand(port: number, args: readonly string[], password?: string, timeoutMs = 2_000): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const socket = connect({ host: '127.0.0.1', port });
    let received = '';
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new Error(`redis on port ${port} did not answer ${args[0]} within ${timeoutMs}ms`));
    }, timeoutMs);
    socket.once('error', (error) => {
      clearTimeout(timer);
      reject(error);
    });
    socket.on('connect', () => {
      const auth = password === undefined ? '' : encodeCommand(['AUTH', password]);
      socket.write(auth + encodeCommand(args));
    });
    socket.on('data', (chunk: Buffer) => {
      received += chunk.toString('utf8');
      let at = 0;
      if (password !== undefined) {
        const authReply = parseReply(received, 0);
        if (authReply === undefined) return;
        at = authReply[1];
      }
      const reply = parseReply(received, at);
      if (reply === undefined) return;
      clearTimeout(timer);
      socket.destroy();
      resolve(reply[0]);
    });
  });
}

function waitForExit(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => child.once('exit', () => resolve()));
}

async function spawnRedis(port: number, dir: string, options: RedisServerOptions): Promise<ChildProcess> {
  const args = [
    ...(options.configFile === undefined ? [] : [options.configFile]),
    '--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--dir', dir,
    ...(options.extraArgs ?? []),
  ];
  if (options.password !== undefined) args.push('--requirepass', options.password);
  const child = spawn('redis-server', args, { stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  child.stdout?.on('data', (chunk: Buffer) => (output = (output + chunk.toString()).slice(-4_000)));
  child.stderr?.on('data', (chunk: Buffer) => (output = (output + chunk.toString()).slice(-4_000)));
  const spawnFailure = new Promise<never>((_, reject) => {
    child.once('error', (error: NodeJS.ErrnoException) => {
      reject(
        error.code === 'ENOENT'
          ? new Error(`redis-server is not installed (not on PATH). Install it with: ${INSTALL_HINT}`)
          : error,
      );
    });
    child.once('exit', (code, signal) =>
      reject(new Error(`redis-server exited early (code ${code}, signal ${signal}) on port ${port}:\n${output}`)),
    );
  });
  const deadline = Date.now() + START_TIMEOUT_MS;
  const answering = (async () => {
    for (;;) {
      try {
        const reply = await rawCommand(port, ['PING'], options.password, 500);
        if (reply === 'PONG') return;
      } catch {
        // not listening yet
      }
      if (Date.now() > deadline) throw new Error(`redis-server on port ${port} did not answer PING:\n${output}`);
      await new Promise((r) => setTimeout(r, 20));
    }
  })();
  try {
    await Promise.race([answering, spawnFailure]);
  } catch (error) {
    child.kill('SIGKILL');
    throw error;
  }
  spawnFailure.catch(() => undefined);
  return child;
}

export async function startRedisServer(options: RedisServerOptions = {}, dirOverride?: string): Promise<RedisServer> {
  const dir = dirOverride ?? (await mkdtemp(join(tmpdir(), 'hopguard-redis-')));
  let port = 0;
  let child: ChildProcess | undefined;
  // The free port may be taken between probing and binding; try a few.
  for (let attempt = 0; child === undefined; attempt += 1) {
    port = await freeLoopbackPort();
    try {
      child = await spawnRedis(port, dir, options);
    } catch (error) {
      if (attempt >= 3 || (error instanceof Error && error.message.includes('not installed'))) {
        await rm(dir, { recursive: true, force: true });
        throw error;
      }
    }
  }
  let current: ChildProcess = child;
  let paused = false;

  const end = async (signal: NodeJS.Signals): Promise<void> => {
    const exited = waitForExit(current);
    current.kill(signal);
    // A stopped process dies of SIGKILL at once, but handles SIGTERM only once continued.
    if (paused && signal !== 'SIGKILL') current.kill('SIGCONT');
    paused = false;
    await exited;
  };

  return {
    port,
    url: `redis://127.0.0.1:${port}`,
    get running() {
      return current.exitCode === null && current.signalCode === null;
    },
    stop: () => end('SIGTERM'),
    kill: () => end('SIGKILL'),
    pause() {
      current.kill('SIGSTOP');
      paused = true;
    },
    resume() {
      current.kill('SIGCONT');
      paused = false;
    },
    async restart() {
      if (current.exitCode === null && current.signalCode === null) await end('SIGTERM');
      current = await spawnRedis(port, dir, options);
    },
    command: (...args: string[]) => rawCommand(port, args, options.password),
    async close() {
      if (current.exitCode === null && current.signalCode === null) await end('SIGKILL');
      await rm(dir, { recursive: true, force: true });
    },
  };
}

async function until(check: () => Promise<boolean>, what: string, limitMs = START_TIMEOUT_MS): Promise<void> {
  const deadline = Date.now() + limitMs;
  while (!(await check().catch(() => false))) {
    if (Date.now() > deadline) throw new Error(`gave up waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

export interface RedisCluster {
  /** `127.0.0.1:PORT` of every master. */
  readonly nodes: readonly string[];
  readonly servers: readonly RedisServer[];
  close(): Promise<void>;
}

/** A Redis Cluster of `size` masters on loopback, slots split evenly, ready (cluster_state:ok) on return. */
export async function startRedisCluster(size = 3): Promise<RedisCluster> {
  const servers: RedisServer[] = [];
  try {
    for (let i = 0; i < size; i += 1) {
      servers.push(await startRedisServer({ extraArgs: ['--cluster-enabled', 'yes', '--cluster-config-file', 'nodes.conf', '--cluster-node-timeout', '5000'] }));
    }
    const slotsPerNode = Math.ceil(16_384 / size);
    for (const [i, server] of servers.entries()) {
      const first = i * slotsPerNode;
      const last = Math.min(16_383, first + slotsPerNode - 1);
      const reply = await server.command('CLUSTER', 'ADDSLOTSRANGE', String(first), String(last));
      if (reply !== 'OK') throw new Error(`CLUSTER ADDSLOTSRANGE failed: ${JSON.stringify(reply)}`);
    }
    const [seed, ...others] = servers;
    for (const other of others) await seed?.command('CLUSTER', 'MEET', '127.0.0.1', String(other.port));
    await until(async () => {
      const infos = await Promise.all(servers.map((server) => server.command('CLUSTER', 'INFO')));
      return infos.every((info) => typeof info === 'string' && info.includes('cluster_state:ok') && info.includes(`cluster_known_nodes:${size}`));
    }, 'the cluster to form');
  } catch (error) {
    await Promise.all(servers.map((server) => server.close()));
    throw error;
  }
  return {
    nodes: servers.map((server) => `127.0.0.1:${server.port}`),
    servers,
    close: async () => {
      await Promise.all(servers.map((server) => server.close()));
    },
  };
}

export interface RedisSentinelSetup {
  readonly master: RedisServer;
  readonly sentinel: RedisServer;
  /** `127.0.0.1:PORT` of the sentinel. */
  readonly sentinelAddress: string;
  readonly masterName: string;
  close(): Promise<void>;
}

/** A master and one Sentinel monitoring it under `masterName`; the Sentinel knows the master on return. */
export async function startRedisSentinel(masterName = 'hopguard-test'): Promise<RedisSentinelSetup> {
  const master = await startRedisServer();
  const dir = await mkdtemp(join(tmpdir(), 'hopguard-sentinel-'));
  const configFile = join(dir, 'sentinel.conf');
  try {
    await writeFile(configFile, `sentinel monitor ${masterName} 127.0.0.1 ${master.port} 1\nsentinel down-after-milliseconds ${masterName} 60000\n`);
    const sentinel = await startRedisServer({ configFile, extraArgs: ['--sentinel'] }, dir);
    await until(async () => {
      const reply = await sentinel.command('SENTINEL', 'GET-MASTER-ADDR-BY-NAME', masterName);
      return Array.isArray(reply) && reply[1] === String(master.port);
    }, 'the sentinel to know its master');
    return {
      master,
      sentinel,
      sentinelAddress: `127.0.0.1:${sentinel.port}`,
      masterName,
      close: async () => {
        await sentinel.close();
        await master.close();
      },
    };
  } catch (error) {
    await master.close();
    await rm(dir, { recursive: true, force: true });
    throw error;
  }
}

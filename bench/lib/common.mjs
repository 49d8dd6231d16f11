/**
 * Small helpers shared by the benchmark scripts: CPU pinning, child processes that announce
 * readiness on stdout, CPU time from /proc, free ports and percentiles.
 */
import { spawn, spawnSync } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import net from 'node:net';

export const CLK_TCK = Number(spawnSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).stdout.trim()) || 100;

export function commandExists(name) {
  return spawnSync('sh', ['-c', `command -v ${name}`], { encoding: 'utf8' }).status === 0;
}

export const HAS_TASKSET = commandExists('taskset');

/** The cores the server and the load generator get; one machine core each when there are two or more. */
export function cores() {
  const count = Number(spawnSync('nproc', [], { encoding: 'utf8' }).stdout.trim()) || 1;
  return { count, server: '0', load: count > 1 ? '1' : '0' };
}

/** `[command, args]` prefixed with `taskset -c <cores>` when taskset exists (and cores is not null). */
export function pinned(core, command, args) {
  return HAS_TASKSET && core !== null ? ['taskset', ['-c', core, command, ...args]] : [command, args];
}

/**
 * Starts a child and resolves with it and its first stdout line that parses as JSON with
 * `ready: true` (servers print their address that way).
 */
export function spawnReady(command, args, { env, timeoutMs = 60_000, label = command, readyFrom = readyJson } = {}) {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { stdio: ['ignore', 'pipe', 'inherit'], env: { ...process.env, ...env } });
    let buffered = '';
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`${label} did not become ready within ${timeoutMs} ms`));
    }, timeoutMs);
    child.on('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`${label} exited with ${code} before it was ready`));
    });
    const onData = (chunk) => {
      buffered += chunk;
      let newline;
      while ((newline = buffered.indexOf('\n')) >= 0) {
        const line = buffered.slice(0, newline);
        buffered = buffered.slice(newline + 1);
        const message = readyFrom(line, child);
        if (message !== null) {
          clearTimeout(timer);
          child.stdout.off('data', onData);
          child.stdout.resume();
          child.removeAllListeners('exit');
          resolve({ child, message });
          return;
        }
      }
    };
    child.stdout.setEncoding('utf8');
    child.stdout.on('data', onData);
  });
}

/** The bench servers' readiness line: JSON with `ready: true`. */
function readyJson(line) {
  try {
    const message = JSON.parse(line);
    return message.ready ? message : null;
  } catch {
    return null;
  }
}

/** `hopguard serve`'s readiness line ("hopguard listening: grpc ADDRESS ..."), for servers run through the CLI. */
export function readyFromCli(line, child) {
  const match = /hopguard listening: grpc (\S+)/.exec(line);
  return match ? { ready: true, address: match[1], pid: child.pid } : null;
}

/** The process and all its descendants (a cluster primary and its workers). */
export function processTree(pid) {
  const pids = [pid];
  for (let i = 0; i < pids.length; i++) {
    try {
      for (const tid of readdirSync(`/proc/${pids[i]}/task`)) {
        try {
          for (const child of readFileSync(`/proc/${pids[i]}/task/${tid}/children`, 'utf8').trim().split(/\s+/)) if (child !== '') pids.push(Number(child));
        } catch {
          // the thread ended, or the kernel has no children file
        }
      }
    } catch {
      // the process ended
    }
  }
  return pids;
}

export function stopChild(child) {
  return new Promise((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) return resolve();
    const timer = setTimeout(() => child.kill('SIGKILL'), 5_000);
    child.once('exit', () => {
      clearTimeout(timer);
      resolve();
    });
    child.kill('SIGTERM');
  });
}

/**
 * CPU seconds the process used so far, all its threads (and its descendants': cluster workers). From /proc/<pid>/task/<tid>/schedstat
 * (the scheduler's own nanosecond runtime) where it exists: utime/stime in /proc/<pid>/stat are
 * sampled at the clock tick, which on a VM overcharges a server that wakes from idle for every
 * request (a lightly loaded server looked several times costlier per check than it is).
 */
export function cpuSeconds(pid) {
  const tree = processTree(pid);
  if (tree.length > 1) return tree.reduce((sum, one) => sum + cpuSecondsOfProcess(one), 0);
  return cpuSecondsOfProcess(pid);
}

function cpuSecondsOfProcess(pid) {
  try {
    let nanoseconds = 0;
    for (const tid of readdirSync(`/proc/${pid}/task`)) {
      try {
        nanoseconds += Number(readFileSync(`/proc/${pid}/task/${tid}/schedstat`, 'utf8').split(' ')[0]);
      } catch {
        // the thread ended between the listing and the read
      }
    }
    if (nanoseconds > 0) return nanoseconds / 1e9;
  } catch {
    // no schedstat (kernel without CONFIG_SCHEDSTATS): fall back to the tick-sampled figures
  }
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  // fields[0] is state (field 3); utime and stime are fields 14 and 15.
  return (Number(fields[11]) + Number(fields[12])) / CLK_TCK;
}

/**
 * Context switches of all the process's threads (and its descendants') so far: `total` (voluntary
 * and not) and `voluntary` alone. Per check, they show hand-offs a CPU figure hides the reason
 * for: a verify handed to the thread pool and back makes threads sleep and wake (voluntary),
 * while a busy machine preempting the server adds involuntary ones, so on a shared machine the
 * voluntary figure is the one that tells the two apart. Null when /proc cannot be read.
 */
export function contextSwitches(pid) {
  const sum = { total: 0, voluntary: 0 };
  for (const one of processTree(pid)) {
    const switches = contextSwitchesOfProcess(one);
    if (switches === null) {
      if (one === pid) return null;
      continue;
    }
    sum.total += switches.total;
    sum.voluntary += switches.voluntary;
  }
  return sum;
}

function contextSwitchesOfProcess(pid) {
  const switches = { total: 0, voluntary: 0 };
  try {
    for (const tid of readdirSync(`/proc/${pid}/task`)) {
      try {
        for (const match of readFileSync(`/proc/${pid}/task/${tid}/status`, 'utf8').matchAll(/^(non)?voluntary_ctxt_switches:\s+(\d+)$/gm)) {
          switches.total += Number(match[2]);
          if (match[1] === undefined) switches.voluntary += Number(match[2]);
        }
      } catch {
        // the thread ended between the listing and the read
      }
    }
  } catch {
    return null;
  }
  return switches;
}

export function rssBytes(pid) {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const match = /VmRSS:\s+(\d+) kB/.exec(status);
  return match ? Number(match[1]) * 1024 : 0;
}

export function freePort() {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.unref();
    server.on('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address();
      server.close(() => resolve(port));
    });
  });
}

/** Percentile of an ascending-sorted array (nearest rank). */
export function percentile(sorted, p) {
  if (sorted.length === 0) return null;
  const rank = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[rank];
}

export function latencySummaryMs(microseconds) {
  const sorted = Float64Array.from(microseconds).sort();
  const at = (p) => {
    const value = percentile(sorted, p);
    return value === null ? null : Math.round(value) / 1000;
  };
  return { p50: at(50), p99: at(99), p999: at(99.9), max: at(100) };
}

export function parseArgs(argv) {
  const args = {};
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    if (!arg.startsWith('--')) continue;
    const [name, inline] = arg.slice(2).split('=', 2);
    if (inline !== undefined) args[name] = inline;
    else if (argv[i + 1] !== undefined && !argv[i + 1].startsWith('--')) args[name] = argv[++i];
    else args[name] = true;
  }
  return args;
}

export const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * The compiled CLI as a separate process (signals and node:cluster need a real one). dist/ is
 * rebuilt here only when it is missing or older than a source file (CI builds it in `npm ci`).
 */
import { spawn, spawnSync, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { readdirSync, statSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { eventually } from './fixture.js';

export const ROOT = resolve(import.meta.dirname, '../../..');
export const CLI = join(ROOT, 'dist/src/cli.js');

function newestSourceMs(dir: string): number {
  let newest = 0;
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    newest = Math.max(newest, entry.isDirectory() ? newestSourceMs(path) : entry.name.endsWith('.ts') ? statSync(path).mtimeMs : 0);
  }
  return newest;
}

export function ensureBuilt(): void {
  let builtMs = 0;
  try {
    builtMs = statSync(CLI).mtimeMs;
  } catch {
    builtMs = 0;
  }
  if (builtMs >= newestSourceMs(join(ROOT, 'src'))) return;
  // tsc emits even when a file elsewhere in the tree has a type error; only a missing CLI is fatal.
  const built = spawnSync(process.execPath, [join(ROOT, 'node_modules/typescript/bin/tsc'), '-p', 'tsconfig.json'], { cwd: ROOT, stdio: 'pipe' });
  if (statSync(CLI, { throwIfNoEntry: false }) === undefined) throw new Error(`build failed:\n${built.stdout}${built.stderr}`);
}

/** Generous: the build shares the machine with every other test file. */
export const BUILD_TIMEOUT_MS = 180_000;

export interface ServeProcess {
  readonly child: ChildProcessWithoutNullStreams;
  readonly grpc: string;
  readonly http: string | null;
  readonly admin: string | null;
  /** Everything printed so far (stdout and stderr). */
  output(): string;
  /** The JSON log lines printed so far. */
  logs(): Record<string, unknown>[];
  exited: Promise<number | null>;
  kill(signal: NodeJS.Signals): void;
}

export async function startServe(configPath: string, env: NodeJS.ProcessEnv = {}): Promise<ServeProcess> {
  const child = spawn(process.execPath, [CLI, 'serve', '--config', configPath], { cwd: ROOT, env: { ...process.env, HOPGUARD_CONFIG: '', ...env } });
  let output = '';
  child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
  child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()));
  const exited = new Promise<number | null>((done) => child.once('exit', (code) => done(code)));
  const line = await eventually(() => {
    if (child.exitCode !== null) throw new Error(`hopguard exited early:\n${output}`);
    return /hopguard listening: ([^\n]+)\n/.exec(output)?.[1];
  }, 'hopguard to listen', 20_000);
  const field = (name: string) => new RegExp(`${name} (\\S+)`).exec(line)?.[1] ?? null;
  return {
    child,
    grpc: field('grpc') as string,
    http: field('http'),
    admin: field('admin'),
    output: () => output,
    logs: () =>
      output
        .split('\n')
        .filter((l) => l.startsWith('{'))
        .map((l) => JSON.parse(l) as Record<string, unknown>),
    exited,
    kill: (signal) => child.kill(signal),
  };
}

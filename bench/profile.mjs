/**
 * Profiles hopguard's warm path: starts hopguard under `node --cpu-prof` (pinned to core 0), drives
 * it with one valid token repeated from the node:http2 client on core 1, stops it, and prints the
 * functions with the most self time (and the share in hopguard's own code).
 *
 *   npm run build && node bench/profile.mjs [--duration 8] [--scenario warm|bad|cold] [--server hopguard|bare]
 *
 * The .cpuprofile is left in a temporary directory (its path is printed): open it in Chrome DevTools.
 */
import { spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { cores, freePort, parseArgs, pinned, spawnReady, stopChild } from './lib/common.mjs';
import { benchToken, checkFrame, generateSigningKey, hopguardConfig, withBadSignature } from './lib/fixtures.mjs';

const here = dirname(fileURLToPath(import.meta.url));
const args = parseArgs(process.argv.slice(2));
const duration = Number(args.duration ?? 8);
const cpu = cores();
const outDir = mkdtempSync(join(tmpdir(), 'hopguard-profile-'));
mkdirSync(outDir, { recursive: true });

const key = generateSigningKey('ES256', 'profile-es256');
// cold: distinct tokens cycled through a pool four times the signature cache, so every check verifies.
const tokens =
  args.scenario === 'bad' ? [withBadSignature(benchToken(key, 0))] : args.scenario === 'cold' ? Array.from({ length: 4000 }, (_, n) => benchToken(key, n)) : [benchToken(key, 0)];
const bodies = join(outDir, 'body.bin');
writeFileSync(bodies, Buffer.concat(tokens.map((token) => checkFrame(token))));
const port = await freePort();
const configPath = join(outDir, 'config.json');
writeFileSync(configPath, JSON.stringify(hopguardConfig({ keys: [key], grpcPort: port, ...(args.scenario === 'cold' ? { signatureCacheEntries: 1000 } : {}) })));

const before = new Set(readdirSync(outDir));
const serverArgs = args.server === 'bare' ? [join(here, 'servers', 'bare.mjs'), `127.0.0.1:${port}`] : [join(here, 'servers', 'hopguard.mjs'), configPath];
const [command, commandArgs] = pinned(cpu.server, process.execPath, ['--cpu-prof', `--cpu-prof-dir=${outDir}`, ...serverArgs]);
const { child, message } = await spawnReady(command, commandArgs, { label: 'hopguard' });
const [loadCommand, loadArgs] = pinned(cpu.load, process.execPath, [join(here, 'load', 'node-client.mjs'), '--target', message.address, '--bodies', bodies, '--duration', String(duration), '--warmup', '1']);
let loadResult = null;
await new Promise((resolve) => {
  const load = spawn(loadCommand, loadArgs, { stdio: ['ignore', 'pipe', 'inherit'] });
  let out = '';
  load.stdout.on('data', (chunk) => (out += chunk));
  load.on('exit', () => {
    loadResult = JSON.parse(out.trim().split('\n').at(-1));
    resolve();
  });
});
// SIGTERM makes hopguard close and exit normally, which is when node writes the profile.
await stopChild(child);

const file = readdirSync(outDir).find((name) => name.endsWith('.cpuprofile') && !before.has(name));
const profile = JSON.parse(readFileSync(join(outDir, file), 'utf8'));
const selfMicros = new Map();
const byId = new Map(profile.nodes.map((node) => [node.id, node]));
const deltas = profile.timeDeltas;
for (let i = 0; i < profile.samples.length; i++) {
  const node = byId.get(profile.samples[i]);
  const { functionName, url, lineNumber } = node.callFrame;
  const where = `${functionName || '(anonymous)'} ${url.replace(/^.*\/(node_modules|dist)\//, '$1/').replace(/^file:\/\//, '')}:${lineNumber + 1}`;
  selfMicros.set(where, (selfMicros.get(where) ?? 0) + (deltas[i] ?? 0));
}
const total = [...selfMicros.values()].reduce((a, b) => a + b, 0);
const idle = [...selfMicros].filter(([name]) => name.startsWith('(idle)')).reduce((a, [, v]) => a + v, 0);
const busy = total - idle;
const share = (filter) => [...selfMicros].filter(([name]) => filter(name)).reduce((a, [, v]) => a + v, 0) / busy;
console.log(`profile: ${join(outDir, file)}; busy ${(busy / 1e6).toFixed(2)} s of ${(total / 1e6).toFixed(2)} s sampled`);
console.log(`${loadResult.requests} checks measured at ${Math.round(loadResult.rps)}/s (plus the warm-up second)`);
console.log(`self time in hopguard (dist/): ${(share((n) => n.includes('dist/')) * 100).toFixed(1)}%, grpc-js: ${(share((n) => n.includes('@grpc')) * 100).toFixed(1)}%, protobufjs: ${(share((n) => n.includes('protobufjs')) * 100).toFixed(1)}%, GC: ${(share((n) => n.startsWith('(garbage')) * 100).toFixed(1)}%`);
for (const [name, micros] of [...selfMicros].filter(([name]) => !name.startsWith('(idle)')).sort((a, b) => b[1] - a[1]).slice(0, Number(args.top ?? 30))) {
  console.log(`${((micros / busy) * 100).toFixed(2).padStart(6)}%  ${name}`);
}

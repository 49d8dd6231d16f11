/**
 * `npm run chaos`: reliability under faults. Each scenario runs a steady mixed load against a real
 * hopguard process (`node dist/src/cli.js serve --config FILE`, built by `npm run chaos` first),
 * with a real JWKS server and a real redis-server on free loopback ports, injects one fault and
 * checks its invariants (zero false allows, every check answered outside a declared window,
 * recovery within a stated time, the same pid unless killed on purpose).
 *
 *   npm run chaos                          # every scenario (about 3-4 minutes)
 *   npm run chaos -- --only redis-kill     # one scenario (or a comma-separated list)
 *   npm run chaos -- --rate 300            # load in jobs per second (default 200; ~1.2 checks per job)
 *   npm run chaos -- --tokens 30000        # distinct tokens in memory-30k
 *   npm run chaos -- --list
 *
 * Prints a table and writes it as JSON to test/chaos/results/chaos-<time>.json (not committed).
 * CHAOS_KEEP_LOGS=1 keeps every hopguard log (else only those of failed scenarios, path printed).
 * Exits 1 when any invariant fails, 2 on a usage error.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { cpus, loadavg } from 'node:os';
import { join } from 'node:path';
import { killAll, ROOT } from './lib.mjs';
import { Env, SCENARIOS } from './scenarios.mjs';

const SCENARIO_TIMEOUT_MS = 120_000;

function parseArgs(argv) {
  const args = {};
  for (let i = 0; i < argv.length; i += 1) {
    const arg = argv[i];
    if (!arg.startsWith('--')) continue;
    const [name, inline] = arg.slice(2).split('=', 2);
    if (inline !== undefined) args[name] = inline;
    else if (argv[i + 1] !== undefined && !argv[i + 1].startsWith('--')) args[name] = argv[(i += 1)];
    else args[name] = true;
  }
  return args;
}

// Every child dies with the runner, however it ends.
process.on('exit', killAll);
for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP']) {
  process.on(signal, () => {
    console.error(`\nchaos: ${signal}, killing every child process`);
    killAll();
    process.exit(130);
  });
}
process.on('uncaughtException', (error) => {
  console.error('chaos: uncaught exception:', error);
  killAll();
  process.exit(1);
});

const args = parseArgs(process.argv.slice(2));
if (args.list) {
  for (const s of SCENARIOS) console.log(`${s.name.padEnd(14)} ${s.describe}`);
  process.exit(0);
}
const only = args.only ? String(args.only).split(',') : null;
const unknown = only?.filter((name) => !SCENARIOS.some((s) => s.name === name)) ?? [];
if (unknown.length > 0) {
  console.error(`chaos: unknown scenario(s) ${unknown.join(', ')}; known: ${SCENARIOS.map((s) => s.name).join(', ')}`);
  process.exit(2);
}
const options = { rate: Number(args.rate ?? 200), tokens: Number(args.tokens ?? 30_000) };
const selected = SCENARIOS.filter((s) => only === null || only.includes(s.name));

const fmtMs = (ms) => (ms === null || ms === undefined ? '-' : ms >= 1000 ? `${(ms / 1000).toFixed(1)} s` : `${Math.round(ms)} ms`);
const rows = [];
const started = Date.now();
for (const scenario of selected) {
  const env = new Env(scenario.name);
  const began = Date.now();
  const loadBefore = loadavg()[0];
  console.error(`chaos: ${scenario.name}: ${scenario.describe}`);
  let result = {};
  try {
    let timer;
    const timeout = new Promise((_, reject) => {
      timer = setTimeout(() => reject(new Error(`scenario did not finish within ${SCENARIO_TIMEOUT_MS / 1000} s`)), SCENARIO_TIMEOUT_MS);
    });
    result = await Promise.race([scenario.run(env, options), timeout]).finally(() => clearTimeout(timer));
  } catch (error) {
    env.fail(`scenario error: ${error?.stack ?? error}`);
  }
  await env.close();
  const row = {
    scenario: scenario.name,
    checks: result.checks ?? 0,
    falseAllows: result.falseAllows ?? 0,
    unanswered: result.unanswered ?? 0,
    unansweredOutside: result.unansweredOutside ?? 0,
    recoveryMs: result.recoveryMs ?? null,
    recoveryLimitMs: result.recoveryLimitMs ?? null,
    recoveryLabel: result.recoveryLabel ?? 'recovery',
    rssMiB: result.rssMiB === undefined ? null : Math.round(result.rssMiB),
    pass: env.failures.length === 0,
    failures: env.failures,
    figures: env.figures,
    seconds: Math.round((Date.now() - began) / 100) / 10,
    // The machine's 1-minute load average around the scenario: on a shared machine, figures
    // taken at a load far above the core count are the machine's, not hopguard's.
    load: [loadBefore, loadavg()[0]].map((l) => Math.round(l * 10) / 10),
  };
  rows.push(row);
  console.error(`chaos: ${scenario.name}: ${row.pass ? 'PASS' : 'FAIL'} in ${row.seconds} s`);
  for (const failure of row.failures) console.error(`  - ${failure}`);
  if (row.figures.log) console.error(`  hopguard log: ${row.figures.log}`);
}
const totalSeconds = Math.round((Date.now() - started) / 1000);

const header = ['scenario', 'checks', 'false allows', 'unanswered (outside window)', 'recovery / limit', 'peak RSS', 'time', 'load', 'result'];
const lines = rows.map((r) => [
  r.scenario,
  String(r.checks),
  String(r.falseAllows),
  `${r.unanswered} (${r.unansweredOutside})`,
  r.recoveryMs === null && r.recoveryLimitMs === null ? '-' : `${r.recoveryLabel === 'exit' ? 'exit ' : ''}${fmtMs(r.recoveryMs)}${r.recoveryLimitMs ? ` / ${fmtMs(r.recoveryLimitMs)}` : ''}`,
  r.rssMiB === null ? '-' : `${r.rssMiB} MiB`,
  `${r.seconds} s`,
  r.load.join('→'),
  r.pass ? 'pass' : 'FAIL',
]);
const widths = header.map((h, i) => Math.max(h.length, ...lines.map((l) => l[i].length)));
const table = [
  `| ${header.map((h, i) => h.padEnd(widths[i])).join(' | ')} |`,
  `|${widths.map((w) => '-'.repeat(w + 2)).join('|')}|`,
  ...lines.map((l) => `| ${l.map((c, i) => c.padEnd(widths[i])).join(' | ')} |`),
].join('\n');
console.log(table);
console.log(`${rows.filter((r) => r.pass).length}/${rows.length} scenarios passed in ${totalSeconds} s (node ${process.version}, rate ${options.rate} jobs/s, ${cpus().length} cores; load = 1-min load average before→after)`);

const resultsDir = join(ROOT, 'test', 'chaos', 'results');
mkdirSync(resultsDir, { recursive: true });
const stamp = new Date().toISOString().replace(/[:.]/g, '-');
const file = join(resultsDir, `chaos-${stamp}.json`);
writeFileSync(file, `${JSON.stringify({ when: new Date().toISOString(), node: process.version, options, totalSeconds, rows, table }, null, 2)}\n`);
console.log(`results: ${file}`);
killAll();
process.exit(rows.every((r) => r.pass) ? 0 : 1);

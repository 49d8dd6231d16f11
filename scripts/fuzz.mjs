#!/usr/bin/env node
/**
 * The long fuzz run (`npm run fuzz`): the property tests of test/fuzz with far more inputs than the
 * default `npm test`, then a table of what each property did. Outside the default test command.
 *
 *   node scripts/fuzz.mjs [--runs N] [--seed S]
 *
 * Environment for the tests: HOPGUARD_FUZZ_RUNS (inputs per property), HOPGUARD_FUZZ_SEED,
 * HOPGUARD_FUZZ_REPORT (where each property appends its figures).
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

function option(name, fallback) {
  const index = process.argv.indexOf(name);
  return index >= 0 && process.argv[index + 1] !== undefined ? process.argv[index + 1] : fallback;
}

const runs = Number(option('--runs', process.env.HOPGUARD_FUZZ_RUNS ?? '20000'));
const seed = option('--seed', process.env.HOPGUARD_FUZZ_SEED ?? String(Date.now() % 2 ** 31));
if (!Number.isSafeInteger(runs) || runs < 1) {
  console.error('--runs must be a positive integer');
  process.exit(2);
}

const root = fileURLToPath(new URL('..', import.meta.url));
const dir = mkdtempSync(join(tmpdir(), 'hopguard-fuzz-'));
const report = join(dir, 'figures.jsonl');
const started = Date.now();
const vitest = join(root, 'node_modules', 'vitest', 'vitest.mjs');
const result = spawnSync(process.execPath, [vitest, 'run', 'test/fuzz', '--testTimeout=0', '--hookTimeout=0'], {
  cwd: root,
  stdio: 'inherit',
  env: { ...process.env, HOPGUARD_FUZZ_RUNS: String(runs), HOPGUARD_FUZZ_SEED: seed, HOPGUARD_FUZZ_REPORT: report },
});

let lines = [];
try {
  lines = readFileSync(report, 'utf8').trim().split('\n').filter(Boolean).map((line) => JSON.parse(line));
} catch {
  // no figures: the run failed before any property finished
}
rmSync(dir, { recursive: true, force: true });

console.log(`\nhopguard fuzz run: ${runs} inputs per property, seed ${seed}, ${((Date.now() - started) / 1000).toFixed(1)} s in all`);
console.log('property                                  runs      total ms  slowest input ms  heap MiB');
for (const figure of lines) {
  console.log(
    `${figure.name.padEnd(40)}  ${String(figure.runs).padStart(8)}  ${String(figure.totalMs).padStart(10)}  ${String(figure.slowestInputMs).padStart(16)}  ${String(figure.heapUsedMiB).padStart(8)}`,
  );
}
process.exit(result.status ?? 1);

/**
 * How hard the property tests push. The default test run keeps them fast; `npm run fuzz`
 * (scripts/fuzz.mjs) sets HOPGUARD_FUZZ_RUNS far higher and collects the figures each property
 * records into HOPGUARD_FUZZ_REPORT (one JSON line per property).
 */
import { appendFileSync } from 'node:fs';
import { performance } from 'node:perf_hooks';
import fc from 'fast-check';

export const FUZZ_RUNS = Number(process.env.HOPGUARD_FUZZ_RUNS ?? 300);
const REPORT = process.env.HOPGUARD_FUZZ_REPORT;
const SEED = process.env.HOPGUARD_FUZZ_SEED === undefined ? undefined : Number(process.env.HOPGUARD_FUZZ_SEED);

export interface PropertyFigures {
  readonly name: string;
  readonly runs: number;
  readonly totalMs: number;
  readonly slowestInputMs: number;
  readonly heapUsedMiB: number;
}

/** Wraps a predicate to time every input; the slowest one is reported (not asserted: machines are noisy). */
export function timed<Args extends unknown[], R>(predicate: (...args: Args) => R): { readonly predicate: (...args: Args) => R; slowestMs(): number } {
  let slowest = 0;
  return {
    predicate: (...args: Args) => {
      const started = performance.now();
      const result = predicate(...args);
      if (result instanceof Promise) {
        return result.finally(() => {
          slowest = Math.max(slowest, performance.now() - started);
        }) as R;
      }
      slowest = Math.max(slowest, performance.now() - started);
      return result;
    },
    slowestMs: () => slowest,
  };
}

function record(figures: PropertyFigures): void {
  if (REPORT !== undefined) appendFileSync(REPORT, `${JSON.stringify(figures)}\n`);
}

function figures(name: string, started: number, slowestMs: number): PropertyFigures {
  return {
    name,
    runs: FUZZ_RUNS,
    totalMs: Math.round(performance.now() - started),
    slowestInputMs: Number(slowestMs.toFixed(2)),
    heapUsedMiB: Math.round(process.memoryUsage().heapUsed / 1024 / 1024),
  };
}

/** fc.assert over a synchronous property, with the run count and figures of this file. */
export function checkProperty<Ts extends [unknown, ...unknown[]]>(
  name: string,
  arbitraries: { [K in keyof Ts]: fc.Arbitrary<Ts[K]> },
  predicate: (...args: Ts) => boolean | void,
): void {
  const clock = timed(predicate);
  const started = performance.now();
  fc.assert(fc.property(...arbitraries, clock.predicate), { numRuns: FUZZ_RUNS, ...(SEED === undefined ? {} : { seed: SEED }) });
  record(figures(name, started, clock.slowestMs()));
}

export async function checkAsyncProperty<Ts extends [unknown, ...unknown[]]>(
  name: string,
  arbitraries: { [K in keyof Ts]: fc.Arbitrary<Ts[K]> },
  predicate: (...args: Ts) => Promise<boolean | void>,
): Promise<void> {
  const clock = timed(predicate);
  const started = performance.now();
  await fc.assert(fc.asyncProperty(...arbitraries, clock.predicate), { numRuns: FUZZ_RUNS, ...(SEED === undefined ? {} : { seed: SEED }) });
  record(figures(name, started, clock.slowestMs()));
}

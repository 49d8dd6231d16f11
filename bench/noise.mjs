/**
 * The machine's own noise floor on one core: a loop that only reads the clock, for `--duration`
 * seconds, recording every gap over 50 µs (time the thread did not run: the hypervisor, other
 * tenants, interrupts). A server on this core cannot have a latency tail shorter than these
 * stalls, so the harness reports them next to the p99 figures. Prints one JSON line.
 *
 *   taskset -c 0 node bench/noise.mjs [--duration 5]
 */
import { parseArgs } from './lib/common.mjs';

const args = parseArgs(process.argv.slice(2));
const durationMs = Number(args.duration ?? 5) * 1000;
const gaps = [];
const start = performance.now();
let last = start;
for (;;) {
  const now = performance.now();
  if (now - last > 0.05) gaps.push(now - last);
  last = now;
  if (now - start >= durationMs) break;
}
const elapsedMs = last - start;
const stalledMs = gaps.reduce((sum, gap) => sum + gap, 0);
const over = (ms) => gaps.filter((gap) => gap > ms).length;
gaps.sort((a, b) => b - a);
console.log(
  JSON.stringify({
    seconds: elapsedMs / 1000,
    stalledShare: stalledMs / elapsedMs,
    stallsOver1ms: over(1),
    stallsOver2ms: over(2),
    timeInStallsOver1msShare: gaps.filter((gap) => gap > 1).reduce((sum, gap) => sum + gap, 0) / elapsedMs,
    worstMs: gaps.slice(0, 5).map((gap) => Math.round(gap * 100) / 100),
  }),
);

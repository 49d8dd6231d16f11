/**
 * Loggers for servers started inside a test process. Their JSON lines go to a buffer instead of
 * the terminal, so `npm test` prints test results, not server logs; when a test fails, the lines
 * logged while it ran are printed under it (test/helpers/log-replay.setup.ts).
 */
import { Writable } from 'node:stream';
import type { Logger } from 'pino';
import { createLogger } from '../../src/telemetry/index.js';

class LogBuffer extends Writable {
  readonly lines: string[] = [];
  /** Where the running test's lines start. */
  mark = 0;
  override _write(chunk: Buffer, _encoding: string, done: () => void): void {
    for (const line of chunk.toString('utf8').split('\n')) if (line.trim() !== '') this.lines.push(line);
    // A long-lived server in a long file: keep the recent past, not everything.
    if (this.lines.length > 20_000) {
      const dropped = this.lines.splice(0, 10_000).length;
      this.mark = Math.max(0, this.mark - dropped);
    }
    done();
  }
}

const buffers = new Set<LogBuffer>();

/** A logger at `level` whose lines are kept for the failure report instead of printed. */
export function testLogger(level = 'info'): Logger {
  const buffer = new LogBuffer();
  buffers.add(buffer);
  return createLogger(level, buffer);
}

/** Called before each test: from here on, lines belong to it. */
export function markTestStart(): void {
  for (const buffer of buffers) buffer.mark = buffer.lines.length;
}

/** The lines every test logger received since the running test started. */
export function linesOfRunningTest(): string[] {
  return [...buffers].flatMap((buffer) => buffer.lines.slice(buffer.mark));
}

/**
 * `npm test` prints test results, not server logs: a server started inside a test process logs to
 * a buffer (test/helpers/test-logs.ts) whose lines are printed only under a failing test.
 */
import { readFileSync, readdirSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { linesOfRunningTest, markTestStart, testLogger } from '../helpers/test-logs.js';

const TEST_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');

function sourcesUnder(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const file = path.join(dir, entry.name);
    return entry.isDirectory() ? sourcesUnder(file) : entry.name.endsWith('.ts') ? [file] : [];
  });
}

/** The argument text of every call to `name(` in `text`, up to its closing parenthesis. */
function callsOf(text: string, name: string): string[] {
  const calls: string[] = [];
  for (let at = text.indexOf(`${name}(`); at !== -1; at = text.indexOf(`${name}(`, at + 1)) {
    let depth = 0;
    let end = at + name.length;
    for (; end < text.length; end += 1) {
      if (text[end] === '(') depth += 1;
      else if (text[end] === ')' && --depth === 0) break;
    }
    calls.push(text.slice(at, end + 1));
  }
  return calls;
}

describe('server logs in tests', () => {
  it('every server a test starts in-process is given a logger (none writes JSON lines to the terminal)', () => {
    const unquiet = sourcesUnder(TEST_ROOT).flatMap((file) => {
      const text = readFileSync(file, 'utf8');
      const started = callsOf(text, 'startHopguard').filter((call) => !call.includes('logger'));
      const loggers = callsOf(text, 'createLogger').filter((call) => !/createLogger\([^,]+,\s*\S/.test(call) && !call.includes("'silent'"));
      return [...started, ...loggers].map((call) => `${path.relative(TEST_ROOT, file)}: ${call.split('\n')[0]}`);
    });
    expect(unquiet).toEqual([]);
  });

  it('keeps the lines logged while the running test ran, for its failure report', () => {
    const log = testLogger('info');
    log.info('before the test');
    markTestStart();
    log.info({ reason: 'expired' }, 'decision');
    log.debug('below the level');
    const lines = linesOfRunningTest().map((line) => JSON.parse(line) as Record<string, unknown>);
    expect(lines).toEqual([expect.objectContaining({ msg: 'decision', reason: 'expired' })]);
  });
});

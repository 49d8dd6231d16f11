/** Vitest setup: a failing test gets the server log lines it produced printed under it. */
import { beforeEach } from 'vitest';
import { linesOfRunningTest, markTestStart } from './test-logs.js';

beforeEach(({ onTestFailed, task }) => {
  markTestStart();
  onTestFailed(() => {
    const lines = linesOfRunningTest();
    if (lines.length === 0) return;
    process.stderr.write(`\n--- hopguard log lines while "${task.name}" ran (${lines.length}) ---\n${lines.join('\n')}\n--- end of log lines ---\n`);
  });
});

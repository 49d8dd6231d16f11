/**
 * Timers go through this port so tests drive background refreshes with a manual clock.
 * The real scheduler unref()s every timer: a key set never keeps a process alive.
 */
export interface TimerHandle {
  cancel(): void;
}

export interface Scheduler {
  /** Runs `task` once after `delayMs`; the returned handle cancels it. */
  after(delayMs: number, task: () => void): TimerHandle;
}

/**
 * setTimeout turns a delay over 2^31-1 ms (about 24.8 days) into 1 ms; a long key TTL would then
 * refresh in a tight loop. Capping only brings such a refresh forward, which is harmless.
 */
export const MAX_TIMER_DELAY_MS = 2 ** 31 - 1;

export const realScheduler: Scheduler = {
  after(delayMs, task) {
    const timer = setTimeout(task, Math.min(MAX_TIMER_DELAY_MS, Math.max(0, delayMs)));
    timer.unref();
    return { cancel: () => clearTimeout(timer) };
  },
};

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

export const realScheduler: Scheduler = {
  after(delayMs, task) {
    const timer = setTimeout(task, Math.max(0, delayMs));
    timer.unref();
    return { cancel: () => clearTimeout(timer) };
  },
};

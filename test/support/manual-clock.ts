/**
 * A virtual Clock for unit tests and the model explorer. Time moves only when every task is waiting
 * on the clock; it then jumps straight to the next wake-up, so a 60 s drain takes no real time.
 *
 * Guarantees: time never goes backwards; sleepers wake in order of wake time, then of sleep() call;
 * every sleep (even sleep(0)) yields until all pending promise work has settled (the clock moves on
 * from a setImmediate, after the microtask queue is empty); an aborted sleep rejects with the signal's
 * reason and is forgotten. dispose() stops it for good (pending sleepers never wake), so a leaked
 * loop cannot spin after its test.
 * Does not guarantee: anything about code that waits on real I/O or real timers (it looks idle).
 */
import type { Clock } from '../../src/core/ports.js';

interface Sleeper {
  wakeAt: number;
  wake: () => void;
}

export class ManualClock implements Clock {
  private time: number;
  private sleepers: Sleeper[] = [];
  private tickScheduled = false;
  private disposed = false;

  constructor(startMs = Date.UTC(2025, 0, 1)) {
    this.time = startMs;
  }

  now(): number {
    return this.time;
  }

  sleep(ms: number, signal?: AbortSignal): Promise<void> {
    if (!Number.isFinite(ms)) return Promise.reject(new RangeError(`sleep(${ms}): a wait must be finite`));
    if (signal?.aborted) return Promise.reject(signal.reason);
    return new Promise<void>((resolve, reject) => {
      const onAbort = () => {
        this.sleepers = this.sleepers.filter((s) => s !== sleeper);
        reject(signal!.reason);
      };
      const sleeper: Sleeper = {
        wakeAt: this.time + Math.max(0, ms),
        wake: () => {
          signal?.removeEventListener('abort', onAbort);
          resolve();
        },
      };
      signal?.addEventListener('abort', onAbort, { once: true });
      this.sleepers.push(sleeper);
      this.scheduleTick();
    });
  }

  /** How many sleeps are waiting (0 after a run means no background loop was left behind). */
  get pendingSleeps(): number {
    return this.sleepers.length;
  }

  dispose(): void {
    this.disposed = true;
    this.sleepers = [];
  }

  private scheduleTick(): void {
    if (this.tickScheduled || this.disposed) return;
    this.tickScheduled = true;
    setImmediate(() => {
      this.tickScheduled = false;
      const next = this.earliest();
      if (next === undefined || this.disposed) return;
      this.wakeDueAt(next);
      if (this.sleepers.length > 0) this.scheduleTick();
    });
  }

  private earliest(): number | undefined {
    return this.sleepers.length === 0 ? undefined : Math.min(...this.sleepers.map((s) => s.wakeAt));
  }

  private wakeDueAt(wakeAt: number): void {
    this.time = Math.max(this.time, wakeAt);
    const due = this.sleepers.filter((s) => s.wakeAt <= wakeAt);
    this.sleepers = this.sleepers.filter((s) => s.wakeAt > wakeAt);
    for (const sleeper of due) sleeper.wake();
  }
}

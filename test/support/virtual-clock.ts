/**
 * Virtual time for tests: now() and sleep() over a list of sleepers, with no real timers. Subclasses
 * decide WHEN time moves (test/support/manual-clock.ts: whenever everything is idle;
 * test/model/clock.ts: only when the model's schedule says so).
 *
 * Guarantees: time never goes backwards; sleepers wake in order of wake time, then of sleep() call;
 * an aborted sleep rejects with the signal's reason and is forgotten.
 */
import type { Clock } from '../../src/shared/clock.js';

interface Sleeper {
  wakeAt: number;
  seq: number;
  wake: () => void;
}

export abstract class VirtualClock implements Clock {
  protected time: number;
  protected sleepers: Sleeper[] = [];
  private calls = 0;

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
        seq: this.calls++,
        wake: () => {
          signal?.removeEventListener('abort', onAbort);
          resolve();
        },
      };
      signal?.addEventListener('abort', onAbort, { once: true });
      this.sleepers.push(sleeper);
      this.slept();
    });
  }

  /** How many sleeps are waiting (0 after a run means no background loop was left behind). */
  get pendingSleeps(): number {
    return this.sleepers.length;
  }

  /** Called after every new sleep; a subclass may schedule time to move. */
  protected slept(): void {}

  /** The sleeper that wakes first (earliest wake time, then earliest call), if any. */
  protected earliest(): Sleeper | undefined {
    return this.sleepers.reduce<Sleeper | undefined>(
      (best, s) => (!best || s.wakeAt < best.wakeAt || (s.wakeAt === best.wakeAt && s.seq < best.seq) ? s : best),
      undefined,
    );
  }

  /** Moves time to `wakeAt` (never backwards) and wakes every sleeper due by then, in order. */
  protected wakeDueAt(wakeAt: number): void {
    this.time = Math.max(this.time, wakeAt);
    const due = this.sleepers.filter((s) => s.wakeAt <= wakeAt).sort((a, b) => a.wakeAt - b.wakeAt || a.seq - b.seq);
    this.sleepers = this.sleepers.filter((s) => s.wakeAt > wakeAt);
    for (const sleeper of due) sleeper.wake();
  }

  /** Wakes exactly one sleeper, moving time to its wake time. */
  protected wakeOne(sleeper: Sleeper): void {
    this.time = Math.max(this.time, sleeper.wakeAt);
    this.sleepers = this.sleepers.filter((s) => s !== sleeper);
    sleeper.wake();
  }
}

/**
 * The model explorer's clock: virtual time that moves ONLY when the scheduler says so (unlike
 * test/support/manual-clock.ts, which jumps ahead whenever everything is idle). That is what lets a
 * schedule hold a message in flight while the CLI's renewal loop or a drain waits on the clock.
 *
 * Guarantees: time never goes backwards; sleepers wake in order of wake time, then of sleep() call,
 * and all promise work they start settles before the next one wakes; an aborted sleep rejects with
 * the signal's reason and is forgotten.
 */
import type { Clock } from '../../src/core/ports.js';

interface Sleeper {
  wakeAt: number;
  seq: number;
  wake: () => void;
}

/** Resolves once every queued microtask (all in-memory promise chains) has run. */
export function settle(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}

export class ModelClock implements Clock {
  private time = Date.UTC(2025, 0, 1);
  private sleepers: Sleeper[] = [];
  private calls = 0;

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
    });
  }

  /**
   * Moves time to `until`, waking every sleeper due on the way in order. `beforeWake(time)` runs at
   * each stop before the sleepers due then are woken (the world expires timed-out messages there).
   */
  async advanceTo(until: number, beforeWake: (time: number) => void): Promise<void> {
    for (;;) {
      await settle();
      const next = this.sleepers.reduce<Sleeper | undefined>((best, s) => (!best || s.wakeAt < best.wakeAt || (s.wakeAt === best.wakeAt && s.seq < best.seq) ? s : best), undefined);
      if (!next || next.wakeAt > until) break;
      this.time = Math.max(this.time, next.wakeAt);
      beforeWake(this.time);
      this.sleepers = this.sleepers.filter((s) => s !== next);
      next.wake();
    }
    this.time = Math.max(this.time, until);
    beforeWake(this.time);
    await settle();
  }
}

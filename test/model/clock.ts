/**
 * The model explorer's clock: virtual time that moves ONLY when the scheduler says so (unlike
 * test/support/manual-clock.ts, which jumps ahead whenever everything is idle). That is what lets a
 * schedule hold a message in flight while the CLI's renewal loop or a drain waits on the clock.
 *
 * Guarantees: time never goes backwards; sleepers wake in order of wake time, then of sleep() call,
 * and all promise work they start settles before the next one wakes; an aborted sleep rejects with
 * the signal's reason and is forgotten.
 */
import { VirtualClock } from '../support/virtual-clock.js';

/** Resolves once every queued microtask (all in-memory promise chains) has run. */
export function settle(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}

export class ModelClock extends VirtualClock {
  /**
   * Moves time to `until`, waking every sleeper due on the way in order. `beforeWake(time)` runs at
   * each stop before the sleepers due then are woken (the world expires timed-out messages there).
   */
  async advanceTo(until: number, beforeWake: (time: number) => void): Promise<void> {
    for (;;) {
      await settle();
      const next = this.earliest();
      if (!next || next.wakeAt > until) break;
      this.time = Math.max(this.time, next.wakeAt);
      beforeWake(this.time);
      this.wakeOne(next);
    }
    this.time = Math.max(this.time, until);
    beforeWake(this.time);
    await settle();
  }

  /** When the next sleeper is due, if any (the model's "run" steps jump straight there). */
  nextWakeAt(): number | undefined {
    return this.earliest()?.wakeAt;
  }
}

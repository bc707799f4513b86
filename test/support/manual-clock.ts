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
import { VirtualClock } from './virtual-clock.js';

export class ManualClock extends VirtualClock {
  private tickScheduled = false;
  private disposed = false;

  dispose(): void {
    this.disposed = true;
    this.sleepers = [];
  }

  protected override slept(): void {
    this.scheduleTick();
  }

  private scheduleTick(): void {
    if (this.tickScheduled || this.disposed) return;
    this.tickScheduled = true;
    setImmediate(() => {
      this.tickScheduled = false;
      const next = this.earliest();
      if (next === undefined || this.disposed) return;
      this.wakeDueAt(next.wakeAt);
      if (this.sleepers.length > 0) this.scheduleTick();
    });
  }
}

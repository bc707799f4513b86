/**
 * The reference consumer's lifecycle state machine and simulated message processing, without HTTP
 * (docs/consumer-contract.md). Time comes from injected timers, so tests drive it without sleeping.
 *
 * Guarantees:
 * - it starts PAUSED; only an ACTIVE engine fetches a new batch;
 * - pause: ACTIVE -> DRAINING while a batch is in flight (that batch finishes, is committed, then
 *   PAUSED), ACTIVE -> PAUSED at once when nothing is in flight; pause and resume are idempotent;
 * - resume from DRAINING cancels the drain: the in-flight batch is committed and polling goes on;
 * - every state change is written through `writeLog` synchronously, before the new state is
 *   visible, with the clock's time (so a failing log write fails the change instead of hiding it).
 *
 * The "topic" is a deterministic stream: message N arrives N * messageIntervalMs after start().
 * Each reference consumer has its own simulated stream and no Kafka offsets: on resume it starts at
 * the head instead of replaying what arrived while it was paused (a real consumer of topology (a)
 * would resume from the other colour's committed offsets; docs/consumer-contract.md).
 * Failed messages (error-rate fault) are counted and committed with their batch (skipped, as a
 * consumer with a dead-letter policy would), so the stream keeps moving. The fault fails exactly
 * errorRatePercent of the messages, spread evenly (50% = every second message).
 * pollTimeoutExceed stalls the poll loop before the next message: no message is processed and an
 * in-flight batch cannot finish (so a pause stays DRAINING) until the fault is cleared.
 * Not a Kafka client (no partitions, no rebalancing): the consumer runs it when KAFKA_BOOTSTRAP_SERVERS
 * is unset, which keeps unit tests fast; kafka-engine.ts is the Kafka consumer.
 */
import type { LifecycleChange } from '../src/shared/pod-api.js';
import { LifecycleEngine, positiveInteger, type LifecycleEngineOptions } from './lifecycle-engine.js';

export { MAX_FAULT_DELAY_MS, STATE_CODES, ShuttingDownError, realTimers, type EngineTimers } from './lifecycle-engine.js';

/** Batches fetched in one turn of the event loop before yielding to HTTP requests (a fast catch-up). */
const MAX_BATCHES_PER_TURN = 100;

export interface EngineOptions extends LifecycleEngineOptions {
  /** Default 20. */
  messageIntervalMs?: number;
  /** Default 10. */
  batchSize?: number;
}

/** The batch being processed: sequence numbers `next`..`last` are still to be processed, then it is committed. */
interface Batch {
  next: number;
  last: number;
  /** The delay in front of the current step (a message or the commit) has elapsed. */
  delayServed: boolean;
}

export class ConsumerEngine extends LifecycleEngine {
  readonly messageIntervalMs: number;
  readonly batchSize: number;

  /** Highest sequence number handed to a batch (or skipped on resume). */
  private fetchedUpTo = 0;
  private batch: Batch | undefined;
  private stalled = false;
  private cancelTimer: (() => void) | undefined;

  constructor(options: EngineOptions) {
    super(options);
    this.messageIntervalMs = positiveInteger('messageIntervalMs', options.messageIntervalMs ?? 20);
    this.batchSize = positiveInteger('batchSize', options.batchSize ?? 10);
  }

  pause(): LifecycleChange {
    const previous = this.state;
    if (previous === 'ACTIVE') {
      if (this.batch) {
        this.transition('DRAINING');
      } else {
        this.cancelPendingTimer();
        this.transition('PAUSED');
      }
    }
    return this.change(previous);
  }

  resume(): LifecycleChange {
    this.assertMayResume();
    const previous = this.state;
    if (previous === 'PAUSED') {
      this.fetchedUpTo = Math.max(this.fetchedUpTo, this.arrivedCount());
      this.transition('ACTIVE');
      this.run();
    } else if (previous === 'DRAINING') {
      // The in-flight batch keeps going; when it is committed the loop polls again instead of stopping.
      this.transition('ACTIVE');
    }
    return this.change(previous);
  }

  protected faultChanged(): void {
    if (this.stalled && !this.currentFault.pollTimeoutExceed) {
      this.stalled = false;
      this.run();
    }
  }

  protected halt(): void {
    this.cancelPendingTimer();
    this.stalled = false;
  }

  private arrivedCount(): number {
    return this.startedAt === undefined ? 0 : Math.floor((this.timers.now() - this.startedAt) / this.messageIntervalMs);
  }

  /** At most one timer is pending at a time: the idle poll, a message's delay or the commit's delay. */
  private wait(delayMs: number, then: () => void): void {
    this.cancelTimer = this.timers.schedule(() => {
      this.cancelTimer = undefined;
      then();
    }, delayMs);
  }

  private cancelPendingTimer(): void {
    this.cancelTimer?.();
    this.cancelTimer = undefined;
  }

  /** The poll loop: runs until it must wait for time (a delay, the next message) or a cleared fault, or is PAUSED. */
  private run(): void {
    if (this.stopped) return;
    let batchesThisTurn = 0;
    for (;;) {
      let batch = this.batch;
      if (!batch) {
        if (this.state !== 'ACTIVE') return;
        const arrived = this.arrivedCount();
        if (arrived <= this.fetchedUpTo) {
          const nextArrival = (this.startedAt ?? 0) + (this.fetchedUpTo + 1) * this.messageIntervalMs;
          this.wait(Math.max(1, nextArrival - this.timers.now()), () => this.run());
          return;
        }
        batch = { next: this.fetchedUpTo + 1, last: Math.min(arrived, this.fetchedUpTo + this.batchSize), delayServed: false };
        this.batch = batch;
        this.fetchedUpTo = batch.last;
        batchesThisTurn += 1;
        if (batchesThisTurn > MAX_BATCHES_PER_TURN) {
          this.wait(0, () => this.run());
          return;
        }
      }
      if (!this.step(batch)) return;
    }
  }

  /** Processes one message or commits the batch; false when it has to wait first. */
  private step(batch: Batch): boolean {
    const processing = batch.next <= batch.last;
    if (processing && this.currentFault.pollTimeoutExceed) {
      this.stalled = true;
      return false;
    }
    const delayMs = processing ? this.currentFault.processingDelayMs : this.currentFault.commitDelayMs;
    if (delayMs > 0 && !batch.delayServed) {
      batch.delayServed = true;
      this.wait(delayMs, () => this.run());
      return false;
    }
    batch.delayServed = false;
    if (processing) {
      this.processMessage(batch);
    } else {
      this.lastCommitted = batch.last;
      this.batch = undefined;
      if (this.state === 'DRAINING') this.transition('PAUSED');
    }
    return true;
  }

  private processMessage(batch: Batch): void {
    batch.next += 1;
    this.countMessage();
  }
}

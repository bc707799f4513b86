/**
 * The reference consumer's lifecycle state machine and simulated message processing, without HTTP
 * (design section 3). Time comes from injected timers, so tests drive it without sleeping.
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
 * Not a Kafka client; no partitions, no rebalancing.
 */
import type { LifecycleChange, LifecycleStatus } from '../src/shared/pod-api.js';
import { OperationError, UsageError } from '../src/shared/errors.js';
import { NO_FAULT, type Fault, type Lifecycle } from '../src/shared/model.js';
import type { LifecycleRecord } from './transitions.js';

export const STATE_CODES: Readonly<Record<Lifecycle, number>> = { ACTIVE: 0, DRAINING: 1, PAUSED: 2 };

/** A fault delay above this is refused: it could not be told apart from a hung consumer anyway. */
export const MAX_FAULT_DELAY_MS = 600_000;

/** Batches fetched in one turn of the event loop before yielding to HTTP requests (a fast catch-up). */
const MAX_BATCHES_PER_TURN = 100;

export interface EngineTimers {
  /** Epoch milliseconds, with a sub-millisecond fraction where the clock has one. */
  now(): number;
  /** Calls `callback` after `delayMs`; the returned function cancels it. */
  schedule(callback: () => void, delayMs: number): () => void;
}

/** Real time: `performance` gives sub-millisecond, monotonic epoch times. Timers do not keep the process alive. */
export const realTimers: EngineTimers = {
  now: () => performance.timeOrigin + performance.now(),
  schedule(callback, delayMs) {
    const handle = setTimeout(callback, delayMs);
    handle.unref();
    return () => clearTimeout(handle);
  },
};

export interface EngineOptions {
  podName: string;
  color: string;
  /** Default 20. */
  messageIntervalMs?: number;
  /** Default 10. */
  batchSize?: number;
  timers?: EngineTimers;
  /** Receives one JSON line (no newline) per lifecycle event. Default: discarded. */
  writeLog?: (line: string) => void;
}

/** Resume refused because the consumer is shutting down. */
export class ShuttingDownError extends OperationError {}

/** The batch being processed: sequence numbers `next`..`last` are still to be processed, then it is committed. */
interface Batch {
  next: number;
  last: number;
  /** The delay in front of the current step (a message or the commit) has elapsed. */
  delayServed: boolean;
}

export class ConsumerEngine {
  readonly podName: string;
  readonly color: string;
  readonly messageIntervalMs: number;
  readonly batchSize: number;
  private readonly timers: EngineTimers;
  private readonly writeLog: (line: string) => void;

  private state: Lifecycle = 'PAUSED';
  private currentFault: Fault = { ...NO_FAULT };
  private startedAt: number | undefined;
  private shuttingDown = false;
  private stopped = false;
  /** Highest sequence number handed to a batch (or skipped on resume). */
  private fetchedUpTo = 0;
  private lastCommitted = 0;
  private received = 0;
  private failed = 0;
  /** Accumulates errorRatePercent per message; every full 100 fails one message. */
  private errorBudget = 0;
  private batch: Batch | undefined;
  private stalled = false;
  private cancelTimer: (() => void) | undefined;
  private pausedWaiters: Array<() => void> = [];

  constructor(options: EngineOptions) {
    this.podName = options.podName;
    this.color = options.color;
    this.messageIntervalMs = positiveInteger('messageIntervalMs', options.messageIntervalMs ?? 20);
    this.batchSize = positiveInteger('batchSize', options.batchSize ?? 10);
    this.timers = options.timers ?? realTimers;
    this.writeLog = options.writeLog ?? (() => {});
  }

  /** Begins this process lifetime: logs `start` and starts the message stream. Once only. */
  start(): void {
    if (this.startedAt !== undefined) return;
    const at = this.timers.now();
    this.log({ event: 'start', pod: this.podName, color: this.color, state: this.state, at });
    this.startedAt = at;
  }

  status(): LifecycleStatus {
    return {
      state: this.state,
      stateCode: STATE_CODES[this.state],
      lastSequenceNumber: this.lastCommitted,
      totalMessagesReceived: this.received,
    };
  }

  /** Messages the error-rate fault made fail (not part of the HTTP contract). */
  get failedMessages(): number {
    return this.failed;
  }

  fault(): Fault {
    return { ...this.currentFault };
  }

  /** A consumer failing most of its messages is not ready; a paused one fails none, so it is. */
  isReady(): boolean {
    return !(this.state === 'ACTIVE' && this.currentFault.errorRatePercent >= 50);
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
    if (this.shuttingDown) throw new ShuttingDownError(`consumer ${this.podName} is shutting down; resume refused`);
    if (this.startedAt === undefined) throw new OperationError(`consumer ${this.podName} has not been started`);
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

  /** Applies the given fault fields; 0 / false clears one. Throws UsageError for an invalid value. */
  setFault(patch: Partial<Fault>): Fault {
    const next = { ...this.currentFault, ...patch };
    for (const field of ['processingDelayMs', 'commitDelayMs'] as const) {
      checkRange(field, next[field], MAX_FAULT_DELAY_MS);
    }
    checkRange('errorRatePercent', next.errorRatePercent, 100);
    if (typeof next.pollTimeoutExceed !== 'boolean') throw new UsageError('pollTimeoutExceed must be true or false');
    if (next.errorRatePercent !== this.currentFault.errorRatePercent) this.errorBudget = 0;
    this.currentFault = next;
    if (this.stalled && !next.pollTimeoutExceed) {
      this.stalled = false;
      this.run();
    }
    return this.fault();
  }

  /**
   * Refuses every later resume, pauses and waits for PAUSED. Resolves with the state reached:
   * PAUSED, or DRAINING when the in-flight batch did not finish within `drainTimeoutMs`.
   */
  beginShutdown(drainTimeoutMs: number): Promise<Lifecycle> {
    this.shuttingDown = true;
    this.pause();
    if (this.state === 'PAUSED') return Promise.resolve(this.state);
    return new Promise((resolve) => {
      const finish = (): void => {
        cancelTimeout();
        resolve(this.state);
      };
      const cancelTimeout = this.timers.schedule(finish, drainTimeoutMs);
      this.pausedWaiters.push(finish);
    });
  }

  /** Ends this process lifetime at once: cancels the loop and logs `exit` with the current state. Idempotent. */
  stop(): void {
    if (this.stopped) return;
    this.stopped = true;
    this.shuttingDown = true;
    this.cancelPendingTimer();
    this.stalled = false;
    this.log({ event: 'exit', pod: this.podName, color: this.color, state: this.state, at: this.timers.now() });
    this.notifyPaused();
  }

  private change(previous: Lifecycle): LifecycleChange {
    return { previousState: previous, currentState: this.state, lastSequenceNumber: this.lastCommitted };
  }

  private transition(to: Lifecycle): void {
    this.log({ event: 'transition', pod: this.podName, color: this.color, from: this.state, to, at: this.timers.now() });
    this.state = to;
    if (to === 'PAUSED') this.notifyPaused();
  }

  private log(record: LifecycleRecord): void {
    this.writeLog(JSON.stringify(record));
  }

  private notifyPaused(): void {
    const waiters = this.pausedWaiters;
    this.pausedWaiters = [];
    for (const waiter of waiters) waiter();
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
    this.received += 1;
    this.errorBudget += this.currentFault.errorRatePercent;
    if (this.errorBudget >= 100) {
      this.errorBudget -= 100;
      this.failed += 1;
    }
  }
}

function positiveInteger(name: string, value: number): number {
  if (!Number.isSafeInteger(value) || value < 1) throw new UsageError(`${name} must be a positive integer, got ${value}`);
  return value;
}

function checkRange(name: string, value: unknown, max: number): void {
  if (typeof value !== 'number' || !Number.isFinite(value) || value < 0 || value > max) {
    throw new UsageError(`${name} must be a number from 0 to ${max}, got ${JSON.stringify(value)}`);
  }
}

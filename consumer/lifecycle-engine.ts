/**
 * What both reference consumers share (the simulated stream of engine.ts and the Kafka consumer of
 * kafka-engine.ts): the lifecycle state, its transition log, the faults, the counters and shutdown.
 * Subclasses decide how pause and resume move the state and how messages are fetched and committed.
 *
 * Guarantees: every state change is written through `writeLog` synchronously, before the new state
 * is visible, with the clock's time (so a failing log write fails the change instead of hiding it);
 * a fault is validated as a whole before any field changes; a resume after shutdown began is refused.
 */
import type { LifecycleChange, LifecycleStatus } from '../src/core/ports.js';
import { OperationError, UsageError } from '../src/core/errors.js';
import { NO_FAULT, type Fault, type Lifecycle } from '../src/shared/model.js';
import type { LifecycleRecord } from './transitions.js';

export const STATE_CODES: Readonly<Record<Lifecycle, number>> = { ACTIVE: 0, DRAINING: 1, PAUSED: 2 };

/** A fault delay above this is refused: it could not be told apart from a hung consumer anyway. */
export const MAX_FAULT_DELAY_MS = 600_000;

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

export interface LifecycleEngineOptions {
  podName: string;
  color: string;
  timers?: EngineTimers;
  /** Receives one JSON line (no newline) per lifecycle event. Default: discarded. */
  writeLog?: (line: string) => void;
}

/** Resume refused because the consumer is shutting down. */
export class ShuttingDownError extends OperationError {}

export abstract class LifecycleEngine {
  readonly podName: string;
  readonly color: string;
  protected readonly timers: EngineTimers;
  private readonly writeLog: (line: string) => void;

  protected state: Lifecycle = 'PAUSED';
  protected currentFault: Fault = { ...NO_FAULT };
  protected startedAt: number | undefined;
  protected shuttingDown = false;
  protected stopped = false;
  /** The position reported as `lastSequenceNumber`; it only moves when a commit succeeded. */
  protected lastCommitted = 0;
  protected received = 0;
  private failed = 0;
  /** Accumulates errorRatePercent per message; every full 100 fails one message. */
  private errorBudget = 0;
  private pausedWaiters: Array<() => void> = [];

  constructor(options: LifecycleEngineOptions) {
    this.podName = options.podName;
    this.color = options.color;
    this.timers = options.timers ?? realTimers;
    this.writeLog = options.writeLog ?? (() => {});
  }

  abstract pause(): LifecycleChange;
  abstract resume(): LifecycleChange;
  /** Called after the fault changed (valid values only). */
  protected abstract faultChanged(): void;
  /** Called once by stop(), before the exit record: cancel whatever is pending. */
  protected abstract halt(): void;

  /** Begins this process lifetime: logs `start`. Once only. */
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
    this.faultChanged();
    return this.fault();
  }

  /**
   * Refuses every later resume, pauses and waits for PAUSED. Resolves with the state reached:
   * PAUSED, or DRAINING when the drain did not finish within `drainTimeoutMs`.
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

  /** Ends this process lifetime at once: cancels the work and logs `exit` with the current state. Idempotent. */
  stop(): void {
    if (this.stopped) return;
    this.stopped = true;
    this.shuttingDown = true;
    this.halt();
    this.log({ event: 'exit', pod: this.podName, color: this.color, state: this.state, at: this.timers.now() });
    this.notifyPaused();
  }

  /** Releases what the engine holds beyond its timers (connections); after stop(). */
  async close(): Promise<void> {}

  protected assertMayResume(): void {
    if (this.shuttingDown) throw new ShuttingDownError(`consumer ${this.podName} is shutting down; resume refused`);
    if (this.startedAt === undefined) throw new OperationError(`consumer ${this.podName} has not been started`);
  }

  protected change(previous: Lifecycle): LifecycleChange {
    return { previousState: previous, currentState: this.state, lastSequenceNumber: this.lastCommitted };
  }

  protected transition(to: Lifecycle): void {
    this.log({ event: 'transition', pod: this.podName, color: this.color, from: this.state, to, at: this.timers.now() });
    this.state = to;
    if (to === 'PAUSED') this.notifyPaused();
  }

  /** Counts one processed message; true when the error-rate fault makes it fail (exactly that percentage, spread evenly). */
  protected countMessage(): boolean {
    this.received += 1;
    this.errorBudget += this.currentFault.errorRatePercent;
    if (this.errorBudget < 100) return false;
    this.errorBudget -= 100;
    this.failed += 1;
    return true;
  }

  private log(record: LifecycleRecord): void {
    this.writeLog(JSON.stringify(record));
  }

  private notifyPaused(): void {
    const waiters = this.pausedWaiters;
    this.pausedWaiters = [];
    for (const waiter of waiters) waiter();
  }
}

export function positiveInteger(name: string, value: number): number {
  if (!Number.isSafeInteger(value) || value < 1) throw new UsageError(`${name} must be a positive integer, got ${value}`);
  return value;
}

function checkRange(name: string, value: unknown, max: number): void {
  if (typeof value !== 'number' || !Number.isFinite(value) || value < 0 || value > max) {
    throw new UsageError(`${name} must be a number from 0 to ${max}, got ${JSON.stringify(value)}`);
  }
}

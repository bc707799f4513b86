/**
 * Waiting for a condition with a deadline: polls with a small first interval that doubles up to a
 * cap, and on timeout fails with the condition's own last explanation of why it is not yet true.
 * Guarantees the check runs at least once and never runs after the deadline has passed.
 */
import { setTimeout as delay } from 'node:timers/promises';
import { OperationError } from '../../src/core/errors.js';

export type Probe<T> = { done: true; value: T } | { done: false; reason: string };

export interface WaitOptions {
  timeoutMs: number;
  firstIntervalMs?: number;
  maxIntervalMs?: number;
  /** Appended to the timeout error, e.g. where to look next. */
  hint?: string;
}

export async function waitFor<T>(what: string, probe: () => Promise<Probe<T>>, options: WaitOptions): Promise<T> {
  const deadline = Date.now() + options.timeoutMs;
  let interval = options.firstIntervalMs ?? 50;
  const maxInterval = options.maxIntervalMs ?? 1000;
  for (;;) {
    const result = await probe();
    if (result.done) return result.value;
    const remaining = deadline - Date.now();
    if (remaining <= 0) {
      throw new OperationError(`timed out after ${Math.round(options.timeoutMs / 1000)}s waiting for ${what}: ${result.reason}`, options.hint);
    }
    await delay(Math.min(interval, remaining));
    interval = Math.min(interval * 2, maxInterval);
  }
}

/** A one-line description of a failed attempt, for probe reasons. */
export function describeError(error: unknown): string {
  if (error instanceof Error) {
    const cause = (error as { cause?: unknown }).cause;
    return cause instanceof Error ? `${error.message} (${cause.message})` : error.message;
  }
  return String(error);
}

/**
 * Waiting for a condition with a deadline: polls with a small first interval that doubles up to a
 * cap, and on timeout fails with the condition's own last explanation of why it is not yet true.
 * Guarantees the check runs at least once and never runs after the deadline has passed.
 */
import { systemClock } from '../../src/shared/clock.js';
import { OperationError } from '../../src/shared/errors.js';
import { pollUntil } from '../../src/core/poll.js';

export type Probe<T> = { done: true; value: T } | { done: false; reason: string };

export interface WaitOptions {
  timeoutMs: number;
  firstIntervalMs?: number;
  maxIntervalMs?: number;
  /** Appended to the timeout error, e.g. where to look next. */
  hint?: string;
}

export async function waitFor<T>(what: string, probe: () => Promise<Probe<T>>, options: WaitOptions): Promise<T> {
  const outcome = await pollUntil(
    async () => {
      const result = await probe();
      return { done: result.done, value: result };
    },
    {
      clock: systemClock,
      timeoutMs: options.timeoutMs,
      initialIntervalMs: options.firstIntervalMs ?? 50,
      maxIntervalMs: options.maxIntervalMs ?? 1000,
    },
  );
  if (outcome.done && outcome.value.done) return outcome.value.value;
  const reason = !outcome.done && outcome.last && !outcome.last.done ? outcome.last.reason : 'no answer';
  throw new OperationError(`timed out after ${Math.round(options.timeoutMs / 1000)}s waiting for ${what}: ${reason}`, options.hint);
}

/** A one-line description of a failed attempt, for probe reasons. */
export function describeError(error: unknown): string {
  if (error instanceof Error) {
    const cause = (error as { cause?: unknown }).cause;
    return cause instanceof Error ? `${error.message} (${cause.message})` : error.message;
  }
  return String(error);
}

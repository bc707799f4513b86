/**
 * Polling with a deadline: the first check happens at once, the interval starts small and doubles
 * up to a cap, and the poll gives up at the deadline. Never a fixed sleep.
 */
import type { Clock } from '../shared/clock.js';

export interface PollOptions {
  clock: Clock;
  /** Give up after this long (ms). */
  timeoutMs: number;
  /** First interval between checks (ms). Default 50. */
  initialIntervalMs?: number;
  /** Interval cap (ms). Default 1000. */
  maxIntervalMs?: number;
  signal?: AbortSignal | undefined;
}

export type PollOutcome<T> = { done: true; value: T; elapsedMs: number } | { done: false; last: T | undefined; elapsedMs: number };

/**
 * Calls `check` until it returns `{ done: true }` or the deadline passes. `check` returns its latest
 * observation either way, so a caller can say exactly what was still wrong at the deadline.
 */
export async function pollUntil<T>(check: () => Promise<{ done: boolean; value: T }>, options: PollOptions): Promise<PollOutcome<T>> {
  const { clock, timeoutMs, signal } = options;
  const start = clock.now();
  let interval = options.initialIntervalMs ?? 50;
  const maxInterval = options.maxIntervalMs ?? 1000;
  let last: T | undefined;
  for (;;) {
    signal?.throwIfAborted();
    const result = await check();
    last = result.value;
    const elapsedMs = clock.now() - start;
    if (result.done) return { done: true, value: result.value, elapsedMs };
    const remaining = timeoutMs - elapsedMs;
    if (remaining <= 0) return { done: false, last, elapsedMs };
    await clock.sleep(Math.min(interval, remaining), signal);
    interval = Math.min(interval * 2, maxInterval);
  }
}

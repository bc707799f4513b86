import { setTimeout as delay } from 'node:timers/promises';

/** Time, injected everywhere it is read, so tests and the model explorer control it. */
export interface Clock {
  now(): number;
  sleep(ms: number, signal?: AbortSignal): Promise<void>;
}

/** The real clock. Tests and the model explorer inject their own. */
export const systemClock: Clock = {
  now: () => Date.now(),
  sleep: async (ms, signal) => {
    await delay(ms, undefined, signal ? { signal } : undefined);
  },
};

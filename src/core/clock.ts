import { setTimeout as delay } from 'node:timers/promises';
import type { Clock } from './ports.js';

/** The real clock. Tests and the model explorer inject their own. */
export const systemClock: Clock = {
  now: () => Date.now(),
  sleep: async (ms, signal) => {
    await delay(ms, undefined, signal ? { signal } : undefined);
  },
};

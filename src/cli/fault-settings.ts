/** The `key=value` grammar of `inject-fault`, checked completely before anything is written. */
import { UsageError } from '../shared/errors.js';
import type { Fault } from '../shared/model.js';

const MAX_DELAY_MS = 600_000;
const FIELDS: Record<string, { field: keyof Fault; kind: 'ms' | 'percent' | 'boolean' }> = {
  delay: { field: 'processingDelayMs', kind: 'ms' },
  'error-rate': { field: 'errorRatePercent', kind: 'percent' },
  'commit-delay': { field: 'commitDelayMs', kind: 'ms' },
  'poll-timeout': { field: 'pollTimeoutExceed', kind: 'boolean' },
};
const HINT = 'use delay=<ms> error-rate=<0-100> commit-delay=<ms> poll-timeout=<true|false>';

export function parseFaultSettings(settings: string[]): Partial<Fault> {
  const fault: Partial<Fault> = {};
  const seen = new Set<string>();
  for (const setting of settings) {
    const match = /^([a-z-]+)=(.*)$/.exec(setting);
    if (!match) throw new UsageError(`malformed setting ${JSON.stringify(setting)}: expected key=value`, HINT);
    const [, key, value] = match as unknown as [string, string, string];
    const spec = FIELDS[key];
    if (!spec) throw new UsageError(`unknown fault ${JSON.stringify(key)}`, HINT);
    if (seen.has(key)) throw new UsageError(`fault ${key} given twice`, 'give each fault once');
    seen.add(key);
    if (spec.kind === 'boolean') {
      if (value !== 'true' && value !== 'false') throw new UsageError(`${key}=${JSON.stringify(value)}: expected true or false`, HINT);
      fault.pollTimeoutExceed = value === 'true';
      continue;
    }
    const max = spec.kind === 'percent' ? 100 : MAX_DELAY_MS;
    if (!/^\d+$/.test(value) || Number(value) > max) {
      throw new UsageError(
        `${key}=${JSON.stringify(value)}: expected a whole number from 0 to ${max}${spec.kind === 'ms' ? ' (milliseconds)' : ''}`,
        HINT,
      );
    }
    (fault as Record<string, number>)[spec.field] = Number(value);
  }
  return fault;
}

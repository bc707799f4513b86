/**
 * Go/kubectl-style durations: "500ms", "10s", "2m", "1m30s", "1h". A bare number is seconds (as in
 * the *_SECONDS environment variables of the README). Negative, empty, non-numeric and absurd values are rejected.
 */
import { UsageError } from '../shared/errors.js';

const UNIT_MS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 };
const MAX_MS = 24 * 3_600_000;

export function parseDuration(raw: string, flag: string): number {
  const text = raw.trim();
  const fail = (why: string) => new UsageError(`${flag} ${JSON.stringify(raw)}: ${why}`, `use a duration like 500ms, 10s, 2m or 1m30s`);
  if (text === '') throw fail('empty duration');
  if (text.startsWith('-')) throw fail('durations cannot be negative');
  let totalMs: number;
  if (/^\d+(\.\d+)?$/.test(text)) {
    totalMs = Number(text) * 1000;
  } else {
    if (!/^(\d+(\.\d+)?(ms|s|m|h))+$/.test(text)) throw fail('not a duration');
    totalMs = 0;
    for (const [, amount, unit] of text.matchAll(/(\d+(?:\.\d+)?)(ms|s|m|h)/g)) totalMs += Number(amount) * UNIT_MS[unit!]!;
  }
  if (!Number.isFinite(totalMs) || totalMs > MAX_MS) throw fail('longer than 24h');
  return Math.round(totalMs);
}

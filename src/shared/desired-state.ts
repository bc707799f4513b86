/**
 * Encoding of the state ConfigMap (`kafka-consumer-state`).
 *
 * data: one key per pod (`consumer-blue-0: '{"lifecycle":"ACTIVE","generation":7}'`), optionally
 * one key per colour (`blue`, `green`); a pod key overrides its colour key. The kubelet projects
 * each key as a file, so the sidecar reads the same strings from its mounted directory.
 *
 * annotations:
 *  - `bgswitch.io/generation`: the highest generation ever written (the monotonic counter).
 *  - `bgswitch.io/operation`: the switch in progress, written in the same update as the first
 *    desired-state change and removed when the switch ends, so an interrupted switch stays visible.
 */
import { isColor, type Color, type DesiredEntry, type Fault } from './model.js';

export const GENERATION_ANNOTATION = 'bgswitch.io/generation';
export const OPERATION_ANNOTATION = 'bgswitch.io/operation';

export type ParseResult<T> = { ok: true; value: T } | { ok: false; error: string };

const FAULT_FIELDS: Record<keyof Fault, 'number' | 'boolean'> = {
  processingDelayMs: 'number',
  errorRatePercent: 'number',
  commitDelayMs: 'number',
  pollTimeoutExceed: 'boolean',
};

function parseFault(raw: unknown): ParseResult<Fault> {
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) {
    return { ok: false, error: 'fault must be an object' };
  }
  const record = raw as Record<string, unknown>;
  for (const key of Object.keys(record)) {
    if (!(key in FAULT_FIELDS)) return { ok: false, error: `unknown fault field "${key}"` };
  }
  const fault: Fault = { processingDelayMs: 0, errorRatePercent: 0, commitDelayMs: 0, pollTimeoutExceed: false };
  for (const [key, kind] of Object.entries(FAULT_FIELDS) as [keyof Fault, 'number' | 'boolean'][]) {
    const value = record[key];
    if (value === undefined) continue;
    if (kind === 'boolean') {
      if (typeof value !== 'boolean') return { ok: false, error: `fault.${key} must be true or false` };
      fault.pollTimeoutExceed = value;
    } else {
      if (typeof value !== 'number' || !Number.isInteger(value) || value < 0) {
        return { ok: false, error: `fault.${key} must be a non-negative integer` };
      }
      if (key === 'errorRatePercent' && value > 100) return { ok: false, error: 'fault.errorRatePercent must be at most 100' };
      (fault as unknown as Record<string, number>)[key] = value;
    }
  }
  return { ok: true, value: fault };
}

/** Parses one ConfigMap value. Anything malformed is reported, never guessed at. */
export function parseEntry(raw: string): ParseResult<DesiredEntry> {
  let json: unknown;
  try {
    json = JSON.parse(raw);
  } catch {
    return { ok: false, error: 'not JSON' };
  }
  if (typeof json !== 'object' || json === null || Array.isArray(json)) return { ok: false, error: 'not a JSON object' };
  const record = json as Record<string, unknown>;
  for (const key of Object.keys(record)) {
    if (key !== 'lifecycle' && key !== 'generation' && key !== 'fault') return { ok: false, error: `unknown field "${key}"` };
  }
  const { lifecycle, generation = 0, fault } = record;
  if (lifecycle !== 'ACTIVE' && lifecycle !== 'PAUSED') {
    return { ok: false, error: `lifecycle must be "ACTIVE" or "PAUSED", got ${JSON.stringify(lifecycle)}` };
  }
  if (typeof generation !== 'number' || !Number.isSafeInteger(generation) || generation < 0) {
    return { ok: false, error: 'generation must be a non-negative integer' };
  }
  const entry: DesiredEntry = { lifecycle, generation };
  if (fault !== undefined) {
    const parsed = parseFault(fault);
    if (!parsed.ok) return parsed;
    entry.fault = parsed.value;
  }
  return { ok: true, value: entry };
}

export function encodeEntry(entry: DesiredEntry): string {
  const ordered: DesiredEntry = { lifecycle: entry.lifecycle, generation: entry.generation };
  if (entry.fault) ordered.fault = { ...entry.fault };
  return JSON.stringify(ordered);
}

/** Which key decided a pod's desired state. */
export type EntrySource = { key: string; kind: 'pod' | 'color' };

export type ResolvedEntry =
  | { status: 'ok'; entry: DesiredEntry; source: EntrySource }
  | { status: 'missing' }
  | { status: 'malformed'; error: string; source: EntrySource };

/** The pod key wins over the colour key (design section 2, phase 5). */
export function resolveEntry(data: Readonly<Record<string, string>>, pod: string, color: Color | undefined): ResolvedEntry {
  const candidates: EntrySource[] = [{ key: pod, kind: 'pod' }];
  if (color && isColor(color)) candidates.push({ key: color, kind: 'color' });
  for (const source of candidates) {
    const raw = data[source.key];
    if (raw === undefined) continue;
    const parsed = parseEntry(raw);
    return parsed.ok ? { status: 'ok', entry: parsed.value, source } : { status: 'malformed', error: parsed.error, source };
  }
  return { status: 'missing' };
}

export function parseGeneration(raw: string | undefined): number {
  if (raw === undefined) return 0;
  const value = Number(raw);
  return Number.isSafeInteger(value) && value >= 0 ? value : 0;
}

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
import { desiredEntrySchema, isColor, type Color, type DesiredEntry } from './model.js';
import { parseJson, type ParseResult } from './validation.js';

export const GENERATION_ANNOTATION = 'bgswitch.io/generation';
export const OPERATION_ANNOTATION = 'bgswitch.io/operation';

/** Parses one ConfigMap value. Anything malformed is reported, never guessed at. */
export function parseEntry(raw: string): ParseResult<DesiredEntry> {
  return parseJson(desiredEntrySchema, raw);
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

/** The pod key wins over the colour key (docs/architecture.md, the state ConfigMap). */
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

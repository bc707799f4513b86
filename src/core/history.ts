/**
 * The bounded switch history, stored newest first as JSON in the active-version ConfigMap under
 * `data.history`, written in the same update as `data.active` so the two never disagree.
 */
import { isColor, type Color } from '../shared/model.js';
import type { KafkaPartitionOffset } from './ports.js';

export const HISTORY_KEY = 'history';
export const HISTORY_LIMIT = 20;

export type SwitchOutcome = 'switched' | 'rolled-back' | 'rollback-failed' | 'failed';

export interface PhaseTiming {
  name: string;
  ok: boolean;
  durationMs: number;
}

export interface HistoryEntry {
  id: string;
  kind: 'switch' | 'rollback';
  from: Color;
  to: Color;
  outcome: SwitchOutcome;
  actor: string;
  startedAt: string;
  finishedAt: string;
  durationMs: number;
  reason?: string;
  generation: number;
  phases: PhaseTiming[];
  kafka?: KafkaHandoff;
}

/** What a switch saw of the consumer group (when Kafka is configured). */
export interface KafkaHandoff {
  groupId: string;
  /** The group's total lag at preflight, and once the new colour held every partition (after the soak, if any). */
  lagBefore?: number;
  lagAfter?: number;
  /** The committed offsets once the old colour had left the group: where the new colour starts. */
  handoffOffsets?: KafkaPartitionOffset[];
  /** From the old colour's last pod PAUSED to every partition assigned to the new colour (ms). */
  handoffWaitMs?: number;
}

/** What `data.history` holds: the readable entries, and why each other part could not be read. */
export interface HistoryRead {
  entries: HistoryEntry[];
  unreadable: string[];
}

const OUTCOMES: readonly string[] = ['switched', 'rolled-back', 'rollback-failed', 'failed'];

/** Undefined when `value` is a whole history entry, else what is wrong with it. */
function entryProblem(value: unknown): string | undefined {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return 'not an object';
  const entry = value as Record<string, unknown>;
  const isCount = (v: unknown) => typeof v === 'number' && Number.isFinite(v) && v >= 0;
  const checks: Array<[string, boolean]> = [
    ['from', isColor(entry.from)],
    ['to', isColor(entry.to)],
    ['kind', entry.kind === 'switch' || entry.kind === 'rollback'],
    ['outcome', OUTCOMES.includes(entry.outcome as string)],
    ...(['id', 'actor', 'startedAt', 'finishedAt'] as const).map((field): [string, boolean] => [field, typeof entry[field] === 'string']),
    ['durationMs', isCount(entry.durationMs)],
    ['generation', Number.isSafeInteger(entry.generation) && (entry.generation as number) >= 0],
    ['reason', entry.reason === undefined || typeof entry.reason === 'string'],
    ['phases', Array.isArray(entry.phases)],
  ];
  const bad = checks.find(([, ok]) => !ok);
  if (bad) return `field "${bad[0]}" is ${bad[0] in entry ? `invalid (${JSON.stringify(entry[bad[0]])?.slice(0, 60)})` : 'missing'}`;
  const phase = (entry.phases as unknown[]).findIndex((p) => {
    const candidate = p as Partial<PhaseTiming> | null;
    return typeof candidate !== 'object' || candidate === null || typeof candidate.name !== 'string' || typeof candidate.ok !== 'boolean' || !isCount(candidate.durationMs);
  });
  return phase >= 0 ? `phase ${phase + 1} is not {name, ok, durationMs}` : undefined;
}

/** Reads every entry it can; a broken entry or a broken whole is named, never thrown. */
export function readHistory(raw: string | undefined): HistoryRead {
  if (!raw) return { entries: [], unreadable: [] };
  let value: unknown;
  try {
    value = JSON.parse(raw);
  } catch {
    return { entries: [], unreadable: ['the history is not JSON'] };
  }
  if (!Array.isArray(value)) return { entries: [], unreadable: ['the history is not a JSON array'] };
  const read: HistoryRead = { entries: [], unreadable: [] };
  value.forEach((entry: unknown, index) => {
    const problem = entryProblem(entry);
    if (problem === undefined) read.entries.push(entry as HistoryEntry);
    else {
      const id = typeof (entry as { id?: unknown } | null)?.id === 'string' ? ` (id ${(entry as { id: string }).id})` : '';
      read.unreadable.push(`entry ${index + 1}${id}: ${problem}`);
    }
  });
  return read;
}

export function parseHistory(raw: string | undefined): HistoryEntry[] {
  return readHistory(raw).entries;
}

export function appendHistory(raw: string | undefined, entry: HistoryEntry): string {
  return JSON.stringify([entry, ...parseHistory(raw)].slice(0, HISTORY_LIMIT));
}

/**
 * The bounded switch history, stored newest first as JSON in the active-version ConfigMap under
 * `data.history`, written in the same update as `data.active` so the two never disagree.
 */
import * as v from 'valibot';
import { colorSchema } from '../shared/model.js';
import { amount, check, count, finite, flag, list, oneOf, openRecord, parseJson, text } from '../shared/validation.js';

export const HISTORY_KEY = 'history';
export const HISTORY_LIMIT = 20;

const OUTCOMES = ['switched', 'rolled-back', 'rollback-failed', 'failed'] as const;
export type SwitchOutcome = (typeof OUTCOMES)[number];

const phaseTimingSchema = openRecord({ name: text, ok: flag, durationMs: amount });
export type PhaseTiming = v.InferOutput<typeof phaseTimingSchema>;

/** What a switch saw of the consumer group (when Kafka is configured). */
const kafkaHandoffSchema = openRecord({
  groupId: text,
  /** The group's total lag at preflight, and once the new colour held every partition (after the soak, if any). */
  lagBefore: v.optional(amount),
  lagAfter: v.optional(amount),
  /** The committed offsets once the old colour had left the group: where the new colour starts. */
  handoffOffsets: v.optional(list(openRecord({ topic: text, partition: count, offset: finite }))),
  /** From the old colour's last pod PAUSED to every partition assigned to the new colour (ms). */
  handoffWaitMs: v.optional(amount),
});
export type KafkaHandoff = v.InferOutput<typeof kafkaHandoffSchema>;

const historyEntrySchema = openRecord({
  id: text,
  kind: oneOf(['switch', 'rollback']),
  from: colorSchema,
  to: colorSchema,
  outcome: oneOf(OUTCOMES),
  actor: text,
  startedAt: text,
  finishedAt: text,
  durationMs: amount,
  /** Why it rolled back or failed. */
  reason: v.optional(text),
  generation: count,
  phases: list(phaseTimingSchema),
  kafka: v.optional(kafkaHandoffSchema),
});
export type HistoryEntry = v.InferOutput<typeof historyEntrySchema>;

/** What `data.history` holds: the readable entries, and why each other part could not be read. */
export interface HistoryRead {
  entries: HistoryEntry[];
  unreadable: string[];
}

/** Reads every entry it can; a broken entry or a broken whole is named, never thrown. */
export function readHistory(raw: string | undefined): HistoryRead {
  if (!raw) return { entries: [], unreadable: [] };
  const whole = parseJson(list(v.unknown()), raw, 'the history');
  if (!whole.ok) return { entries: [], unreadable: [whole.error] };
  const read: HistoryRead = { entries: [], unreadable: [] };
  whole.value.forEach((value, index) => {
    const entry = check(historyEntrySchema, value);
    if (entry.ok) read.entries.push(entry.value);
    else {
      const id = check(openRecord({ id: text }), value);
      read.unreadable.push(`entry ${index + 1}${id.ok ? ` (id ${id.value.id})` : ''}: ${entry.error}`);
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

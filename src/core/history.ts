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

export function parseHistory(raw: string | undefined): HistoryEntry[] {
  if (!raw) return [];
  try {
    const value: unknown = JSON.parse(raw);
    if (!Array.isArray(value)) return [];
    return value.filter(
      (entry): entry is HistoryEntry =>
        typeof entry === 'object' && entry !== null && isColor((entry as HistoryEntry).from) && isColor((entry as HistoryEntry).to),
    );
  } catch {
    return [];
  }
}

export function appendHistory(raw: string | undefined, entry: HistoryEntry): string {
  return JSON.stringify([entry, ...parseHistory(raw)].slice(0, HISTORY_LIMIT));
}

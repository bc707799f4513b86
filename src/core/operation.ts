/**
 * The record of a switch in progress (invariant S3), kept in the state ConfigMap's
 * `bgswitch.io/operation` annotation. It is written in the same update as the first desired-state
 * change and removed in the update that ends the switch, so a CLI killed at any step leaves it behind
 * for `status` to show and for the next `switch` / `rollback` to finish.
 */
import { isColor, type Color } from '../shared/model.js';

export type OperationKind = 'switch' | 'rollback';

export interface OperationRecord {
  id: string;
  kind: OperationKind;
  from: Color;
  to: Color;
  /** The last step that was started, e.g. "pause", "rollback:resume", "rollback-failed". */
  phase: string;
  holder: string;
  actor: string;
  startedAt: string;
  updatedAt: string;
}

export function parseOperation(raw: string | undefined): OperationRecord | undefined {
  if (!raw) return undefined;
  try {
    const value = JSON.parse(raw) as Partial<OperationRecord>;
    if (!isColor(value.from) || !isColor(value.to) || typeof value.id !== 'string' || typeof value.phase !== 'string') return undefined;
    return value as OperationRecord;
  } catch {
    return undefined;
  }
}

export function encodeOperation(record: OperationRecord): string {
  return JSON.stringify(record);
}

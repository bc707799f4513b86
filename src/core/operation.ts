/**
 * The record of a switch in progress (invariant S3), kept in the state ConfigMap's
 * `bgswitch.io/operation` annotation. It is written in the same update as the first desired-state
 * change and removed in the update that ends the switch, so a CLI killed at any step leaves it behind
 * for `status` to show and for the next `switch` / `rollback` to finish.
 */
import type * as v from 'valibot';
import { colorSchema } from '../shared/model.js';
import { openRecord, oneOf, parseJson, text } from '../shared/validation.js';

const operationRecordSchema = openRecord({
  id: text,
  kind: oneOf(['switch', 'rollback']),
  from: colorSchema,
  to: colorSchema,
  /** The last step that was started, e.g. "pause", "rollback:resume", "rollback-failed". */
  phase: text,
  holder: text,
  actor: text,
  startedAt: text,
  updatedAt: text,
});
export type OperationRecord = v.InferOutput<typeof operationRecordSchema>;
export type OperationKind = OperationRecord['kind'];

/** The record, or undefined when there is none or it cannot be read (`status` names that). */
export function parseOperation(raw: string | undefined): OperationRecord | undefined {
  if (!raw) return undefined;
  const parsed = parseJson(operationRecordSchema, raw);
  return parsed.ok ? parsed.value : undefined;
}

export function encodeOperation(record: OperationRecord): string {
  return JSON.stringify(record);
}

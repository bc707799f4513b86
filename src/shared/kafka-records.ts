/**
 * The records the reference consumer and the lab's load generator exchange over Kafka, and the names
 * both default to. The lab's validator (`npm run lab -- verify`) reads them back to account for every
 * message (docs/consumer-contract.md). Pure data and parsing; no I/O.
 *
 * - The load generator writes one record per message to the input topic: key `seq-<n>`, value an
 *   `EventValue`.
 * - The consumer, for each input message it processes, writes a `ProcessedRecord` to the output
 *   topic (same key) and only then commits the input offset; after every offset commit it writes a
 *   `CommitRecord`. A message processed again after its first processor died before committing it is
 *   a duplicate explained by that crash; any other repeat is unexplained.
 *
 * Offsets are JavaScript numbers: exact below 2^53, which no lab or test topic approaches. Each
 * record is a schema (./validation.ts) and its type is inferred from it; a record that does not
 * match is not one of ours (the parsers return undefined).
 */
import * as v from 'valibot';
import { count, finite, list, nonEmptyText, openRecord, parseJson, text } from './validation.js';

export const DEFAULT_INPUT_TOPIC = 'bg-events';
export const DEFAULT_OUTPUT_TOPIC = 'bg-processed';
/** One consumer group shared by both colours; only ACTIVE pods are members. */
export const DEFAULT_CONSUMER_GROUP = 'bg-consumer';

/** Value of an input record. */
const eventValueSchema = openRecord({
  /** The message's sequence number within its production run (the key is `seq-<seq>`). */
  seq: count,
  /** Identifies one `lab produce` run, so several runs into one topic stay apart. */
  runId: nonEmptyText,
  /** Epoch milliseconds when the producer created the message. */
  producedAt: finite,
});
export type EventValue = v.InferOutput<typeof eventValueSchema>;

/** An optional field that is dropped, not fatal, when it is malformed. */
const tolerated = <S extends v.GenericSchema>(schema: S) => v.optional(v.fallback(v.optional(schema), undefined));

/** Written to the output topic for each processed input message, before its offset is committed. */
const processedRecordSchema = openRecord({
  type: v.literal('processed'),
  sourcePartition: count,
  sourceOffset: count,
  /** The input record's key. */
  key: text,
  pod: nonEmptyText,
  color: nonEmptyText,
  /** Identifies one consumer process lifetime (a restarted container is a new incarnation). */
  incarnation: nonEmptyText,
  /** Epoch milliseconds when processing finished. */
  processedAt: finite,
  /** The input's `producedAt`, when the input value carried one. */
  producedAt: tolerated(finite),
  /**
   * Present (true) when processing failed (the consumer's error-rate fault): the message was still
   * accounted for and its offset committed with its batch, as a dead-letter policy would.
   */
  failed: tolerated(v.literal(true)),
});

/** Written to the output topic after the consumer committed input offsets. */
const commitRecordSchema = openRecord({
  type: v.literal('commit'),
  pod: nonEmptyText,
  color: nonEmptyText,
  incarnation: nonEmptyText,
  /** Kafka semantics: `offset` is the next offset to read, so every offset below it was committed. */
  offsets: list(openRecord({ partition: count, offset: count })),
  committedAt: finite,
});

const outputRecordSchema = v.pipe(
  v.union([processedRecordSchema, commitRecordSchema]),
  // A tolerated field that was dropped leaves no key behind.
  v.transform((record) => Object.fromEntries(Object.entries(record).filter(([, value]) => value !== undefined)) as typeof record),
);
export type ProcessedRecord = v.InferOutput<typeof processedRecordSchema>;
export type CommitRecord = v.InferOutput<typeof commitRecordSchema>;
export type OutputRecord = ProcessedRecord | CommitRecord;

export function parseEventValue(text: string): EventValue | undefined {
  const parsed = parseJson(eventValueSchema, text);
  return parsed.ok ? parsed.value : undefined;
}

export function parseOutputRecord(text: string): OutputRecord | undefined {
  const parsed = parseJson(outputRecordSchema, text);
  return parsed.ok ? parsed.value : undefined;
}

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
 * Offsets are JavaScript numbers: exact below 2^53, which no lab or test topic approaches.
 */

export const DEFAULT_INPUT_TOPIC = 'bg-events';
export const DEFAULT_OUTPUT_TOPIC = 'bg-processed';
/** One consumer group shared by both colours; only ACTIVE pods are members. */
export const DEFAULT_CONSUMER_GROUP = 'bg-consumer';

/** Value of an input record. */
export interface EventValue {
  /** The message's sequence number within its production run (the key is `seq-<seq>`). */
  seq: number;
  /** Identifies one `lab produce` run, so several runs into one topic stay apart. */
  runId: string;
  /** Epoch milliseconds when the producer created the message. */
  producedAt: number;
}

/** Written to the output topic for each processed input message, before its offset is committed. */
export interface ProcessedRecord {
  type: 'processed';
  sourcePartition: number;
  sourceOffset: number;
  /** The input record's key. */
  key: string;
  pod: string;
  color: string;
  /** Identifies one consumer process lifetime (a restarted container is a new incarnation). */
  incarnation: string;
  /** Epoch milliseconds when processing finished. */
  processedAt: number;
  /** The input's `producedAt`, when the input value carried one. */
  producedAt?: number;
  /**
   * Present (true) when processing failed (the consumer's error-rate fault): the message was still
   * accounted for and its offset committed with its batch, as a dead-letter policy would.
   */
  failed?: true;
}

/** Written to the output topic after the consumer committed input offsets. */
export interface CommitRecord {
  type: 'commit';
  pod: string;
  color: string;
  incarnation: string;
  /** Kafka semantics: `offset` is the next offset to read, so every offset below it was committed. */
  offsets: Array<{ partition: number; offset: number }>;
  committedAt: number;
}

export type OutputRecord = ProcessedRecord | CommitRecord;

const isWhole = (value: unknown): value is number => typeof value === 'number' && Number.isSafeInteger(value) && value >= 0;
const isText = (value: unknown): value is string => typeof value === 'string' && value.length > 0;
const isTime = (value: unknown): value is number => typeof value === 'number' && Number.isFinite(value);

function parseObject(text: string): Record<string, unknown> | undefined {
  try {
    const value: unknown = JSON.parse(text);
    return typeof value === 'object' && value !== null && !Array.isArray(value) ? (value as Record<string, unknown>) : undefined;
  } catch {
    return undefined;
  }
}

/** The input value, or undefined when it is not one of ours. */
export function parseEventValue(text: string): EventValue | undefined {
  const value = parseObject(text);
  if (!value || !isWhole(value.seq) || !isText(value.runId) || !isTime(value.producedAt)) return undefined;
  return { seq: value.seq, runId: value.runId, producedAt: value.producedAt };
}

/** An output record, or undefined when the text is not one (the validator counts those apart). */
export function parseOutputRecord(text: string): OutputRecord | undefined {
  const value = parseObject(text);
  if (!value || !isText(value.pod) || !isText(value.color) || !isText(value.incarnation)) return undefined;
  const { pod, color, incarnation } = value;
  if (value.type === 'processed') {
    if (!isWhole(value.sourcePartition) || !isWhole(value.sourceOffset) || typeof value.key !== 'string' || !isTime(value.processedAt)) return undefined;
    return {
      type: 'processed',
      sourcePartition: value.sourcePartition,
      sourceOffset: value.sourceOffset,
      key: value.key,
      pod,
      color,
      incarnation,
      processedAt: value.processedAt,
      ...(isTime(value.producedAt) ? { producedAt: value.producedAt } : {}),
      ...(value.failed === true ? { failed: true as const } : {}),
    };
  }
  if (value.type === 'commit') {
    if (!Array.isArray(value.offsets) || !isTime(value.committedAt)) return undefined;
    const offsets = value.offsets.map((entry: unknown) => {
      const { partition, offset } = (entry ?? {}) as Record<string, unknown>;
      return isWhole(partition) && isWhole(offset) ? { partition, offset } : undefined;
    });
    if (offsets.some((entry) => entry === undefined)) return undefined;
    return { type: 'commit', pod, color, incarnation, offsets: offsets as CommitRecord['offsets'], committedAt: value.committedAt };
  }
  return undefined;
}

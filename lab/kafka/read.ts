/**
 * Reads the input and output topics completely (every partition up to the end offset it had when
 * reading began) and turns them into the verdict's input. A thin adapter: the analysis is in
 * verdict.ts. Reads as a throwaway consumer group of its own that never commits, so it takes
 * nothing from the consumers' group.
 */
import { randomUUID } from 'node:crypto';
import { OperationError } from '../../src/shared/errors.js';
import { parseEventValue, parseOutputRecord, type CommitRecord, type ProcessedRecord } from '../../src/shared/kafka-records.js';
import type { InputRecord, VerdictInput } from './verdict.js';

export interface RawRecord {
  partition: number;
  offset: number;
  key: string;
  value: string;
}

/** How long reading may go without receiving anything while records are still due. */
const STALL_TIMEOUT_MS = 30_000;

export async function readTopic(bootstrap: string, topic: string): Promise<RawRecord[]> {
  const { Consumer, stringDeserializer, deserializersFrom } = await import('@platformatic/kafka');
  const consumer = new Consumer<string, string, string, string>({
    clientId: 'bgswitch-lab-verify',
    groupId: `bgswitch-lab-verify-${randomUUID()}`,
    bootstrapBrokers: [bootstrap],
    deserializers: deserializersFrom(stringDeserializer),
    autocommit: false,
    maxWaitTime: 500,
    timeout: 10_000,
  });
  try {
    const ends = (await consumer.listOffsets({ topics: [topic] })).get(topic);
    if (ends === undefined) throw new OperationError(`topic ${topic} not found at ${bootstrap}`);
    const remaining = new Map(ends.flatMap((end, partition) => (end > 0n ? [[partition, end] as const] : [])));
    const records: RawRecord[] = [];
    if (remaining.size === 0) return records;
    const stream = await consumer.consume({ topics: [topic], mode: 'earliest', autocommit: false });
    let stall: NodeJS.Timeout | undefined;
    const stalled = (): void => {
      clearTimeout(stall);
      stall = setTimeout(
        () => stream.destroy(new OperationError(`reading ${topic} stalled: nothing received for ${STALL_TIMEOUT_MS / 1000}s`)),
        STALL_TIMEOUT_MS,
      );
    };
    stalled();
    try {
      for await (const message of stream) {
        stalled();
        const end = remaining.get(message.partition);
        if (end === undefined || message.offset >= end) continue;
        records.push({ partition: message.partition, offset: Number(message.offset), key: message.key ?? '', value: message.value ?? '' });
        if (message.offset + 1n >= end) remaining.delete(message.partition);
        if (remaining.size === 0) break;
      }
    } finally {
      clearTimeout(stall);
      await stream.close();
    }
    if (remaining.size > 0)
      throw new OperationError(`reading ${topic} ended early: partitions ${[...remaining.keys()].join(', ')} not read to their end`);
    return records;
  } finally {
    await consumer.close(true);
  }
}

/** Sorts output records into processed ones and commits. */
export function toVerdictInput(inputs: RawRecord[], outputs: RawRecord[], runId?: string): VerdictInput {
  const processed: ProcessedRecord[] = [];
  const commits: CommitRecord[] = [];
  let unreadableOutputs = 0;
  for (const { value } of outputs) {
    const record = parseOutputRecord(value);
    if (record === undefined) unreadableOutputs += 1;
    else if (record.type === 'commit') commits.push(record);
    else processed.push(record);
  }
  const inputRecords: InputRecord[] = inputs.map(({ partition, offset, key, value }) => {
    const event = parseEventValue(value);
    return { partition, offset, key, ...(event ? { value: event } : {}) };
  });
  return { inputs: inputRecords, processed, commits, unreadableOutputs, ...(runId === undefined ? {} : { runId }) };
}

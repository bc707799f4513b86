/**
 * The verdict of `npm run lab -- verify`: accounts for every input message from the records read
 * back (input records of `bg-events`, output records of `bg-processed`; src/shared/kafka-records.ts).
 * Pure: records in, verdict out.
 *
 * - lost: an input (partition, offset) with no ProcessedRecord.
 * - duplicated: ProcessedRecords beyond the first per input (partition, offset), in processedAt order.
 *   A repeat is crash-explained when the copy before it came from another incarnation that never
 *   committed that offset (no CommitRecord of that incarnation covers it: it died before committing,
 *   the at-least-once window); any other repeat is unexplained.
 * - overlap: per partition, a stint is one consumer incarnation's uninterrupted run over it (its
 *   records in processedAt order with consecutive offsets; a jump means it lost the partition and got
 *   it back later). A stint of one colour and a stint of the other whose processing times intersect
 *   mean both colours were processing that partition at once.
 * - hand-offs: in processedAt order over all partitions, each change of colour, with the pause from
 *   the old colour's last record to the new colour's first.
 */
import type { CommitRecord, EventValue, ProcessedRecord } from '../../src/shared/kafka-records.js';

export interface InputRecord {
  partition: number;
  offset: number;
  key: string;
  /** Undefined when the value is not an EventValue (a message not written by `lab produce`). */
  value?: EventValue;
}

/** A ProcessedRecord, possibly marked failed (the error-rate fault failed and dead-lettered it). */
export interface VerdictInput {
  inputs: InputRecord[];
  processed: ProcessedRecord[];
  commits: CommitRecord[];
  /** Output-topic records that are neither a ProcessedRecord nor a CommitRecord. */
  unreadableOutputs: number;
  /** Judge only the inputs of this production run. */
  runId?: string;
}

export interface MessageRef {
  partition: number;
  offset: number;
  key: string;
}

export interface Stint {
  color: string;
  pod: string;
  fromOffset: number;
  toOffset: number;
  /** processedAt of its first and last record. */
  from: number;
  to: number;
}

export interface Overlap {
  partition: number;
  /** The stint that started first and the other one. */
  first: Stint;
  second: Stint;
  /** How long both were processing at once (0 when one stint is a single instant inside the other). */
  overlapMs: number;
}

export interface HandOff {
  from: string;
  to: string;
  /** processedAt of the old colour's last record and of the new colour's first. */
  lastOldAt: number;
  firstNewAt: number;
  pauseMs: number;
}

export interface Verdict {
  ok: boolean;
  /** Why not ok, one line each. */
  reasons: string[];
  runIds: string[];
  produced: number;
  processed: number;
  lost: number;
  duplicated: number;
  crashExplainedDuplicates: number;
  unexplainedDuplicates: number;
  /** Processed messages the consumer failed and dead-lettered (counted as processed). */
  failed: number;
  /** ProcessedRecords per colour, repeats included. */
  byColor: Record<string, number>;
  overlap: { count: number; worst?: Overlap };
  latencyMs: { p50?: number; p99?: number; max?: number };
  /** Every colour change; `handOffs` lists the first HAND_OFF_LIST of them. */
  handOffCount: number;
  handOffs: HandOff[];
  longestHandOffPauseMs?: number;
  /** Up to 20 examples each, for the report. */
  examples: { lost: MessageRef[]; unexplainedDuplicates: Array<MessageRef & { pods: string[] }> };
  /** Output records that are not ours, and ProcessedRecords for inputs not among those judged (other runs). */
  unreadableOutputs: number;
  unmatchedProcessed: number;
  /** Input messages not written by `lab produce` (judged like the others unless --run-id excludes them). */
  foreignInputs: number;
}

const EXAMPLES = 20;
/** Colours that interleave (both consuming) change thousands of times; the list keeps the first ones. */
const HAND_OFF_LIST = 100;
const ref = (partition: number, offset: number): string => `${partition}:${offset}`;

function percentile(sorted: number[], fraction: number): number | undefined {
  if (sorted.length === 0) return undefined;
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(fraction * sorted.length) - 1))];
}

/** Highest committed offset (exclusive) per incarnation and partition. */
function committedBy(commits: CommitRecord[]): Map<string, number> {
  const committed = new Map<string, number>();
  for (const commit of commits) {
    for (const { partition, offset } of commit.offsets) {
      const key = `${commit.incarnation}/${partition}`;
      committed.set(key, Math.max(committed.get(key) ?? 0, offset));
    }
  }
  return committed;
}

/** Whether two stints' processing intervals intersect; a single-instant stint must fall strictly inside the other. */
function intersection(a: Stint, b: Stint): number | undefined {
  if (a.from === a.to) return b.from < a.from && a.from < b.to ? 0 : undefined;
  if (b.from === b.to) return a.from < b.from && b.from < a.to ? 0 : undefined;
  const length = Math.min(a.to, b.to) - Math.max(a.from, b.from);
  return length > 0 ? length : undefined;
}

/** One partition's records split into stints (see the module comment). */
function stintsOf(records: ProcessedRecord[]): Stint[] {
  const ordered = [...records].sort((x, y) => x.processedAt - y.processedAt || x.sourceOffset - y.sourceOffset);
  const open = new Map<string, Stint>();
  const stints: Stint[] = [];
  for (const record of ordered) {
    const current = open.get(record.incarnation);
    if (current && record.sourceOffset === current.toOffset + 1) {
      current.toOffset = record.sourceOffset;
      current.to = record.processedAt;
      continue;
    }
    const stint = {
      color: record.color,
      pod: record.pod,
      fromOffset: record.sourceOffset,
      toOffset: record.sourceOffset,
      from: record.processedAt,
      to: record.processedAt,
    };
    open.set(record.incarnation, stint);
    stints.push(stint);
  }
  return stints;
}

function findOverlaps(byPartition: Map<number, ProcessedRecord[]>): Overlap[] {
  const overlaps: Overlap[] = [];
  for (const [partition, records] of byPartition) {
    const stints = stintsOf(records);
    for (let i = 0; i < stints.length; i += 1) {
      for (let j = i + 1; j < stints.length; j += 1) {
        const [first, second] = [stints[i] as Stint, stints[j] as Stint];
        if (first.color === second.color) continue;
        const overlapMs = intersection(first, second);
        if (overlapMs !== undefined) overlaps.push({ partition, first, second, overlapMs });
      }
    }
  }
  return overlaps;
}

function findHandOffs(records: ProcessedRecord[]): HandOff[] {
  const ordered = [...records].sort((x, y) => x.processedAt - y.processedAt);
  const handOffs: HandOff[] = [];
  for (let i = 1; i < ordered.length; i += 1) {
    const [previous, current] = [ordered[i - 1] as ProcessedRecord, ordered[i] as ProcessedRecord];
    if (previous.color === current.color) continue;
    handOffs.push({
      from: previous.color,
      to: current.color,
      lastOldAt: previous.processedAt,
      firstNewAt: current.processedAt,
      pauseMs: current.processedAt - previous.processedAt,
    });
  }
  return handOffs;
}

export function judge(input: VerdictInput): Verdict {
  const judged = input.runId === undefined ? input.inputs : input.inputs.filter((record) => record.value?.runId === input.runId);
  const inputsByRef = new Map(judged.map((record) => [ref(record.partition, record.offset), record]));
  const copies = new Map<string, ProcessedRecord[]>();
  let unmatchedProcessed = 0;
  for (const record of input.processed) {
    const key = ref(record.sourcePartition, record.sourceOffset);
    if (!inputsByRef.has(key)) {
      unmatchedProcessed += 1;
      continue;
    }
    const list = copies.get(key);
    if (list) list.push(record);
    else copies.set(key, [record]);
  }

  const committed = committedBy(input.commits);
  const lost: MessageRef[] = [];
  const unexplained: Array<MessageRef & { pods: string[] }> = [];
  let duplicated = 0;
  let unexplainedDuplicates = 0;
  let failed = 0;
  const latencies: number[] = [];
  const byColor: Record<string, number> = {};
  const byPartition = new Map<number, ProcessedRecord[]>();
  const matched: ProcessedRecord[] = [];
  for (const record of judged) {
    const message = { partition: record.partition, offset: record.offset, key: record.key };
    const list = copies.get(ref(record.partition, record.offset))?.sort((x, y) => x.processedAt - y.processedAt);
    if (!list) {
      lost.push(message);
      continue;
    }
    const [first] = list as [ProcessedRecord];
    const producedAt = record.value?.producedAt ?? first.producedAt;
    if (producedAt !== undefined) latencies.push(first.processedAt - producedAt);
    if (list.some((copy) => copy.failed === true)) failed += 1;
    for (const [index, copy] of list.entries()) {
      byColor[copy.color] = (byColor[copy.color] ?? 0) + 1;
      matched.push(copy);
      if (index === 0) continue;
      duplicated += 1;
      const earlier = list[index - 1] as ProcessedRecord;
      const earlierCommitted = (committed.get(`${earlier.incarnation}/${record.partition}`) ?? 0) > record.offset;
      if (earlier.incarnation === copy.incarnation || earlierCommitted) {
        unexplainedDuplicates += 1;
        if (unexplained.length < EXAMPLES) unexplained.push({ ...message, pods: list.map((entry) => entry.pod) });
      }
    }
    const partitionRecords = byPartition.get(record.partition);
    if (partitionRecords) partitionRecords.push(...list);
    else byPartition.set(record.partition, [...list]);
  }

  const overlaps = findOverlaps(byPartition);
  const worst = overlaps.reduce<Overlap | undefined>(
    (best, overlap) => (best === undefined || overlap.overlapMs > best.overlapMs ? overlap : best),
    undefined,
  );
  const handOffs = findHandOffs(matched);
  latencies.sort((x, y) => x - y);
  const reasons = [
    ...(lost.length > 0
      ? [
          `${lost.length} lost (never processed), e.g. ${lost
            .slice(0, 3)
            .map((m) => `${m.key} at ${m.partition}:${m.offset}`)
            .join(', ')}`,
        ]
      : []),
    ...(unexplainedDuplicates > 0
      ? [
          `${unexplainedDuplicates} duplicates not explained by a crash, e.g. ${unexplained
            .slice(0, 3)
            .map((m) => `${m.key} at ${m.partition}:${m.offset} by ${m.pods.join(', ')}`)
            .join('; ')}`,
        ]
      : []),
  ];
  return {
    ok: reasons.length === 0,
    reasons,
    runIds: [...new Set(judged.flatMap((record) => (record.value ? [record.value.runId] : [])))].sort(),
    produced: judged.length,
    processed: judged.length - lost.length,
    lost: lost.length,
    duplicated,
    crashExplainedDuplicates: duplicated - unexplainedDuplicates,
    unexplainedDuplicates,
    failed,
    byColor,
    overlap: { count: overlaps.length, ...(worst ? { worst } : {}) },
    latencyMs:
      latencies.length === 0
        ? {}
        : { p50: percentile(latencies, 0.5) as number, p99: percentile(latencies, 0.99) as number, max: latencies.at(-1) as number },
    handOffCount: handOffs.length,
    handOffs: handOffs.slice(0, HAND_OFF_LIST),
    ...(handOffs.length > 0 ? { longestHandOffPauseMs: handOffs.reduce((longest, handOff) => Math.max(longest, handOff.pauseMs), 0) } : {}),
    examples: { lost: lost.slice(0, EXAMPLES), unexplainedDuplicates: unexplained },
    unreadableOutputs: input.unreadableOutputs,
    unmatchedProcessed,
    foreignInputs: judged.filter((record) => record.value === undefined).length,
  };
}

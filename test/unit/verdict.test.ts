import assert from 'node:assert/strict';
import { test } from 'node:test';
import { judge, type InputRecord, type VerdictInput } from '../../lab/kafka/verdict.js';
import type { CommitRecord, ProcessedRecord } from '../../src/shared/kafka-records.js';

const RUN = 'run-a';

/** Inputs seq-0..seq-(n-1) on `partition`, offsets 0..n-1, produced at t = offset * 10. */
function inputs(partition: number, n: number, runId = RUN): InputRecord[] {
  return Array.from({ length: n }, (_, offset) => ({
    partition,
    offset,
    key: `seq-${offset}`,
    value: { seq: offset, runId, producedAt: offset * 10 },
  }));
}

function processedBy(
  pod: string,
  color: string,
  incarnation: string,
  partition: number,
  offset: number,
  processedAt: number,
): ProcessedRecord {
  return {
    type: 'processed',
    sourcePartition: partition,
    sourceOffset: offset,
    key: `seq-${offset}`,
    pod,
    color,
    incarnation,
    processedAt,
    producedAt: offset * 10,
  };
}

function commit(incarnation: string, color: string, partition: number, offset: number): CommitRecord {
  return { type: 'commit', pod: `consumer-${color}-0`, color, incarnation, offsets: [{ partition, offset }], committedAt: 0 };
}

const blue = (partition: number, offset: number, at: number, incarnation = 'blue-1') =>
  processedBy('consumer-blue-0', 'blue', incarnation, partition, offset, at);
const green = (partition: number, offset: number, at: number, incarnation = 'green-1') =>
  processedBy('consumer-green-0', 'green', incarnation, partition, offset, at);

function verdict(partial: Partial<VerdictInput> & Pick<VerdictInput, 'inputs' | 'processed'>) {
  return judge({ commits: [], unreadableOutputs: 0, ...partial });
}

test('a clean hand-off: every message once, no overlap, the pause and latencies measured', () => {
  // Blue processes offsets 0-4 (t=100..140) and commits them; green takes over at t=300 for 5-9.
  const processed = [...[0, 1, 2, 3, 4].map((o) => blue(0, o, 100 + o * 10)), ...[5, 6, 7, 8, 9].map((o) => green(0, o, 300 + o * 10))];
  const result = verdict({ inputs: inputs(0, 10), processed, commits: [commit('blue-1', 'blue', 0, 5)] });
  assert.equal(result.ok, true, result.reasons.join('; '));
  assert.deepEqual(
    {
      produced: result.produced,
      processed: result.processed,
      lost: result.lost,
      duplicated: result.duplicated,
      unexplained: result.unexplainedDuplicates,
    },
    { produced: 10, processed: 10, lost: 0, duplicated: 0, unexplained: 0 },
  );
  assert.deepEqual(result.byColor, { blue: 5, green: 5 });
  assert.equal(result.overlap.count, 0);
  assert.equal(result.handOffCount, 1);
  assert.deepEqual(result.handOffs[0], { from: 'blue', to: 'green', lastOldAt: 140, firstNewAt: 350, pauseMs: 210 });
  assert.equal(result.longestHandOffPauseMs, 210);
  // Latencies: blue 100 each (100+10o - 10o); green 300 each.
  assert.deepEqual(result.latencyMs, { p50: 100, p99: 300, max: 300 });
  assert.deepEqual(result.runIds, [RUN]);
});

test('an input never processed is lost, and the verdict fails naming it', () => {
  const result = verdict({ inputs: inputs(2, 3), processed: [blue(2, 0, 5), blue(2, 2, 6)] });
  assert.equal(result.ok, false);
  assert.equal(result.lost, 1);
  assert.equal(result.processed, 2);
  assert.deepEqual(result.examples.lost, [{ partition: 2, offset: 1, key: 'seq-1' }]);
  assert.match(result.reasons.join('\n'), /1 lost .*seq-1 at 2:1/);
});

test('a repeat after the first processor died before committing is crash-explained', () => {
  // blue-1 processed offset 3 and died (it committed only up to 3, i.e. offsets 0-2); green re-processes 3.
  const processed = [blue(0, 0, 10), blue(0, 1, 11), blue(0, 2, 12), blue(0, 3, 13), green(0, 3, 50), green(0, 4, 51)];
  const result = verdict({ inputs: inputs(0, 5), processed, commits: [commit('blue-1', 'blue', 0, 3)] });
  assert.equal(result.ok, true, result.reasons.join('; '));
  assert.equal(result.duplicated, 1);
  assert.equal(result.crashExplainedDuplicates, 1);
  assert.equal(result.unexplainedDuplicates, 0);
  assert.equal(result.processed, 5);
});

test('a repeat of an offset its first processor had committed is unexplained, and fails the verdict', () => {
  const processed = [blue(0, 0, 10), blue(0, 1, 11), green(0, 1, 50)];
  const result = verdict({ inputs: inputs(0, 2), processed, commits: [commit('blue-1', 'blue', 0, 2)] });
  assert.equal(result.ok, false);
  assert.equal(result.duplicated, 1);
  assert.equal(result.unexplainedDuplicates, 1);
  assert.equal(result.crashExplainedDuplicates, 0);
  assert.deepEqual(result.examples.unexplainedDuplicates, [
    { partition: 0, offset: 1, key: 'seq-1', pods: ['consumer-blue-0', 'consumer-green-0'] },
  ]);
  assert.match(result.reasons.join('\n'), /1 duplicates not explained by a crash/);
});

test('the same incarnation processing a message twice is unexplained even without any commit', () => {
  const result = verdict({ inputs: inputs(1, 1), processed: [blue(1, 0, 10), blue(1, 0, 20)] });
  assert.equal(result.unexplainedDuplicates, 1);
  assert.equal(result.ok, false);
});

test('blue and green processing one partition at the same time is an overlap; the worst is reported', () => {
  // Partition 0: blue 0-4 at t=100..140 while green processes 5-9 from t=120: 20 ms of overlap.
  // Partition 1: a clean hand-off. Partition 2: both colours work through offsets 0-9 at once (a
  // zombie member): 5 ms of overlap, and every message twice.
  const processed = [
    ...[0, 1, 2, 3, 4].map((o) => blue(0, o, 100 + o * 10)),
    ...[5, 6, 7, 8, 9].map((o) => green(0, o, 120 + (o - 5) * 10)),
    ...[0, 1].map((o) => blue(1, o, 100 + o)),
    ...[2, 3].map((o) => green(1, o, 400 + o)),
    ...[0, 1, 2, 3, 4, 5, 6, 7, 8, 9].flatMap((o) => [blue(2, o, 200 + o), green(2, o, 205 + o)]),
  ];
  const result = verdict({
    inputs: [...inputs(0, 10), ...inputs(1, 4), ...inputs(2, 10)],
    processed,
    commits: [commit('blue-1', 'blue', 2, 10)],
  });
  assert.equal(result.overlap.count, 2, JSON.stringify(result.overlap));
  assert.equal(result.overlap.worst?.partition, 0);
  assert.equal(result.overlap.worst?.overlapMs, 20);
  assert.deepEqual(
    { color: result.overlap.worst?.first.color, from: result.overlap.worst?.first.fromOffset, to: result.overlap.worst?.first.toOffset },
    { color: 'blue', from: 0, to: 4 },
  );
  assert.equal(result.unexplainedDuplicates, 10);
  assert.equal(result.ok, false);
});

test('a consumer that loses a partition and gets it back later is not overlapping the colour that had it meanwhile', () => {
  // blue-1 has partition 0 (offsets 0-1), green has it (2-3), then blue-1 again (4-5).
  const processed = [blue(0, 0, 10), blue(0, 1, 11), green(0, 2, 20), green(0, 3, 21), blue(0, 4, 30), blue(0, 5, 31)];
  const result = verdict({ inputs: inputs(0, 6), processed });
  assert.equal(result.overlap.count, 0, JSON.stringify(result.overlap));
  assert.equal(result.handOffCount, 2);
});

test('stints that only touch in time are not an overlap', () => {
  const result = verdict({ inputs: inputs(0, 4), processed: [blue(0, 0, 10), blue(0, 1, 20), green(0, 2, 20), green(0, 3, 30)] });
  assert.equal(result.overlap.count, 0);
});

test('--run-id judges only that run; processed records of other runs are counted apart', () => {
  const other = inputs(0, 2, 'run-b').map((record) => ({ ...record, offset: record.offset + 2 }));
  const result = verdict({ inputs: [...inputs(0, 2), ...other], processed: [blue(0, 0, 1), blue(0, 1, 2), blue(0, 2, 3)], runId: 'run-b' });
  assert.equal(result.produced, 2);
  assert.equal(result.processed, 1);
  assert.equal(result.lost, 1);
  assert.equal(result.unmatchedProcessed, 2);
  assert.deepEqual(result.runIds, ['run-b']);
});

test('failed (dead-lettered) messages count as processed and are reported', () => {
  const result = verdict({ inputs: inputs(0, 2), processed: [blue(0, 0, 1), { ...blue(0, 1, 2), failed: true }] });
  assert.equal(result.ok, true);
  assert.equal(result.processed, 2);
  assert.equal(result.failed, 1);
});

test('inputs not written by lab produce are judged and counted; unreadable outputs are counted', () => {
  const result = verdict({ inputs: [{ partition: 0, offset: 0, key: 'other' }], processed: [], unreadableOutputs: 3 });
  assert.equal(result.foreignInputs, 1);
  assert.equal(result.lost, 1);
  assert.equal(result.unreadableOutputs, 3);
  assert.deepEqual(result.latencyMs, {});
});

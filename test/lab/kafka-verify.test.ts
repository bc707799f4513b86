/**
 * `lab produce` and `lab verify` against the lab's real broker, on topics of the test's own. The test
 * itself plays the consumer's part of the record contract (src/shared/kafka-records.ts): it writes the
 * ProcessedRecords and CommitRecords a consumer would, so each verdict is known in advance.
 * Needs root (labUp).
 */
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { Producer, serializersFrom, stringSerializer } from '@platformatic/kafka';
import { waitFor } from '../../lab/control-plane/wait.js';
import { labDown, labUp } from '../../lab/control.js';
import { startProduction } from '../../lab/kafka/load.js';
import { readTopic } from '../../lab/kafka/read.js';
import type { CommitRecord, ProcessedRecord } from '../../src/shared/kafka-records.js';
import { createTestTopics, kafkaBootstrap } from '../support/kafka.js';
import { repoRoot, runProcess } from '../support/lab.js';

const lab = (args: string[]) => runProcess(process.execPath, [join(repoRoot, 'dist', 'lab', 'main.js'), ...args], { timeoutMs: 120_000 });

async function writeOutputs(topic: string, records: Array<ProcessedRecord | CommitRecord>): Promise<void> {
  const producer = new Producer<string, string, string, string>({
    clientId: 'lab-test-consumer',
    bootstrapBrokers: [kafkaBootstrap],
    serializers: serializersFrom(stringSerializer),
  });
  try {
    await producer.send({
      messages: records.map((record) => ({
        topic,
        key: record.type === 'processed' ? record.key : 'commit',
        value: JSON.stringify(record),
      })),
    });
  } finally {
    await producer.close();
  }
}

interface VerdictJson {
  produced: number;
  processed: number;
  lost: number;
  duplicated: number;
  unexplainedDuplicates: number;
  crashExplainedDuplicates: number;
  byColor: Record<string, number>;
  runIds: string[];
}

describe('lab produce and verify on the lab broker', { timeout: 30 * 60_000 }, () => {
  before(async () => {
    await labUp({ scope: 'control-plane', report: (line) => process.stderr.write(`[lab] ${line}\n`) });
  });

  after(async () => {
    await labDown();
  });

  it('accounts for every message: lost until processed, then crash-explained and unexplained repeats told apart', async () => {
    const topics = await createTestTopics('lab-verify', 3);
    const production = await startProduction({ rate: 1000, count: 60, topic: topics.input, bootstrap: kafkaBootstrap });
    const summary = await production.finished;
    assert.equal(summary.produced, 60);
    const verifyArgs = [
      'verify',
      '-o',
      'json',
      '--input-topic',
      topics.input,
      '--output-topic',
      topics.output,
      '--run-id',
      production.runId,
    ];

    const nothingProcessed = await lab(verifyArgs);
    assert.equal(nothingProcessed.code, 1, nothingProcessed.stderr);
    const before = JSON.parse(nothingProcessed.stdout) as VerdictJson;
    assert.deepEqual([before.produced, before.processed, before.lost], [60, 0, 60]);
    assert.match(nothingProcessed.stderr, /60 lost/);

    // Blue processes the first half of each partition and commits it; green the rest. Green also
    // re-processes the message after blue's last commit on partition 0 (blue "died" before committing
    // it): a crash-explained repeat.
    const inputs = await readTopic(kafkaBootstrap, topics.input);
    const now = Date.now();
    const outputs: Array<ProcessedRecord | CommitRecord> = [];
    for (const partition of [0, 1, 2]) {
      const mine = inputs.filter((record) => record.partition === partition).sort((x, y) => x.offset - y.offset);
      const half = Math.floor(mine.length / 2);
      mine.forEach((record, index) => {
        const color = index < half ? 'blue' : 'green';
        outputs.push({
          type: 'processed',
          sourcePartition: partition,
          sourceOffset: record.offset,
          key: record.key,
          pod: `consumer-${color}-0`,
          color,
          incarnation: `${color}-1`,
          processedAt: now + (index < half ? index : 1000 + index),
        });
      });
      outputs.push({
        type: 'commit',
        pod: 'consumer-blue-0',
        color: 'blue',
        incarnation: 'blue-1',
        offsets: [{ partition, offset: partition === 0 ? half - 1 : half }],
        committedAt: now + 500,
      });
    }
    const p0 = inputs.filter((record) => record.partition === 0).sort((x, y) => x.offset - y.offset);
    const uncommitted = p0[Math.floor(p0.length / 2) - 1];
    assert.ok(uncommitted, 'partition 0 has messages');
    outputs.push({
      type: 'processed',
      sourcePartition: 0,
      sourceOffset: uncommitted.offset,
      key: uncommitted.key,
      pod: 'consumer-green-0',
      color: 'green',
      incarnation: 'green-1',
      processedAt: now + 999,
    });
    await writeOutputs(topics.output, outputs);

    const judged = await lab([...verifyArgs, '--settle', '30s']);
    assert.equal(judged.code, 0, judged.stderr);
    const verdict = JSON.parse(judged.stdout) as VerdictJson;
    assert.deepEqual(
      [
        verdict.produced,
        verdict.processed,
        verdict.lost,
        verdict.duplicated,
        verdict.crashExplainedDuplicates,
        verdict.unexplainedDuplicates,
      ],
      [60, 60, 0, 1, 1, 0],
    );
    assert.deepEqual(verdict.runIds, [production.runId]);
    assert.equal((verdict.byColor.blue ?? 0) + (verdict.byColor.green ?? 0), 61);

    // A repeat of a message blue had committed is not explained by any crash.
    const committed = p0[0];
    assert.ok(committed);
    await writeOutputs(topics.output, [
      {
        type: 'processed',
        sourcePartition: 0,
        sourceOffset: committed.offset,
        key: committed.key,
        pod: 'consumer-green-0',
        color: 'green',
        incarnation: 'green-1',
        processedAt: now + 2000,
      },
    ]);
    const failing = await lab(verifyArgs);
    assert.equal(failing.code, 1);
    assert.equal((JSON.parse(failing.stdout) as VerdictJson).unexplainedDuplicates, 1);
    assert.match(failing.stderr, /1 duplicates not explained by a crash, e\.g\. seq-\d+ at 0:\d+ by consumer-blue-0, consumer-green-0/);
  });

  it('produces in the background until stopped, and the summary matches what the topic holds', async () => {
    const topics = await createTestTopics('lab-background', 2);
    const started = await lab(['produce', '--background', '--rate', '200', '--topic', topics.input]);
    assert.equal(started.code, 0, started.stderr);
    const runId = /run (\S+), pid \d+/.exec(started.stdout)?.[1];
    assert.ok(runId, started.stdout);

    const again = await lab(['produce', '--background', '--topic', topics.input]);
    assert.equal(again.code, 2);
    assert.match(again.stderr, /already running/);

    // Let it produce something before stopping it.
    await waitFor(
      'the background producer to write',
      async () =>
        (await readTopic(kafkaBootstrap, topics.input)).length > 0
          ? { done: true, value: undefined }
          : { done: false, reason: 'the topic is empty' },
      { timeoutMs: 30_000, firstIntervalMs: 200 },
    );
    const stopped = await lab(['produce', '--stop']);
    assert.equal(stopped.code, 0, stopped.stderr);
    const count = Number(/produced (\d+) messages/.exec(stopped.stdout)?.[1]);
    assert.ok(count > 0, stopped.stdout);
    assert.match(stopped.stdout, new RegExp(`run ${runId}`));
    const written = await readTopic(kafkaBootstrap, topics.input);
    assert.equal(written.length, count);
    assert.equal((await lab(['produce', '--stop'])).stdout.trim(), 'no background producer running');
  });
});

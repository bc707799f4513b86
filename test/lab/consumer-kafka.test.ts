/**
 * The reference consumer on a real Kafka broker: built consumer processes (`node dist/consumer/main.js`,
 * and in the hand-off green is the image's program: the `npm run bundle` file alone in a directory)
 * on loopback ports, one consumer group shared by blue and green, topics of the test's own. Proves
 * the hand-off (pause = commit + leave; resume = join at the committed offsets) processes every
 * input offset exactly once without the colours overlapping, that a SIGKILLed consumer only causes
 * duplicates of what it never committed, and that LEAVE_GROUP_ON_PAUSE=false reproduces the
 * original bug (a paused member keeps its partitions). Prints the measured resume and pause times.
 * Needs the broker: the lab's (brought up here unless LAB_KAFKA_BOOTSTRAP names another one) and
 * `npm run build`.
 */
import assert from 'node:assert/strict';
import type { ChildProcess } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { copyFile, mkdir, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { Admin, Consumer, Producer, stringDeserializers, stringSerializers, type MessagesStream } from '@platformatic/kafka';
import { parseTransitionLog } from '../../consumer/transitions.js';
import type { LifecycleChange, LifecycleStatus } from '../../src/shared/pod-api.js';
import { parseOutputRecord, type CommitRecord, type OutputRecord, type ProcessedRecord } from '../../src/shared/kafka-records.js';
import { createTestTopics, kafkaBootstrap } from '../support/kafka.js';
import { listeningUrl, spawnConsumer } from '../support/consumer-process.js';
import { ensureLab, runProcess, waitFor } from '../support/lab.js';

const PARTITIONS = 6;

interface ConsumerProcess {
  pod: string;
  child: ChildProcess;
  url: string;
  stdout: () => string;
  exited: Promise<number | null>;
}

const processes: ConsumerProcess[] = [];

async function startConsumer(
  pod: string,
  topics: { input: string; output: string; group: string },
  env: Record<string, string> = {},
  program = 'dist/consumer/main.js',
): Promise<ConsumerProcess> {
  const run = spawnConsumer([program], {
    PORT: '0',
    HOST: '127.0.0.1',
    MY_POD_NAME: pod,
    MY_COLOR: pod.includes('blue') ? 'blue' : 'green',
    KAFKA_BOOTSTRAP_SERVERS: kafkaBootstrap,
    KAFKA_GROUP: topics.group,
    KAFKA_INPUT_TOPIC: topics.input,
    KAFKA_OUTPUT_TOPIC: topics.output,
    ...env,
  });
  const url = await waitFor(`${pod} listening`, async () => {
    if (run.child.exitCode !== null) assert.fail(`${pod} exited ${run.child.exitCode} before listening: ${run.stderr()}`);
    return listeningUrl(run);
  });
  const started = { pod, child: run.child, url, stdout: run.stdout, exited: run.exited };
  processes.push(started);
  return started;
}

async function lifecycle(consumer: ConsumerProcess, action: 'pause' | 'resume'): Promise<LifecycleChange> {
  const response = await fetch(`${consumer.url}/lifecycle/${action}`, { method: 'POST' });
  assert.equal(response.status, 200);
  return (await response.json()) as LifecycleChange;
}

async function status(consumer: ConsumerProcess): Promise<LifecycleStatus> {
  return (await (await fetch(`${consumer.url}/lifecycle/status`)).json()) as LifecycleStatus;
}

async function pauseAndWait(consumer: ConsumerProcess): Promise<void> {
  await lifecycle(consumer, 'pause');
  await waitFor(`${consumer.pod} PAUSED`, async () => ((await status(consumer)).state === 'PAUSED' ? true : undefined));
}

let producer: Producer<string, string, string, string>;
let admin: Admin;
let runId = 0;
/** Where the image's program was built: `image/main.mjs` alone, as the Dockerfile lays it out. */
let imageDir: string;

/** Produces `count` events `seq-<n>` (idempotent, so the input holds each exactly once). */
async function produce(topic: string, count: number): Promise<void> {
  runId += 1;
  const run = `run-${runId}`;
  await producer.send({
    messages: Array.from({ length: count }, (_, seq) => ({
      topic,
      key: `seq-${run}-${seq}`,
      value: JSON.stringify({ seq, runId: run, producedAt: Date.now() }),
    })),
  });
}

/** Reads the output topic from its start, continuously. */
class OutputReader {
  readonly records: OutputRecord[] = [];
  private stream: MessagesStream<string, string, string, string> | undefined;
  private readonly consumer: Consumer<string, string, string, string>;

  constructor(private readonly topic: string) {
    this.consumer = new Consumer({
      clientId: 'output-reader',
      groupId: `reader-${randomUUID()}`,
      bootstrapBrokers: [kafkaBootstrap],
      deserializers: stringDeserializers,
      maxWaitTime: 100,
    });
  }

  async start(): Promise<void> {
    this.stream = await this.consumer.consume({ topics: [this.topic], mode: 'earliest', autocommit: false });
    this.stream.on('data', (message) => {
      const record = parseOutputRecord(message.value);
      assert.ok(record, `an output record: ${message.value}`);
      this.records.push(record);
    });
  }

  processed(): ProcessedRecord[] {
    return this.records.filter((record): record is ProcessedRecord => record.type === 'processed');
  }

  commits(): CommitRecord[] {
    return this.records.filter((record): record is CommitRecord => record.type === 'commit');
  }

  /** Waits until `count` distinct input offsets were processed. */
  async waitForDistinct(count: number, timeoutMs = 30_000): Promise<void> {
    await waitFor(
      `${count} input offsets processed`,
      async () => (distinctOffsets(this.processed()) >= count ? true : undefined),
      timeoutMs,
    );
  }

  async close(): Promise<void> {
    await this.stream?.close();
    await this.consumer.close(true);
  }
}

function offsetId(record: ProcessedRecord): string {
  return `${record.sourcePartition}:${record.sourceOffset}`;
}

/** The repeated offsets, who processed each copy when, and the commits around them: what a failure needs. */
function describeDuplicates(output: OutputReader): string {
  const byOffset = new Map<string, ProcessedRecord[]>();
  for (const record of output.processed()) byOffset.set(offsetId(record), [...(byOffset.get(offsetId(record)) ?? []), record]);
  const repeated = [...byOffset].filter(([, copies]) => copies.length > 1);
  const copies = repeated.map(
    ([id, list]) => `${id} by ${list.map((record) => `${record.pod}@${record.processedAt.toFixed(1)}`).join(' and ')}`,
  );
  const commits = output.commits().map((commit) => `${commit.pod}@${commit.committedAt.toFixed(1)} ${JSON.stringify(commit.offsets)}`);
  return `${repeated.length} repeated: ${copies.join('; ')}\ncommits: ${commits.join('\n')}`;
}

function distinctOffsets(records: ProcessedRecord[]): number {
  return new Set(records.map(offsetId)).size;
}

/** The input topic's end offset per partition (each partition's message count). */
async function endOffsets(topic: string): Promise<number[]> {
  const reader = new Consumer({ clientId: 'size-reader', groupId: `size-${randomUUID()}`, bootstrapBrokers: [kafkaBootstrap] });
  try {
    return ((await reader.listOffsets({ topics: [topic] })).get(topic) ?? []).map(Number);
  } finally {
    await reader.close();
  }
}

async function inputSize(topic: string): Promise<number> {
  return (await endOffsets(topic)).reduce((sum, count) => sum + count, 0);
}

/** The group's members, by client id, with the partitions of `topic` each holds. */
async function groupMembers(group: string, topic: string): Promise<Map<string, number[]>> {
  const described = (await admin.describeGroups({ groups: [group] })).get(group);
  const members = new Map<string, number[]>();
  for (const member of described?.members.values() ?? []) {
    members.set(
      member.clientId,
      [...(member.assignments?.get(topic)?.partitions ?? [])].sort((a, b) => a - b),
    );
  }
  return members;
}

before(async () => {
  if (process.env.LAB_KAFKA_BOOTSTRAP === undefined) await ensureLab();
  imageDir = await mkdtemp(join(tmpdir(), 'bgswitch-consumer-image-'));
  const bundled = await runProcess('npm', ['run', '--silent', 'bundle', '--', 'consumer', '--outdir', join(imageDir, 'out')]);
  assert.equal(bundled.code, 0, bundled.stderr);
  await mkdir(join(imageDir, 'image'));
  await copyFile(join(imageDir, 'out', 'consumer', 'main.mjs'), join(imageDir, 'image', 'main.mjs'));
  producer = new Producer({
    clientId: 'consumer-kafka-test',
    bootstrapBrokers: [kafkaBootstrap],
    serializers: stringSerializers,
    idempotent: true,
  });
  admin = new Admin({ clientId: 'consumer-kafka-test', bootstrapBrokers: [kafkaBootstrap] });
});

after(async () => {
  for (const consumer of processes) consumer.child.kill('SIGKILL');
  await Promise.all(processes.map((consumer) => consumer.exited));
  await producer?.close();
  await admin?.close();
  if (imageDir) await rm(imageDir, { recursive: true, force: true });
});

describe('reference consumer on Kafka', { timeout: 180_000 }, () => {
  it("hands a live topic from blue to green (the image's bundled consumer): every input offset exactly once, the colours never overlap", async () => {
    const topics = await createTestTopics('handoff', PARTITIONS);
    const output = new OutputReader(topics.output);
    await output.start();
    try {
      const [blue, green] = await Promise.all([
        startConsumer('consumer-blue-0', topics),
        startConsumer('consumer-green-0', topics, {}, join(imageDir, 'image', 'main.mjs')),
      ]);
      await produce(topics.input, 300);
      await lifecycle(blue, 'resume');
      await output.waitForDistinct(300);
      const blueFirst = Math.min(...output.processed().map((record) => record.processedAt));

      await pauseAndWait(blue);
      // PAUSED means committed and left: the group has no blue member at that instant.
      assert.deepEqual([...(await groupMembers(topics.group, topics.input)).keys()], [], 'blue left the group before reporting PAUSED');
      const blueLast = Math.max(...output.processed().map((record) => record.processedAt));

      await produce(topics.input, 300);
      await lifecycle(green, 'resume');
      await output.waitForDistinct(600);
      const greens = output.processed().filter((record) => record.color === 'green');
      const greenFirst = Math.min(...greens.map((record) => record.processedAt));

      assert.equal(await inputSize(topics.input), 600);
      const processed = output.processed();
      assert.equal(distinctOffsets(processed), 600, 'every input offset processed');
      assert.equal(processed.length, 600, 'none twice');
      assert.equal(greens.length, 300, 'green processed exactly what arrived after the hand-off');
      assert.ok(blueLast < greenFirst, 'green processed nothing before blue stopped');
      assert.deepEqual(
        [...(await groupMembers(topics.group, topics.input))].map(([client, partitions]) => [client, partitions.length]),
        [['consumer-green-0', PARTITIONS]],
        'green holds every partition',
      );

      // The transition logs say the same: blue PAUSED before green ACTIVE.
      const at = (log: string, to: string): number => {
        const record = parseTransitionLog(log).find((entry) => entry.event === 'transition' && entry.to === to);
        assert.ok(record, `a transition to ${to} in the log`);
        return record.at;
      };
      assert.ok(at(blue.stdout(), 'PAUSED') < at(green.stdout(), 'ACTIVE'), 'transition logs: blue PAUSED before green ACTIVE');
      // SIGTERM on the active consumer: drain, commit, leave, exit 0.
      green.child.kill('SIGTERM');
      assert.equal(await green.exited, 0);
      assert.deepEqual([...(await groupMembers(topics.group, topics.input)).keys()], [], 'green left the group on SIGTERM');
      assert.deepEqual(
        parseTransitionLog(green.stdout())
          .slice(-3)
          .map((record) => (record.event === 'transition' ? `${record.from}->${record.to}` : `${record.event} ${record.state}`)),
        ['ACTIVE->DRAINING', 'DRAINING->PAUSED', 'exit PAUSED'],
      );
      // Each consumer's own clock: from the transition it logged to the first record it processed or to PAUSED.
      process.stdout.write(
        `# measured: resume (ACTIVE) -> first message processed: blue ${(blueFirst - at(blue.stdout(), 'ACTIVE')).toFixed(0)} ms (new group), ` +
          `green ${(greenFirst - at(green.stdout(), 'ACTIVE')).toFixed(0)} ms (blue's group, just left); ` +
          `pause (DRAINING) -> PAUSED (commit + leave): ${(at(blue.stdout(), 'PAUSED') - at(blue.stdout(), 'DRAINING')).toFixed(0)} ms\n`,
      );
    } finally {
      await output.close();
    }
  });

  it('a rebalance while ACTIVE (a second member joins, then leaves) duplicates nothing', async () => {
    const topics = await createTestTopics('rebalance', PARTITIONS);
    const output = new OutputReader(topics.output);
    await output.start();
    const [first, second] = await Promise.all([startConsumer('consumer-green-3', topics), startConsumer('consumer-green-4', topics)]);
    try {
      // Slow processing keeps a batch in flight when the rebalance comes.
      const put = await fetch(`${first.url}/fault/processing-delay`, { method: 'PUT', body: '{"delayMs":3}' });
      assert.equal(put.status, 200);
      await produce(topics.input, 400);
      await lifecycle(first, 'resume');
      await output.waitForDistinct(50);
      await lifecycle(second, 'resume');
      await waitFor('both members hold partitions', async () => {
        const members = await groupMembers(topics.group, topics.input);
        return members.get('consumer-green-3')?.length && members.get('consumer-green-4')?.length ? true : undefined;
      });
      await produce(topics.input, 200);
      await output.waitForDistinct(500);
      await pauseAndWait(second);
      await produce(topics.input, 100);
      await output.waitForDistinct(700);
      const processed = output.processed();
      assert.equal(await inputSize(topics.input), 700);
      assert.equal(distinctOffsets(processed), 700);
      assert.equal(processed.length, 700, `no offset processed twice across the two rebalances: ${describeDuplicates(output)}`);
      assert.ok(
        processed.some((record) => record.pod === 'consumer-green-4'),
        'the second member processed its share',
      );
    } finally {
      await output.close();
    }
  });

  it('a SIGKILLed active consumer causes only duplicates of offsets it never committed', async () => {
    const topics = await createTestTopics('sigkill', PARTITIONS);
    const output = new OutputReader(topics.output);
    await output.start();
    const blue = await startConsumer('consumer-blue-1', topics);
    const green = await startConsumer('consumer-green-1', topics);
    try {
      await produce(topics.input, 200);
      // A slow commit keeps processed-but-uncommitted messages around, so the kill lands between the two.
      const put = await fetch(`${blue.url}/fault/commit-delay`, { method: 'PUT', body: '{"delayMs":300}' });
      assert.equal(put.status, 200);
      await lifecycle(blue, 'resume');
      await waitFor('blue committed a batch and processed more', async () => {
        const committed = new Set(
          output.commits().flatMap((commit) => commit.offsets.map(({ partition, offset }) => `${partition}:${offset}`)),
        );
        return committed.size > 0 && output.processed().length > 20 ? true : undefined;
      });
      blue.child.kill('SIGKILL');
      await blue.exited;
      const blueIncarnations = new Set(
        output
          .processed()
          .filter((record) => record.pod === 'consumer-blue-1')
          .map((record) => record.incarnation),
      );
      assert.equal(blueIncarnations.size, 1);

      const resumedAt = Date.now();
      await lifecycle(green, 'resume');
      await output.waitForDistinct(200, 60_000);
      const greenFirst = Math.min(
        ...output
          .processed()
          .filter((record) => record.color === 'green')
          .map((record) => record.processedAt),
      );

      // Blue's committed position per partition, from its CommitRecords.
      const blueCommitted = new Map<number, number>();
      for (const commit of output.commits().filter((record) => record.pod === 'consumer-blue-1')) {
        for (const { partition, offset } of commit.offsets)
          blueCommitted.set(partition, Math.max(blueCommitted.get(partition) ?? 0, offset));
      }
      const byOffset = new Map<string, ProcessedRecord[]>();
      for (const record of output.processed()) byOffset.set(offsetId(record), [...(byOffset.get(offsetId(record)) ?? []), record]);
      const duplicates = [...byOffset.values()].filter((copies) => copies.length > 1);
      for (const copies of duplicates) {
        const [first, ...later] = copies.sort((a, b) => a.processedAt - b.processedAt) as [ProcessedRecord, ...ProcessedRecord[]];
        assert.equal(first.pod, 'consumer-blue-1', `the first copy of ${offsetId(first)} is the killed consumer's`);
        assert.ok(first.sourceOffset >= (blueCommitted.get(first.sourcePartition) ?? 0), `${offsetId(first)} was never committed by blue`);
        assert.deepEqual(
          later.map((record) => record.pod),
          ['consumer-green-1'],
        );
      }
      assert.equal(byOffset.size, 200, 'nothing lost');
      assert.ok(duplicates.length > 0, 'the kill left processed-but-uncommitted messages, processed again by green');
      process.stdout.write(
        `# measured: ${duplicates.length} crash-explained duplicates; green's first message ${(greenFirst - resumedAt).toFixed(0)} ms after its resume (the killed member's session had to expire)\n`,
      );
    } finally {
      await output.close();
    }
  });

  it('LEAVE_GROUP_ON_PAUSE=false: the paused member keeps its partitions and the other colour gets only part of them', async () => {
    const topics = await createTestTopics('stranded', PARTITIONS);
    const output = new OutputReader(topics.output);
    await output.start();
    const blue = await startConsumer('consumer-blue-2', topics, { LEAVE_GROUP_ON_PAUSE: 'false' });
    const green = await startConsumer('consumer-green-2', topics);
    try {
      await lifecycle(blue, 'resume');
      await waitFor('blue holds every partition', async () =>
        (await groupMembers(topics.group, topics.input)).get('consumer-blue-2')?.length === PARTITIONS ? true : undefined,
      );
      await pauseAndWait(blue);
      await lifecycle(green, 'resume');
      const members = await waitFor('a rebalance over both members', async () => {
        const current = await groupMembers(topics.group, topics.input);
        return current.size === 2 && (current.get('consumer-green-2')?.length ?? 0) > 0 ? current : undefined;
      });
      const stranded = members.get('consumer-blue-2') ?? [];
      const greenPartitions = members.get('consumer-green-2') ?? [];
      assert.ok(stranded.length > 0, 'the paused blue member still holds partitions');
      assert.ok(greenPartitions.length < PARTITIONS, 'green got only part of them');

      await produce(topics.input, 120);
      const counts = await endOffsets(topics.input);
      const inGreenPartitions = greenPartitions.reduce((sum, partition) => sum + (counts[partition] ?? 0), 0);
      await output.waitForDistinct(inGreenPartitions);
      const size = counts.reduce((sum, count) => sum + count, 0);
      assert.ok(inGreenPartitions < size, 'the stranded partitions hold messages too');
      assert.ok(
        output.processed().every((record) => greenPartitions.includes(record.sourcePartition)),
        'nothing of the stranded partitions was consumed',
      );
      assert.equal((await status(blue)).totalMessagesReceived, 0);
      process.stdout.write(
        `# stranded partitions ${stranded.join(', ')} held by paused consumer-blue-2; ${size - inGreenPartitions} of ${size} messages not consumed\n`,
      );
    } finally {
      await output.close();
    }
  });
});

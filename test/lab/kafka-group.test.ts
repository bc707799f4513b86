/**
 * The KafkaGroup adapter (src/kafka/admin-group.ts) against a real broker: real @platformatic/kafka
 * consumers form a group on topics of the test's own, and what the adapter reports (through the
 * protocol's readGroup) must be what they did: members with their client ids and hosts, matched to
 * pods, assignments covering every partition, committed offsets, lag; a member that leaves is gone
 * and its partitions move. An unreachable broker fails fast with a clear, bounded error.
 * Needs only a broker: the lab's by default, or LAB_KAFKA_BOOTSTRAP.
 */
import assert from 'node:assert/strict';
import { connect } from 'node:net';
import { after, before, it } from 'node:test';
import { Consumer, Producer, stringDeserializers, stringSerializers, type MessagesStream } from '@platformatic/kafka';
import { systemClock } from '../../src/shared/clock.js';
import { KafkaUnavailableError } from '../../src/core/errors.js';
import { readGroup, type GroupView, type ObservedPod } from '../../src/core/kafka-group.js';
import { pollUntil } from '../../src/core/poll.js';
import { openKafkaGroup, type AdminGroup } from '../../src/kafka/admin-group.js';
import { createTestTopics, kafkaBootstrap } from '../support/kafka.js';
import { ensureLab } from '../support/lab.js';

const PARTITIONS = 6;
const PER_PARTITION = 10;
/** Each consumer commits offsets below this only, so every partition ends with a lag of PER_PARTITION - COMMIT_BELOW. */
const COMMIT_BELOW = 7;

let topics: { input: string; group: string };
let adapter: AdminGroup;
let localAddress: string;
const running: Array<{ consumer: Consumer<string, string, string, string>; stream: MessagesStream<string, string, string, string> }> = [];

before(async () => {
  if (process.env.LAB_KAFKA_BOOTSTRAP === undefined) await ensureLab();
  topics = await createTestTopics('bgswitch-group', PARTITIONS);
  localAddress = await addressTowardsBroker();
  // Idempotent: without it, a batch retried on a freshly created topic can be written twice.
  const producer = new Producer({
    clientId: 'bgswitch-test-producer',
    bootstrapBrokers: [kafkaBootstrap],
    serializers: stringSerializers,
    idempotent: true,
  });
  try {
    const messages = Array.from({ length: PARTITIONS * PER_PARTITION }, (_, i) => ({
      topic: topics.input,
      key: `seq-${i}`,
      value: `${i}`,
      partition: i % PARTITIONS,
    }));
    await producer.send({ messages });
  } finally {
    await producer.close();
  }
  adapter = openKafkaGroup({ brokers: [kafkaBootstrap], groupId: topics.group }, { timeoutMs: 5_000, clientId: 'bgswitch-test' });
});

after(async () => {
  for (const { consumer, stream } of running) {
    await stream.close().catch(() => undefined);
    await consumer.close().catch(() => undefined);
  }
  await adapter?.close();
});

/** The source address this host uses to reach the broker: what the broker reports as a member's host. */
function addressTowardsBroker(): Promise<string> {
  const [host, port] = [
    kafkaBootstrap.slice(0, kafkaBootstrap.lastIndexOf(':')),
    Number(kafkaBootstrap.slice(kafkaBootstrap.lastIndexOf(':') + 1)),
  ];
  return new Promise((resolve, reject) => {
    const socket = connect({ host, port }, () => {
      resolve(socket.localAddress ?? '');
      socket.end();
    });
    socket.on('error', reject);
  });
}

/** A real consumer in the group, committing what it reads below COMMIT_BELOW. */
async function startConsumer(clientId: string): Promise<void> {
  const consumer = new Consumer({
    clientId,
    groupId: topics.group,
    bootstrapBrokers: [kafkaBootstrap],
    deserializers: stringDeserializers,
    autocommit: false,
    sessionTimeout: 10_000,
    heartbeatInterval: 500,
  });
  const stream = await consumer.consume({ topics: [topics.input], mode: 'committed', fallbackMode: 'earliest', maxWaitTime: 200 });
  stream.on('data', (message) => {
    if (message.offset < BigInt(COMMIT_BELOW)) void message.commit();
  });
  running.push({ consumer, stream });
}

const pods: ObservedPod[] = [
  { pod: { name: 'consumer-blue-0', color: 'blue', phase: 'Running', ready: true, restarts: 0, terminating: false } },
  { pod: { name: 'consumer-blue-1', color: 'blue', phase: 'Running', ready: true, restarts: 0, terminating: false } },
];

async function waitForGroup(what: string, condition: (view: GroupView) => boolean): Promise<GroupView> {
  const result = await pollUntil(
    async () => {
      const view = await readGroup(adapter, pods, [topics.input]);
      return { done: condition(view), value: view };
    },
    { clock: systemClock, timeoutMs: 30_000, maxIntervalMs: 250 },
  );
  if (!result.done) assert.fail(`${what}; last seen: ${JSON.stringify(result.last, null, 1)}`);
  console.log(`# ${what}: ${(result.elapsedMs / 1000).toFixed(1)}s`);
  return result.value;
}

const assignedPartitions = (view: GroupView) =>
  view.members.flatMap((m) => m.assignments.flatMap((a) => a.partitions.map((p) => `${a.topic}/${p}`))).sort();
const allPartitions = () => Array.from({ length: PARTITIONS }, (_, p) => `${topics.input}/${p}`).sort();

it('two consumers: members with client ids and hosts, every partition assigned once, committed offsets and lag', async () => {
  await startConsumer('consumer-blue-0');
  await startConsumer('consumer-blue-1');

  const view = await waitForGroup(
    'both members hold partitions and every partition committed up to 7',
    (v) =>
      v.state === 'STABLE' &&
      v.members.length === 2 &&
      v.members.every((m) => m.assignments.length > 0) &&
      v.partitions.every((p) => p.committed === COMMIT_BELOW),
  );

  assert.equal(view.groupId, topics.group);
  assert.deepEqual(view.topics, [topics.input]);
  assert.deepEqual(
    view.members.map((m) => [m.clientId, m.pod, m.color, m.host]),
    [
      ['consumer-blue-0', 'consumer-blue-0', 'blue', localAddress],
      ['consumer-blue-1', 'consumer-blue-1', 'blue', localAddress],
    ],
  );
  assert.deepEqual(assignedPartitions(view), allPartitions(), 'every partition assigned exactly once');
  assert.deepEqual(
    view.partitions.map((p) => [p.partition, p.committed, p.end, p.lag, p.color]),
    Array.from({ length: PARTITIONS }, (_, p) => [p, COMMIT_BELOW, PER_PARTITION, PER_PARTITION - COMMIT_BELOW, 'blue']),
  );
  assert.deepEqual(view.lag, {
    total: PARTITIONS * (PER_PARTITION - COMMIT_BELOW),
    blue: PARTITIONS * (PER_PARTITION - COMMIT_BELOW),
    green: 0,
    unassigned: 0,
    unknown: 0,
  });
});

it('a member matched by host, and a member that leaves: its partitions move to the one left', async () => {
  const first = running.shift()!;
  await first.stream.close();
  await first.consumer.close();
  const byHost: ObservedPod = {
    pod: { name: 'consumer-green-0', color: 'green', phase: 'Running', ready: true, restarts: 0, terminating: false, ip: localAddress },
  };
  pods.push(byHost);

  const view = await waitForGroup(
    'consumer-blue-0 left and consumer-blue-1 holds all partitions',
    (v) => v.members.length === 1 && assignedPartitions(v).length === PARTITIONS,
  );

  // consumer-blue-1 is matched by its client id before the host rule is tried.
  assert.deepEqual(
    view.members.map((m) => [m.clientId, m.pod]),
    [['consumer-blue-1', 'consumer-blue-1']],
  );
  assert.deepEqual(assignedPartitions(view), allPartitions());

  await startConsumer('not-a-pod-name');
  const withStranger = await waitForGroup('a member whose client id is no pod name joined', (v) =>
    v.members.some((m) => m.clientId === 'not-a-pod-name' && m.assignments.length > 0),
  );
  const stranger = withStranger.members.find((m) => m.clientId === 'not-a-pod-name');
  assert.equal(stranger?.pod, 'consumer-green-0', 'matched by host = pod IP');
  assert.equal(stranger?.color, 'green');
  pods.pop();
});

it('an unreachable broker fails with a KafkaUnavailableError naming the address and the call, within the deadline', async () => {
  const closed = openKafkaGroup({ brokers: ['127.0.0.1:1'], groupId: 'g' }, { timeoutMs: 2_000 });
  const started = Date.now();
  try {
    const error = await closed.describe().then(
      () => assert.fail('expected a failure'),
      (e: unknown) => e,
    );
    assert.ok(error instanceof KafkaUnavailableError, String(error));
    assert.match(error.message, /^Kafka at 127\.0\.0\.1:1: describe group g failed: .*127\.0\.0\.1:1/);
    assert.match(error.hint ?? '', /--no-kafka/);
  } finally {
    await closed.close();
  }
  console.log(`# unreachable broker reported after ${Date.now() - started} ms (deadline 2000 ms)`);
});

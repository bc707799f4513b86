/**
 * The reference consumer's group client (consumer/kafka-group.ts) on a real broker, on a topic of
 * the test's own: a fetch the engine abandoned and rewound must not take messages the next fetch
 * is due (found by test/e2e/kafka-switches: 14 messages lost around one hand-off). Needs only a
 * broker: the lab's by default, or LAB_KAFKA_BOOTSTRAP.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { Producer, stringSerializers } from '@platformatic/kafka';
import { KafkaGroup } from '../../consumer/kafka-group.js';
import { createTestTopics, kafkaBootstrap } from '../support/kafka.js';
import { ensureLab } from '../support/lab.js';

const groups: KafkaGroup[] = [];

before(async () => {
  if (process.env.LAB_KAFKA_BOOTSTRAP === undefined) await ensureLab();
});

after(async () => {
  await Promise.all(groups.map((group) => group.close()));
});

describe('consumer group client on Kafka', { timeout: 120_000 }, () => {
  it('after a rewind, the next fetch starts at the committed offset even while an abandoned fetch is still running', async () => {
    const topics = await createTestTopics('group-rewind', 1);
    const producer = new Producer({
      clientId: 'consumer-kafka-group-test',
      bootstrapBrokers: [kafkaBootstrap],
      serializers: stringSerializers,
    });
    try {
      await producer.send({
        messages: Array.from({ length: 30 }, (_, seq) => ({ topic: topics.input, key: `seq-${seq}`, value: String(seq) })),
      });
    } finally {
      await producer.close();
    }
    const group = new KafkaGroup(
      {
        bootstrapServers: [kafkaBootstrap],
        clientId: 'group-rewind-0',
        groupId: topics.group,
        inputTopic: topics.input,
        outputTopic: topics.output,
      },
      { partitionsRevoked: () => Promise.resolve() },
    );
    groups.push(group);
    await group.join();

    // The engine abandons a fetch when woken (a pause, a rebalance) and rewinds; the fetch goes on unobserved.
    const abandoned = group.fetch(5);
    group.rewind();
    const next = await group.fetch(5);
    const late = await abandoned;

    assert.deepEqual(
      next.map((m) => m.offset),
      [0, 1, 2, 3, 4],
      'nothing is committed yet, so the next fetch starts at offset 0',
    );
    assert.deepEqual(late, [], 'the abandoned fetch took no message out of the buffer');
  });
});

/**
 * Test support for the real Kafka broker: its address and topics of a test's own, so a test never
 * depends on what another test (or the lab's load) left in the shared topics.
 * The broker is the lab's (`lab up` starts it); LAB_KAFKA_BOOTSTRAP points tests at another one.
 */
import { randomUUID } from 'node:crypto';
import { Admin } from '@platformatic/kafka';
import { LAB_KAFKA_BOOTSTRAP } from '../../lab/paths.js';

export const kafkaBootstrap: string = process.env.LAB_KAFKA_BOOTSTRAP ?? LAB_KAFKA_BOOTSTRAP;

/** Creates topics named `<prefix>-<random>` (and `-out` for the output) with `partitions` each. */
export async function createTestTopics(prefix: string, partitions = 6): Promise<{ input: string; output: string; group: string }> {
  const id = randomUUID().slice(0, 8);
  const names = { input: `${prefix}-${id}`, output: `${prefix}-${id}-out`, group: `${prefix}-${id}-group` };
  const admin = new Admin({ clientId: 'bgswitch-test', bootstrapBrokers: [kafkaBootstrap] });
  try {
    await admin.createTopics({ topics: [names.input, names.output], partitions, replicas: 1 });
  } finally {
    await admin.close();
  }
  return names;
}

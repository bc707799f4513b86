/**
 * The Kafka flags and their resolution (src/core/kafka-settings.ts): `--kafka-bootstrap`,
 * `--kafka-group`, `--no-kafka`. The Kafka client (src/kafka) is imported here, dynamically, and
 * only when a command that reads the group runs with Kafka configured.
 */
import type { Command } from 'commander';
import {
  KAFKA_BOOTSTRAP_KEY,
  KAFKA_GROUP_KEY,
  locallyComplete,
  resolveKafkaSettings,
  validateLocalSources,
  type KafkaSettings,
  type KafkaSources,
} from '../core/kafka-settings.js';
import type { Cluster, KafkaGroup } from '../core/ports.js';
import type { Env } from './options.js';
import type { Runtime } from './runtime.js';

/** Raw values as commander hands them over (`kafka` is false with --no-kafka). */
export interface KafkaFlags {
  kafkaBootstrap?: string;
  kafkaGroup?: string;
  kafka?: boolean;
}

/** What the command line and environment say; the ConfigMap may still fill in the rest. */
export interface KafkaChoice {
  off: boolean;
  local: Pick<KafkaSources, 'flag' | 'env'>;
}

export function addKafkaOptions(command: Command, mode: 'use' | 'store' = 'use'): Command {
  if (mode === 'store') {
    return command
      .option('--kafka-bootstrap <host:port,...>', 'store the Kafka broker address(es) for every operator (active-version ConfigMap)')
      .option('--kafka-group <id>', 'store the consumer group the fleet shares');
  }
  return command
    .option(
      '--kafka-bootstrap <host:port,...>',
      'Kafka broker address(es) (env KAFKA_BOOTSTRAP_SERVERS; default: as stored by `bgswitch init`, else no Kafka checks)',
    )
    .option('--kafka-group <id>', 'the consumer group both colours share (env KAFKA_GROUP; default: as stored by `bgswitch init`)')
    .option('--no-kafka', 'no consumer-group checks for this command');
}

/** Validates flag and environment values before anything talks to the cluster (exit 2). */
export function parseKafkaFlags(flags: KafkaFlags, env: Env): KafkaChoice {
  const fromEnv = (name: string) => (env[name] === '' ? undefined : env[name]);
  const local = {
    flag: { bootstrap: flags.kafkaBootstrap, group: flags.kafkaGroup },
    env: { bootstrap: fromEnv('KAFKA_BOOTSTRAP_SERVERS'), group: fromEnv('KAFKA_GROUP') },
  };
  const off = flags.kafka === false;
  if (!off) validateLocalSources(local);
  return { off, local };
}

/** The settings to store with `init`: both flags, or neither. */
export function kafkaSettingsToStore(flags: KafkaFlags): KafkaSettings | undefined {
  if (flags.kafkaBootstrap === undefined && flags.kafkaGroup === undefined) return undefined;
  return resolveKafkaSettings({ flag: { bootstrap: flags.kafkaBootstrap, group: flags.kafkaGroup }, env: {}, stored: {} }, '');
}

/** Flag > environment > the active-version ConfigMap (read only when needed) > off. */
export async function resolveKafka(
  choice: KafkaChoice,
  cluster: Pick<Cluster, 'getConfigMap'>,
  activeConfigMap: string,
): Promise<KafkaSettings | undefined> {
  if (choice.off) return undefined;
  const stored = locallyComplete(choice.local) ? undefined : (await cluster.getConfigMap(activeConfigMap))?.data;
  return resolveKafkaSettings(
    { ...choice.local, stored: { bootstrap: stored?.[KAFKA_BOOTSTRAP_KEY], group: stored?.[KAFKA_GROUP_KEY] } },
    activeConfigMap,
  );
}

/** Runs `work` with the consumer group when Kafka is configured (else undefined), and closes the client after. */
export async function withKafka<T>(
  choice: KafkaChoice,
  runtime: Runtime,
  timeoutMs: number,
  work: (group: KafkaGroup | undefined) => Promise<T>,
): Promise<T> {
  const settings = await resolveKafka(choice, runtime.cluster, runtime.names.activeConfigMap);
  if (!settings) return work(undefined);
  const { openKafkaGroup } = await import('../kafka/admin-group.js');
  const group = openKafkaGroup(settings, { timeoutMs });
  try {
    return await work(group);
  } finally {
    await group.close();
  }
}

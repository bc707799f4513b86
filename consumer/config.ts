/**
 * The reference consumer's configuration, read from its environment. Every problem is collected
 * into one UsageError, so a misconfigured container says everything at once; main.ts turns it into
 * one stderr line and exit code 2. Nothing here touches the file system or the network.
 * KAFKA_BOOTSTRAP_SERVERS switches to Kafka (then KAFKA_GROUP, KAFKA_INPUT_TOPIC, KAFKA_OUTPUT_TOPIC,
 * LEAVE_GROUP_ON_PAUSE apply, and MESSAGE_INTERVAL_MS does not); BATCH_SIZE applies to both.
 */
import { UsageError } from '../src/shared/errors.js';
import { DEFAULT_CONSUMER_GROUP, DEFAULT_INPUT_TOPIC, DEFAULT_OUTPUT_TOPIC } from '../src/shared/kafka-records.js';
import { isColor, type Color } from '../src/shared/model.js';

/** Present when KAFKA_BOOTSTRAP_SERVERS is set: the consumer then consumes Kafka instead of its simulated stream. */
export interface KafkaConfig {
  bootstrapServers: string[];
  group: string;
  inputTopic: string;
  outputTopic: string;
  /** false reproduces the original bug: a paused consumer stays a group member holding its partitions. */
  leaveGroupOnPause: boolean;
}

export interface ConsumerConfig {
  port: number;
  host: string;
  podName: string;
  color: Color;
  messageIntervalMs: number;
  batchSize: number;
  /** Also append the transition log here. */
  transitionLogPath?: string;
  kafka?: KafkaConfig;
}

/** Kafka's own rule for topic names (and a practical one for group ids). */
const KAFKA_NAME = /^[A-Za-z0-9._-]{1,249}$/;
const HOST_PORT = /^[A-Za-z0-9.-]+:(\d{1,5})$|^\[[0-9A-Fa-f:.]+\]:(\d{1,5})$/;

type Env = Readonly<Record<string, string | undefined>>;

/** Reads the environment; an empty variable counts as unset. PORT wins over LIFECYCLE_PORT. */
export function parseConsumerEnv(env: Env, hostname: string): ConsumerConfig {
  const problems: string[] = [];
  const value = (name: string): string | undefined => env[name]?.trim() || undefined;
  const whole = (names: string[], fallback: number, range: [number, number]): number => {
    const name = names.find((candidate) => value(candidate) !== undefined);
    if (name === undefined) return fallback;
    const raw = value(name) as string;
    const parsed = /^\d+$/.test(raw) ? Number(raw) : Number.NaN;
    if (!(parsed >= range[0] && parsed <= range[1]))
      problems.push(`${name} must be a whole number from ${range[0]} to ${range[1]}, got "${raw}"`);
    return parsed;
  };

  const color = value('MY_COLOR');
  if (!isColor(color))
    problems.push(color === undefined ? 'MY_COLOR is required ("blue" or "green")' : `MY_COLOR must be "blue" or "green", got "${color}"`);
  const config: ConsumerConfig = {
    port: whole(['PORT', 'LIFECYCLE_PORT'], 8080, [0, 65535]),
    host: value('HOST') ?? '0.0.0.0',
    podName: value('MY_POD_NAME') ?? hostname,
    color: color as Color,
    messageIntervalMs: whole(['MESSAGE_INTERVAL_MS'], 20, [1, 3_600_000]),
    batchSize: whole(['BATCH_SIZE'], 10, [1, 100_000]),
  };
  const transitionLogPath = value('TRANSITION_LOG_PATH');
  if (transitionLogPath !== undefined) config.transitionLogPath = transitionLogPath;
  const bootstrap = value('KAFKA_BOOTSTRAP_SERVERS');
  if (bootstrap !== undefined) config.kafka = parseKafka(bootstrap, value, problems);
  if (problems.length > 0) throw new UsageError(`invalid consumer environment: ${problems.join('; ')}`);
  return config;
}

function parseKafka(bootstrap: string, value: (name: string) => string | undefined, problems: string[]): KafkaConfig {
  const bootstrapServers = bootstrap.split(',').map((entry) => entry.trim());
  for (const server of bootstrapServers) {
    const match = HOST_PORT.exec(server);
    const port = Number(match?.[1] ?? match?.[2]);
    if (!match || !(port >= 1 && port <= 65535))
      problems.push(`KAFKA_BOOTSTRAP_SERVERS must be a comma-separated list of host:port, got "${server}"`);
  }
  const name = (variable: string, fallback: string): string => {
    const chosen = value(variable) ?? fallback;
    if (!KAFKA_NAME.test(chosen)) problems.push(`${variable} must be 1 to 249 of the characters A-Z a-z 0-9 . _ -, got "${chosen}"`);
    return chosen;
  };
  const leave = value('LEAVE_GROUP_ON_PAUSE') ?? 'true';
  if (leave !== 'true' && leave !== 'false') problems.push(`LEAVE_GROUP_ON_PAUSE must be "true" or "false", got "${leave}"`);
  return {
    bootstrapServers,
    group: name('KAFKA_GROUP', DEFAULT_CONSUMER_GROUP),
    inputTopic: name('KAFKA_INPUT_TOPIC', DEFAULT_INPUT_TOPIC),
    outputTopic: name('KAFKA_OUTPUT_TOPIC', DEFAULT_OUTPUT_TOPIC),
    leaveGroupOnPause: leave === 'true',
  };
}

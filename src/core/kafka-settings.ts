/**
 * Where the broker is and which group the fleet shares. Kafka awareness is optional: it is on when
 * a bootstrap address comes from the flag, the environment (KAFKA_BOOTSTRAP_SERVERS) or the
 * active-version ConfigMap (written by `bgswitch init --kafka-bootstrap ... --kafka-group ...`), in
 * that order of precedence, and off with `--no-kafka` or when none of them names a broker.
 */
import { UsageError } from '../shared/errors.js';

export const KAFKA_BOOTSTRAP_KEY = 'kafkaBootstrapServers';
export const KAFKA_GROUP_KEY = 'kafkaGroup';

export interface KafkaSettings {
  /** host:port pairs. */
  brokers: string[];
  groupId: string;
}

/** One candidate value per setting, from each source; undefined = not given there. */
export interface KafkaSources {
  flag: { bootstrap?: string | undefined; group?: string | undefined };
  env: { bootstrap?: string | undefined; group?: string | undefined };
  stored: { bootstrap?: string | undefined; group?: string | undefined };
}

const HOST = /^(?:[A-Za-z0-9](?:[A-Za-z0-9-]{0,62})?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,62})?)*|\[[0-9A-Fa-f:.]+\])$/;

/** `host:port,host:port`: every entry a host name, IPv4 or [IPv6] address with a port. */
export function parseBootstrap(raw: string, source: string): string[] {
  const entries = raw.split(',').map((entry) => entry.trim());
  const hint = 'use host:port pairs separated by commas, e.g. kafka-0.kafka:9092,kafka-1.kafka:9092';
  if (entries.length === 0 || entries.some((entry) => entry === ''))
    throw new UsageError(`${source} ${JSON.stringify(raw)} has an empty broker address`, hint);
  for (const entry of entries) {
    const colon = entry.lastIndexOf(':');
    const host = entry.slice(0, Math.max(colon, 0));
    const port = entry.slice(colon + 1);
    if (colon <= 0 || !HOST.test(host) || !/^\d{1,5}$/.test(port) || Number(port) < 1 || Number(port) > 65535) {
      throw new UsageError(`${source}: ${JSON.stringify(entry)} is not a broker address (host:port)`, hint);
    }
  }
  return entries;
}

/** Kafka accepts almost any group id; refuse only what is certainly a mistake. */
export function parseGroupId(raw: string, source: string): string {
  if (raw.trim() === '' || raw.length > 255 || /[\s\p{Cc}]/u.test(raw)) {
    throw new UsageError(
      `${source} ${JSON.stringify(raw)} is not a consumer group id`,
      'use the group id your consumers join, e.g. bg-consumer',
    );
  }
  return raw;
}

/** Checks the flag and environment values before anything talks to the cluster. */
export function validateLocalSources(sources: Pick<KafkaSources, 'flag' | 'env'>): void {
  if (sources.flag.bootstrap !== undefined) parseBootstrap(sources.flag.bootstrap, '--kafka-bootstrap');
  if (sources.env.bootstrap !== undefined) parseBootstrap(sources.env.bootstrap, 'KAFKA_BOOTSTRAP_SERVERS');
  if (sources.flag.group !== undefined) parseGroupId(sources.flag.group, '--kafka-group');
  if (sources.env.group !== undefined) parseGroupId(sources.env.group, 'KAFKA_GROUP');
}

/** True when flag and environment settle both values, so the ConfigMap need not be read for them. */
export function locallyComplete(sources: Pick<KafkaSources, 'flag' | 'env'>): boolean {
  return (sources.flag.bootstrap ?? sources.env.bootstrap) !== undefined && (sources.flag.group ?? sources.env.group) !== undefined;
}

/** Flag > environment > ConfigMap; undefined when no source names a broker (Kafka off). */
export function resolveKafkaSettings(sources: KafkaSources, configMapName: string): KafkaSettings | undefined {
  const pick = (setting: 'bootstrap' | 'group', flag: string, env: string) => {
    if (sources.flag[setting] !== undefined) return { value: sources.flag[setting], source: flag };
    if (sources.env[setting] !== undefined) return { value: sources.env[setting], source: env };
    if (sources.stored[setting] !== undefined)
      return {
        value: sources.stored[setting],
        source: `ConfigMap ${configMapName} ${setting === 'bootstrap' ? KAFKA_BOOTSTRAP_KEY : KAFKA_GROUP_KEY}`,
      };
    return undefined;
  };
  const bootstrap = pick('bootstrap', '--kafka-bootstrap', 'KAFKA_BOOTSTRAP_SERVERS');
  const group = pick('group', '--kafka-group', 'KAFKA_GROUP');
  if (!bootstrap) {
    if (group && group.source !== `ConfigMap ${configMapName} ${KAFKA_GROUP_KEY}`) {
      throw new UsageError(
        `${group.source} is set but no broker is: Kafka needs --kafka-bootstrap (or KAFKA_BOOTSTRAP_SERVERS)`,
        'name the broker, or drop the group to run without Kafka',
      );
    }
    return undefined;
  }
  if (!group)
    throw new UsageError(
      `${bootstrap.source} names a broker but no consumer group is set`,
      'add --kafka-group <id> (or KAFKA_GROUP), or store both with `bgswitch init --kafka-bootstrap ... --kafka-group ...`',
    );
  return { brokers: parseBootstrap(bootstrap.value, bootstrap.source), groupId: parseGroupId(group.value, group.source) };
}

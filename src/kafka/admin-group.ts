/**
 * The KafkaGroup port (src/core/ports.ts) over @platformatic/kafka's Admin client. Loaded with a
 * dynamic import, only when Kafka is configured and the command reads the group, so the CLI's
 * start-up never pays for the client. Every call has a deadline (--request-timeout) and fails with
 * a KafkaUnavailableError naming the broker, the call and the cause.
 */
import { Admin } from '@platformatic/kafka';
import { KafkaUnavailableError } from '../core/errors.js';
import type { KafkaSettings } from '../core/kafka-settings.js';
import type { KafkaGroup, KafkaGroupMember, KafkaPartitionOffset } from '../core/ports.js';

/** Kafka's "latest" timestamp: ListOffsets answers the log-end offset. */
const LATEST = -1n;
const RETRY_DELAY_MS = 200;
/** Kafka's NOT_COORDINATOR, COORDINATOR_NOT_AVAILABLE and COORDINATOR_LOAD_IN_PROGRESS, as the client words them. */
const COORDINATOR_NOT_READY = /coordinator is loading|coordinator is not available|not the correct coordinator/i;

export interface AdminGroup extends KafkaGroup {
  close(): Promise<void>;
}

export function openKafkaGroup(settings: KafkaSettings, options: { timeoutMs: number; clientId?: string }): AdminGroup {
  const { timeoutMs } = options;
  const admin = new Admin({
    clientId: options.clientId ?? 'bgswitch',
    bootstrapBrokers: settings.brokers,
    timeout: timeoutMs,
    connectTimeout: timeoutMs,
    requestTimeout: timeoutMs,
    retries: 3,
    retryDelay: 100,
  });
  const bootstrap = settings.brokers.join(',');
  const call = async <T>(what: string, work: () => Promise<T>): Promise<T> => {
    let timer: NodeJS.Timeout | undefined;
    let expired = false;
    const deadline = new Promise<never>((_, reject) => {
      timer = setTimeout(() => {
        expired = true;
        reject(new Error(`no answer within ${timeoutMs / 1000}s`));
      }, timeoutMs);
    });
    // The group coordinator can be unavailable for seconds (just elected, the offsets topic still
    // loading): that alone is retried until the deadline. Anything else (no broker) fails at once
    // with its own cause.
    const attempt = async (): Promise<T> => {
      for (;;) {
        try {
          return await work();
        } catch (error) {
          if (expired || !COORDINATOR_NOT_READY.test(describeKafkaError(error))) throw error;
          await new Promise((resolve) => setTimeout(resolve, RETRY_DELAY_MS));
        }
      }
    };
    try {
      return await Promise.race([attempt(), deadline]);
    } catch (error) {
      throw new KafkaUnavailableError(
        `Kafka at ${bootstrap}: ${what} failed: ${describeKafkaError(error)}`,
        'check the broker address and that it is up; --no-kafka runs the command without Kafka',
        { cause: error },
      );
    } finally {
      clearTimeout(timer);
    }
  };

  return {
    groupId: settings.groupId,
    bootstrap,
    async describe() {
      const groups = await call(`describe group ${settings.groupId}`, () => admin.describeGroups({ groups: [settings.groupId] }));
      const group = groups.get(settings.groupId);
      if (!group) return { state: 'DEAD', members: [] };
      const members = [...group.members.values()].map(
        (member): KafkaGroupMember => ({
          memberId: member.id,
          clientId: member.clientId,
          host: member.clientHost.replace(/^\//, ''),
          assignments: [...(member.assignments?.values() ?? [])].map((a) => ({ topic: a.topic, partitions: [...a.partitions] })),
        }),
      );
      return { state: groupState(group.state), members };
    },
    async committedOffsets() {
      const [group] = await call(`committed offsets of ${settings.groupId}`, () =>
        admin.listConsumerGroupOffsets({ groups: [settings.groupId] }),
      );
      return (group?.topics ?? []).flatMap((topic) =>
        // -1 means "no offset committed" for that partition.
        topic.partitions
          .filter((p) => p.committedOffset >= 0n)
          .map((p): KafkaPartitionOffset => ({ topic: topic.name, partition: p.partitionIndex, offset: Number(p.committedOffset) })),
      );
    },
    async endOffsets(topics) {
      const metadata = await call(`metadata of ${topics.join(', ')}`, () => admin.metadata({ topics, forceUpdate: true }));
      const request = topics.map((name) => ({
        name,
        partitions: Array.from({ length: metadata.topics.get(name)?.partitionsCount ?? 0 }, (_, partitionIndex) => ({
          partitionIndex,
          timestamp: LATEST,
        })),
      }));
      const listed = await call(`end offsets of ${topics.join(', ')}`, () =>
        admin.listOffsets({ topics: request.filter((t) => t.partitions.length > 0) }),
      );
      return listed.flatMap((topic) =>
        topic.partitions.map((p): KafkaPartitionOffset => ({ topic: topic.name, partition: p.partitionIndex, offset: Number(p.offset) })),
      );
    },
    async close() {
      await admin.close().catch(() => undefined);
    },
  };
}

/** The library upper-cases Kafka's "PreparingRebalance" to PREPARINGREBALANCE; name it as Kafka's tools do. */
function groupState(raw: string): string {
  return raw.replace(/^(PREPARING|COMPLETING)(REBALANCE)$/, '$1_$2');
}

/** The library nests the real cause (e.g. "Connection to 10.77.0.1:19092 failed.") in `errors`. */
function describeKafkaError(error: unknown): string {
  if (!(error instanceof Error)) return String(error);
  const nested = (error as { errors?: unknown[] }).errors;
  const inner = Array.isArray(nested) ? nested.map((e) => describeKafkaError(e)).filter((m) => m !== error.message) : [];
  return [error.message.replace(/\.$/, ''), ...new Set(inner)].join(': ');
}

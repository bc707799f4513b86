/**
 * The `GroupClient` of kafka-engine.ts over @platformatic/kafka 1.x: a classic-protocol consumer
 * group member for the input topic (client id = the pod's name, which is how bgswitch maps members
 * to pods; no static membership, so a LeaveGroup takes effect at once), a producer for the output
 * topic (acks from all in-sync replicas) and a connection of its own for fetches, so a fetch waiting
 * on the broker never holds up a commit, heartbeat or LeaveGroup.
 *
 * Rebalances: the library rejoins by itself when a heartbeat reports one. Before each JoinGroup it
 * sends while holding an assignment, the engine's `partitionsRevoked` runs and the JoinGroup waits
 * for it (Java's ConsumerRebalanceListener.onPartitionsRevoked): the group coordinator keeps the
 * rebalance open until every member rejoined, so what was processed is committed before anyone
 * else is given its partitions. After every join the committed offsets of the new assignment are
 * read (the earliest offset where the group never committed one).
 *
 * Timings (measured in docs/consumer-contract.md): heartbeats every 250 ms so a rebalance is noticed
 * quickly; fetches wait at most 100 ms on the broker; a session times out after 10 s.
 * Imported only when KAFKA_BOOTSTRAP_SERVERS is set.
 */
import {
  ConnectionPool,
  Consumer,
  IS_CONTROL,
  kGetApi,
  ListOffsetTimestamps,
  ProduceAcks,
  Producer,
  stringSerializers,
  type API,
  type Callback,
  type CallbackWithPromise,
  type ConsumerGroupJoinPayload,
  type GroupOptions,
} from '@platformatic/kafka';
import type { GroupClient, InputMessage, OutputMessage, PartitionOffset, RebalanceListener } from './kafka-engine.js';

export interface KafkaGroupOptions {
  bootstrapServers: string[];
  /** The pod's name. */
  clientId: string;
  groupId: string;
  inputTopic: string;
  outputTopic: string;
}

export const GROUP_TIMINGS = {
  sessionTimeoutMs: 10_000,
  heartbeatIntervalMs: 250,
  /** How long the coordinator waits for every member to rejoin in a rebalance. */
  rebalanceTimeoutMs: 30_000,
  fetchMaxWaitMs: 100,
} as const;

type FetchResponse = Awaited<ReturnType<Consumer['fetch']>>;

const FETCH_MAX_BYTES = 4 * 1024 * 1024;
const PARTITION_MAX_BYTES = 1024 * 1024;

/**
 * A Consumer that lets the engine commit before each JoinGroup it sends (the library's one hook for
 * that), and that does not rejoin from inside a commit: the library would otherwise rejoin when a
 * commit meets a rebalance and then retry the commit under the new generation, for partitions that
 * may have moved. Such a commit fails instead; the rebalance goes through partitionsRevoked.
 */
class RebalanceAwareConsumer extends Consumer {
  beforeJoinGroup: () => Promise<void> = () => Promise.resolve();
  committing = false;

  override [kGetApi]<RequestArguments extends Array<unknown>, ResponseType>(
    name: string,
    callback: Callback<API<RequestArguments, ResponseType>>,
  ): void {
    if (name !== 'JoinGroup') {
      super[kGetApi](name, callback);
      return;
    }
    this.beforeJoinGroup().then(
      () => super[kGetApi](name, callback),
      (error: unknown) => callback(error as Error, undefined as never),
    );
  }

  override joinGroup(options: GroupOptions, callback: CallbackWithPromise<string>): void;
  override joinGroup(options?: GroupOptions): Promise<string>;
  // biome-ignore lint/suspicious/noConfusingVoidType: the overloads of the library's joinGroup return void with a callback
  override joinGroup(options?: GroupOptions, callback?: CallbackWithPromise<string>): Promise<string> | void {
    if (this.committing) {
      const refused = new Error('a commit met a rebalance; not rejoining from inside the commit');
      if (callback) return callback(refused, undefined as never);
      return Promise.reject(refused);
    }
    return callback ? super.joinGroup(options ?? {}, callback) : super.joinGroup(options);
  }
}

export class KafkaGroup implements GroupClient {
  private readonly consumer: RebalanceAwareConsumer;
  private readonly producer: Producer<string, string, string, string>;
  private readonly fetchConnections: ConnectionPool;
  private readonly topic: string;
  private readonly outputTopic: string;

  private assigned: number[] = [];
  private committed = new Map<number, bigint>();
  /** Next offset to ask the broker for, per assigned partition. */
  private fetchFrom = new Map<number, bigint>();
  private buffered: InputMessage[] = [];
  /** Bumped whenever fetched data becomes stale (rewind, rebalance, leave): a fetch of an older epoch is dropped. */
  private epoch = 0;
  /** Settles when the current assignment's offsets are loaded; pending during a rebalance. */
  private assignment: Promise<void> = Promise.resolve();
  private endRebalance: ((loaded: Promise<void>) => void) | undefined;
  private holdsPartitions = false;
  /** The membership was lost (a commit was refused as from a stale member, or an automatic rejoin failed): join before fetching. */
  private mustRejoin = false;
  private brokerFetch: Promise<unknown> = Promise.resolve();

  constructor(options: KafkaGroupOptions, listener: RebalanceListener) {
    this.topic = options.inputTopic;
    this.outputTopic = options.outputTopic;
    const common = { clientId: options.clientId, bootstrapBrokers: options.bootstrapServers, retries: 3, retryDelay: 200 };
    this.consumer = new RebalanceAwareConsumer({
      ...common,
      groupId: options.groupId,
      autocommit: false,
      sessionTimeout: GROUP_TIMINGS.sessionTimeoutMs,
      heartbeatInterval: GROUP_TIMINGS.heartbeatIntervalMs,
      rebalanceTimeout: GROUP_TIMINGS.rebalanceTimeoutMs,
      maxWaitTime: GROUP_TIMINGS.fetchMaxWaitMs,
    });
    this.consumer.topics.track(this.topic);
    this.consumer.beforeJoinGroup = () => this.beforeJoinGroup(listener);
    this.consumer.on('consumer:group:join', (payload) => this.joined(payload));
    // The library reports a failed automatic rejoin as an 'error' event; the next fetch rejoins.
    this.consumer.on('error', (error: Error) => this.membershipLost(error));
    // Idempotent: a retried send must not write a ProcessedRecord twice (the validator would count a duplicate).
    this.producer = new Producer({ ...common, acks: ProduceAcks.ALL, idempotent: true, serializers: stringSerializers });
    this.fetchConnections = new ConnectionPool(options.clientId);
    void this.warmUp();
  }

  /**
   * Connects (the fetch connections too), reads metadata and finds the group coordinator ahead of
   * the first resume, so a resume pays only for joining, reading offsets and fetching. Best effort:
   * a broker that is not there yet is retried by the operations.
   */
  private async warmUp(): Promise<void> {
    await Promise.allSettled([
      this.consumer.metadata({ topics: [this.topic] }).then(async (metadata) => {
        await Promise.allSettled([
          this.consumer.findGroupCoordinator(),
          ...[...metadata.brokers.values()].map((broker) => this.fetchConnections.get(broker)),
        ]);
      }),
      this.producer.metadata({ topics: [this.outputTopic] }),
    ]);
  }

  async join(): Promise<void> {
    this.mustRejoin = false;
    try {
      await this.consumer.joinGroup();
    } catch (error) {
      this.membershipLost(error as Error);
      throw error;
    }
    await this.assignment;
  }

  async leave(): Promise<void> {
    this.forgetFetched();
    await this.consumer.leaveGroup();
    this.holdsPartitions = false;
    this.assigned = [];
  }

  /**
   * The next messages, or none when what was fetched became stale meanwhile (a rewind, rebalance or
   * leave since this call began). A fetch the engine abandoned (and rewound) must never take
   * messages out of the buffer afterwards: nobody would process them, and the next fetch would go on
   * after them, so they would be lost.
   */
  async fetch(max: number): Promise<InputMessage[]> {
    const epoch = this.epoch;
    if (this.mustRejoin || this.consumer.memberId === null) await this.join();
    try {
      await this.assignment;
    } catch (error) {
      // Reading the committed offsets failed: read them again on the next fetch (a lost membership rejoins instead).
      if (!this.mustRejoin) this.assignment = quietly(this.loadOffsets(this.assigned));
      throw error;
    }
    if (epoch !== this.epoch) return [];
    if (this.buffered.length === 0) await this.fetchFromBroker(epoch);
    return epoch === this.epoch ? this.buffered.splice(0, max) : [];
  }

  rewind(): void {
    this.forgetFetched();
  }

  async produce(messages: OutputMessage[]): Promise<void> {
    await this.producer.send({ messages: messages.map(({ key, value }) => ({ topic: this.outputTopic, key, value })) });
  }

  async commit(offsets: PartitionOffset[]): Promise<void> {
    this.consumer.committing = true;
    try {
      await this.consumer.commit({
        offsets: offsets.map(({ partition, offset }) => ({ topic: this.topic, partition, offset: BigInt(offset), leaderEpoch: -1 })),
      });
    } catch (error) {
      if ((error as { findBy?: (key: string, value: unknown) => unknown }).findBy?.('needsRejoin', true)) this.mustRejoin = true;
      throw error;
    } finally {
      this.consumer.committing = false;
    }
    for (const { partition, offset } of offsets) this.committed.set(partition, BigInt(offset));
  }

  async close(): Promise<void> {
    this.forgetFetched();
    await Promise.allSettled([this.consumer.close(true), this.producer.close(), this.fetchConnections.close()]);
  }

  /** A pending rebalance will not complete: whoever waits for it fails, and the next fetch joins again. */
  private membershipLost(error: Error): void {
    this.mustRejoin = true;
    const end = this.endRebalance;
    this.endRebalance = undefined;
    end?.(Promise.reject(error));
  }

  private forgetFetched(): void {
    this.epoch += 1;
    this.buffered = [];
    this.fetchFrom = new Map(this.committed);
  }

  private async beforeJoinGroup(listener: RebalanceListener): Promise<void> {
    this.forgetFetched();
    if (this.endRebalance === undefined) {
      this.assignment = quietly(
        new Promise<void>((resolve, reject) => {
          this.endRebalance = (loaded) => loaded.then(resolve, reject);
        }),
      );
    }
    if (this.holdsPartitions) {
      this.holdsPartitions = false;
      await listener.partitionsRevoked();
    }
  }

  private joined(payload: ConsumerGroupJoinPayload): void {
    this.holdsPartitions = true;
    this.assigned = (payload.assignments ?? [])
      .filter(({ topic }) => topic === this.topic)
      .flatMap(({ partitions }) => partitions)
      .sort((a, b) => a - b);
    const loaded = quietly(this.loadOffsets(this.assigned));
    const end = this.endRebalance;
    this.endRebalance = undefined;
    if (end) end(loaded);
    else this.assignment = loaded;
  }

  /** The committed offset of each assigned partition, or its earliest offset where the group has none. */
  private async loadOffsets(partitions: number[]): Promise<void> {
    this.committed = new Map();
    this.forgetFetched();
    if (partitions.length === 0) return;
    const committed = (await this.consumer.listCommittedOffsets({ topics: [{ topic: this.topic, partitions }] })).get(this.topic) ?? [];
    const missing = partitions.filter((partition) => (committed[partition] ?? -1n) < 0n);
    const earliest =
      missing.length === 0
        ? []
        : ((
            await this.consumer.listOffsets({
              topics: [this.topic],
              partitions: { [this.topic]: missing },
              timestamp: ListOffsetTimestamps.EARLIEST,
            })
          ).get(this.topic) ?? []);
    const offsets = new Map<number, bigint>();
    for (const partition of partitions) {
      const offset = missing.includes(partition) ? earliest[partition] : committed[partition];
      if (offset === undefined) throw new Error(`no offset for ${this.topic}-${partition}`);
      offsets.set(partition, offset);
    }
    this.committed = offsets;
    this.forgetFetched();
  }

  /**
   * One fetch per partition leader, on the fetch connection; fills `buffered` unless the epoch moved
   * on meanwhile. `epoch` is the caller's: a fetch abandoned while it waited for the connection must
   * not fetch afterwards, or it and the fetch that replaced it would both fill the buffer from the
   * same offsets (one message processed several times in one batch; found by the demo).
   */
  private async fetchFromBroker(epoch: number): Promise<void> {
    await this.brokerFetch.catch(() => {}); // an abandoned fetch still occupies the connection
    if (epoch !== this.epoch) return;
    const partitions = [...this.fetchFrom.keys()];
    if (partitions.length === 0) {
      // No partitions assigned (more members than partitions): nothing to fetch, wait like an empty fetch would.
      await new Promise((resolve) => setTimeout(resolve, GROUP_TIMINGS.fetchMaxWaitMs));
      return;
    }
    const work = this.fetchOnce(partitions);
    this.brokerFetch = work;
    const records = await work;
    if (epoch !== this.epoch) return;
    for (const [partition, next] of records.next) this.fetchFrom.set(partition, next);
    this.buffered.push(...records.messages);
  }

  private async fetchOnce(partitions: number[]): Promise<{ messages: InputMessage[]; next: Map<number, bigint> }> {
    const metadata = await this.consumer.metadata({ topics: [this.topic] });
    const topic = metadata.topics.get(this.topic);
    if (!topic) throw new Error(`topic ${this.topic} not found`);
    const byLeader = new Map<number, number[]>();
    for (const partition of partitions) {
      const leader = topic.partitions[partition]?.leader;
      if (leader === undefined) throw new Error(`no leader for ${this.topic}-${partition}`);
      byLeader.set(leader, [...(byLeader.get(leader) ?? []), partition]);
    }
    const requested = new Map(partitions.map((partition) => [partition, this.fetchFrom.get(partition) as bigint]));
    const responses = await Promise.all(
      [...byLeader].map(([node, leaderPartitions]) =>
        this.consumer.fetch({
          node,
          connectionPool: this.fetchConnections,
          maxWaitTime: GROUP_TIMINGS.fetchMaxWaitMs,
          minBytes: 1,
          maxBytes: FETCH_MAX_BYTES,
          topics: [
            {
              topicId: topic.id,
              partitions: leaderPartitions.map((partition) => ({
                partition,
                fetchOffset: requested.get(partition) as bigint,
                partitionMaxBytes: PARTITION_MAX_BYTES,
                currentLeaderEpoch: -1,
                lastFetchedEpoch: -1,
              })),
            },
          ],
        }),
      ),
    );
    return parseFetched(responses, requested);
  }
}

/** The promise itself, marked as handled: a rejection surfaces where it is awaited, never as an unhandled rejection. */
function quietly<T>(promise: Promise<T>): Promise<T> {
  promise.catch(() => {});
  return promise;
}

function parseFetched(responses: FetchResponse[], requested: Map<number, bigint>): { messages: InputMessage[]; next: Map<number, bigint> } {
  const messages: InputMessage[] = [];
  const next = new Map<number, bigint>();
  for (const response of responses) {
    for (const topic of response.responses) {
      for (const { partitionIndex: partition, records } of topic.partitions) {
        const from = requested.get(partition);
        if (from === undefined || !records) continue;
        for (const batch of records) {
          next.set(partition, batch.firstOffset + BigInt(batch.lastOffsetDelta) + 1n);
          if (batch.attributes & IS_CONTROL) continue;
          for (const record of batch.records) {
            const offset = batch.firstOffset + BigInt(record.offsetDelta);
            if (offset < from) continue; // a batch can start before the offset asked for
            messages.push({
              partition,
              offset: Number(offset),
              key: record.key?.toString('utf8') ?? '',
              value: record.value?.toString('utf8') ?? '',
            });
          }
        }
      }
    }
  }
  return { messages, next };
}

/**
 * An in-memory `KafkaGroup` (src/core/ports.ts) that follows an in-memory fleet the way the
 * reference consumer's group does (docs/consumer-contract.md): a pod is a member while it is ACTIVE
 * or DRAINING (from `joinDelayMs` after it was resumed), and leaves when it is PAUSED. The
 * partitions of one topic are spread round-robin over the members, sorted by client id.
 *
 * Knobs: pods that keep their partitions while PAUSED (LEAVE_GROUP_ON_PAUSE=false, the original
 * bug), members that are none of our pods, an unreachable broker, end and committed offsets, and
 * onRead hooks that run before every describe (to move offsets as a test's time passes).
 */
import { KafkaUnavailableError } from '../../src/core/errors.js';
import type { Clock } from '../../src/shared/clock.js';
import type { KafkaGroup, KafkaGroupMember, KafkaPartitionOffset } from '../../src/core/ports.js';
import type { MemoryFleet } from './memory-fleet.js';

export interface MemoryKafkaOptions {
  topic?: string;
  partitions?: number;
  /** How long a resumed pod takes to join and receive partitions (default 0). */
  joinDelayMs?: number;
}

export class MemoryKafkaGroup implements KafkaGroup {
  readonly groupId = 'bg-consumer';
  readonly bootstrap = '10.77.0.1:19092';
  readonly topic: string;
  readonly partitions: number;
  readonly end: number[];
  readonly committed: Array<number | undefined>;
  /** Pods that stay members while PAUSED (the trap of docs/consumer-contract.md: one shared group and `pause()`). */
  readonly keepPartitionsWhenPaused = new Set<string>();
  /** Members that are none of our pods. */
  readonly strangers: Array<{ clientId: string; host: string }> = [];
  /** Per pod, the member's host when it is not to be matched by client id (client id is then random). */
  readonly hostOf = new Map<string, string>();
  unreachable = false;
  /** Number of describe() calls answered (so a test can tell the group was really consulted). */
  reads = 0;
  private readonly joinDelayMs: number;
  private readonly hooks: Array<() => void> = [];

  constructor(
    private readonly clock: Clock,
    private readonly fleet: MemoryFleet,
    options: MemoryKafkaOptions = {},
  ) {
    this.topic = options.topic ?? 'bg-events';
    this.partitions = options.partitions ?? 6;
    this.joinDelayMs = options.joinDelayMs ?? 0;
    this.end = Array.from({ length: this.partitions }, () => 100);
    this.committed = Array.from({ length: this.partitions }, () => 100);
  }

  onRead(hook: () => void): void {
    this.hooks.push(hook);
  }

  /** The pods that are members now, as the coordinator would list them. */
  memberPods(): string[] {
    const now = this.clock.now();
    const lastChange = new Map<string, { at: number; to: string; from: string | undefined }>();
    for (const t of this.fleet.transitions) lastChange.set(t.pod, { at: t.at, to: t.to, from: t.from });
    const members: string[] = [];
    for (const [pod, change] of lastChange) {
      if (this.keepPartitionsWhenPaused.has(pod)) members.push(pod);
      else if (change.to === 'DRAINING') members.push(pod);
      else if (change.to === 'ACTIVE' && (change.from === undefined || now - change.at >= this.joinDelayMs)) members.push(pod);
    }
    return members.sort();
  }

  async describe(): Promise<{ state: string; members: KafkaGroupMember[] }> {
    this.failIfUnreachable('describe group');
    for (const hook of this.hooks) hook();
    this.reads++;
    const ids = [
      ...this.memberPods().map((pod) => ({
        pod,
        clientId: this.hostOf.has(pod) ? `client-${pod.length}-${pod.at(-1)}` : pod,
        host: this.hostOf.get(pod) ?? '10.77.0.200',
      })),
      ...this.strangers.map((s) => ({ pod: undefined, ...s })),
    ];
    ids.sort((a, b) => a.clientId.localeCompare(b.clientId));
    const members = ids.map(
      (id, index): KafkaGroupMember => ({
        memberId: `${id.clientId}-member`,
        clientId: id.clientId,
        host: id.host,
        assignments: [
          { topic: this.topic, partitions: Array.from({ length: this.partitions }, (_, p) => p).filter((p) => p % ids.length === index) },
        ],
      }),
    );
    return { state: members.length > 0 ? 'STABLE' : 'EMPTY', members };
  }

  async committedOffsets(): Promise<KafkaPartitionOffset[]> {
    this.failIfUnreachable('committed offsets');
    return this.committed.flatMap((offset, partition) => (offset === undefined ? [] : [{ topic: this.topic, partition, offset }]));
  }

  async endOffsets(topics: string[]): Promise<KafkaPartitionOffset[]> {
    this.failIfUnreachable('end offsets');
    return topics.includes(this.topic) ? this.end.map((offset, partition) => ({ topic: this.topic, partition, offset })) : [];
  }

  /** Adds `n` messages to every partition. */
  produce(n: number): void {
    for (let p = 0; p < this.partitions; p++) this.end[p]! += n;
  }

  private failIfUnreachable(what: string): void {
    if (this.unreachable)
      throw new KafkaUnavailableError(`Kafka at ${this.bootstrap}: ${what} failed: Connection to ${this.bootstrap} failed`);
  }
}

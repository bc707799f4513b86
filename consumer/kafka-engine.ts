/**
 * The reference consumer on Kafka: the lifecycle state machine over a consumer group
 * (docs/consumer-contract.md, "one group shared by both colours; only ACTIVE pods are members").
 * All Kafka I/O goes through the small `GroupClient` port below; kafka-group.ts implements it over
 * @platformatic/kafka and the unit tests over memory.
 *
 * Guarantees:
 * - it starts PAUSED and outside the group; resume: ACTIVE at once, then joins and fetches from the
 *   group's committed offsets;
 * - ACTIVE: fetch a batch (at most batchSize records), process each message (produce its
 *   ProcessedRecord, same key), then commit the batch's offsets, then produce a CommitRecord. An
 *   offset is committed only after its ProcessedRecord was acknowledged;
 * - pause: ACTIVE -> DRAINING at once; the in-flight batch finishes and is committed, the group is
 *   left, then PAUSED (so PAUSED means committed and no longer a member). A fetch still waiting on
 *   the broker is abandoned, not processed. With `leaveGroupOnPause: false` (the original bug,
 *   for tests) it stays a member holding its partitions and only stops fetching;
 * - resume from DRAINING cancels the drain; the batch is committed and fetching goes on (rejoining
 *   if the group was already left);
 * - a rebalance while a member (another member joins or leaves): before giving its partitions up
 *   it stops after the message in hand and commits what it processed (`partitionsRevoked`), so a
 *   normal hand-off duplicates nothing;
 * - a commit that fails (it met a rebalance, the broker) is retried, not the processing: a message
 *   this process already wrote a ProcessedRecord for comes back after the rewind and is only
 *   committed again;
 * - faults: processingDelayMs before each message; errorRatePercent fails that share of messages
 *   (their ProcessedRecord says `failed: true` and they are committed with their batch, as a
 *   dead-letter policy would); commitDelayMs before each commit, the drain's own included (a pause
 *   always commits, even with nothing new to commit); pollTimeoutExceed: no fetching
 *   and no processing until cleared (a pause stays DRAINING), though a rebalance still takes the
 *   batch's processed part to a commit;
 * - not ready while ACTIVE when the last broker operation failed (until one succeeds again).
 * Not guaranteed: exactly-once across a crash: a message processed but not yet committed when the
 * process dies is processed again by the next owner (the validator calls it crash-explained).
 */
import { randomUUID } from 'node:crypto';
import type { LifecycleChange } from '../src/shared/pod-api.js';
import { parseEventValue, type CommitRecord, type ProcessedRecord } from '../src/shared/kafka-records.js';
import { LifecycleEngine, positiveInteger, type LifecycleEngineOptions } from './lifecycle-engine.js';

export interface InputMessage {
  partition: number;
  offset: number;
  key: string;
  value: string;
}

export interface OutputMessage {
  key: string;
  value: string;
}

/** Kafka semantics: `offset` is the next offset to read. */
export interface PartitionOffset {
  partition: number;
  offset: number;
}

/** What the group client tells the engine (Java: ConsumerRebalanceListener). */
export interface RebalanceListener {
  /** Before this member gives its partitions up in a rebalance; resolves once what it processed is committed. */
  partitionsRevoked(): Promise<void>;
}

/** One member of the input topic's consumer group, plus the producer of the output topic. */
export interface GroupClient {
  /** Joins the group; resolves once the assignment is known and its committed offsets are loaded. */
  join(): Promise<void>;
  /** Leaves the group; resolves once the broker acknowledged it. */
  leave(): Promise<void>;
  /**
   * At most `max` records of the assigned partitions, continuing from the previous call (from the
   * committed offsets after a (re)join or rewind); [] when none arrived within the broker's wait.
   * Waits while a rebalance is in progress.
   */
  fetch(max: number): Promise<InputMessage[]>;
  /** Forgets what was fetched and not committed: the next fetch starts at the committed offsets. A fetch in progress is discarded. */
  rewind(): void;
  /** Writes to the output topic; resolves once acknowledged. */
  produce(messages: OutputMessage[]): Promise<void>;
  commit(offsets: PartitionOffset[]): Promise<void>;
  close(): Promise<void>;
}

export interface KafkaEngineOptions extends LifecycleEngineOptions {
  connect: (listener: RebalanceListener) => GroupClient;
  /** Default 10. */
  batchSize?: number;
  /** Default true; false reproduces the shared-group bug: a paused consumer keeps its partitions. */
  leaveGroupOnPause?: boolean;
  /** Identifies this process lifetime in every output record. Default: random. */
  incarnation?: string;
}

/** Wait after a failed broker operation before trying again. */
const RETRY_DELAY_MS = 500;

/** How often a stalled loop (pollTimeoutExceed) looks again; a cleared fault wakes it at once. */
const STALLED_RECHECK_MS = 1_000;

/** What cuts a wait short: each wait says which of these end it. */
type WakeReason = 'pause' | 'fault' | 'revoke' | 'stop';
const ANY_REASON: readonly WakeReason[] = ['pause', 'fault', 'revoke', 'stop'];

export class KafkaEngine extends LifecycleEngine {
  readonly batchSize: number;
  readonly leaveGroupOnPause: boolean;
  readonly incarnation: string;
  private readonly group: GroupClient;

  private running = false;
  private member = false;
  private brokerHealthy = true;
  /** A rebalance waits for the batch in hand to stop and commit. */
  private revoking = false;
  /** A commit happened since the last pause: the drain's commit is done. */
  private committedSincePause = false;
  /**
   * Per partition, the offset after the highest message whose ProcessedRecord the broker
   * acknowledged. A message below it that comes back (its commit failed, e.g. it met a rebalance,
   * and the fetch rewound) was processed already: it is committed again, never processed again.
   */
  private readonly producedUpTo = new Map<number, number>();
  private batchInFlight: Promise<void> | undefined;
  /** The loop's current wait, if any (the loop is sequential, so there is at most one). */
  private waiting: { reasons: readonly WakeReason[]; wake: () => void } | undefined;

  constructor(options: KafkaEngineOptions) {
    super(options);
    this.batchSize = positiveInteger('batchSize', options.batchSize ?? 10);
    this.leaveGroupOnPause = options.leaveGroupOnPause ?? true;
    this.incarnation = options.incarnation ?? randomUUID();
    this.group = options.connect({ partitionsRevoked: () => this.partitionsRevoked() });
  }

  pause(): LifecycleChange {
    const previous = this.state;
    if (previous === 'ACTIVE') {
      // Commit and leave take broker round trips: PAUSED is reported when they are done.
      this.committedSincePause = false;
      this.transition('DRAINING');
      this.wake('pause');
      this.run();
    }
    return this.change(previous);
  }

  resume(): LifecycleChange {
    this.assertMayResume();
    const previous = this.state;
    if (previous !== 'ACTIVE') {
      this.transition('ACTIVE');
      this.run();
    }
    return this.change(previous);
  }

  /** Also not ready while ACTIVE and the broker failed the last operation. */
  override isReady(): boolean {
    return super.isReady() && !(this.state === 'ACTIVE' && !this.brokerHealthy);
  }

  /** A group member (joined and not left); for tests and diagnostics. */
  get isMember(): boolean {
    return this.member;
  }

  override async close(): Promise<void> {
    await this.group.close();
  }

  protected faultChanged(): void {
    this.wake('fault');
  }

  protected halt(): void {
    this.wake('stop');
  }

  private wake(reason: WakeReason): void {
    if (this.waiting?.reasons.includes(reason)) this.waiting.wake();
  }

  /** Resolves with `work`'s value, or with undefined when one of `reasons` happens first (`work` then goes on unobserved). */
  private async until<T>(work: Promise<T>, reasons: readonly WakeReason[]): Promise<{ value: T } | undefined> {
    work.catch(() => {}); // an abandoned operation's failure is nobody's business
    const woken = new Promise<undefined>((resolve) => {
      const waiting = { reasons, wake: () => resolve(undefined) };
      this.waiting = waiting;
    });
    try {
      return await Promise.race([work.then((value) => ({ value })), woken]);
    } finally {
      this.waiting = undefined;
    }
  }

  private sleep(delayMs: number, reasons: readonly WakeReason[]): Promise<unknown> {
    let cancel = (): void => {};
    const elapsed = new Promise<void>((resolve) => {
      cancel = this.timers.schedule(resolve, delayMs);
    });
    return this.until(elapsed, reasons).finally(cancel);
  }

  /** Runs a broker operation, keeping `brokerHealthy` up to date; after a failure waits a little, so the loop does not spin. */
  private async broker<T>(operation: () => Promise<T>): Promise<{ value: T } | undefined> {
    try {
      const value = await operation();
      this.brokerHealthy = true;
      return { value };
    } catch {
      this.brokerHealthy = false;
      await this.sleep(RETRY_DELAY_MS, ['pause', 'stop']);
      return undefined;
    }
  }

  private get stalled(): boolean {
    return this.currentFault.pollTimeoutExceed && !this.stopped;
  }

  /** The one loop: joins, fetches and processes while ACTIVE; leaves and reports PAUSED while DRAINING. */
  private run(): void {
    if (this.running || this.stopped) return;
    this.running = true;
    void this.loop().finally(() => {
      this.running = false;
    });
  }

  private async loop(): Promise<void> {
    while (!this.stopped && this.state !== 'PAUSED') {
      if (this.stalled) {
        // pollTimeoutExceed: the poll loop is stuck, so nothing happens, a pause included.
        await this.sleep(STALLED_RECHECK_MS, ['fault', 'stop']);
      } else if (this.state === 'ACTIVE') {
        if (!this.member) {
          if (await this.broker(() => this.group.join())) this.member = true;
        } else {
          await this.fetchAndProcess();
        }
      } else if (!this.committedSincePause) {
        // The drain always commits (Java: commitSync on pause), even when nothing new was processed
        // and there is no offset to send, so the commit-delay fault lengthens every drain.
        if (this.member && this.currentFault.commitDelayMs > 0) await this.sleep(this.currentFault.commitDelayMs, ['stop']);
        this.committedSincePause = true;
      } else if (this.member && this.leaveGroupOnPause) {
        if (await this.broker(() => this.group.leave())) this.member = false;
      } else {
        this.transition('PAUSED');
      }
    }
  }

  private async fetchAndProcess(): Promise<void> {
    let fetched: { value: InputMessage[] } | undefined;
    try {
      fetched = await this.until(this.group.fetch(this.batchSize), ANY_REASON);
    } catch {
      this.brokerHealthy = false;
      this.group.rewind();
      await this.sleep(RETRY_DELAY_MS, ['pause', 'stop']);
      return;
    }
    if (fetched === undefined || this.state !== 'ACTIVE' || this.stalled) {
      // Woken (a pause, a fault, a rebalance): what that fetch brings is not processed.
      this.group.rewind();
      return;
    }
    this.brokerHealthy = true;
    if (fetched.value.length === 0) return;
    const batch = this.processBatch(fetched.value);
    this.batchInFlight = batch;
    try {
      await batch;
    } finally {
      this.batchInFlight = undefined;
    }
  }

  /** Processes the batch (all of it, unless a rebalance or stop cuts it short), then commits what was processed. */
  private async processBatch(messages: InputMessage[]): Promise<void> {
    const processed: Array<{ message: InputMessage; record?: ProcessedRecord }> = [];
    for (const message of messages) {
      if (message.offset < (this.producedUpTo.get(message.partition) ?? 0)) {
        processed.push({ message });
        continue;
      }
      while (this.stalled && !this.revoking) await this.sleep(STALLED_RECHECK_MS, ['fault', 'revoke', 'stop']);
      if (this.revoking || this.stopped) break;
      const delayMs = this.currentFault.processingDelayMs;
      if (delayMs > 0) await this.sleep(delayMs, ['revoke', 'stop']);
      if (this.revoking || this.stopped) break;
      processed.push({ message, record: this.processedRecord(message, this.countMessage()) });
    }
    const complete = processed.length === messages.length;
    if (processed.length > 0 && !this.stopped && (await this.commitProcessed(processed))) {
      if (!complete) this.group.rewind(); // after the commit: rewinding goes back to the committed offsets
    } else {
      this.group.rewind();
    }
  }

  /** Produces the records, commits their offsets, then produces the CommitRecord; false when nothing was committed. */
  private async commitProcessed(processed: Array<{ message: InputMessage; record?: ProcessedRecord }>): Promise<boolean> {
    const fresh = processed.flatMap(({ message, record }) => (record ? [{ message, record }] : []));
    if (fresh.length > 0 && !(await this.broker(() => this.group.produce(fresh.map(({ record }) => toOutput(record.key, record))))))
      return false;
    for (const { message } of fresh)
      this.producedUpTo.set(message.partition, Math.max(this.producedUpTo.get(message.partition) ?? 0, message.offset + 1));
    if (this.currentFault.commitDelayMs > 0) await this.sleep(this.currentFault.commitDelayMs, ['stop']);
    const offsets = nextOffsets(processed.map(({ message }) => message));
    if (!(await this.broker(() => this.group.commit(offsets)))) return false;
    this.committedSincePause = true;
    for (const { message } of processed) this.lastCommitted = Math.max(this.lastCommitted, parseEventValue(message.value)?.seq ?? 0);
    const commitRecord: CommitRecord = {
      type: 'commit',
      pod: this.podName,
      color: this.color,
      incarnation: this.incarnation,
      offsets,
      committedAt: this.timers.now(),
    };
    await this.broker(() => this.group.produce([toOutput(this.podName, commitRecord)]));
    return true;
  }

  private processedRecord(message: InputMessage, failed: boolean): ProcessedRecord {
    const producedAt = parseEventValue(message.value)?.producedAt;
    return {
      type: 'processed',
      sourcePartition: message.partition,
      sourceOffset: message.offset,
      key: message.key,
      pod: this.podName,
      color: this.color,
      incarnation: this.incarnation,
      processedAt: this.timers.now(),
      ...(producedAt === undefined ? {} : { producedAt }),
      ...(failed ? { failed: true as const } : {}),
    };
  }

  /** Called by the group client before a rebalance takes the partitions away. */
  private async partitionsRevoked(): Promise<void> {
    this.revoking = true;
    this.wake('revoke');
    try {
      await this.batchInFlight;
    } finally {
      this.revoking = false;
    }
  }
}

function toOutput(key: string, record: ProcessedRecord | CommitRecord): OutputMessage {
  return { key, value: JSON.stringify(record) };
}

/** Per partition, the offset after the highest processed one. */
function nextOffsets(messages: InputMessage[]): PartitionOffset[] {
  const next = new Map<number, number>();
  for (const { partition, offset } of messages) next.set(partition, Math.max(next.get(partition) ?? 0, offset + 1));
  return [...next].sort(([a], [b]) => a - b).map(([partition, offset]) => ({ partition, offset }));
}

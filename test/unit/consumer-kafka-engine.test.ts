/**
 * The Kafka consumer's state machine (consumer/kafka-engine.ts) over an in-memory consumer group:
 * one shared group, eager rebalances that wait for every member's partitionsRevoked (as the group
 * coordinator waits for every member to rejoin), committed offsets, an output topic.
 */
import assert from 'node:assert/strict';
import { afterEach, describe, it } from 'node:test';
import { systemClock } from '../../src/shared/clock.js';
import { pollUntil } from '../../src/core/poll.js';
import { parseOutputRecord, type CommitRecord, type ProcessedRecord } from '../../src/shared/kafka-records.js';
import {
  KafkaEngine,
  type GroupClient,
  type InputMessage,
  type OutputMessage,
  type PartitionOffset,
  type RebalanceListener,
} from '../../consumer/kafka-engine.js';
import { realTimers, ShuttingDownError } from '../../consumer/lifecycle-engine.js';
import { parseTransitionLog } from '../../consumer/transitions.js';

/** A promise the test resolves when it wants. */
class Gate {
  private release: () => void = () => {};
  readonly opened = new Promise<void>((resolve) => {
    this.release = resolve;
  });
  open(): void {
    this.release();
  }
}

class MemoryGroup {
  readonly partitions: InputMessage[][];
  readonly committed = new Map<number, number>();
  readonly output: OutputMessage[] = [];
  readonly members: MemoryMember[] = [];
  private nextSeq = 0;

  constructor(partitionCount: number) {
    this.partitions = Array.from({ length: partitionCount }, () => []);
  }

  /** Appends `count` events, spread over the partitions like keyed messages. */
  produce(count: number): void {
    for (let index = 0; index < count; index += 1) {
      const seq = this.nextSeq++;
      const partition = seq % this.partitions.length;
      const log = this.partitions[partition] as InputMessage[];
      log.push({ partition, offset: log.length, key: `seq-${seq}`, value: JSON.stringify({ seq, runId: 'test', producedAt: 1 }) });
    }
  }

  get produced(): number {
    return this.nextSeq;
  }

  processed(): ProcessedRecord[] {
    return this.records().filter((record): record is ProcessedRecord => record.type === 'processed');
  }

  commits(): CommitRecord[] {
    return this.records().filter((record): record is CommitRecord => record.type === 'commit');
  }

  private records(): Array<ProcessedRecord | CommitRecord> {
    return this.output.map(({ value }) => {
      const record = parseOutputRecord(value);
      assert.ok(record, `an output record: ${value}`);
      return record;
    });
  }

  assignmentOf(member: MemoryMember): number[] {
    return member.assigned;
  }

  /** Eager rebalance: every member that holds partitions gives them up first, then all are reassigned round-robin. */
  async rebalance(): Promise<void> {
    await Promise.all(this.members.filter((member) => member.assigned.length > 0).map((member) => member.revoke()));
    this.members.forEach((member, index) => {
      member.assign(this.partitions.map((_, partition) => partition).filter((partition) => partition % this.members.length === index));
    });
  }
}

class MemoryMember implements GroupClient {
  assigned: number[] = [];
  private position = new Map<number, number>();
  /** Bumped by rewind: a fetch in progress across a rewind is discarded, as the contract says. */
  private epoch = 0;
  commitGate: Gate | undefined;
  leaveGate: Gate | undefined;
  fetchGate: Gate | undefined;
  failFetches = false;
  /** The next this-many commits fail (as a commit meeting a rebalance does). */
  failCommits = 0;
  joins = 0;
  leaves = 0;
  onLeave: (() => void) | undefined;

  constructor(
    private readonly group: MemoryGroup,
    private readonly listener: RebalanceListener,
  ) {}

  async revoke(): Promise<void> {
    await this.listener.partitionsRevoked();
    this.assigned = [];
  }

  assign(partitions: number[]): void {
    this.assigned = partitions;
    this.rewind();
  }

  async join(): Promise<void> {
    this.joins += 1;
    this.group.members.push(this);
    await this.group.rebalance();
  }

  async leave(): Promise<void> {
    this.leaves += 1;
    this.onLeave?.();
    await this.leaveGate?.opened;
    this.group.members.splice(this.group.members.indexOf(this), 1);
    this.assigned = [];
    await this.group.rebalance();
  }

  async fetch(max: number): Promise<InputMessage[]> {
    const epoch = this.epoch;
    await new Promise((resolve) => setTimeout(resolve, 1)); // the broker's wait, shortened
    await this.fetchGate?.opened;
    if (this.failFetches) throw new Error('broker unreachable');
    if (epoch !== this.epoch) return [];
    const messages: InputMessage[] = [];
    for (const partition of this.assigned) {
      const log = this.group.partitions[partition] as InputMessage[];
      let next = this.position.get(partition) ?? 0;
      while (messages.length < max && next < log.length) messages.push(log[next++] as InputMessage);
      this.position.set(partition, next);
    }
    return messages;
  }

  rewind(): void {
    this.epoch += 1;
    this.position = new Map(this.assigned.map((partition) => [partition, this.group.committed.get(partition) ?? 0]));
  }

  async produce(messages: OutputMessage[]): Promise<void> {
    this.group.output.push(...messages);
  }

  async commit(offsets: PartitionOffset[]): Promise<void> {
    await this.commitGate?.opened;
    if (this.failCommits > 0) {
      this.failCommits -= 1;
      throw new Error('REBALANCE_IN_PROGRESS');
    }
    for (const { partition, offset } of offsets) this.group.committed.set(partition, offset);
  }

  async close(): Promise<void> {}
}

interface Consumer {
  engine: KafkaEngine;
  member: () => MemoryMember;
  lines: string[];
  /** Every wait the engine scheduled, as "<ms> ms", in order. */
  scheduled: string[];
}

/** Every engine a test made; stopped after each test so no loop outlives it. */
const running: KafkaEngine[] = [];
afterEach(() => {
  for (const engine of running.splice(0)) engine.stop();
});

function consumer(group: MemoryGroup, pod: string, options: { batchSize?: number; leaveGroupOnPause?: boolean } = {}): Consumer {
  const lines: string[] = [];
  const scheduled: string[] = [];
  let member: MemoryMember | undefined;
  const engine = new KafkaEngine({
    timers: {
      now: realTimers.now,
      schedule: (callback, delayMs) => {
        scheduled.push(`${delayMs} ms`);
        return realTimers.schedule(callback, delayMs);
      },
    },
    podName: pod,
    color: pod.includes('blue') ? 'blue' : 'green',
    batchSize: options.batchSize ?? 5,
    leaveGroupOnPause: options.leaveGroupOnPause ?? true,
    incarnation: `${pod}-1`,
    writeLog: (line) => lines.push(line),
    connect: (listener) => (member = new MemoryMember(group, listener)),
  });
  engine.start();
  running.push(engine);
  return { engine, member: () => member as MemoryMember, lines, scheduled };
}

async function waitFor(what: string, condition: () => boolean): Promise<void> {
  const outcome = await pollUntil(async () => ({ done: condition(), value: undefined }), {
    clock: systemClock,
    timeoutMs: 5_000,
    initialIntervalMs: 1,
    maxIntervalMs: 5,
  });
  assert.ok(outcome.done, `timed out waiting for ${what}`);
}

/** Input offsets processed, as "partition:offset", with how often. */
function processedCounts(group: MemoryGroup): Map<string, number> {
  const counts = new Map<string, number>();
  for (const record of group.processed()) {
    const id = `${record.sourcePartition}:${record.sourceOffset}`;
    counts.set(id, (counts.get(id) ?? 0) + 1);
  }
  return counts;
}

function assertExactlyOnce(group: MemoryGroup): void {
  const counts = processedCounts(group);
  assert.equal(counts.size, group.produced, 'every input message processed');
  assert.deepEqual(
    [...counts.values()].filter((count) => count > 1),
    [],
    'none processed twice',
  );
}

function transitions(lines: string[]): string[] {
  return parseTransitionLog(lines.join('\n')).map((record) =>
    record.event === 'transition' ? `${record.from}->${record.to}` : record.event,
  );
}

describe('kafka engine: consuming', () => {
  it('starts PAUSED outside the group; resume joins, processes every message and commits per batch', async () => {
    const group = new MemoryGroup(3);
    group.produce(12);
    const blue = consumer(group, 'consumer-blue-0', { batchSize: 5 });
    assert.equal(blue.engine.status().state, 'PAUSED');
    assert.equal(blue.engine.isMember, false);
    assert.deepEqual(blue.engine.resume(), { previousState: 'PAUSED', currentState: 'ACTIVE', lastSequenceNumber: 0 });
    await waitFor(
      '12 messages committed',
      () => group.commits().length > 0 && [...group.committed.values()].reduce((a, b) => a + b, 0) === 12,
    );
    assertExactlyOnce(group);
    assert.equal(blue.engine.isMember, true);
    const first = group.processed()[0];
    assert.deepEqual(first, {
      type: 'processed',
      sourcePartition: 0,
      sourceOffset: 0,
      key: 'seq-0',
      pod: 'consumer-blue-0',
      color: 'blue',
      incarnation: 'consumer-blue-0-1',
      processedAt: first?.processedAt,
      producedAt: 1,
    });
    assert.ok(
      group.output.every(({ key, value }) => !value.includes('"processed"') || value.includes(`"key":"${key}"`)),
      'same key as the input',
    );
    assert.ok(group.commits().every((commit) => commit.offsets.length > 0 && commit.incarnation === 'consumer-blue-0-1'));
    assert.equal(blue.engine.status().lastSequenceNumber, 11, 'the highest sequence number committed');
    assert.equal(blue.engine.status().totalMessagesReceived, 12);
  });

  it('a ProcessedRecord is written before its offset is committed', async () => {
    const group = new MemoryGroup(1);
    group.produce(3);
    const blue = consumer(group, 'consumer-blue-0');
    blue.engine.setFault({ commitDelayMs: 30 });
    blue.engine.resume();
    await waitFor('the batch processed', () => group.processed().length === 3);
    assert.equal(group.committed.get(0), undefined, 'not committed yet: the commit waits its delay');
    await waitFor('the commit', () => group.committed.get(0) === 3);
  });
  it('a failed commit is retried, not the processing: the batch comes back and is only committed again', async () => {
    const group = new MemoryGroup(2);
    const blue = consumer(group, 'consumer-blue-0');
    blue.engine.resume();
    await waitFor('a member', () => blue.engine.isMember);
    blue.member().failCommits = 2;
    group.produce(8);
    await waitFor('every message committed', () => group.committed.get(0) === 4 && group.committed.get(1) === 4);
    assert.equal(blue.member().failCommits, 0, 'both failures happened');
    assertExactlyOnce(group);
    assert.equal(blue.engine.status().totalMessagesReceived, 8, 'each message counted once');
  });
});

describe('kafka engine: pause and resume', () => {
  it('pause: DRAINING until the batch is committed and the group left, then PAUSED outside the group', async () => {
    const group = new MemoryGroup(2);
    group.produce(4);
    const blue = consumer(group, 'consumer-blue-0');
    blue.engine.setFault({ processingDelayMs: 20 });
    blue.engine.resume();
    await waitFor('a message processed', () => blue.engine.status().totalMessagesReceived === 1);
    blue.member().leaveGate = new Gate();
    assert.deepEqual(blue.engine.pause(), { previousState: 'ACTIVE', currentState: 'DRAINING', lastSequenceNumber: 0 });
    await waitFor('the in-flight batch committed', () => group.committed.get(0) === 2 && group.committed.get(1) === 2);
    assert.equal(blue.engine.status().state, 'DRAINING', 'committed, but still a member');
    assert.equal(group.members.length, 1);
    blue.member().leaveGate?.open();
    await waitFor('PAUSED', () => blue.engine.status().state === 'PAUSED');
    assert.equal(group.members.length, 0, 'left the group');
    assert.equal(blue.engine.isMember, false);
    assertExactlyOnce(group);
    assert.deepEqual(transitions(blue.lines), ['start', 'PAUSED->ACTIVE', 'ACTIVE->DRAINING', 'DRAINING->PAUSED']);
  });

  it('a fetch still waiting on the broker does not delay PAUSED, and what it brings is not processed', async () => {
    const group = new MemoryGroup(1);
    const blue = consumer(group, 'consumer-blue-0');
    blue.engine.resume();
    await waitFor('a member', () => blue.engine.isMember);
    blue.member().fetchGate = new Gate();
    await new Promise((resolve) => setTimeout(resolve, 10)); // the loop is now inside a held fetch
    group.produce(3);
    blue.engine.pause();
    await waitFor('PAUSED', () => blue.engine.status().state === 'PAUSED');
    blue.member().fetchGate?.open();
    await new Promise((resolve) => setTimeout(resolve, 20)); // give the released fetch the chance to be misused
    assert.equal(group.processed().length, 0);
    assert.equal(blue.engine.status().totalMessagesReceived, 0);
  });

  it('resume while DRAINING cancels the drain: after leaving it rejoins and goes on', async () => {
    const group = new MemoryGroup(2);
    group.produce(4);
    const blue = consumer(group, 'consumer-blue-0');
    blue.engine.resume();
    await waitFor('4 processed', () => group.processed().length === 4);
    blue.member().leaveGate = new Gate();
    blue.engine.pause();
    await waitFor('leaving the group', () => blue.member().leaves === 1);
    assert.deepEqual(blue.engine.resume(), { previousState: 'DRAINING', currentState: 'ACTIVE', lastSequenceNumber: 3 });
    blue.member().leaveGate?.open();
    group.produce(4);
    await waitFor('8 processed', () => group.processed().length === 8);
    assert.equal(blue.engine.status().state, 'ACTIVE');
    assert.equal(blue.member().joins, 2, 'rejoined after the leave');
    assertExactlyOnce(group);
    assert.deepEqual(transitions(blue.lines), ['start', 'PAUSED->ACTIVE', 'ACTIVE->DRAINING', 'DRAINING->ACTIVE']);
  });

  it('resume rejoins and continues from the committed offsets', async () => {
    const group = new MemoryGroup(3);
    group.produce(9);
    const blue = consumer(group, 'consumer-blue-0', { batchSize: 2 });
    blue.engine.resume();
    await waitFor('9 processed', () => group.processed().length === 9);
    blue.engine.pause();
    await waitFor('PAUSED', () => blue.engine.status().state === 'PAUSED');
    group.produce(9);
    blue.engine.resume();
    await waitFor('18 processed', () => group.processed().length === 18);
    assert.equal(blue.member().joins, 2);
    assertExactlyOnce(group);
  });

  it('blue -> green hand-off: every message exactly once, never both processing', async () => {
    const group = new MemoryGroup(6);
    const blue = consumer(group, 'consumer-blue-0');
    const green = consumer(group, 'consumer-green-0');
    group.produce(30);
    blue.engine.resume();
    await waitFor('blue processed 30', () => group.processed().length === 30);
    blue.engine.pause();
    await waitFor('blue PAUSED', () => blue.engine.status().state === 'PAUSED');
    const blueDoneAt = Math.max(...group.processed().map((record) => record.processedAt));
    group.produce(30);
    green.engine.resume();
    await waitFor('green processed 30', () => group.processed().length === 60);
    assertExactlyOnce(group);
    const greens = group.processed().filter((record) => record.color === 'green');
    assert.equal(greens.length, 30);
    assert.ok(
      greens.every((record) => record.processedAt > blueDoneAt),
      'green started after blue stopped',
    );
  });

  it('a rebalance while ACTIVE commits the processed part of the batch before the partitions move', async () => {
    const group = new MemoryGroup(4);
    group.produce(40);
    const green0 = consumer(group, 'consumer-green-0', { batchSize: 10 });
    const green1 = consumer(group, 'consumer-green-1', { batchSize: 10 });
    green0.engine.setFault({ processingDelayMs: 5 });
    green0.engine.resume();
    await waitFor('green-0 in the middle of a batch', () => green0.engine.status().totalMessagesReceived === 3);
    green1.engine.resume();
    await waitFor('all 40 processed', () => group.processed().length >= 40 && processedCounts(group).size === 40);
    assertExactlyOnce(group);
    assert.ok(
      group.processed().some((record) => record.pod === 'consumer-green-1'),
      'green-1 got partitions',
    );
    const firstCommit = group.commits().find((commit) => commit.pod === 'consumer-green-0');
    assert.ok(firstCommit, 'green-0 committed at the revocation');
  });

  it('LEAVE_GROUP_ON_PAUSE=false: a paused consumer stays a member holding its partitions (the original bug)', async () => {
    const group = new MemoryGroup(6);
    const blue = consumer(group, 'consumer-blue-0', { leaveGroupOnPause: false });
    const green = consumer(group, 'consumer-green-0');
    blue.engine.resume();
    await waitFor('blue a member', () => blue.engine.isMember);
    blue.engine.pause();
    await waitFor('blue PAUSED', () => blue.engine.status().state === 'PAUSED');
    assert.equal(blue.engine.isMember, true);
    green.engine.resume();
    group.produce(60);
    await waitFor('green processed its share', () => group.processed().length === 30);
    assert.deepEqual(group.assignmentOf(blue.member()), [0, 2, 4], 'blue still holds half of the partitions');
    assert.equal(blue.engine.status().totalMessagesReceived, 0, 'and consumes none of them');
    assert.ok(group.processed().every((record) => record.sourcePartition % 2 === 1));
  });
});

describe('kafka engine: faults', () => {
  it('error rate: failed messages are written with failed: true and committed with their batch', async () => {
    const group = new MemoryGroup(1);
    group.produce(10);
    const blue = consumer(group, 'consumer-blue-0');
    blue.engine.setFault({ errorRatePercent: 50 });
    blue.engine.resume();
    await waitFor('10 committed', () => group.committed.get(0) === 10);
    assert.equal(group.processed().filter((record) => record.failed === true).length, 5);
    assert.equal(blue.engine.failedMessages, 5);
    assertExactlyOnce(group);
  });

  it('poll timeout: nothing is fetched or processed, a pause stays DRAINING until cleared', async () => {
    const group = new MemoryGroup(1);
    const blue = consumer(group, 'consumer-blue-0');
    blue.engine.resume();
    await waitFor('a member', () => blue.engine.isMember);
    blue.engine.setFault({ pollTimeoutExceed: true });
    group.produce(5);
    blue.engine.pause();
    await new Promise((resolve) => setTimeout(resolve, 50)); // give a stuck loop the chance to misbehave
    assert.equal(blue.engine.status().state, 'DRAINING');
    assert.equal(group.processed().length, 0);
    blue.engine.setFault({ pollTimeoutExceed: false });
    await waitFor('PAUSED', () => blue.engine.status().state === 'PAUSED');
    assert.equal(group.members.length, 0);
  });

  it('commit delay: a pause with nothing in flight still waits for its commit before leaving', async () => {
    const group = new MemoryGroup(1);
    const blue = consumer(group, 'consumer-blue-0');
    blue.engine.resume();
    await waitFor('a member', () => blue.engine.isMember);
    blue.engine.setFault({ commitDelayMs: 40 });
    const leavesBefore: string[] = [];
    blue.member().onLeave = () => leavesBefore.push(...blue.scheduled);
    blue.engine.pause();
    await waitFor('PAUSED', () => blue.engine.status().state === 'PAUSED');
    assert.ok(leavesBefore.includes('40 ms'), `the commit delay was waited before leaving: ${leavesBefore.join(', ')}`);
    assert.equal(group.members.length, 0);
  });

  it('commit delay: the drain lasts until the delayed commit is done', async () => {
    const group = new MemoryGroup(1);
    group.produce(3);
    const blue = consumer(group, 'consumer-blue-0');
    blue.engine.setFault({ commitDelayMs: 40 });
    blue.engine.resume();
    await waitFor('processed', () => group.processed().length === 3);
    blue.engine.pause();
    assert.equal(blue.engine.status().state, 'DRAINING');
    await waitFor('PAUSED', () => blue.engine.status().state === 'PAUSED');
    assert.equal(group.committed.get(0), 3, 'PAUSED after the commit');
  });
});

describe('kafka engine: readiness and shutdown', () => {
  it('is not ready while ACTIVE and the broker fails; ready again once it answers', async () => {
    const group = new MemoryGroup(1);
    const blue = consumer(group, 'consumer-blue-0');
    blue.engine.resume();
    await waitFor('a member', () => blue.engine.isMember);
    assert.equal(blue.engine.isReady(), true);
    blue.member().failFetches = true;
    await waitFor('not ready', () => !blue.engine.isReady());
    blue.member().failFetches = false;
    group.produce(2);
    await waitFor('ready and consuming', () => blue.engine.isReady() && group.processed().length === 2);
  });

  it('beginShutdown commits, leaves, reports PAUSED and refuses resumes', async () => {
    const group = new MemoryGroup(2);
    group.produce(4);
    const blue = consumer(group, 'consumer-blue-0');
    blue.engine.setFault({ commitDelayMs: 20 });
    blue.engine.resume();
    await waitFor('processing', () => blue.engine.status().totalMessagesReceived > 0);
    const drained = blue.engine.beginShutdown(5_000);
    assert.throws(() => blue.engine.resume(), ShuttingDownError);
    await waitFor('PAUSED', () => blue.engine.status().state === 'PAUSED'); // the engine's timers do not keep the process alive
    assert.equal(await drained, 'PAUSED');
    assert.equal(group.members.length, 0);
    assert.equal(group.committed.get(0), 2);
    blue.engine.stop();
    assert.deepEqual(transitions(blue.lines).at(-1), 'exit');
  });
});

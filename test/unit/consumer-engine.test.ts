import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { UsageError } from '../../src/shared/errors.js';
import { ConsumerEngine, ShuttingDownError, type EngineOptions, type EngineTimers } from '../../consumer/engine.js';
import { parseTransitionLog } from '../../consumer/transitions.js';

interface Timer {
  at: number;
  sequence: number;
  callback: () => void;
  cancelled: boolean;
}

/** Manual time: callbacks run only inside advance(), in time order, each at its own instant. */
class ManualTimers implements EngineTimers {
  private time = 1_000;
  private sequence = 0;
  private queue: Timer[] = [];

  now(): number {
    return this.time;
  }

  schedule(callback: () => void, delayMs: number): () => void {
    const timer = { at: this.time + delayMs, sequence: this.sequence++, callback, cancelled: false };
    this.queue.push(timer);
    return () => {
      timer.cancelled = true;
    };
  }

  advance(ms: number): void {
    const end = this.time + ms;
    for (let due = this.earliest(); due && due.at <= end; due = this.earliest()) this.fire(due);
    this.time = end;
  }

  /** Runs only the earliest pending timer, at its own instant. */
  runNext(): void {
    const next = this.earliest();
    assert.ok(next, 'a pending timer');
    this.fire(next);
  }

  private earliest(): Timer | undefined {
    return this.queue.filter((timer) => !timer.cancelled).sort((a, b) => a.at - b.at || a.sequence - b.sequence)[0];
  }

  private fire(timer: Timer): void {
    this.queue = this.queue.filter((queued) => queued !== timer);
    this.time = timer.at;
    timer.callback();
  }

  get pending(): number {
    return this.queue.filter((timer) => !timer.cancelled).length;
  }
}

function setup(options: Partial<EngineOptions> = {}): { engine: ConsumerEngine; timers: ManualTimers; lines: string[] } {
  const timers = new ManualTimers();
  const lines: string[] = [];
  const engine = new ConsumerEngine({
    podName: 'consumer-blue-0',
    color: 'blue',
    messageIntervalMs: 20,
    batchSize: 10,
    timers,
    writeLog: (line) => lines.push(line),
    ...options,
  });
  engine.start();
  return { engine, timers, lines };
}

describe('consumer engine: message stream', () => {
  it('starts PAUSED and processes nothing while paused', () => {
    const { engine, timers } = setup();
    timers.advance(1_000);
    assert.deepEqual(engine.status(), { state: 'PAUSED', stateCode: 2, lastSequenceNumber: 0, totalMessagesReceived: 0 });
    assert.equal(timers.pending, 0);
  });

  it('while ACTIVE processes every arriving message and commits it', () => {
    const { engine, timers } = setup();
    engine.resume();
    timers.advance(200); // messages 1..10 arrive at 20, 40, ..., 200
    assert.deepEqual(engine.status(), { state: 'ACTIVE', stateCode: 0, lastSequenceNumber: 10, totalMessagesReceived: 10 });
  });

  it('starts at the head on resume instead of replaying what arrived while paused', () => {
    const { engine, timers } = setup();
    timers.advance(1_000); // messages 1..50 arrive while PAUSED
    engine.resume();
    timers.advance(100); // messages 51..55
    assert.equal(engine.status().lastSequenceNumber, 55);
    assert.equal(engine.status().totalMessagesReceived, 5);
  });

  it('polls at most batchSize pending messages per batch and commits per batch', () => {
    const { engine, timers } = setup({ messageIntervalMs: 1, batchSize: 4 });
    engine.setFault({ commitDelayMs: 10 });
    engine.resume();
    timers.advance(1); // message 1 arrives: batch [1], committed at +10
    timers.advance(10);
    assert.equal(engine.status().lastSequenceNumber, 1);
    // messages 2..11 arrived meanwhile: the next batch is 2..5, committed 10 ms later
    timers.advance(9);
    assert.equal(engine.status().lastSequenceNumber, 1);
    timers.advance(1);
    assert.equal(engine.status().lastSequenceNumber, 5);
    // the batch 6..9 is already processed and waits for its commit
    assert.equal(engine.status().totalMessagesReceived, 9);
  });

  it('takes processingDelayMs per message', () => {
    const { engine, timers } = setup({ messageIntervalMs: 1, batchSize: 3 });
    engine.setFault({ processingDelayMs: 50 });
    engine.resume();
    timers.advance(1 + 49);
    assert.equal(engine.status().totalMessagesReceived, 0);
    timers.advance(1);
    assert.equal(engine.status().totalMessagesReceived, 1);
    timers.advance(150); // the next batch, 3 messages of 50 ms
    assert.equal(engine.status().totalMessagesReceived, 4);
    assert.equal(engine.status().lastSequenceNumber, 4);
  });

  it('catches up a backlog 100 batches per turn, yielding with the next batch in flight', () => {
    const { engine, timers } = setup({ messageIntervalMs: 1, batchSize: 1 });
    engine.setFault({ processingDelayMs: 200 });
    engine.resume();
    timers.advance(1); // batch [1] fetched; its message takes 200 ms while 200 more arrive
    engine.setFault({ processingDelayMs: 0 });
    timers.runNext();
    assert.equal(engine.status().totalMessagesReceived, 101, 'message 1, then 100 batches of one');
    assert.equal(timers.pending, 1, 'yielded to the event loop');
    assert.equal(engine.pause().currentState, 'DRAINING', 'the fetched batch is in flight while yielding');
    timers.runNext();
    assert.deepEqual(engine.status(), { state: 'PAUSED', stateCode: 2, lastSequenceNumber: 102, totalMessagesReceived: 102 });
  });

  it('fails exactly errorRatePercent of the messages and still commits them', () => {
    const { engine, timers } = setup({ messageIntervalMs: 1, batchSize: 10 });
    engine.setFault({ errorRatePercent: 30 });
    engine.resume();
    timers.advance(100);
    assert.equal(engine.status().totalMessagesReceived, 100);
    assert.equal(engine.failedMessages, 30);
    assert.equal(engine.status().lastSequenceNumber, 100);
    engine.setFault({ errorRatePercent: 0 });
    timers.advance(100);
    assert.equal(engine.failedMessages, 30);
    engine.setFault({ errorRatePercent: 100 });
    timers.advance(10);
    assert.equal(engine.failedMessages, 40);
  });
});

describe('consumer engine: pause and resume', () => {
  it('pauses at once when nothing is in flight, and is idempotent', () => {
    const { engine, timers } = setup();
    engine.resume();
    timers.advance(100);
    assert.deepEqual(engine.pause(), { previousState: 'ACTIVE', currentState: 'PAUSED', lastSequenceNumber: 5 });
    assert.deepEqual(engine.pause(), { previousState: 'PAUSED', currentState: 'PAUSED', lastSequenceNumber: 5 });
    timers.advance(1_000);
    assert.equal(engine.status().totalMessagesReceived, 5);
    assert.equal(timers.pending, 0);
  });

  it('drains the in-flight batch: DRAINING until it is committed, then PAUSED', () => {
    const { engine, timers } = setup({ messageIntervalMs: 1, batchSize: 3 });
    engine.setFault({ processingDelayMs: 10, commitDelayMs: 5 });
    engine.resume();
    timers.advance(1 + 10 + 5 + 10); // batch [1] done and committed; batch [2..4]: message 2 processed
    assert.deepEqual(engine.pause(), { previousState: 'ACTIVE', currentState: 'DRAINING', lastSequenceNumber: 1 });
    assert.deepEqual(engine.status(), { state: 'DRAINING', stateCode: 1, lastSequenceNumber: 1, totalMessagesReceived: 2 });
    assert.deepEqual(engine.pause(), { previousState: 'DRAINING', currentState: 'DRAINING', lastSequenceNumber: 1 });
    timers.advance(24); // messages 3 and 4 take 20 ms, the commit 5
    assert.equal(engine.status().state, 'DRAINING');
    timers.advance(1);
    assert.deepEqual(engine.status(), { state: 'PAUSED', stateCode: 2, lastSequenceNumber: 4, totalMessagesReceived: 4 });
    timers.advance(1_000);
    assert.equal(engine.status().totalMessagesReceived, 4);
  });

  it('resume while DRAINING cancels the drain and keeps consuming', () => {
    const { engine, timers } = setup({ messageIntervalMs: 1, batchSize: 3 });
    engine.setFault({ processingDelayMs: 10 });
    engine.resume();
    timers.advance(5);
    engine.pause();
    assert.deepEqual(engine.resume(), { previousState: 'DRAINING', currentState: 'ACTIVE', lastSequenceNumber: 0 });
    assert.deepEqual(engine.resume(), { previousState: 'ACTIVE', currentState: 'ACTIVE', lastSequenceNumber: 0 });
    timers.advance(100);
    assert.equal(engine.status().state, 'ACTIVE');
    assert.ok(engine.status().totalMessagesReceived >= 9, `still consuming: ${engine.status().totalMessagesReceived}`);
  });

  it('logs every change synchronously with the clock time, in order', () => {
    const { engine, timers, lines } = setup({ messageIntervalMs: 1 });
    engine.setFault({ processingDelayMs: 10 });
    timers.advance(5);
    engine.resume();
    timers.advance(3);
    engine.pause();
    timers.advance(20);
    engine.stop();
    assert.deepEqual(
      lines.map((line) => JSON.parse(line) as unknown),
      [
        { event: 'start', pod: 'consumer-blue-0', color: 'blue', state: 'PAUSED', at: 1_000 },
        { event: 'transition', pod: 'consumer-blue-0', color: 'blue', from: 'PAUSED', to: 'ACTIVE', at: 1_005 },
        { event: 'transition', pod: 'consumer-blue-0', color: 'blue', from: 'ACTIVE', to: 'DRAINING', at: 1_008 },
        { event: 'transition', pod: 'consumer-blue-0', color: 'blue', from: 'DRAINING', to: 'PAUSED', at: 1_016 },
        { event: 'exit', pod: 'consumer-blue-0', color: 'blue', state: 'PAUSED', at: 1_028 },
      ],
    );
    assert.equal(parseTransitionLog(lines.join('\n')).length, 5);
  });

  it('refuses to resume before start', () => {
    const engine = new ConsumerEngine({ podName: 'p', color: 'blue', timers: new ManualTimers() });
    assert.throws(() => engine.resume(), /has not been started/);
  });
});

describe('consumer engine: faults', () => {
  it('reports faults, applies them and clears them with 0 / false', () => {
    const { engine } = setup();
    assert.deepEqual(engine.fault(), { processingDelayMs: 0, errorRatePercent: 0, commitDelayMs: 0, pollTimeoutExceed: false });
    engine.setFault({ processingDelayMs: 200, errorRatePercent: 50, commitDelayMs: 100, pollTimeoutExceed: true });
    assert.deepEqual(engine.fault(), { processingDelayMs: 200, errorRatePercent: 50, commitDelayMs: 100, pollTimeoutExceed: true });
    engine.setFault({ processingDelayMs: 0, errorRatePercent: 0, commitDelayMs: 0, pollTimeoutExceed: false });
    assert.deepEqual(engine.fault(), { processingDelayMs: 0, errorRatePercent: 0, commitDelayMs: 0, pollTimeoutExceed: false });
  });

  it('rejects invalid fault values and keeps the previous ones', () => {
    const { engine } = setup();
    engine.setFault({ processingDelayMs: 5 });
    for (const patch of [{ processingDelayMs: -1 }, { commitDelayMs: Number.NaN }, { errorRatePercent: 101 }, { commitDelayMs: 600_001 }]) {
      assert.throws(() => engine.setFault(patch), UsageError, JSON.stringify(patch));
    }
    assert.equal(engine.fault().processingDelayMs, 5);
  });

  it('is not ready while ACTIVE with errorRatePercent >= 50', () => {
    const { engine } = setup();
    engine.setFault({ errorRatePercent: 50 });
    assert.equal(engine.isReady(), true, 'PAUSED fails nothing');
    engine.resume();
    assert.equal(engine.isReady(), false);
    engine.setFault({ errorRatePercent: 49 });
    assert.equal(engine.isReady(), true);
  });

  it('pollTimeoutExceed stalls progress; a pause stays DRAINING until the fault is cleared', () => {
    const { engine, timers } = setup({ messageIntervalMs: 1, batchSize: 5 });
    engine.resume();
    timers.advance(10);
    const before = engine.status().totalMessagesReceived;
    engine.setFault({ pollTimeoutExceed: true });
    timers.advance(1_000);
    assert.equal(engine.status().totalMessagesReceived, before, 'no message processed while the poll loop is stuck');
    assert.equal(engine.pause().currentState, 'DRAINING');
    timers.advance(1_000);
    assert.equal(engine.status().state, 'DRAINING');
    engine.setFault({ pollTimeoutExceed: false });
    assert.equal(engine.status().state, 'PAUSED');
    assert.equal(engine.status().lastSequenceNumber, before + 1, 'the stuck batch of one message was committed');
  });
});

describe('consumer engine: shutdown', () => {
  it('beginShutdown drains to PAUSED and refuses later resumes', async () => {
    const { engine, timers } = setup({ messageIntervalMs: 1 });
    engine.setFault({ processingDelayMs: 10 });
    engine.resume();
    timers.advance(5);
    const drained = engine.beginShutdown(1_000);
    assert.equal(engine.status().state, 'DRAINING');
    assert.throws(() => engine.resume(), ShuttingDownError);
    timers.advance(10);
    assert.equal(await drained, 'PAUSED');
  });

  it('beginShutdown gives up after the drain timeout with the state reached', async () => {
    const { engine, timers } = setup({ messageIntervalMs: 1 });
    engine.resume();
    timers.advance(5);
    engine.setFault({ pollTimeoutExceed: true });
    timers.advance(5);
    const drained = engine.beginShutdown(100);
    timers.advance(100);
    assert.equal(await drained, 'DRAINING');
  });

  it('stop cancels every timer, logs exit with the current state once, and refuses resume', () => {
    const { engine, timers, lines } = setup();
    engine.resume();
    timers.advance(30);
    engine.stop();
    engine.stop();
    assert.equal(timers.pending, 0);
    const exits = parseTransitionLog(lines.join('\n')).filter((record) => record.event === 'exit');
    assert.deepEqual(exits, [{ event: 'exit', pod: 'consumer-blue-0', color: 'blue', state: 'ACTIVE', at: 1_030 }]);
    assert.throws(() => engine.resume(), ShuttingDownError);
  });

  it('rejects invalid options', () => {
    assert.throws(() => new ConsumerEngine({ podName: 'p', color: 'blue', batchSize: 0 }), UsageError);
    assert.throws(() => new ConsumerEngine({ podName: 'p', color: 'blue', messageIntervalMs: 2.5 }), UsageError);
  });
});

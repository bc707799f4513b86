import assert from 'node:assert/strict';
import { after, before, beforeEach, describe, it } from 'node:test';
import { systemClock } from '../../src/shared/clock.js';
import { pollUntil } from '../../src/core/poll.js';
import type { LifecycleStatus } from '../../src/shared/pod-api.js';
import { startConsumer, type ConsumerHandle } from '../../consumer/server.js';
import { analyzeTransitions, parseTransitionLog } from '../../consumer/transitions.js';

const NO_FAULT_BODY = { processingDelayMs: 0, errorRatePercent: 0, commitDelayMs: 0, pollTimeoutExceed: false };

interface Answer {
  status: number;
  body: unknown;
  allow: string | null;
}

async function call(consumer: ConsumerHandle, method: string, path: string, body?: string): Promise<Answer> {
  const response = await fetch(`${consumer.url}${path}`, { method, ...(body === undefined ? {} : { body }) });
  assert.match(response.headers.get('content-type') ?? '', /^application\/json/);
  return { status: response.status, body: await response.json(), allow: response.headers.get('allow') };
}

async function status(consumer: ConsumerHandle): Promise<LifecycleStatus> {
  const answer = await call(consumer, 'GET', '/lifecycle/status');
  assert.equal(answer.status, 200);
  return answer.body as LifecycleStatus;
}

async function waitForStatus(consumer: ConsumerHandle, what: string, predicate: (s: LifecycleStatus) => boolean): Promise<LifecycleStatus> {
  const outcome = await pollUntil(
    async () => {
      const value = await status(consumer);
      return { done: predicate(value), value };
    },
    { clock: systemClock, timeoutMs: 3_000, initialIntervalMs: 2, maxIntervalMs: 20 },
  );
  assert.ok(outcome.done, `timed out waiting for ${what}; last status ${JSON.stringify(outcome.done ? undefined : outcome.last)}`);
  return outcome.value;
}

/**
 * Resumes with a processing delay far above the message interval and waits for one processed
 * message: from then on the backlog never empties, so a batch is always in flight.
 */
async function resumeWithBatchInFlight(consumer: ConsumerHandle, processingDelayMs: number): Promise<void> {
  await call(consumer, 'PUT', '/fault/processing-delay', JSON.stringify({ delayMs: processingDelayMs }));
  const start = await status(consumer);
  await call(consumer, 'POST', '/lifecycle/resume');
  await waitForStatus(consumer, 'a processed message', (s) => s.totalMessagesReceived > start.totalMessagesReceived);
}

describe('reference consumer HTTP contract', () => {
  let consumer: ConsumerHandle;
  let lines: string[];

  before(async () => {
    lines = [];
    consumer = await startConsumer({
      port: 0,
      host: '127.0.0.1',
      podName: 'consumer-green-1',
      color: 'green',
      messageIntervalMs: 2,
      batchSize: 3,
      writeLog: (line) => lines.push(line),
    });
  });

  after(async () => {
    await consumer.close();
  });

  // Each test starts from a PAUSED consumer without faults.
  beforeEach(async () => {
    for (const [path, body] of [
      ['/fault/processing-delay', '{"delayMs":0}'],
      ['/fault/error-rate', '{"errorRatePercent":0}'],
      ['/fault/commit-delay', '{"delayMs":0}'],
      ['/fault/poll-timeout', '{"enabled":false}'],
    ] as const) {
      assert.equal((await call(consumer, 'PUT', path, body)).status, 200);
    }
    await call(consumer, 'POST', '/lifecycle/pause');
    await waitForStatus(consumer, 'PAUSED', (s) => s.state === 'PAUSED');
  });

  it('listens on the requested loopback address with an ephemeral port', () => {
    assert.ok(consumer.port > 0);
    assert.equal(consumer.url, `http://127.0.0.1:${consumer.port}`);
  });

  it('starts PAUSED and reports status with exactly the contract fields', async () => {
    const first = JSON.parse(lines[0] ?? '{}') as Record<string, unknown>;
    assert.deepEqual({ ...first, at: 0 }, { event: 'start', pod: 'consumer-green-1', color: 'green', state: 'PAUSED', at: 0 });
    const current = await status(consumer);
    assert.deepEqual(Object.keys(current).sort(), ['lastSequenceNumber', 'state', 'stateCode', 'totalMessagesReceived']);
    assert.equal(current.state, 'PAUSED');
    assert.equal(current.stateCode, 2);
  });

  it('resume and pause answer previousState / currentState / lastSequenceNumber and are idempotent', async () => {
    const resumed = await call(consumer, 'POST', '/lifecycle/resume');
    assert.equal(resumed.status, 200);
    assert.deepEqual(Object.keys(resumed.body as object).sort(), ['currentState', 'lastSequenceNumber', 'previousState']);
    assert.deepEqual(
      { ...(resumed.body as object), lastSequenceNumber: 0 },
      { previousState: 'PAUSED', currentState: 'ACTIVE', lastSequenceNumber: 0 },
    );
    const again = await call(consumer, 'POST', '/lifecycle/resume');
    assert.equal((again.body as { previousState: string }).previousState, 'ACTIVE');
    assert.equal((again.body as { currentState: string }).currentState, 'ACTIVE');
    assert.equal((await status(consumer)).stateCode, 0);

    const before = await status(consumer);
    const progressed = await waitForStatus(
      consumer,
      'messages committed',
      (s) => s.lastSequenceNumber > before.lastSequenceNumber && s.totalMessagesReceived > before.totalMessagesReceived,
    );
    assert.equal(progressed.state, 'ACTIVE');

    // Without delays a batch is processed and committed in one go, so nothing is ever in flight.
    const paused = await call(consumer, 'POST', '/lifecycle/pause');
    const pausedBody = paused.body as { previousState: string; currentState: string; lastSequenceNumber: number };
    assert.equal(pausedBody.previousState, 'ACTIVE');
    assert.equal(pausedBody.currentState, 'PAUSED');
    const after = await status(consumer);
    assert.equal(after.lastSequenceNumber, pausedBody.lastSequenceNumber);
    assert.deepEqual((await call(consumer, 'POST', '/lifecycle/pause')).body, {
      previousState: 'PAUSED',
      currentState: 'PAUSED',
      lastSequenceNumber: pausedBody.lastSequenceNumber,
    });
  });

  it('drains slowly under a processing delay: DRAINING is observed, then PAUSED with the batch committed', async () => {
    await resumeWithBatchInFlight(consumer, 40);
    const paused = (await call(consumer, 'POST', '/lifecycle/pause')).body as {
      previousState: string;
      currentState: string;
      lastSequenceNumber: number;
    };
    assert.deepEqual([paused.previousState, paused.currentState], ['ACTIVE', 'DRAINING']);
    const draining = await status(consumer);
    assert.equal(draining.state, 'DRAINING');
    assert.equal(draining.stateCode, 1);
    const done = await waitForStatus(consumer, 'PAUSED after the drain', (s) => s.state === 'PAUSED');
    assert.ok(done.lastSequenceNumber > paused.lastSequenceNumber, 'the drained batch was committed');
  });

  it('resume during DRAINING goes back to ACTIVE and keeps consuming', async () => {
    await resumeWithBatchInFlight(consumer, 30);
    assert.equal(((await call(consumer, 'POST', '/lifecycle/pause')).body as { currentState: string }).currentState, 'DRAINING');
    const resumed = (await call(consumer, 'POST', '/lifecycle/resume')).body as { previousState: string; currentState: string };
    assert.deepEqual([resumed.previousState, resumed.currentState], ['DRAINING', 'ACTIVE']);
    const active = await status(consumer);
    const later = await waitForStatus(consumer, 'more batches committed', (s) => s.lastSequenceNumber > active.lastSequenceNumber + 3);
    assert.equal(later.state, 'ACTIVE');
  });

  it('poll-timeout: a stuck consumer stays DRAINING until the fault is cleared', async () => {
    await resumeWithBatchInFlight(consumer, 30);
    await call(consumer, 'PUT', '/fault/poll-timeout', '{"enabled":true}');
    assert.equal(((await call(consumer, 'POST', '/lifecycle/pause')).body as { currentState: string }).currentState, 'DRAINING');
    await call(consumer, 'PUT', '/fault/processing-delay', '{"delayMs":0}');
    await call(consumer, 'PUT', '/fault/poll-timeout', '{"enabled":false}');
    await waitForStatus(consumer, 'PAUSED once the fault is cleared', (s) => s.state === 'PAUSED');
  });

  it('sets every fault with the contract answer, shows it in GET /fault and clears it with 0 / false', async () => {
    assert.deepEqual((await call(consumer, 'GET', '/fault')).body, NO_FAULT_BODY);
    const cases: Array<[string, string, unknown]> = [
      ['/fault/processing-delay', '{"delayMs":200}', { type: 'processing-delay', delayMs: 200, status: 'applied' }],
      ['/fault/error-rate', '{"errorRatePercent":50}', { type: 'error-rate', errorRatePercent: 50, status: 'applied' }],
      ['/fault/commit-delay', '{"delayMs":100}', { type: 'commit-delay', delayMs: 100, status: 'applied' }],
      ['/fault/poll-timeout', '{"enabled":true}', { type: 'poll-timeout-exceed', enabled: true, status: 'applied' }],
    ];
    for (const [path, body, expected] of cases) {
      assert.deepEqual(await call(consumer, 'PUT', path, body), { status: 200, body: expected, allow: null });
    }
    assert.deepEqual((await call(consumer, 'GET', '/fault')).body, {
      processingDelayMs: 200,
      errorRatePercent: 50,
      commitDelayMs: 100,
      pollTimeoutExceed: true,
    });
    assert.deepEqual((await call(consumer, 'PUT', '/fault/processing-delay', '{"delayMs":0}')).body, {
      type: 'processing-delay',
      delayMs: 0,
      status: 'applied',
    });
    assert.deepEqual((await call(consumer, 'PUT', '/fault/error-rate', '{"errorRatePercent":0}')).body, {
      type: 'error-rate',
      errorRatePercent: 0,
      status: 'applied',
    });
    assert.deepEqual((await call(consumer, 'PUT', '/fault/commit-delay', '{"delayMs":0}')).body, {
      type: 'commit-delay',
      delayMs: 0,
      status: 'applied',
    });
    assert.deepEqual((await call(consumer, 'PUT', '/fault/poll-timeout', '{"enabled":false}')).body, {
      type: 'poll-timeout-exceed',
      enabled: false,
      status: 'applied',
    });
    assert.deepEqual((await call(consumer, 'GET', '/fault')).body, NO_FAULT_BODY);
  });

  it('rejects malformed fault bodies with 400 and a JSON error, changing nothing', async () => {
    const bad: Array<[string, string]> = [
      ['/fault/processing-delay', 'not json'],
      ['/fault/processing-delay', ''],
      ['/fault/processing-delay', '{"delayMs":"200"}'],
      ['/fault/processing-delay', '{"delay":200}'],
      ['/fault/processing-delay', '[200]'],
      ['/fault/processing-delay', 'null'],
      ['/fault/commit-delay', '{"delayMs":-1}'],
      ['/fault/error-rate', '{"errorRatePercent":101}'],
      ['/fault/error-rate', '{"errorRatePercent":-5}'],
      ['/fault/poll-timeout', '{"enabled":"true"}'],
      ['/fault/poll-timeout', '{"enabled":1}'],
    ];
    for (const [path, body] of bad) {
      const answer = await call(consumer, 'PUT', path, body);
      assert.equal(answer.status, 400, `${path} ${body}`);
      const error = answer.body as { status: number; error: string; message: string };
      assert.equal(error.status, 400);
      assert.equal(error.error, 'Bad Request');
      assert.ok(error.message.length > 0);
    }
    assert.deepEqual((await call(consumer, 'GET', '/fault')).body, NO_FAULT_BODY);
  });

  it('rejects an oversized body with 413', async () => {
    const answer = await call(consumer, 'PUT', '/fault/processing-delay', `{"delayMs":1,"pad":"${'x'.repeat(20_000)}"}`);
    assert.equal(answer.status, 413);
  });

  it('answers 404 for unknown routes and 405 with Allow for a wrong method', async () => {
    const unknown = await call(consumer, 'GET', '/lifecycle/state');
    assert.equal(unknown.status, 404);
    assert.equal((unknown.body as { error: string }).error, 'Not Found');
    const cases: Array<[string, string, string]> = [
      ['GET', '/lifecycle/pause', 'POST'],
      ['PUT', '/lifecycle/status', 'GET'],
      ['POST', '/fault', 'GET'],
      ['GET', '/fault/error-rate', 'PUT'],
      ['DELETE', '/actuator/health', 'GET'],
    ];
    for (const [method, path, allow] of cases) {
      const answer = await call(consumer, method, path);
      assert.equal(answer.status, 405, `${method} ${path}`);
      assert.equal(answer.allow, allow);
    }
    assert.equal((await status(consumer)).state, 'PAUSED', 'GET on /lifecycle/pause did not pause or resume anything');
  });

  it('health: UP; readiness DOWN (503) only while ACTIVE with error rate >= 50; liveness always UP', async () => {
    const health = async (): Promise<Array<[number, unknown]>> =>
      Promise.all(
        ['/actuator/health', '/actuator/health/readiness', '/actuator/health/liveness'].map(async (path) => {
          const answer = await call(consumer, 'GET', path);
          return [answer.status, answer.body] as [number, unknown];
        }),
      );
    const up: [number, unknown] = [200, { status: 'UP' }];
    const down: [number, unknown] = [503, { status: 'DOWN' }];
    assert.deepEqual(await health(), [up, up, up]);
    await call(consumer, 'PUT', '/fault/error-rate', '{"errorRatePercent":50}');
    assert.deepEqual(await health(), [up, up, up], 'a paused consumer fails nothing');
    await call(consumer, 'POST', '/lifecycle/resume');
    assert.deepEqual(await health(), [down, down, up]);
    await call(consumer, 'PUT', '/fault/error-rate', '{"errorRatePercent":49}');
    assert.deepEqual(await health(), [up, up, up]);
    await call(consumer, 'PUT', '/fault/error-rate', '{"errorRatePercent":100}');
    assert.deepEqual(await health(), [down, down, up]);
    await call(consumer, 'PUT', '/fault/error-rate', '{"errorRatePercent":0}');
    assert.deepEqual(await health(), [up, up, up]);
  });

  it('logs every transition so that the analysis sees this pod ACTIVE exactly while it was', async () => {
    const from = JSON.parse(lines.at(-1) ?? '{}').at as number;
    await call(consumer, 'POST', '/lifecycle/resume');
    await call(consumer, 'POST', '/lifecycle/pause');
    const records = parseTransitionLog(lines.join('\n'));
    const mine = records.filter((record) => record.at > from);
    assert.deepEqual(
      mine.map((record) => (record.event === 'transition' ? `${record.from}->${record.to}` : record.event)),
      ['PAUSED->ACTIVE', 'ACTIVE->PAUSED'],
    );
    const [resumedAt, pausedAt] = mine.map((record) => record.at) as [number, number];
    const analysis = analyzeTransitions(records, { from: resumedAt - 1, to: pausedAt + 1 });
    assert.deepEqual(analysis.gaps, [
      { from: resumedAt - 1, to: resumedAt, durationMs: 1 },
      { from: pausedAt, to: pausedAt + 1, durationMs: 1 },
    ]);
  });
});

describe('reference consumer shutdown over HTTP', () => {
  it('refuses resume with 503 once shutdown began, and close logs the exit', async () => {
    const lines: string[] = [];
    const consumer = await startConsumer({
      port: 0,
      host: '127.0.0.1',
      podName: 'consumer-blue-2',
      color: 'blue',
      writeLog: (line) => lines.push(line),
    });
    try {
      assert.equal(await consumer.engine.beginShutdown(1_000), 'PAUSED');
      const answer = await call(consumer, 'POST', '/lifecycle/resume');
      assert.equal(answer.status, 503);
      assert.match((answer.body as { message: string }).message, /shutting down/);
      assert.equal((await status(consumer)).state, 'PAUSED');
    } finally {
      await consumer.close();
    }
    const records = parseTransitionLog(lines.join('\n'));
    assert.deepEqual(
      records.map((record) => record.event),
      ['start', 'exit'],
    );
    assert.equal(records[1]?.event === 'exit' ? records[1].state : undefined, 'PAUSED');
    await assert.rejects(fetch(`${consumer.url}/lifecycle/status`), 'the server is closed');
  });

  it('fails to start on a port in use', async () => {
    const first = await startConsumer({ port: 0, host: '127.0.0.1', podName: 'a', color: 'blue' });
    try {
      await assert.rejects(startConsumer({ port: first.port, host: '127.0.0.1', podName: 'b', color: 'blue' }), /EADDRINUSE/);
    } finally {
      await first.close();
    }
  });
});

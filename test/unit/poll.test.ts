import assert from 'node:assert/strict';
import { test } from 'node:test';
import { pollUntil } from '../../src/core/poll.js';
import { ManualClock } from '../support/manual-clock.js';

/** A check that records when it ran and is done from its `doneAt`-th call on (never if undefined). */
function recordingCheck(clock: ManualClock, doneAt?: number) {
  const times: number[] = [];
  const start = clock.now();
  const check = async () => {
    times.push(clock.now() - start);
    return { done: doneAt !== undefined && times.length >= doneAt, value: times.length };
  };
  return { times, check };
}

test('the first check runs at once; a condition already true costs no waiting', async (t) => {
  const clock = new ManualClock();
  t.after(() => clock.dispose());
  const { times, check } = recordingCheck(clock, 1);
  const outcome = await pollUntil(check, { clock, timeoutMs: 1_000 });
  assert.deepEqual(outcome, { done: true, value: 1, elapsedMs: 0 });
  assert.deepEqual(times, [0]);
});

test('the interval starts small, doubles, and stops growing at the cap', async (t) => {
  const clock = new ManualClock();
  t.after(() => clock.dispose());
  const { times, check } = recordingCheck(clock, 6);
  const outcome = await pollUntil(check, { clock, timeoutMs: 10_000, initialIntervalMs: 50, maxIntervalMs: 300 });
  assert.deepEqual(times, [0, 50, 150, 350, 650, 950]);
  assert.deepEqual(outcome, { done: true, value: 6, elapsedMs: 950 });
});

test('at the deadline it gives up with the last observation, after one last check at the deadline itself', async (t) => {
  const clock = new ManualClock();
  t.after(() => clock.dispose());
  const { times, check } = recordingCheck(clock);
  const outcome = await pollUntil(check, { clock, timeoutMs: 500, initialIntervalMs: 100 });
  assert.deepEqual(times, [0, 100, 300, 500]);
  assert.deepEqual(outcome, { done: false, last: 4, elapsedMs: 500 });
  assert.equal(clock.pendingSleeps, 0);
});

test('a zero timeout checks exactly once (used by the soak)', async (t) => {
  const clock = new ManualClock();
  t.after(() => clock.dispose());
  const { times, check } = recordingCheck(clock);
  assert.deepEqual(await pollUntil(check, { clock, timeoutMs: 0 }), { done: false, last: 1, elapsedMs: 0 });
  assert.deepEqual(times, [0]);
});

test('an abort while waiting stops the poll with the abort reason and no further check', async (t) => {
  const clock = new ManualClock();
  t.after(() => clock.dispose());
  const controller = new AbortController();
  const { times, check } = recordingCheck(clock);
  void clock.sleep(120).then(() => controller.abort());
  await assert.rejects(pollUntil(check, { clock, timeoutMs: 10_000, initialIntervalMs: 100, signal: controller.signal }), {
    name: 'AbortError',
  });
  assert.deepEqual(times, [0, 100]);
  assert.equal(clock.pendingSleeps, 0, 'the aborted wait is forgotten');
});

test('an error thrown by the check ends the poll with that error', async (t) => {
  const clock = new ManualClock();
  t.after(() => clock.dispose());
  let calls = 0;
  const failing = async () => {
    calls++;
    if (calls === 2) throw new Error('API server said 403');
    return { done: false, value: calls };
  };
  await assert.rejects(pollUntil(failing, { clock, timeoutMs: 1_000 }), /API server said 403/);
  assert.equal(calls, 2);
});

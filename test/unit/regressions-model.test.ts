/**
 * Minimal schedules the model explorer (test/unit/model-switch.test.ts) shrank failures to, replayed
 * exactly, each named after what it found. Each one failed before its fix.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { runSchedule, type Command, type Schedule } from '../model/scheduler.js';
import { ModelWorld } from '../model/world.js';
import { NAMES } from '../support/switch-world.js';

test('a 409 on the Lease hand-back leaves it naming a dead CLI; the next no-op `switch green` hands it back to green', async () => {
  // Found with seed 7: the switch completes, but the release write of the Lease conflicts, so it
  // keeps naming the invocation after the switch; `switch green` was a no-op that never repaired it.
  const schedule: Schedule = {
    drainMs: 500,
    podsPerColor: 2,
    commands: [
      { t: 'flush' },
      { t: 'flush' },
      { t: 'flush' },
      { t: 'flush' },
      { t: 'writeFault', object: 'lease', fault: 'conflict', count: 1 },
      { t: 'advance', ms: 1000 },
      { t: 'flush' },
    ],
    recoveryTarget: 'green',
  };
  const outcome = await runSchedule(schedule);
  assert.deepEqual(outcome.outcomes, ['switched']);
  assert.equal(outcome.recovery, 'noop');
});

test('the no-op hand-back itself: an expired non-colour holder becomes the active colour, with an info line', async () => {
  const world = new ModelWorld(0, 2);
  await world.start();
  world.autoDeliver = true;
  const dead = 'lee@build-box/77/q1w2';
  world.cluster.seedLease({
    name: NAMES.lease,
    holderIdentity: dead,
    leaseDurationSeconds: 15,
    renewTime: new Date(world.clock.now() - 60_000),
    leaseTransitions: 4,
  });
  const run = world.startCli('blue', 'switch');
  await world.advance(1);
  assert.equal(run.report?.outcome, 'noop');
  assert.equal(world.cluster.peekLease(NAMES.lease)?.holderIdentity, 'blue');
  assert.ok(run.progress.some((e) => e.type === 'info' && e.message === `the switch lock was left with ${dead}; handed back to blue`));
  assert.equal(world.stateVersions().length, 1, 'a no-op writes no desired state');
});

test('the model catches a sidecar that resumes from a stale file without asking the API server (mutation check)', async () => {
  // The shrunk schedule that found an S1 violation when the reconciler's confirmResume() was
  // disabled: the CLI cannot reach blue-0's sidecar, so it keeps its stale ACTIVE file and
  // generation; the CLI's L1 pause lands, then the sidecar's next reconcile would resume blue-0
  // while green resumes. With the real reconciler the API server refuses that resume.
  const schedule: Schedule = {
    drainMs: 0,
    podsPerColor: 1,
    // One more delivery round than when it was found: sidecars now read the API server before
    // correcting a consumer, which costs a round (checked: with confirmResume() disabled this exact
    // schedule still breaks S1).
    commands: [
      { t: 'partition', pod: 0, on: true },
      { t: 'flush' },
      { t: 'flush' },
      { t: 'api', up: true },
      { t: 'flush' },
      { t: 'flush' },
    ],
    recoveryTarget: 'blue',
  };
  const outcome = await runSchedule(schedule);
  assert.deepEqual(outcome.outcomes, ['switched']);
  assert.equal(outcome.recovery, 'switched');
});

// Found by the explorer once it modelled inject-fault, late pushes and Lease takeovers (issue 11).
// docs/safety.md, "Model exploration", describes them.

// model-1. inject-fault writes blue-0's entry (still ACTIVE) and pushes it; the switch then writes
// every pod PAUSED, pauses blue-0 directly, verifies it and resumes green. The push lands after
// that on a sidecar that has not seen the newer generation: it used to be accepted and its one
// unconfirmed resume resumed blue-0 while green consumed. Fixed: every resume, a pushed one
// included, is confirmed by the API server (sidecar/reconciler.ts, applyLifecycle).
test('an inject-fault push that lands after the switch paused its pod does not resume it (S1, model-1)', async () => {
  const outcome = await runSchedule({
    drainMs: 0,
    podsPerColor: 4,
    commands: [
      { t: 'flush' },
      { t: 'inject', target: 'consumer-blue-0', change: 'clear' },
      { t: 'restartConsumer', pod: 0 },
      { t: 'stopSidecar', pod: 1 },
      { t: 'flush' },
      { t: 'flush' },
    ],
    recoveryTarget: 'blue',
  });
  assert.deepEqual(outcome.outcomes, ['switched']);
  assert.ok(outcome.scenarios.includes('inject-fault alongside a switch'), 'the schedule still runs inject-fault alongside the switch');
});

// model-1, another way in. The switch to green's push of green-0 ACTIVE stalls and arrives after
// the switch ended; the sidecar accepts it (same generation as it knows) but cannot read its
// consumer yet. Recovery switches to blue: green-0 is paused directly, blue resumed, and the
// sidecar's pending reconcile used to resume green-0 on the old push, without asking the API server.
test('a late ACTIVE push does not resume its pod after the next switch paused it (S1, model-1)', async () => {
  const outcome = await runSchedule({
    drainMs: 500,
    podsPerColor: 1,
    commands: [
      { t: 'until', phase: 'resume' },
      { t: 'stall', i: 1 },
      { t: 'until', phase: 'lease' },
      { t: 'late', i: 0 },
      { t: 'advance', ms: 50 },
      { t: 'api', up: false },
    ],
    recoveryTarget: 'blue',
  });
  assert.deepEqual(outcome.outcomes, ['switched']);
  assert.ok(outcome.scenarios.includes('push arrived after its sender timed out'), 'the schedule still delivers a push late');
  assert.equal(outcome.recovery, 'switched');
});

// model-3, found with BGSWITCH_MODEL_CLOCK_SKEW=1 (outside the claims): the first CLI resumes green;
// a second CLI, 14 s ahead, judges its Lease expired and writes every pod PAUSED with its own
// operation record. The first CLI has not renewed since, still believes it holds the lock, and
// its record write used to remove the second CLI's operation record, leaving a desired state with
// nobody ACTIVE and no operation in progress. Fixed with the write fence of issue 9: the record's
// state write is refused unless the operation record is still this run's
// (src/core/switch-session.ts, fenceWrite).
test('a CLI whose clock runs ahead takes over a running switch: the first CLI does not remove the new operation record (S3, model-3)', async () => {
  const outcome = await runSchedule({
    drainMs: 3000,
    podsPerColor: 3,
    commands: [
      { t: 'until', phase: 'resume' },
      { t: 'cli', target: 'blue', kind: 'switch', skewMs: 14_000 },
      { t: 'until', phase: 'lease' },
      { t: 'flush' },
    ],
    recoveryTarget: 'blue',
  });
  assert.ok(outcome.scenarios.includes('CLI clock ahead'), 'the second CLI still runs 14 s ahead');
  assert.ok(outcome.interrupted, "the second CLI's operation record was left for status and the recovery run");
});

// Issue 9: a CLI frozen (SIGSTOP, a laptop suspended) past its Lease's expiry while another CLI
// takes the lock and switches back. Each schedule passes with the lock fence and breaks S1 without
// the part of it named (checked by hand, docs/safety.md "Mutations planted by hand").

/**
 * The first CLI (switching to green) frozen the moment it starts step `at`; 16 s later, its Lease
 * expired, a second CLI switches to blue and runs until it starts `until` (or 20 s); then the first
 * is thawed and `after` plays. Recovery: blue.
 */
function frozenPastItsLock(podsPerColor: number, at: string, until: string, after: Command[]): Schedule {
  return {
    drainMs: 0,
    podsPerColor,
    commands: [
      { t: 'freeze', cli: 0, at },
      { t: 'until', phase: at },
      { t: 'run', ms: 16_000 },
      { t: 'cli', target: 'blue', kind: 'switch', force: false, soakMs: 0 },
      { t: 'until', phase: until },
      { t: 'thaw', cli: 0 },
      ...after,
    ],
    recoveryTarget: 'blue',
  };
}

// Frozen the moment it starts resuming green, i.e. after its lock check; thawed once the other CLI
// has switched to blue. Its resumes would now go out with a full request timeout and resume green
// next to blue; bounded by the lock, they have no time left and are never sent.
test('a CLI frozen mid-resume past its lock, thawed after another CLI switched back, sends no resume (S1, issue 9)', async () => {
  const outcome = await runSchedule(frozenPastItsLock(4, 'resume', 'rollback:pause', [{ t: 'until', phase: 'pause' }]));
  assert.ok(outcome.scenarios.includes('CLI thawed after its lock was taken over'));
  assert.deepEqual(outcome.outcomes, ['failed', 'switched'], 'the frozen CLI stops (lock lost); the other switched to blue');
  assert.equal(outcome.recovery, 'noop', 'blue is left active and settled');
});

// Frozen the moment it starts writing green ACTIVE (after that step's lock check); thawed while the
// other CLI, switching to blue, verifies green PAUSED. Its write would put green ACTIVE over the
// other CLI's state and the green sidecars would resume green next to blue; the write is refused
// because the operation record is no longer this run's.
test("a CLI frozen before writing desired-active, thawed during another CLI's switch, writes nothing (S1, issue 9)", async () => {
  const outcome = await runSchedule(frozenPastItsLock(2, 'desired-active', 'verify-paused', [{ t: 'flush' }, { t: 'flush' }]));
  assert.ok(outcome.scenarios.includes('CLI thawed after its lock was taken over'));
  assert.deepEqual(outcome.outcomes, ['failed', 'switched']);
  assert.equal(outcome.recovery, 'noop');
});

// model-2. The first CLI soaks green for 20 s while its Lease renewals fail; the Lease expires and
// a second CLI switches to blue and records it. The first CLI's soak then sees blue consuming and
// used to roll back although the lock was gone: it wrote every pod PAUSED (undoing the second
// CLI's switch), leaving a desired state with nobody ACTIVE and no operation in progress. Fixed:
// no rollback without the lock (src/core/switch.ts, run()); the first CLI ends `failed`.
test('a CLI whose Lease expired and was taken over does not roll back over the new holder (S3, model-2)', async () => {
  const outcome = await runSchedule({
    drainMs: 0,
    podsPerColor: 1,
    first: { force: false, soakMs: 20_000 },
    commands: [
      { t: 'until', phase: 'desired-paused' },
      { t: 'writeFault', object: 'lease', fault: 'error', count: 3 },
      { t: 'run', ms: 16_000 },
      { t: 'cli', target: 'blue', kind: 'switch', soakMs: 2_000 },
      { t: 'until', phase: 'record' },
      { t: 'ready', pod: 1, ready: false },
      { t: 'until', phase: 'rollback:desired-paused' },
    ],
    recoveryTarget: 'blue',
  });
  assert.ok(outcome.scenarios.includes('lock taken over from a running CLI'), 'the Lease is still taken over from the running CLI');
  assert.deepEqual(outcome.outcomes, ['failed', 'switched'], 'the first CLI fails (lock lost) without rolling back; the second switched');
  assert.ok(!outcome.phasesStarted.has('rollback:desired-paused'), 'no rollback was started');
  assert.equal(outcome.recovery, 'noop', 'blue is left active and settled by the second CLI');
});

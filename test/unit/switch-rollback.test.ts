/**
 * Every step's failure, and what the rollback does about it: back to blue when it can be done
 * safely; otherwise everything left paused, blue NOT resumed, and the failure reported loudly.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { ProgressSink } from '../../src/core/events.js';
import { runSwitch, type SwitchReport } from '../../src/core/switch.js';
import { assertRecorded, assertSafeTimeline, assertSettledOn, createWorld, type SwitchWorld } from '../support/switch-world.js';

const ROLLBACK_PHASES = ['desired-paused', 'pause', 'verify-paused', 'desired-active', 'resume', 'verify-active'].map(
  (name) => `rollback:${name}`,
);

/** A rollback that worked: blue consuming again, green paused, recorded as rolled back. */
function assertRolledBack(world: SwitchWorld, report: SwitchReport, failedPhase: string, reason: RegExp): void {
  assert.equal(report.outcome, 'rolled-back');
  assert.match(report.reason ?? '', reason);
  const failedAt = report.phases.findIndex((p) => !p.ok);
  assert.equal(report.phases[failedAt]?.name, failedPhase);
  assert.deepEqual(
    report.phases.slice(failedAt + 1).map((p) => [p.name, p.ok]),
    [...ROLLBACK_PHASES, 'record'].map((name) => [name, true]),
  );
  assertSettledOn(world, 'blue');
  assertRecorded(world, 'rolled-back', reason);
}

/** A rollback that could not finish: the operation record stays, marked, and blue was never resumed. */
function assertRollbackFailed(world: SwitchWorld, report: SwitchReport, reason: RegExp): void {
  assert.equal(report.outcome, 'rollback-failed');
  assert.match(report.reason ?? '', reason);
  assert.deepEqual(world.commands('resume', 'blue'), [], 'blue must not be resumed while green may be consuming');
  for (const pod of world.podNames('blue')) assert.equal(world.fleet.stateOf(pod), 'PAUSED', pod);
  assertSafeTimeline(world);
}

test('drain timeout: a blue pod stays DRAINING -> rolled back, green never resumed', async (t) => {
  const world = createWorld(t);
  world.fleet.setDrainMs('consumer-blue-1', Infinity);
  const report = await runSwitch(world.context(), world.request({ drainTimeoutMs: 5_000 }));

  assertRolledBack(world, report, 'verify-paused', /blue did not pause within 5s: consumer-blue-1 DRAINING/);
  assert.deepEqual(world.commands('resume', 'green'), []);
  assert.deepEqual(
    world
      .activeVersion()
      .history[0]?.phases.map((p) => p.name)
      .slice(-7),
    ['verify-paused', ...ROLLBACK_PHASES],
  );
});

test('green not ready after resume -> rolled back: green paused before blue resumes', async (t) => {
  const world = createWorld(t);
  world.fleet.setReady('consumer-green-1', false);
  const report = await runSwitch(world.context(), world.request({ verifyTimeoutMs: 3_000 }));
  assertRolledBack(world, report, 'verify-active', /green is not ACTIVE and ready within 3s: consumer-green-1 ACTIVE but not ready/);
  // Not a clean switch: the report's picture of the fleet is read afresh after the record.
  const recorded = world.stateWrites().at(-1)!;
  const asked = world.journal.entries.filter((e) => e.seq > recorded.seq && e.op === 'ready').map((e) => e.name);
  assert.deepEqual(asked.sort(), [...world.podNames('blue'), ...world.podNames('green')].sort());
});

test('a green pod unreachable for its resume call -> rolled back', async (t) => {
  const world = createWorld(t);
  let failed = false;
  world.fleet.onCall((call) => {
    if (call.op === 'resume' && call.pod === 'consumer-green-1' && !failed) {
      failed = true;
      world.fleet.failNextCalls('consumer-green-1', 1);
    }
  });
  const report = await runSwitch(world.context(), world.request({ verifyTimeoutMs: 3_000 }));

  assert.ok(world.warnings().some((w) => /^resume consumer-green-1: .*ECONNREFUSED/.test(w)));
  assertRolledBack(world, report, 'verify-active', /consumer-green-1 PAUSED/);
});

test('a blue pod consuming again while green resumes -> rolled back at the first check', async (t) => {
  const world = createWorld(t);
  world.fleet.onCall((call) => {
    // Something outside bgswitch (a stale sidecar, a manual curl) resumes blue-0 just as green resumes.
    if (
      call.op === 'resume' &&
      call.pod === 'consumer-green-0' &&
      world.fleet.stateOf('consumer-blue-0') === 'PAUSED' &&
      world.commands('resume').length === 0
    ) {
      world.fleet.setState('consumer-blue-0', 'ACTIVE');
    }
  });
  const report = await runSwitch(world.context(), world.request());

  const verify = report.phases.find((p) => p.name === 'verify-active');
  assert.deepEqual([verify?.ok, verify?.durationMs], [false, 0], 'no waiting once blue is seen consuming');
  // The overlap the intruder caused lasts only until the rollback has drained green.
  const [overlap, ...more] = world.fleet.s1Overlaps();
  assert.deepEqual(more, []);
  const lastGreenPaused = world.journal.last(
    (e) => e.op === 'transition' && e.name.startsWith('consumer-green-') && (e.detail as { to: string }).to === 'PAUSED',
  );
  assert.ok(overlap?.until !== undefined && overlap.until === lastGreenPaused?.at, 'the overlap ends when green is drained');
  assert.equal(overlap.until - overlap.from, 2_000, 'exactly one drain');
  assert.equal(report.outcome, 'rolled-back');
  assert.match(report.reason ?? '', /blue is consuming again while green resumes: consumer-blue-0 ACTIVE/);
});

test('a green pod lost after it resumed: the rollback cannot see it PAUSED, so blue is NOT resumed (rollback-failed)', async (t) => {
  const world = createWorld(t);
  world.fleet.setReady('consumer-green-2', false);
  world.fleet.onCall((call) => {
    if (call.op === 'ready' && call.pod === 'consumer-green-1') world.fleet.setUnreachable('consumer-green-1', true);
  });
  const report = await runSwitch(world.context(), world.request({ verifyTimeoutMs: 3_000, drainTimeoutMs: 4_000 }));

  assertRollbackFailed(world, report, /rollback failed: green did not pause within 4s: consumer-green-1 unreachable/);
  assert.equal(world.fleet.stateOf('consumer-green-1'), 'ACTIVE', 'really still consuming, behind a broken network');
  assert.deepEqual(report.leftovers?.slice(-2), [
    'possibly consuming: consumer-green-1',
    'next: fix the cause, then `bgswitch switch blue` (or green)',
  ]);
});

test('--force does not excuse the new colour in a rollback: a green pod lost after it resumed still blocks resuming blue', async (t) => {
  const world = createWorld(t);
  world.fleet.setReady('consumer-green-2', false);
  world.fleet.onCall((call) => {
    if (call.op === 'ready' && call.pod === 'consumer-green-1') world.fleet.setUnreachable('consumer-green-1', true);
  });
  const report = await runSwitch(world.context(), world.request({ force: true, verifyTimeoutMs: 3_000, drainTimeoutMs: 4_000 }));

  assertRollbackFailed(world, report, /rollback failed: green did not pause within 4s: consumer-green-1 unreachable/);
});

test('rollback failing because green ignores the pause: blue NOT resumed, operation kept as rollback-failed', async (t) => {
  const world = createWorld(t);
  world.fleet.setReady('consumer-green-0', false);
  world.fleet.onCall((call) => {
    if (call.op === 'pause' && call.pod === 'consumer-green-2') world.fleet.setIgnoresCommands('consumer-green-2', true);
  });
  const report = await runSwitch(world.context(), world.request({ verifyTimeoutMs: 3_000, drainTimeoutMs: 4_000 }));

  assertRollbackFailed(world, report, /not ready.*; rollback failed: green did not pause within 4s: consumer-green-2 ACTIVE/);
  assert.equal(report.phases.at(-2)?.name, 'rollback:verify-paused');
  const { operation } = world.desiredState();
  assert.deepEqual(
    [operation?.phase, operation?.from, operation?.to, operation?.actor],
    ['rollback-failed', 'blue', 'green', 'dana@ops-laptop'],
  );
  for (const pod of [...world.podNames('blue'), ...world.podNames('green')]) assert.equal(world.desiredEntry(pod).lifecycle, 'PAUSED', pod);
  assertRecorded(world, 'rollback-failed', /rollback failed: green did not pause within 4s: consumer-green-2 ACTIVE/);
  assert.equal(world.activeVersion().active, 'blue', 'the declared colour is left as it was');
});

test('API server down once blue is paused: neither colour resumed, rollback-failed with what was last seen', async (t) => {
  const world = createWorld(t);
  world.fleet.onCall((call) => {
    // The poll that will see every blue pod PAUSED is the last thing the API server answers for.
    if (call.op === 'status' && world.commands('pause').length > 0 && world.fleet.busy('blue').length === 0)
      world.cluster.unreachable = true;
  });
  const report = await runSwitch(world.context(), world.request());

  assertRollbackFailed(world, report, /API server is down.*; rollback failed: .*API server is down/);
  assert.deepEqual(
    report.phases.filter((p) => !p.ok).map((p) => p.name),
    ['desired-active', 'rollback:desired-paused', 'record'],
  );
  assert.deepEqual(world.commands('resume'), []);
  assert.deepEqual(report.leftovers, [
    'could not observe the fleet: connect ECONNREFUSED: the API server is down (simulated)',
    'last seen: consumer-blue-0 PAUSED, consumer-blue-1 PAUSED, consumer-blue-2 PAUSED',
    'desired state in the ConfigMap may say PAUSED for every pod; run `bgswitch status` once the cluster answers',
    'could not record the outcome: connect ECONNREFUSED: the API server is down (simulated); run `bgswitch status` once the cluster answers',
  ]);
  world.cluster.unreachable = false;
  assert.equal(world.desiredState().operation?.phase, 'pause', 'the interrupted operation is still recorded for the next run');
});

test('Ctrl-C (abort) during the drain -> the forward switch stops and rolls back', async (t) => {
  const world = createWorld(t);
  const controller = new AbortController();
  void world.clock.sleep(1_000).then(() => controller.abort());
  const report = await runSwitch(world.context({ signal: controller.signal }), world.request());

  assertRolledBack(world, report, 'verify-paused', /aborted/);
  assert.deepEqual(world.commands('resume', 'green'), []);
  assert.equal(report.durationMs < 2_000, true, 'blue is resumed mid-drain, without waiting for it');
});

test('soak: a green pod turning unready during the soak -> rolled back', async (t) => {
  const world = createWorld(t);
  const emit: ProgressSink = (event) => {
    if (event.type === 'phase-start' && event.phase.name === 'soak')
      void world.clock.sleep(1_500).then(() => world.fleet.setReady('consumer-green-1', false));
  };
  const report = await runSwitch(world.context({ emit }), world.request({ soakMs: 5_000 }));

  assert.equal(report.outcome, 'rolled-back');
  assert.match(report.reason ?? '', /green is not ACTIVE and ready within 0s: consumer-green-1 ACTIVE but not ready/);
  const soak = report.phases.find((p) => p.name === 'soak');
  assert.deepEqual([soak?.ok, soak?.durationMs], [false, 2_000], 'caught at the first check after it turned unready');
  assertSettledOn(world, 'blue');
});

test('a soak that stays healthy ends in a switch', async (t) => {
  const world = createWorld(t);
  const report = await runSwitch(world.context(), world.request({ soakMs: 5_000 }));
  assert.equal(report.outcome, 'switched');
  assert.deepEqual(
    report.phases.find((p) => p.name === 'soak'),
    { name: 'soak', ok: true, durationMs: 5_000 },
  );
  assertSettledOn(world, 'green');
});

/**
 * The switch lock as the protocol uses it (docs/architecture.md step 2; the Lease defects of the controller it replaces), and
 * invariant S3: a CLI killed mid-switch is visible and finished by the next run.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { RefusedError } from '../../src/core/errors.js';
import { runSwitch } from '../../src/core/switch.js';
import {
  assertRecorded,
  assertSafeTimeline,
  assertSettledOn,
  createWorld,
  HOLDER,
  killable,
  NAMES,
  type SwitchWorld,
} from '../support/switch-world.js';

const OTHER = 'lee@build-box/77/q1w2';

const leaseWritesBy = (world: SwitchWorld, holder: string) =>
  world.journal.filter((e) => e.op === 'write-lease' && e.ok && (e.detail as { holderIdentity: string }).holderIdentity === holder);

test('an expired lock of a killed CLI is taken over, with a warning naming it', async (t) => {
  const world = createWorld(t);
  world.cluster.seedLease({
    name: NAMES.lease,
    holderIdentity: OTHER,
    leaseDurationSeconds: 15,
    renewTime: new Date(world.clock.now() - 16_000),
    leaseTransitions: 5,
  });
  const report = await runSwitch(world.context(), world.request());

  assert.equal(report.outcome, 'switched');
  assert.ok(world.warnings().includes(`took over the expired lock of ${OTHER}`));
  assertSettledOn(world, 'green');
});

test('two operators switching at the same moment: exactly one switches, the other is refused naming the winner', async (t) => {
  const world = createWorld(t);
  const runs = await Promise.allSettled([
    runSwitch(world.context(), world.request()),
    runSwitch(world.context({ holder: OTHER, actor: 'lee@build-box' }), world.request()),
  ]);

  const switched = runs.filter((r) => r.status === 'fulfilled');
  const refused = runs.flatMap((r) => (r.status === 'rejected' ? [r.reason as unknown] : []));
  assert.equal(switched.length, 1);
  assert.equal(refused.length, 1);
  const winner = runs[0].status === 'fulfilled' ? HOLDER : OTHER;
  assert.ok(refused[0] instanceof RefusedError);
  assert.match(refused[0].message, new RegExp(`held by ${winner} until`));
  assert.equal(world.stateWrites().length, 3, 'only the winner wrote desired state');
  assert.deepEqual(leaseWritesBy(world, winner === HOLDER ? OTHER : HOLDER), [], 'the loser never held the lock');
  assertSettledOn(world, 'green');
});

test('renewal keeps the lock through a 40 s drain (lease 15 s): a colleague trying mid-way is refused', async (t) => {
  const world = createWorld(t, { drainMs: 40_000 });
  const colleague = assert.rejects(
    world.clock
      .sleep(20_000)
      .then(() => runSwitch(world.context({ holder: OTHER, actor: 'lee@build-box', emit: () => {} }), world.request())),
    new RegExp(`held by ${HOLDER} until`),
  );
  const report = await runSwitch(world.context(), world.request({ drainTimeoutMs: 60_000 }));

  await colleague;
  assert.equal(report.outcome, 'switched');
  assert.ok(report.durationMs >= 40_000, 'the switch lasted through the whole drain');
  assert.ok(leaseWritesBy(world, HOLDER).length >= 1 + 8, 'taken, then renewed every 5 s');
  assertSettledOn(world, 'green');
});

test('the shortest lease the CLI allows (5 s) still switches: the resume margin shrinks with the renewal period', async (t) => {
  const world = createWorld(t);
  const report = await runSwitch(world.context(), world.request({ leaseDurationMs: 5_000 }));
  assert.equal(report.outcome, 'switched', report.reason);
  assertSettledOn(world, 'green');
});

test('a lock taken by someone else mid-drain: stops before resuming, resumes nothing, leaves the ConfigMaps to the new holder', async (t) => {
  const world = createWorld(t, { drainMs: 12_000 });
  const { cluster, clock } = world;
  let takeover = -1;
  void clock.sleep(3_000).then(async () => {
    const current = cluster.peekLease(NAMES.lease)!;
    await cluster.writeLease({
      name: NAMES.lease,
      holderIdentity: OTHER,
      leaseDurationSeconds: 15,
      acquireTime: new Date(clock.now()),
      renewTime: new Date(clock.now()),
      leaseTransitions: 9,
      resourceVersion: current.resourceVersion,
    });
    takeover = world.journal.entries.length;
  });
  const report = await runSwitch(world.context(), world.request({ drainTimeoutMs: 20_000 }));

  assert.equal(report.outcome, 'failed');
  assert.match(report.reason ?? '', /lost the switch lock: the lock was taken by lee@build-box\/77\/q1w2/);
  assert.equal(report.phases.find((p) => !p.ok)?.name, 'desired-active');
  assert.deepEqual(world.commands('resume'), []);
  for (const pod of [...world.podNames('blue'), ...world.podNames('green')]) assert.equal(world.fleet.stateOf(pod), 'PAUSED', pod);
  assert.ok(takeover > 0);
  assert.deepEqual(
    world.journal.entries.slice(takeover).filter((e) => e.op.startsWith('write-') && e.ok),
    [],
    'nothing written after losing the lock',
  );
  assert.equal(cluster.peekLease(NAMES.lease)?.holderIdentity, OTHER);
  assert.equal(world.desiredState().operation?.phase, 'pause', 'the operation stays recorded for status and the next run');
  assert.ok(report.leftovers?.includes('nothing is consuming; desired state is PAUSED for every pod'));
  assertRecorded(world, 'failed', /lost the switch lock/, { history: false });
  assertSafeTimeline(world);
});

const killPoints = [
  { during: 'the pause of blue', op: 'pause', pod: 'consumer-blue-2', phase: 'pause' },
  { during: 'the resume of green', op: 'resume', pod: 'consumer-green-2', phase: 'resume' },
] as const;

for (const point of killPoints) {
  test(`a CLI killed during ${point.during}: visible, the lock blocks until it expires, then the next run finishes the switch`, async (t) => {
    const world = createWorld(t);
    const dead = killable(world.context({ holder: `${HOLDER}-dead` }));
    world.fleet.onCall((call) => {
      if (call.op === point.op && call.pod === point.pod) dead.kill();
    });
    void runSwitch(dead.context, world.request());
    await world.clock.sleep(5_000);

    assert.equal(world.desiredState().operation?.phase, point.phase, 'the interrupted switch is recorded');
    await assert.rejects(runSwitch(world.context(), world.request()), new RegExp(`held by ${HOLDER}-dead until`));

    await world.clock.sleep(11_000);
    const report = await runSwitch(world.context(), world.request());

    assert.equal(report.outcome, 'switched');
    assert.ok(
      world
        .warnings()
        .some((w) =>
          w.startsWith(`an interrupted switch blue -> green (by dana@ops-laptop, last step ${point.phase}) is finished by this run`),
        ),
    );
    assert.ok(world.warnings().includes(`took over the expired lock of ${HOLDER}-dead`));
    assertSettledOn(world, 'green');
  });
}

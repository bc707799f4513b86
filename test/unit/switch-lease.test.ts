/**
 * The switch lock as the protocol uses it (docs/architecture.md step 2; the Lease defects of the controller it replaces), and
 * invariant S3: a CLI killed mid-switch is visible and finished by the next run.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { RefusedError } from '../../src/core/errors.js';
import type { PodAgent, PodInfo } from '../../src/core/ports.js';
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

/** The fleet as the switch's PodAgent, recording each lifecycle call's timeout and when it was made. */
function recordingTimeouts(world: SwitchWorld) {
  const calls: Array<{ action: string; pod: string; timeoutMs: number | undefined; at: number; renewedAt: number }> = [];
  const pods: PodAgent = Object.assign(Object.create(world.fleet) as PodAgent, {
    lifecycle: (pod: PodInfo, action: 'pause' | 'resume', signal?: AbortSignal, timeoutMs?: number) => {
      const renewedAt = world.cluster.peekLease(NAMES.lease)?.renewTime?.getTime() ?? Number.NaN;
      calls.push({ action, pod: pod.name, timeoutMs, at: world.clock.now(), renewedAt });
      return world.fleet.lifecycle(pod, action, signal);
    },
  });
  return { pods, calls };
}

test('every pause and resume call times out the lock margin before the lock could expire, counted from the last renewal', async (t) => {
  // A 7 s drain puts a renewal (every 5 s) between the pauses and the resumes.
  const world = createWorld(t, { drainMs: 7_000 });
  const { pods, calls } = recordingTimeouts(world);
  const report = await runSwitch(world.context({ pods }), world.request());

  assert.equal(report.outcome, 'switched', report.reason);
  assert.deepEqual(
    calls.map((c) => `${c.action} ${c.pod}`),
    [...world.podNames('blue').map((p) => `pause ${p}`), ...world.podNames('green').map((p) => `resume ${p}`)],
  );
  for (const call of calls) {
    // Lease 15 s, margin 5 s: the call must be over 5 s before the lock could expire.
    assert.equal(call.timeoutMs, call.renewedAt + 15_000 - 5_000 - call.at, `${call.action} ${call.pod}`);
    assert.ok(call.timeoutMs > 0);
  }
  const resume = calls.find((c) => c.action === 'resume')!;
  assert.ok(resume.renewedAt > calls[0]!.renewedAt, 'the resumes were bounded by the renewal made during the drain');
  assertSettledOn(world, 'green');
});

test('renewals failing while the API server is slow: with no lock time left the pauses are not sent; the switch stops, lock lost, no rollback', async (t) => {
  const world = createWorld(t);
  const { cluster, clock } = world;
  // The desired-paused write takes 11 s to land, and every renewal meanwhile fails: 4 s of lock are
  // left for the pause step, less than the 5 s margin.
  cluster.beforeNextWrite(NAMES.stateConfigMap, async () => {
    cluster.failNextWrites(NAMES.lease, 3, 'error');
    await clock.sleep(11_000);
  });
  const report = await runSwitch(world.context(), world.request());

  assert.equal(report.outcome, 'failed');
  assert.match(report.reason ?? '', /lost|switch lock/);
  assert.equal(report.phases.find((p) => !p.ok)?.name, 'pause');
  assert.ok(!report.phases.some((p) => p.name.startsWith('rollback')), 'no rollback without the lock');
  assert.deepEqual(world.commands('pause'), [], 'no pause was sent');
  assert.deepEqual(world.commands('resume'), []);
  for (const pod of world.podNames('blue')) {
    assert.equal(world.desiredEntry(pod).lifecycle, 'PAUSED', `${pod}: desired PAUSED, so its sidecar pauses it`);
    assert.equal(world.fleet.stateOf(pod), 'ACTIVE', `${pod}: not paused by this CLI`);
  }
  assertSafeTimeline(world);
});

test('the lock lost mid-way through the resumes: those not yet sent are cancelled, none is sent after, and the switch stops', async (t) => {
  const world = createWorld(t);
  const { cluster, clock } = world;
  // green-0's resume goes out at once; the others wait 6 s for a connection (a busy proxy). Meanwhile,
  // 1 s after green-0 resumed, another CLI takes the Lease; the next renewal finds it.
  const waiting: string[] = [];
  const pods: PodAgent = Object.assign(Object.create(world.fleet) as PodAgent, {
    lifecycle: async (pod: PodInfo, action: 'pause' | 'resume', signal?: AbortSignal) => {
      if (action === 'resume' && pod.name !== 'consumer-green-0') {
        waiting.push(pod.name);
        await clock.sleep(6_000, signal);
      }
      return world.fleet.lifecycle(pod, action, signal);
    },
  });
  let lostAt = Number.POSITIVE_INFINITY;
  world.fleet.onCall((call) => {
    if (call.op !== 'resume' || call.pod !== 'consumer-green-0') return;
    void clock.sleep(1_000).then(async () => {
      const current = cluster.peekLease(NAMES.lease)!;
      const now = new Date(clock.now());
      await cluster.writeLease({
        ...current,
        holderIdentity: OTHER,
        acquireTime: now,
        renewTime: now,
        leaseDurationSeconds: 15,
        leaseTransitions: 2,
      });
      lostAt = clock.now();
    });
  });
  const report = await runSwitch(world.context({ pods }), world.request());

  assert.equal(report.outcome, 'failed');
  assert.match(report.reason ?? '', /lost the switch lock: the lock was taken by lee@build-box\/77\/q1w2/);
  assert.equal(report.phases.find((p) => !p.ok)?.name, 'resume');
  assert.deepEqual(waiting, ['consumer-green-1', 'consumer-green-2'], 'two resumes were waiting to be sent');
  assert.deepEqual(
    world.commands('resume').map((e) => e.name),
    ['consumer-green-0'],
    'only the resume sent before the loss reached a consumer',
  );
  assert.ok(world.journal.entries.filter((e) => e.source === 'pod' && e.op === 'resume').every((e) => e.at < lostAt));
  assert.ok(!report.phases.some((p) => p.name.startsWith('rollback')), 'no rollback without the lock');
  assert.ok(!world.warnings().some((w) => /^resume consumer-green-[12]:/.test(w)), 'a cancelled resume is not reported as a pod failure');
  assert.equal(cluster.peekLease(NAMES.lease)?.holderIdentity, OTHER);
});

/**
 * The switch protocol on the happy path, the no-op, dry-run, preflight refusals, conflicts on the
 * state ConfigMap and fault preservation. Failures and rollbacks: switch-rollback.test.ts; the lock
 * and interrupted switches: switch-lease.test.ts.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ExitCode } from '../../src/shared/errors.js';
import { RefusedError } from '../../src/core/errors.js';
import { runSwitch } from '../../src/core/switch.js';
import { encodeEntry, GENERATION_ANNOTATION, parseEntry } from '../../src/shared/desired-state.js';
import type { Fault } from '../../src/shared/model.js';
import { isMutation, type JournalEntry } from '../support/journal.js';
import { ACTOR, assertSafeTimeline, assertSettledOn, createWorld, HOLDER, NAMES, type SwitchWorld } from '../support/switch-world.js';

const SLOW: Fault = { processingDelayMs: 200, errorRatePercent: 0, commitDelayMs: 0, pollTimeoutExceed: false };
const FLAKY: Fault = { processingDelayMs: 0, errorRatePercent: 30, commitDelayMs: 50, pollTimeoutExceed: true };
const FORWARD_PHASES = ['preflight', 'lease', 'desired-paused', 'pause', 'verify-paused', 'desired-active', 'resume', 'verify-active'];

/** The lifecycle a state-ConfigMap write gave `pod`, and its generation. */
function writtenEntry(write: JournalEntry, pod: string) {
  const raw = (write.detail as { data: Record<string, string> }).data[pod];
  const parsed = parseEntry(raw ?? '');
  assert.ok(parsed.ok, `write #${write.seq} has no valid entry for ${pod}`);
  return parsed.value;
}

const writtenGeneration = (write: JournalEntry) =>
  Number((write.detail as { annotations: Record<string, string> }).annotations[GENERATION_ANNOTATION]);

test('blue -> green: steps 3..9 in exactly this order, S1 over the whole timeline, everything recorded', async (t) => {
  const world = createWorld(t);
  const { journal, fleet } = world;
  const blue = world.podNames('blue');
  const green = world.podNames('green');

  const report = await runSwitch(world.context(), world.request());

  assert.equal(report.outcome, 'switched');
  assert.deepEqual(
    report.phases.map((p) => [p.name, p.ok]),
    [...FORWARD_PHASES, 'record'].map((name) => [name, true]),
  );
  assert.ok(
    report.durationMs >= 2_000 && report.durationMs <= 3_000,
    `a 2 s drain plus at most one 1 s poll interval, took ${report.durationMs} ms`,
  );

  // Step 2 before step 3: the lock is ours before anything else is written.
  const [pausedWrite, activeWrite, finalWrite] = world.stateWrites();
  assert.ok(pausedWrite && activeWrite && finalWrite && world.stateWrites().length === 3);
  const lockTaken = journal.first((e) => e.op === 'write-lease' && e.ok)!;
  assert.equal((lockTaken.detail as { holderIdentity: string }).holderIdentity, HOLDER);
  assert.ok(lockTaken.seq < pausedWrite.seq);

  // Step 3: every pod desired PAUSED, written before any pause call.
  for (const pod of [...blue, ...green]) assert.equal(writtenEntry(pausedWrite, pod).lifecycle, 'PAUSED', pod);
  assert.ok(pausedWrite.seq < world.commands('pause')[0]!.seq);
  assert.deepEqual(
    world
      .commands('pause')
      .map((e) => e.name)
      .sort(),
    blue,
    'step 4 pauses every blue pod, no green one',
  );

  // Steps 5-7: no ACTIVE write and no resume before every blue pod is PAUSED.
  const lastBluePaused = journal.last((e) => e.op === 'transition' && e.name.startsWith('consumer-blue-'))!;
  assert.deepEqual(lastBluePaused.detail, { from: 'DRAINING', to: 'PAUSED' });
  assert.ok(lastBluePaused.seq < activeWrite.seq, 'green desired ACTIVE only after blue is PAUSED');
  assert.ok(activeWrite.seq < world.commands('resume')[0]!.seq, 'resume only after the ACTIVE write');
  assert.deepEqual(
    world
      .commands('resume')
      .map((e) => e.name)
      .sort(),
    green,
  );
  for (const pod of green) assert.equal(writtenEntry(activeWrite, pod).lifecycle, 'ACTIVE');
  for (const pod of blue) assert.equal(writtenEntry(activeWrite, pod).lifecycle, 'PAUSED');

  // Generations strictly increase and the pushes carry them.
  const generations = world.stateWrites().map(writtenGeneration);
  assert.deepEqual(generations, [2, 3, 4]);
  for (const pod of blue)
    assert.deepEqual(
      fleet.pushesTo(pod),
      [
        { lifecycle: 'PAUSED', generation: 2 },
        { lifecycle: 'PAUSED', generation: 2 },
      ],
      pod,
    );
  for (const pod of green)
    assert.deepEqual(
      fleet.pushesTo(pod),
      [
        { lifecycle: 'PAUSED', generation: 2 },
        { lifecycle: 'ACTIVE', generation: 3 },
      ],
      pod,
    );

  // Step 9.
  assertSettledOn(world, 'green');
  const [entry, ...older] = world.activeVersion().history;
  assert.deepEqual(older, []);
  assert.equal(entry?.outcome, 'switched');
  assert.deepEqual([entry?.from, entry?.to, entry?.actor, entry?.kind], ['blue', 'green', ACTOR, 'switch']);
  assert.deepEqual(
    entry?.phases.map((p) => p.name),
    FORWARD_PHASES,
  );
  assert.equal(world.cluster.events.length, 1);
  assert.equal(world.cluster.events[0]?.reason, 'SwitchSucceeded');
  assert.equal(world.cluster.events[0]?.actor, ACTOR);
  assert.equal(
    world.cluster.events[0]?.message,
    `dana@ops-laptop switched consumers blue -> green in ${(report.durationMs / 1000).toFixed(1)}s (generation 3)`,
    'the Event names the generation that made green active, as the history entry does',
  );
  assert.equal(entry?.generation, 3);
  const activeVersionWrite = journal.last((e) => e.op === 'write-configmap' && e.name === NAMES.activeConfigMap)!;
  const eventPosted = journal.first((e) => e.op === 'event')!;
  assert.ok(activeVersionWrite.seq < eventPosted.seq, 'the Event only after active-version says green');
  assert.deepEqual(
    report.podsAfter.map((p) => [p.name, p.state, p.desired]),
    [...blue.map((n) => [n, 'PAUSED', 'PAUSED']), ...green.map((n) => [n, 'ACTIVE', 'ACTIVE'])],
  );
  // That picture is what step 8 verified and the state step 9 wrote: no pod is asked again after the record.
  const askedAfter = journal.entries.filter((e) => e.seq > finalWrite.seq && (e.op === 'status' || e.op === 'ready'));
  assert.deepEqual(askedAfter, []);
});

test('already green and consistent: a no-op that writes nothing at all', async (t) => {
  const world = createWorld(t, { active: 'green' });
  const report = await runSwitch(world.context(), world.request({ target: 'green' }));
  assert.equal(report.outcome, 'noop');
  assert.deepEqual(world.journal.filter(isMutation), []);
});

test('dry-run reads everything, writes nothing, and returns the plan', async (t) => {
  const world = createWorld(t);
  const report = await runSwitch(world.context(), world.request({ dryRun: true }));
  assert.equal(report.outcome, 'dry-run');
  assert.deepEqual(world.journal.filter(isMutation), []);
  const plan = report.plan ?? [];
  assert.equal(plan.length, 8);
  assert.match(plan[0]!, new RegExp(`take Lease ${NAMES.lease} as ${HOLDER}`));
  assert.match(plan[1]!, /every pod PAUSED, generation 2/);
  assert.match(plan[2]!, /pause blue: consumer-blue-0, consumer-blue-1, consumer-blue-2/);
  assert.match(plan[4]!, /green ACTIVE, generation 3/);
  assert.match(plan[5]!, /resume green: consumer-green-0, consumer-green-1, consumer-green-2/);
});

interface Refusal {
  name: string;
  arrange: (world: SwitchWorld) => void;
  message: RegExp;
}

const refusals: Refusal[] = [
  {
    name: 'the active-version ConfigMap is missing',
    arrange: (w) => w.cluster.dropConfigMap(NAMES.activeConfigMap),
    message: /ConfigMap kafka-consumer-active-version does not exist/,
  },
  {
    name: 'the state ConfigMap is missing',
    arrange: (w) => w.cluster.dropConfigMap(NAMES.stateConfigMap),
    message: /ConfigMap kafka-consumer-state does not exist/,
  },
  {
    name: 'the state ConfigMap was never initialised',
    arrange: (w) => w.cluster.seedConfigMap(NAMES.stateConfigMap, {}),
    message: /has no desired state yet/,
  },
  {
    name: 'active-version names no colour',
    arrange: (w) => w.cluster.seedConfigMap(NAMES.activeConfigMap, { active: 'purple' }),
    message: /says active: "purple", which is not a colour/,
  },
  {
    name: 'the lock is held by another, unexpired operator',
    arrange: (w) =>
      w.cluster.seedLease({
        name: NAMES.lease,
        holderIdentity: 'lee@build-box/77/q1w2',
        leaseDurationSeconds: 15,
        renewTime: new Date(w.clock.now() - 5_000),
        leaseTransitions: 2,
      }),
    message: /held by lee@build-box\/77\/q1w2 until 2025-01-01T00:00:10\.000Z/,
  },
  {
    name: 'the fleet is dual-active',
    arrange: (w) => w.fleet.setState('consumer-green-1', 'ACTIVE'),
    message: /inconsistent: dual-active: .*consumer-green-1 ACTIVE/,
  },
  {
    name: 'an old-colour pod is unreachable',
    arrange: (w) => w.fleet.setUnreachable('consumer-blue-2', true),
    message: /inconsistent: unreachable: consumer-blue-2 \(consumer-blue-2: connect ECONNREFUSED/,
  },
];

for (const refusal of refusals) {
  test(`refused, exit 3, nothing written: ${refusal.name}`, async (t) => {
    const world = createWorld(t);
    refusal.arrange(world);
    await assert.rejects(runSwitch(world.context(), world.request()), (error: unknown) => {
      assert.ok(error instanceof RefusedError, String(error));
      assert.equal(error.exitCode, ExitCode.refused);
      assert.match(error.message, refusal.message);
      return true;
    });
    assert.deepEqual(world.journal.filter(isMutation), []);
  });
}

test('--force on a dual-active fleet: the old colour is paused first, the overlap ends before any resume', async (t) => {
  const world = createWorld(t);
  world.fleet.setState('consumer-green-1', 'ACTIVE');
  const report = await runSwitch(world.context(), world.request({ force: true }));

  assert.equal(report.outcome, 'switched');
  assert.ok(world.warnings().some((w) => /--force: proceeding although dual-active/.test(w)));
  const [overlap, ...more] = world.fleet.s1Overlaps();
  assert.deepEqual(more, []);
  assert.equal(overlap?.from, world.startedAt, 'only the overlap that was there before the switch');
  assert.ok(overlap.until !== undefined && overlap.until <= world.commands('resume')[0]!.at);
  assert.ok(
    world.journal.last((e) => e.op === 'transition' && e.name.startsWith('consumer-blue-'))!.seq < world.commands('resume')[0]!.seq,
  );
});

test('--force with an old-colour pod unreachable (but idle): the switch goes on, the pause is still attempted', async (t) => {
  const world = createWorld(t);
  world.fleet.setState('consumer-blue-2', 'PAUSED');
  world.fleet.setUnreachable('consumer-blue-2', true);
  const report = await runSwitch(world.context(), world.request({ force: true }));

  assert.equal(report.outcome, 'switched');
  assert.ok(
    world.journal.first((e) => e.op === 'pause' && e.name === 'consumer-blue-2' && !e.ok),
    'the pause was tried',
  );
  assert.ok(world.warnings().some((w) => /--force: proceeding although unreachable: consumer-blue-2/.test(w)));
  world.fleet.setUnreachable('consumer-blue-2', false);
  assertSettledOn(world, 'green');
});

test('a 409 on the state ConfigMap is retried on a fresh read: a concurrent fault injection survives', async (t) => {
  const world = createWorld(t);
  const { cluster } = world;
  // `bgswitch inject-fault consumer-green-0 delay=200` by a colleague, landing just before step 3's write.
  cluster.beforeNextWrite(NAMES.stateConfigMap, async () => {
    const current = (await cluster.getConfigMap(NAMES.stateConfigMap))!;
    const data = { ...current.data, 'consumer-green-0': encodeEntry({ lifecycle: 'PAUSED', generation: 2, fault: SLOW }) };
    await cluster.writeConfigMap({ ...current, data, annotations: { ...current.annotations, [GENERATION_ANNOTATION]: '2' } });
  });

  const report = await runSwitch(world.context(), world.request());

  assert.equal(report.outcome, 'switched');
  const attempts = world.journal.filter((e) => e.op === 'write-configmap' && e.name === NAMES.stateConfigMap);
  assert.deepEqual(
    attempts.slice(0, 3).map((e) => e.ok),
    [true, false, true],
    'the colleague, our 409, our retry',
  );
  assert.deepEqual(world.desiredEntry('consumer-green-0'), { lifecycle: 'ACTIVE', generation: 4, fault: SLOW });
  assert.deepEqual(
    world.fleet.pushesTo('consumer-green-0').at(-1),
    { lifecycle: 'ACTIVE', generation: 4, fault: SLOW },
    'the push carries the fault too',
  );
  assertSettledOn(world, 'green');
});

test('faults recorded in entries are kept across both desired-state writes, and pushed with them', async (t) => {
  const world = createWorld(t, { faults: { 'consumer-blue-1': SLOW, 'consumer-green-2': FLAKY } });
  await runSwitch(world.context(), world.request());

  const [pausedWrite, activeWrite] = world.stateWrites();
  for (const write of [pausedWrite!, activeWrite!]) {
    assert.deepEqual(writtenEntry(write, 'consumer-blue-1').fault, SLOW);
    assert.deepEqual(writtenEntry(write, 'consumer-green-2').fault, FLAKY);
    assert.equal(writtenEntry(write, 'consumer-green-1').fault, undefined, 'no fault invented where there was none');
  }
  assert.deepEqual(world.desiredEntry('consumer-green-2'), { lifecycle: 'ACTIVE', generation: 3, fault: FLAKY });
  assert.ok(world.fleet.pushesTo('consumer-blue-1').every((entry) => entry.fault?.processingDelayMs === 200));
  assert.ok(world.fleet.pushesTo('consumer-green-2').every((entry) => entry.fault?.errorRatePercent === 30));
  assertSafeTimeline(world);
});

/**
 * The switch with the consumer group (an in-memory group that follows the in-memory fleet, as the
 * reference consumer's group does): preflight refuses stranded partitions and an unanswered broker,
 * verify-paused waits for the old colour to leave the group, verify-active for every partition to
 * be on the new colour, the hand-off is reported and recorded, and the lag trigger rolls back.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ExitCode } from '../../src/shared/errors.js';
import { RefusedError } from '../../src/core/errors.js';
import { runSwitch } from '../../src/core/switch.js';
import { MemoryKafkaGroup } from '../support/memory-kafka.js';
import { assertSafeTimeline, assertSettledOn, createWorld, type Lifetime } from '../support/switch-world.js';

function kafkaWorld(t: Lifetime, options: { joinDelayMs?: number } = {}) {
  const world = createWorld(t);
  const group = new MemoryKafkaGroup(world.clock, world.fleet, options);
  return { world, group, context: world.context({ kafka: group }) };
}

/** Virtual time of the first successful journal entry matching `match`. */
function firstAt(world: ReturnType<typeof createWorld>, match: Parameters<ReturnType<typeof createWorld>['journal']['first']>[0]): number {
  const entry = world.journal.first(match);
  assert.ok(entry, 'expected journal entry is missing');
  return entry.at;
}

test('a switch waits for every partition to reach green and reports the hand-off: offsets, lag before and after, the hand-off wait', async (t) => {
  const { world, group, context } = kafkaWorld(t, { joinDelayMs: 1_500 });
  group.committed.splice(0, 6, 90, 91, 92, 93, 94, 95);
  assert.deepEqual(group.memberPods(), world.podNames('blue'), 'blue holds the group before the switch');

  const report = await runSwitch(context, world.request());

  assert.equal(report.outcome, 'switched');
  assertSettledOn(world, 'green');
  assert.deepEqual(group.memberPods(), world.podNames('green'));
  assert.ok(report.kafka, 'the report has a Kafka section');
  assert.equal(report.kafka.groupId, 'bg-consumer');
  assert.equal(report.kafka.lagBefore, 10 + 9 + 8 + 7 + 6 + 5);
  assert.equal(report.kafka.lagAfter, 45);
  assert.deepEqual(
    report.kafka.handoffOffsets,
    [90, 91, 92, 93, 94, 95].map((offset, partition) => ({ topic: 'bg-events', partition, offset })),
  );
  // Green joins 1.5 s after its resume; verify-active must not finish before that.
  const resumedAt = firstAt(world, (e) => e.source === 'pod' && e.op === 'resume' && e.ok);
  const verifyActive = report.phases.find((p) => p.name === 'verify-active');
  assert.ok(verifyActive && verifyActive.durationMs >= 1_500, `verify-active waited for the group: ${verifyActive?.durationMs} ms`);
  assert.ok(
    report.kafka.handoffWaitMs !== undefined && report.kafka.handoffWaitMs >= 1_500,
    `hand-off wait ${report.kafka.handoffWaitMs} ms`,
  );
  assert.ok(world.clock.now() - resumedAt >= 1_500);
  console.log(`# hand-off wait (virtual): ${report.kafka.handoffWaitMs} ms, verify-active ${verifyActive.durationMs} ms`);
  const [entry] = world.activeVersion().history;
  assert.deepEqual(entry?.kafka, report.kafka, 'the history entry records the same hand-off');
});

test('verify-paused waits until the old colour has left the group; green is resumed only after that', async (t) => {
  const { world, group, context } = kafkaWorld(t);
  // consumer-blue-1 keeps its membership for 3 s after it reports PAUSED (a slow leave).
  group.keepPartitionsWhenPaused.add('consumer-blue-1');
  let pausedSince: number | undefined;
  group.onRead(() => {
    if (world.fleet.stateOf('consumer-blue-1') !== 'PAUSED') return;
    pausedSince ??= world.clock.now();
    if (world.clock.now() - pausedSince >= 3_000) group.keepPartitionsWhenPaused.delete('consumer-blue-1');
  });

  const report = await runSwitch(context, world.request());

  assert.equal(report.outcome, 'switched');
  assert.ok(pausedSince !== undefined);
  const firstResume = firstAt(world, (e) => e.source === 'pod' && e.op === 'resume' && e.ok);
  assert.ok(
    firstResume >= pausedSince + 3_000,
    `green resumed ${firstResume - pausedSince} ms after blue-1 PAUSED, before it left the group`,
  );
  assertSettledOn(world, 'green');
});

test('an old pod that never leaves the group rolls the switch back; green is never resumed', async (t) => {
  const { world, group, context } = kafkaWorld(t);
  group.keepPartitionsWhenPaused.add('consumer-blue-2');

  const report = await runSwitch(context, world.request({ drainTimeoutMs: 4_000 }));

  assert.equal(report.outcome, 'rolled-back');
  assert.match(
    report.reason ?? '',
    /blue pods are PAUSED but did not leave consumer group bg-consumer within 4s: still members: consumer-blue-2 \(bg-events \d/,
  );
  assert.deepEqual(world.commands('resume', 'green'), [], 'green was never resumed');
  assertSettledOn(world, 'blue');
});

test('green that never holds every partition rolls back; the rollback waits on the group the same way (a stranger keeps one: exit 5)', async (t) => {
  const { world, group, context } = kafkaWorld(t);
  group.strangers.push({ clientId: 'someone-else', host: '10.9.9.9' });

  const report = await runSwitch(context, world.request({ verifyTimeoutMs: 3_000 }));

  // Forward: green is ACTIVE but one partition stays with the stranger. Rollback: green leaves the
  // group, blue is resumed, and blue cannot get that partition either, so the rollback fails too.
  assert.equal(report.outcome, 'rollback-failed');
  assert.match(
    report.reason ?? '',
    /^green pods are ACTIVE but consumer group bg-consumer was not handed over within 3s: not yet assigned to green: bg-events\/\d \(unknown member\); rollback failed: blue pods are ACTIVE but consumer group bg-consumer was not handed over/,
  );
  assert.deepEqual(
    report.phases.filter((p) => p.name === 'rollback:verify-paused').map((p) => p.ok),
    [true],
    'the rollback waited for green to leave the group',
  );
  assert.ok(
    report.leftovers?.some((line) => line.startsWith('possibly consuming: consumer-blue-0')),
    report.leftovers?.join('\n'),
  );
  assertSafeTimeline(world);
});

test('preflight refuses (exit 3) while the paused colour holds partitions, naming them; nothing is written', async (t) => {
  const { world, group, context } = kafkaWorld(t);
  group.keepPartitionsWhenPaused.add('consumer-green-1');
  const writesBefore = world.journal.filter((e) => e.op.startsWith('write')).length;

  const refusal = await runSwitch(context, world.request()).then(
    () => assert.fail('the switch should be refused'),
    (error: unknown) => error,
  );

  assert.ok(refusal instanceof RefusedError);
  assert.equal(refusal.exitCode, ExitCode.refused);
  assert.match(
    refusal.message,
    /^consumer group bg-consumer: partitions? [\d, ]+ of bg-events (is|are) assigned to paused consumer-green-1 and (is|are) not being consumed$/,
  );
  assert.match(refusal.hint ?? '', /--force/);
  assert.equal(world.journal.filter((e) => e.op.startsWith('write')).length, writesBefore, 'nothing was written');
});

test('members of the undeclared colour that consume (an interrupted switch) are not "stranded": the recovery switch proceeds', async (t) => {
  const { world, group, context } = kafkaWorld(t);
  // A CLI killed after resuming green: blue paused and gone from the group, green ACTIVE and holding
  // every partition, while the active-version ConfigMap still declares blue.
  for (const pod of world.podNames('blue')) world.fleet.setState(pod, 'PAUSED');
  for (const pod of world.podNames('green')) world.fleet.setState(pod, 'ACTIVE');
  assert.deepEqual(group.memberPods(), world.podNames('green'));

  const report = await runSwitch(context, world.request({ target: 'green' }));

  assert.notEqual(report.outcome, 'failed');
  assertSettledOn(world, 'green');
  assertSafeTimeline(world);
});

test('switching to the colour already active is still a no-op with Kafka: its own members are not "stranded"', async (t) => {
  const { world, group, context } = kafkaWorld(t);

  const report = await runSwitch(context, world.request({ target: 'blue' }));

  assert.equal(report.outcome, 'noop');
  assert.ok(group.reads > 0, 'the group was read at preflight');
  assert.deepEqual(
    world.journal.filter((e) => e.op.startsWith('write')),
    [],
  );
});

test('--force switches despite stranded partitions, with a warning naming them', async (t) => {
  const { world, group, context } = kafkaWorld(t);
  group.keepPartitionsWhenPaused.add('consumer-green-1');

  const report = await runSwitch(context, world.request({ force: true }));

  assert.equal(report.outcome, 'switched');
  assert.ok(
    world
      .warnings()
      .some((w) => /--force: proceeding although partitions? [\d, ]+ of bg-events (is|are) assigned to paused consumer-green-1/.test(w)),
    world.warnings().join('\n'),
  );
  assertSettledOn(world, 'green');
});

test('an unanswered broker refuses the switch at preflight (exit 3) with the --no-kafka hint', async (t) => {
  const { world, group, context } = kafkaWorld(t);
  group.unreachable = true;

  const refusal = await runSwitch(context, world.request()).catch((error: unknown) => error);

  assert.ok(refusal instanceof RefusedError, String(refusal));
  assert.match(refusal.message, /Kafka at 10\.77\.0\.1:19092: describe group failed/);
  assert.match(refusal.hint ?? '', /--no-kafka/);
  assert.deepEqual(world.commands('pause'), []);
});

test('the lag trigger: a lag that keeps growing beyond --max-lag during the soak rolls back', async (t) => {
  const { world, group, context } = kafkaWorld(t);
  // Once green is active nobody commits: every look at the group finds 50 more messages per partition.
  group.onRead(() => {
    if (world.fleet.stateOf('consumer-green-0') === 'ACTIVE') group.produce(50);
  });

  const report = await runSwitch(context, world.request({ soakMs: 10_000, maxLag: 500 }));

  assert.equal(report.outcome, 'rolled-back');
  assert.match(report.reason ?? '', /^lag: consumer group bg-consumer's lag keeps growing beyond --max-lag 500 \(\d+ -> \d+ -> \d+\)$/);
  assert.deepEqual(
    report.phases.filter((p) => p.name === 'soak').map((p) => p.ok),
    [false],
  );
  assertSettledOn(world, 'blue');
});

test('the lag trigger stays quiet while a lag above the limit is falling (the new colour is catching up)', async (t) => {
  const { world, group, context } = kafkaWorld(t);
  group.committed.fill(0);
  group.onRead(() => {
    if (world.fleet.stateOf('consumer-green-0') !== 'ACTIVE') return;
    for (let p = 0; p < group.partitions; p++) group.committed[p] = Math.min(group.end[p]!, (group.committed[p] ?? 0) + 5);
  });

  const report = await runSwitch(context, world.request({ soakMs: 5_000, maxLag: 100 }));

  assert.equal(report.outcome, 'switched');
  assert.ok(
    report.kafka?.lagAfter !== undefined && report.kafka.lagAfter > 100,
    `still above the limit at the end: ${report.kafka?.lagAfter}`,
  );
  assert.ok(report.kafka.lagAfter < report.kafka.lagBefore!, 'and falling');
});

test('without a group in the context (--no-kafka) the switch is the orchestration alone', async (t) => {
  const { world, group } = kafkaWorld(t);
  group.keepPartitionsWhenPaused.add('consumer-green-1');

  const report = await runSwitch(world.context(), world.request());

  assert.equal(report.outcome, 'switched', 'stranded partitions are not seen without Kafka');
  assert.equal(report.kafka, undefined);
  assert.equal(group.reads, 0);
});

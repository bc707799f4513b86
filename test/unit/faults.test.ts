/**
 * `inject-fault` over the in-memory cluster and fleet: the fault becomes the pod's desired state
 * (lifecycle kept), reaches the sidecar and the consumer, and is confirmed by reading it back; bad
 * targets and dry runs change nothing; an unreachable pod is reported, not hidden.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ExitCode, UsageError } from '../../src/shared/errors.js';
import { RefusedError } from '../../src/core/errors.js';
import { injectFault, type FaultRequest } from '../../src/core/faults.js';
import { NO_FAULT, type Fault } from '../../src/shared/model.js';
import { isMutation } from '../support/journal.js';
import { createWorld, NAMES, type SwitchWorld } from '../support/switch-world.js';

const SLOW: Fault = { processingDelayMs: 200, errorRatePercent: 0, commitDelayMs: 0, pollTimeoutExceed: false };

function request(overrides: Partial<FaultRequest> = {}): FaultRequest {
  return {
    target: 'consumer-green-0',
    change: { processingDelayMs: 200 },
    timeoutMs: 2_000,
    pollIntervalMs: 50,
    dryRun: false,
    ...overrides,
  };
}

function context(world: SwitchWorld) {
  const { cluster, pods, clock, names } = world.context();
  return { cluster, pods, clock, names };
}

test('one pod: desired state, sidecar push and consumer all carry the fault; its lifecycle is kept', async (t) => {
  const world = createWorld(t);
  const before = world.desiredState().generation;

  const report = await injectFault(context(world), request());

  assert.equal(report.dryRun, false);
  assert.ok(report.generation > before, 'the fault is written at a new generation');
  assert.deepEqual(
    report.pods.map((pod) => [pod.pod, pod.confirmed]),
    [['consumer-green-0', true]],
  );
  assert.deepEqual(report.pods[0]!.actual, SLOW);
  const entry = world.desiredEntry('consumer-green-0');
  assert.equal(entry.lifecycle, 'PAUSED', 'green is the paused colour and stays so');
  assert.deepEqual(entry.fault, SLOW);
  assert.deepEqual(world.fleet.pushesTo('consumer-green-0').at(-1)?.fault, SLOW);
  assert.deepEqual(world.desiredEntry('consumer-green-1').fault ?? NO_FAULT, NO_FAULT, 'other pods untouched');
});

test('a colour: every pod of it; later fields merge with the recorded fault; --clear resets all', async (t) => {
  const world = createWorld(t);
  await injectFault(context(world), request({ target: 'blue', change: { processingDelayMs: 200 } }));
  const merged = await injectFault(context(world), request({ target: 'blue', change: { errorRatePercent: 50 } }));

  assert.deepEqual(
    merged.pods.map((pod) => pod.pod),
    world.podNames('blue'),
  );
  for (const pod of world.podNames('blue')) {
    assert.deepEqual(world.desiredEntry(pod).fault, { ...SLOW, errorRatePercent: 50 }, pod);
    assert.equal(world.desiredEntry(pod).lifecycle, 'ACTIVE', `${pod} stays active`);
  }

  const cleared = await injectFault(context(world), request({ target: 'blue', change: 'clear' }));
  assert.ok(
    cleared.pods.every((pod) => pod.confirmed && pod.actual !== undefined && JSON.stringify(pod.actual) === JSON.stringify(NO_FAULT)),
  );
  for (const pod of world.podNames('blue')) assert.deepEqual(world.desiredEntry(pod).fault, NO_FAULT, pod);
});

test('--dry-run and an unknown target write nothing', async (t) => {
  const world = createWorld(t);
  const writesBefore = world.journal.entries.filter(isMutation).length;

  const planned = await injectFault(context(world), request({ dryRun: true }));
  assert.equal(planned.dryRun, true);
  assert.deepEqual(planned.pods[0]!.desired, SLOW);
  await assert.rejects(injectFault(context(world), request({ target: 'consumer-purple-0' })), (error: unknown) => {
    assert.ok(error instanceof UsageError);
    assert.equal(error.exitCode, ExitCode.usage);
    assert.match(error.hint ?? '', /consumer-green-0/, 'the hint names the pods there are');
    return true;
  });

  assert.equal(world.journal.entries.filter(isMutation).length, writesBefore);
  assert.deepEqual(world.fleet.pushesTo('consumer-green-0'), []);
});

test('a pod without a valid desired state is refused before anything is written', async (t) => {
  const world = createWorld(t);
  world.cluster.seedConfigMap(NAMES.stateConfigMap, { 'consumer-blue-0': '{"lifecycle":"ACTIVE","generation":1}' });
  await assert.rejects(injectFault(context(world), request()), RefusedError);
  assert.deepEqual(world.fleet.pushesTo('consumer-green-0'), []);
});

test('an unreachable consumer is reported unconfirmed with the reason; the others are confirmed', async (t) => {
  const world = createWorld(t);
  world.fleet.setUnreachable('consumer-green-1', true);

  const report = await injectFault(context(world), request({ target: 'green', timeoutMs: 500 }));

  const byPod = new Map(report.pods.map((pod) => [pod.pod, pod]));
  assert.equal(byPod.get('consumer-green-0')?.confirmed, true);
  assert.equal(byPod.get('consumer-green-1')?.confirmed, false);
  assert.match(byPod.get('consumer-green-1')?.error ?? '', /ECONNREFUSED/);
  assert.deepEqual(
    world.desiredEntry('consumer-green-1').fault,
    SLOW,
    'the desired state still carries it, so the sidecar applies it later',
  );
});

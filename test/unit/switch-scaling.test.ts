/**
 * A colour scaled while a switch runs (issue 9 §3), over the in-memory cluster and fleet: a pod
 * added to the new colour during the soak is joining, not failing; a pod of the new colour being
 * deleted is leaving, not failing; a pod of the old colour, added or being deleted, still counts
 * whenever it consumes (S1); the entry of a pod scaled away does not outlive it. The lab counterpart is test/e2e/scaling.test.ts.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { ProgressSink } from '../../src/core/events.js';
import type { PodInfo } from '../../src/core/ports.js';
import { runSwitch } from '../../src/core/switch.js';
import type { Color, Lifecycle } from '../../src/shared/model.js';
import { encodeEntry, resolveEntry } from '../../src/shared/desired-state.js';
import { assertSafeTimeline, assertSettledOn, createWorld, NAMES, type SwitchWorld } from '../support/switch-world.js';

function podInfo(name: string, color: Color, terminating = false): PodInfo {
  return { name, color, phase: 'Running', ready: true, ip: '10.77.0.99', restarts: 0, terminating };
}

/** The StatefulSet adds a pod: its consumer starts PAUSED (the consumer contract) and, until it has resumed, not ready. */
function addPod(world: SwitchWorld, name: string, color: Color, state: Lifecycle = 'PAUSED'): void {
  world.cluster.seedPod(podInfo(name, color));
  world.fleet.addConsumer(name, color, { state, ready: state !== 'PAUSED' });
}

/** The pod gets a deletionTimestamp (scale-down): its consumer shuts down, PAUSED and unready, and refuses to resume. */
function deletePod(world: SwitchWorld, name: string, color: Color): void {
  world.cluster.seedPod(podInfo(name, color, true));
  world.fleet.setState(name, 'PAUSED');
  world.fleet.setReady(name, false);
  world.fleet.setIgnoresCommands(name, true);
}

/** Runs `action` once, `afterMs` into the first phase named `phase`. */
function during(world: SwitchWorld, phase: string, afterMs: number, action: () => void): ProgressSink {
  let done = false;
  return (event) => {
    if (done || event.type !== 'phase-start' || event.phase.name !== phase || event.phase.rollback) return;
    done = true;
    if (afterMs === 0) action();
    else void world.clock.sleep(afterMs).then(action);
  };
}

test('soak: a green pod added mid-soak is joining, not failing: switched', async (t) => {
  const world = createWorld(t);
  const emit = during(world, 'soak', 1_500, () => addPod(world, 'consumer-green-3', 'green'));
  const report = await runSwitch(world.context({ emit }), world.request({ soakMs: 5_000 }));

  assert.equal(report.outcome, 'switched', report.reason);
  assert.deepEqual(
    report.phases.find((p) => p.name === 'soak'),
    { name: 'soak', ok: true, durationMs: 5_000 },
  );
  assert.equal(world.fleet.stateOf('consumer-green-3'), 'PAUSED', 'the CLI leaves the newcomer to its sidecar');
  assertSettledOn(world, 'green');
});

test('soak: a verified green pod deleted mid-soak (scale-down) is leaving, not failing: switched', async (t) => {
  const world = createWorld(t);
  const emit = during(world, 'soak', 1_500, () => deletePod(world, 'consumer-green-2', 'green'));
  const report = await runSwitch(world.context({ emit }), world.request({ soakMs: 5_000 }));

  assert.equal(report.outcome, 'switched', report.reason);
  assertSafeTimeline(world);
});

test('verify-active: a green pod deleted before it resumed does not hold the switch up', async (t) => {
  const world = createWorld(t);
  const emit = during(world, 'desired-active', 0, () => deletePod(world, 'consumer-green-2', 'green'));
  const report = await runSwitch(world.context({ emit }), world.request());

  assert.equal(report.outcome, 'switched', report.reason);
  assert.equal(world.fleet.stateOf('consumer-green-2'), 'PAUSED');
  assertSafeTimeline(world);
});

test('soak: a blue pod added mid-soak that consumes rolls the switch back (S1 covers newcomers)', async (t) => {
  const world = createWorld(t);
  const emit = during(world, 'soak', 1_500, () => addPod(world, 'consumer-blue-3', 'blue', 'ACTIVE'));
  const report = await runSwitch(world.context({ emit }), world.request({ soakMs: 5_000 }));

  assert.equal(report.outcome, 'rolled-back');
  assert.match(report.reason ?? '', /blue is consuming again while green resumes: consumer-blue-3 ACTIVE/);
});

test('soak: a blue pod being deleted that consumes again still rolls the switch back', async (t) => {
  const world = createWorld(t);
  const emit = during(world, 'soak', 1_500, () => {
    world.cluster.seedPod(podInfo('consumer-blue-2', 'blue', true));
    world.fleet.setState('consumer-blue-2', 'DRAINING');
  });
  const report = await runSwitch(world.context({ emit }), world.request({ soakMs: 5_000 }));

  assert.equal(report.outcome, 'rolled-back');
  assert.match(report.reason ?? '', /blue is consuming again while green resumes: consumer-blue-2 DRAINING/);
});

/** The state ConfigMap as `bgswitch init` and a switch to blue leave it, plus an entry for consumer-green-3, since scaled away. */
function withColorKeysAndLeftover(world: SwitchWorld): void {
  const state = world.cluster.peekConfigMap(NAMES.stateConfigMap)!;
  world.cluster.seedConfigMap(
    NAMES.stateConfigMap,
    {
      ...state.data,
      blue: encodeEntry({ lifecycle: 'ACTIVE', generation: 1 }),
      green: encodeEntry({ lifecycle: 'PAUSED', generation: 1 }),
      'consumer-green-3': encodeEntry({ lifecycle: 'PAUSED', generation: 1 }),
    },
    state.annotations,
  );
}

test('desired-paused removes the entry of a pod scaled away: if it comes back it follows its colour key', async (t) => {
  const world = createWorld(t);
  withColorKeysAndLeftover(world);
  const report = await runSwitch(world.context(), world.request());

  assert.equal(report.outcome, 'switched', report.reason);
  const data = world.cluster.peekConfigMap(NAMES.stateConfigMap)!.data;
  assert.equal(data['consumer-green-3'], undefined, 'no entry of its own any more');
  const lifecycleOf = (pod: string, color: Color) => {
    const resolved = resolveEntry(data, pod, color);
    return resolved.status === 'ok' ? resolved.entry.lifecycle : resolved.status;
  };
  assert.equal(lifecycleOf('consumer-green-3', 'green'), 'ACTIVE', 'green scaled up again: it joins green');
  assert.equal(lifecycleOf('consumer-blue-3', 'blue'), 'PAUSED', 'blue scaled up: it stays paused');
  assert.equal(lifecycleOf('consumer-green-0', 'green'), 'ACTIVE');
});

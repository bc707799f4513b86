/**
 * `status` names what stands in the way of a switch, in words and with what to run: a namespace
 * never initialised, a switch in progress (its lock held), a switch interrupted (its record left
 * behind, its lock expired), a lock held with nothing recorded, a key mode stored wrongly. Each is
 * read from the in-memory cluster and rendered as the operator sees it.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { encodeOperation, type OperationRecord } from '../../src/core/operation.js';
import { hasProblems, readStatus } from '../../src/core/status.js';
import { STATE_KEYS_SETTING } from '../../src/core/state-keys.js';
import { renderStatus } from '../../src/render/status-view.js';
import { createStyle } from '../../src/render/style.js';
import { OPERATION_ANNOTATION } from '../../src/shared/desired-state.js';
import { ACTOR, createWorld, HOLDER, NAMES, type SwitchWorld } from '../support/switch-world.js';

const plain = createStyle(Object.assign(process.stdout, {}), { NO_COLOR: '1' });
const HEADER = { context: 'lab', server: 'https://10.77.0.1:6443' };

function read(world: SwitchWorld) {
  return readStatus({ cluster: world.cluster, pods: world.fleet, names: NAMES, clock: world.clock });
}

/** A switch blue -> green recorded in the state ConfigMap, as a CLI leaves it at step `phase`. */
function recordOperation(world: SwitchWorld, phase: string): OperationRecord {
  const startedAt = new Date(world.clock.now() - 2_000).toISOString();
  const record: OperationRecord = {
    id: 'op-7',
    kind: 'switch',
    from: 'blue',
    to: 'green',
    phase,
    holder: HOLDER,
    actor: ACTOR,
    startedAt,
    updatedAt: startedAt,
  };
  const state = world.cluster.peekConfigMap(NAMES.stateConfigMap)!;
  world.cluster.seedConfigMap(NAMES.stateConfigMap, state.data, { ...state.annotations, [OPERATION_ANNOTATION]: encodeOperation(record) });
  return record;
}

/** The switch lock taken by a CLI `secondsAgo` ago, for 15 s. */
function holdLock(world: SwitchWorld, holder: string, secondsAgo: number): void {
  const renewed = new Date(world.clock.now() - secondsAgo * 1000);
  world.cluster.seedLease({
    name: NAMES.lease,
    holderIdentity: holder,
    leaseDurationSeconds: 15,
    acquireTime: renewed,
    renewTime: renewed,
    leaseTransitions: 2,
  });
}

test('a namespace never initialised: one problem that says to run init, no colour declared', async (t) => {
  const world = createWorld(t);
  world.cluster.dropConfigMap(NAMES.activeConfigMap);
  world.cluster.dropConfigMap(NAMES.stateConfigMap);

  const view = await read(world);

  assert.deepEqual(
    view.problems.filter((p) => p.kind === 'not-initialised').map((p) => [p.message, p.hint]),
    [['bgswitch is not initialised in this namespace', 'run `bgswitch init`']],
  );
  assert.equal(view.declaredActive, undefined);
  assert.equal(view.generation, 0);
  assert.equal(hasProblems(view), true);
  const text = renderStatus(view, HEADER, plain);
  assert.match(text, /^Active: +none declared$/m);
  assert.match(text, /✗ bgswitch is not initialised in this namespace — run `bgswitch init`/);
});

test('a switch in progress: who runs it and at which step, and when its lock expires', async (t) => {
  const world = createWorld(t);
  recordOperation(world, 'verify-paused');
  holdLock(world, HOLDER, 5);

  const view = await read(world);

  const expiresAt = new Date(world.clock.now() + 10_000).toISOString();
  assert.deepEqual(view.lease, { holder: HOLDER, expiresAt, blocking: true });
  assert.equal(view.operation?.phase, 'verify-paused');
  assert.deepEqual(
    view.problems.map((p) => [p.kind, p.message, p.hint]),
    [['lock', `switch blue -> green in progress by ${ACTOR} (step verify-paused)`, 'wait for it to finish']],
  );
  const text = renderStatus(view, HEADER, plain);
  assert.match(text, new RegExp(`^Lease: +${HOLDER} \\(switch lock, expires ${expiresAt}\\)$`, 'm'));
});

test('a switch interrupted (its record left, its lock expired): how to finish it or undo it', async (t) => {
  const world = createWorld(t);
  const record = recordOperation(world, 'resume');
  holdLock(world, HOLDER, 60);

  const view = await read(world);

  assert.deepEqual(view.lease, { holder: HOLDER, blocking: false });
  assert.deepEqual(
    view.problems.map((p) => [p.kind, p.message, p.hint]),
    [
      [
        'interrupted',
        `interrupted switch blue -> green by ${ACTOR} at step resume (started ${record.startedAt})`,
        'run `bgswitch switch green` to finish it or `bgswitch switch blue` to undo it',
      ],
    ],
  );
  assert.match(renderStatus(view, HEADER, plain), /✗ interrupted switch blue -> green .* — run `bgswitch switch green` to finish it/);
});

test('the lock held with no switch recorded: another switch is running', async (t) => {
  const world = createWorld(t);
  holdLock(world, 'sam@ci/77/abcd', 1);

  const view = await read(world);

  assert.deepEqual(
    view.problems.map((p) => [p.kind, p.message, p.hint]),
    [['lock', 'the switch lock is held by sam@ci/77/abcd', 'another switch is running']],
  );
});

test('a key mode stored wrongly is named with what to run, and the fleet is still shown', async (t) => {
  const world = createWorld(t);
  const active = world.cluster.peekConfigMap(NAMES.activeConfigMap)!;
  world.cluster.seedConfigMap(NAMES.activeConfigMap, { ...active.data, [STATE_KEYS_SETTING]: 'colours' });

  const view = await read(world);

  const malformed = view.problems.filter((p) => p.kind === 'malformed');
  assert.equal(malformed.length, 1);
  assert.match(malformed[0]!.message, /stateKeys: "colours", which is neither "pod" nor "color"/);
  assert.match(malformed[0]!.hint ?? '', /bgswitch init --color-keys/);
  assert.equal(view.pods.length, 6);
  assert.equal(view.declaredActive, 'blue');
});

test('both colours consuming: DUAL-ACTIVE names every pod and says which switch pauses the other colour first', async (t) => {
  const world = createWorld(t);
  world.fleet.setState('consumer-green-1', 'ACTIVE');

  const view = await read(world);

  const dual = view.problems.filter((p) => p.kind === 'dual-active');
  assert.deepEqual(
    dual.map((p) => [p.message, p.hint]),
    [
      [
        'DUAL-ACTIVE: blue consumer-blue-0, consumer-blue-1, consumer-blue-2 and green consumer-green-1 are consuming at once',
        'run `bgswitch switch blue --force` now (it pauses the other colour first)',
      ],
    ],
  );
  assert.deepEqual(
    view.problems.filter((p) => p.kind === 'drift').map((p) => p.message),
    ['consumer-green-1: desired PAUSED, actual ACTIVE'],
  );
});

test('nothing consuming while a colour is declared active, and an unreachable consumer, are named', async (t) => {
  const world = createWorld(t);
  for (const name of world.podNames('blue')) world.fleet.setState(name, 'PAUSED');
  world.fleet.setUnreachable('consumer-green-2', true);

  const view = await read(world);

  const named = (kind: string) => view.problems.filter((p) => p.kind === kind).map((p) => [p.message, p.hint]);
  assert.deepEqual(named('no-active'), [['no pod is consuming, though blue is declared active', 'run `bgswitch switch blue`']]);
  assert.deepEqual(named('unreachable'), [['consumer-green-2: consumer unreachable', 'check the pod (kubectl describe pod)']]);
  assert.equal(view.pods.find((p) => p.name === 'consumer-green-2')?.actual, 'unreachable');
});

test('stored values nothing can act on are named, not taken for absent', async (t) => {
  const world = createWorld(t);
  const active = world.cluster.peekConfigMap(NAMES.activeConfigMap)!;
  world.cluster.seedConfigMap(NAMES.activeConfigMap, { ...active.data, active: 'purple' });
  const state = world.cluster.peekConfigMap(NAMES.stateConfigMap)!;
  world.cluster.seedConfigMap(
    NAMES.stateConfigMap,
    { ...state.data, 'consumer-green-0': '{"lifecycle":"SOMETIMES"}' },
    { ...state.annotations, [OPERATION_ANNOTATION]: '{"kind":"switch"' },
  );

  const view = await read(world);

  const malformed = view.problems.filter((p) => p.kind === 'malformed').map((p) => p.message);
  assert.equal(malformed.length, 3, malformed.join('\n'));
  assert.match(malformed.join('\n'), /declares active="purple", which is neither blue nor green/);
  assert.match(malformed.join('\n'), /state entry "consumer-green-0" is malformed: .*; sidecars ignore it/);
  assert.match(
    malformed.join('\n'),
    /the switch-in-progress record \(annotation bgswitch\.io\/operation on kafka-consumer-state\) is unreadable/,
  );
  assert.equal(view.declaredActive, undefined);
  assert.equal(view.pods.find((p) => p.name === 'consumer-green-0')?.desired, 'malformed');
});

test('each pod row shows its fault in the words inject-fault takes, and none where there is none', async (t) => {
  const world = createWorld(t);
  const [pod] = await world.cluster.listPods('green');
  await world.fleet.setFault(pod!, { processingDelayMs: 200, errorRatePercent: 5, commitDelayMs: 30, pollTimeoutExceed: true });

  const view = await read(world);

  const text = renderStatus(view, HEADER, plain);
  assert.match(text, /consumer-green-0 .* delay=200 error-rate=5 commit-delay=30 poll-timeout=true /);
  assert.match(text, /consumer-green-1 .* none /);
});

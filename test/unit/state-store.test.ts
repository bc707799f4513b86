import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ConflictError, RefusedError } from '../../src/core/errors.js';
import { ExitCode, OperationError } from '../../src/shared/errors.js';
import type { OperationRecord } from '../../src/core/operation.js';
import { DesiredStateStore, type DesiredState } from '../../src/core/state-store.js';
import { encodeEntry, GENERATION_ANNOTATION, OPERATION_ANNOTATION } from '../../src/shared/desired-state.js';
import type { Fault } from '../../src/shared/model.js';
import { Journal } from '../support/journal.js';
import { ManualClock } from '../support/manual-clock.js';
import { MemoryCluster } from '../support/memory-cluster.js';

const NAME = 'kafka-consumer-state';
const SLOW: Fault = { processingDelayMs: 200, errorRatePercent: 0, commitDelayMs: 0, pollTimeoutExceed: false };
const OPERATION: OperationRecord = {
  id: 'op-1',
  kind: 'switch',
  from: 'blue',
  to: 'green',
  phase: 'pause',
  holder: 'dana@ops-laptop/1/x',
  actor: 'dana@ops-laptop',
  startedAt: '2025-01-01T00:00:00.000Z',
  updatedAt: '2025-01-01T00:00:00.000Z',
};

function setup(t: { after(fn: () => void): void }) {
  const clock = new ManualClock();
  t.after(() => clock.dispose());
  const journal = new Journal(clock);
  const cluster = new MemoryCluster(clock, journal);
  cluster.seedConfigMap(
    NAME,
    {
      'consumer-blue-0': encodeEntry({ lifecycle: 'ACTIVE', generation: 4, fault: SLOW }),
      'consumer-blue-1': encodeEntry({ lifecycle: 'ACTIVE', generation: 9 }),
      'consumer-green-0': '{"lifecycle":"PAUSED"}',
      'consumer-green-1': 'not json at all',
    },
    { [GENERATION_ANNOTATION]: '4', 'kubectl.kubernetes.io/last-applied-configuration': '{}' },
  );
  const writes = () => journal.filter((e) => e.op === 'write-configmap');
  return { cluster, store: new DesiredStateStore(cluster, NAME), writes };
}

/** Green-0 ACTIVE, keeping whatever fault the current entry has (what the switch does). */
const activateGreen0 = (current: DesiredState) => {
  const fault = current.entries.get('consumer-green-0')?.fault;
  return { entries: new Map([['consumer-green-0', { lifecycle: 'ACTIVE' as const, ...(fault ? { fault } : {}) }]]) };
};

test('read decodes entries, malformed keys, the generation and the operation record', async (t) => {
  const { store } = setup(t);
  const state = await store.read();
  assert.equal(state.generation, 4);
  assert.equal(state.operation, undefined);
  assert.deepEqual(state.entries.get('consumer-blue-0'), { lifecycle: 'ACTIVE', generation: 4, fault: SLOW });
  assert.deepEqual(
    state.entries.get('consumer-green-0'),
    { lifecycle: 'PAUSED', generation: 0 },
    'a seed entry without generation counts as 0',
  );
  assert.deepEqual([...state.malformed.keys()], ['consumer-green-1']);
});

test('reading a missing state ConfigMap is refused with the fix named', async (t) => {
  const { cluster, store } = setup(t);
  cluster.dropConfigMap(NAME);
  await assert.rejects(store.read(), (error: unknown) => {
    assert.ok(error instanceof RefusedError);
    assert.equal(error.exitCode, ExitCode.refused);
    assert.match(error.message, /ConfigMap kafka-consumer-state does not exist/);
    assert.match(error.hint ?? '', /bgswitch init/);
    return true;
  });
});

test('an update takes a generation above every generation seen, and keeps untouched keys byte for byte', async (t) => {
  const { cluster, store } = setup(t);
  const before = cluster.peekConfigMap(NAME)!;
  const written = await store.update(activateGreen0);

  // An entry (blue-1) already carries 9, above the annotation's 4: the counter must pass both.
  assert.equal(written.generation, 10);
  const after = cluster.peekConfigMap(NAME)!;
  assert.equal(after.annotations[GENERATION_ANNOTATION], '10');
  assert.equal(after.data['consumer-green-0'], '{"lifecycle":"ACTIVE","generation":10}');
  for (const key of ['consumer-blue-0', 'consumer-blue-1', 'consumer-green-1']) assert.equal(after.data[key], before.data[key], key);
  assert.equal(after.annotations['kubectl.kubernetes.io/last-applied-configuration'], '{}');

  const again = await store.update(activateGreen0);
  assert.equal(again.generation, 11, 'every update moves the counter on');
});

test('the operation record is written, kept when not mentioned, and removed with null', async (t) => {
  const { cluster, store } = setup(t);
  await store.update(() => ({ operation: OPERATION }));
  assert.deepEqual((await store.read()).operation, OPERATION);
  await store.update(activateGreen0);
  assert.deepEqual((await store.read()).operation, OPERATION, 'an update that does not mention it keeps it');
  await store.update(() => ({ operation: null }));
  assert.equal(cluster.peekConfigMap(NAME)!.annotations[OPERATION_ANNOTATION], undefined);
});

test('a lost race (409) is retried on a fresh read, so a concurrent fault injection is kept', async (t) => {
  const { cluster, store, writes } = setup(t);
  // Another operator's `inject-fault consumer-green-0` lands between our read and our write.
  cluster.beforeNextWrite(NAME, async () => {
    const current = (await cluster.getConfigMap(NAME))!;
    const data = { ...current.data, 'consumer-green-0': encodeEntry({ lifecycle: 'PAUSED', generation: 10, fault: SLOW }) };
    await cluster.writeConfigMap({ ...current, data, annotations: { ...current.annotations, [GENERATION_ANNOTATION]: '10' } });
  });

  const written = await store.update(activateGreen0);

  assert.deepEqual(
    writes().map((w) => w.ok),
    [true, false, true],
    'the other writer, our conflicting write, our retry',
  );
  assert.match(writes()[1]!.error ?? '', /has been modified/);
  assert.deepEqual(written.entries.get('consumer-green-0'), { lifecycle: 'ACTIVE', generation: 11, fault: SLOW });
});

test('after 8 conflicting writes it gives up with an error that says so', async (t) => {
  const { cluster, store, writes } = setup(t);
  cluster.failNextWrites(NAME, 8, 'conflict');
  await assert.rejects(store.update(activateGreen0), (error: unknown) => {
    assert.ok(error instanceof OperationError && !(error instanceof ConflictError), 'not a ConflictError, so callers do not retry again');
    assert.match(error.message, /kept changing under us \(8 conflicting writes\)/);
    return true;
  });
  assert.equal(writes().length, 8);
});

test('any other write error is not retried', async (t) => {
  const { cluster, store, writes } = setup(t);
  cluster.failNextWrites(NAME, 1, 'error');
  await assert.rejects(store.update(activateGreen0), /internal error/);
  assert.equal(writes().length, 1);
  assert.equal(cluster.peekConfigMap(NAME)!.annotations[GENERATION_ANNOTATION], '4', 'nothing was written');
});

/**
 * Malformed entries in the state ConfigMap. The sidecar logs each and never acts on it: consumer
 * untouched, highest generation unchanged, whichever source carries it (mounted file or API server),
 * and a malformed pod key is not overridden by a valid colour key (the pod key decides, so it must
 * not silently fall back). `status` (readStatus over the in-memory cluster and fleet) names every
 * one as a problem of kind 'malformed'.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { systemClock } from '../../src/shared/clock.js';
import { readStatus } from '../../src/core/status.js';
import { Reconciler } from '../../sidecar/reconciler.js';
import { createWorld, NAMES } from '../support/switch-world.js';
import { MemoryConsumer, MemoryGenerations, MemoryStateData, captureLog, entryText } from './sidecar-fixtures.js';

const POD = 'consumer-blue-0';

/** Each is a value a human or a broken tool could leave in the ConfigMap; each would PAUSE or change faults if believed. */
const MALFORMED: Array<[string, string]> = [
  ['not JSON', 'PAUSED'],
  ['truncated JSON', '{"lifecycle":"PAUSED","generation":9'],
  ['a JSON array', '["PAUSED",9]'],
  ['JSON null', 'null'],
  ['unknown lifecycle', '{"lifecycle":"STOPPED","generation":9}'],
  ['lower-case lifecycle', '{"lifecycle":"paused","generation":9}'],
  ['DRAINING desired', '{"lifecycle":"DRAINING","generation":9}'],
  ['lifecycle as a number', '{"lifecycle":2,"generation":9}'],
  ['generation as a string', '{"lifecycle":"PAUSED","generation":"9"}'],
  ['negative generation', '{"lifecycle":"PAUSED","generation":-9}'],
  ['fractional generation', '{"lifecycle":"PAUSED","generation":9.5}'],
  ['huge generation (1e300)', '{"lifecycle":"PAUSED","generation":1e300}'],
  ['unsafe generation (2^53 + 2)', '{"lifecycle":"PAUSED","generation":9007199254740994}'],
  ['unknown field', '{"lifecycle":"PAUSED","generation":9,"color":"green"}'],
  ['fault not an object', '{"lifecycle":"ACTIVE","generation":9,"fault":"slow"}'],
  ['fault with an unknown field', '{"lifecycle":"ACTIVE","generation":9,"fault":{"dropAll":true}}'],
  ['fault error rate over 100', '{"lifecycle":"ACTIVE","generation":9,"fault":{"errorRatePercent":101}}'],
  ['fault delay infinite (1e309)', '{"lifecycle":"ACTIVE","generation":9,"fault":{"processingDelayMs":1e309}}'],
  ['fault boolean as a string', '{"lifecycle":"ACTIVE","generation":9,"fault":{"pollTimeoutExceed":"true"}}'],
];

/** A sidecar whose consumer is ACTIVE by an accepted push at generation 3 (API and file agree). */
async function activeSidecar() {
  const consumer = new MemoryConsumer();
  const file = new MemoryStateData();
  const api = new MemoryStateData();
  const logs = captureLog();
  const reconciler = await Reconciler.create({
    pod: POD,
    color: 'blue',
    consumer,
    file,
    api,
    generations: new MemoryGenerations(),
    clock: systemClock,
    log: logs.log,
  });
  file.data = api.data = { [POD]: entryText('ACTIVE', 3) };
  assert.ok((await reconciler.acceptPush({ lifecycle: 'ACTIVE', generation: 3 })).accepted);
  assert.equal(consumer.lifecycle, 'ACTIVE');
  return { consumer, file, api, logs, reconciler, commandsBefore: consumer.commands().length };
}

describe('the sidecar ignores malformed state entries and never acts on them', () => {
  for (const [name, raw] of MALFORMED) {
    for (const where of ['file', 'api', 'file, under a valid colour key'] as const) {
      it(`${name} (${where})`, async () => {
        const { consumer, file, api, logs, reconciler, commandsBefore } = await activeSidecar();
        const data: Record<string, string> =
          where === 'file, under a valid colour key' ? { blue: entryText('PAUSED', 9), [POD]: raw } : { [POD]: raw };
        if (where === 'api') api.data = data;
        else file.data = data;
        if (where === 'api') await reconciler.seedFromApi();
        const status = await reconciler.reconcile();
        await reconciler.reconcile();

        assert.deepEqual(consumer.commands().slice(commandsBefore), [], 'no pause, resume or fault call');
        assert.equal(consumer.lifecycle, 'ACTIVE');
        assert.equal(status.generation, 3, 'the highest generation is not raised by a malformed entry');
        assert.equal(status.desired?.lifecycle, 'ACTIVE');
        const warnings = logs.lines.filter((line) => line['msg'] === 'ignoring a malformed desired-state entry');
        assert.equal(warnings.length, 1, 'logged once, not every tick');
        assert.equal(warnings[0]!['key'], POD);
        assert.equal(warnings[0]!['source'], where === 'api' ? 'api' : 'file');
      });
    }
  }
});

describe('status names every malformed entry as a problem', () => {
  it('one problem of kind malformed per bad key, naming the key and the reason, and nothing else is invented', async (t) => {
    const world = createWorld(t, { pods: 2 });
    const state = world.cluster.peekConfigMap(NAMES.stateConfigMap)!;
    const bad = { 'consumer-blue-1': MALFORMED[0]![1], 'consumer-green-0': MALFORMED[8]![1], green: MALFORMED[11]![1] };
    world.cluster.seedConfigMap(NAMES.stateConfigMap, { ...state.data, ...bad }, state.annotations);

    const view = await readStatus({ cluster: world.cluster, pods: world.fleet, names: NAMES, clock: world.clock });

    const malformed = view.problems.filter((p) => p.kind === 'malformed');
    assert.deepEqual(malformed.map((p) => p.message).sort(), [
      'state entry "consumer-blue-1" is malformed: not JSON; sidecars ignore it',
      'state entry "consumer-green-0" is malformed: generation must be a non-negative integer; sidecars ignore it',
      'state entry "green" is malformed: generation must be a non-negative integer; sidecars ignore it',
    ]);
    assert.deepEqual(
      view.pods
        .filter((p) => p.desired === 'malformed')
        .map((p) => p.name)
        .sort(),
      ['consumer-blue-1', 'consumer-green-0'],
    );
    assert.equal(
      view.pods.find((p) => p.name === 'consumer-green-1')?.desired,
      'PAUSED',
      'a malformed colour key does not hide a valid pod key',
    );
    assert.deepEqual(
      view.problems.filter((p) => p.kind !== 'malformed'),
      [],
      'the fleet itself is fine: no other problem',
    );
  });
});

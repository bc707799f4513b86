/**
 * `bgswitch init` against the lab (the lab already ran it once): idempotent, a dry run writes
 * nothing, a missing entry is added PAUSED, and the push key is never printed.
 */
import assert from 'node:assert/strict';
import { before, it } from 'node:test';
import { bgswitch, coordinationApi, coreApi, ensureLab, namespace, resetFleet } from '../support/lab.js';

const STATE = 'kafka-consumer-state';

async function versions(): Promise<string[]> {
  const [state, active, lease, secret] = await Promise.all([
    coreApi().readNamespacedConfigMap({ name: STATE, namespace }),
    coreApi().readNamespacedConfigMap({ name: 'kafka-consumer-active-version', namespace }),
    coordinationApi().readNamespacedLease({ name: 'bg-consumer-active-lease', namespace }),
    coreApi().readNamespacedSecret({ name: 'bgswitch-push-key', namespace }),
  ]);
  return [state, active, lease, secret].map((object) => object.metadata?.resourceVersion ?? '');
}

before(async () => {
  await ensureLab();
  await resetFleet();
});

it('a second init changes nothing and says so for every object, without printing the key', async () => {
  const before = await versions();
  const result = await bgswitch(['init']);
  assert.equal(result.code, 0, result.stderr);
  for (const object of [
    `ConfigMap/${STATE}`,
    'ConfigMap/kafka-consumer-active-version',
    'Lease/bg-consumer-active-lease',
    'Secret/bgswitch-push-key',
  ]) {
    assert.match(result.stdout, new RegExp(`${object} +│ unchanged`));
  }
  assert.deepEqual(await versions(), before, 'nothing was written');
  const secret = await coreApi().readNamespacedSecret({ name: 'bgswitch-push-key', namespace });
  const key = Buffer.from(secret.data?.key ?? '', 'base64')
    .toString('utf8')
    .trim();
  assert.ok(key.length >= 32);
  assert.ok(!result.stdout.includes(key) && !result.stderr.includes(key), 'the push key is never printed');
});

it('a missing entry: --dry-run names it and writes nothing; init adds it PAUSED', async () => {
  const state = await coreApi().readNamespacedConfigMap({ name: STATE, namespace });
  const data = { ...state.data };
  delete data.green;
  await coreApi().replaceNamespacedConfigMap({ name: STATE, namespace, body: { ...state, data } });
  const before = await versions();

  const dryRun = await bgswitch(['init', '--dry-run']);
  assert.equal(dryRun.code, 0, dryRun.stderr);
  assert.match(dryRun.stdout, new RegExp(`ConfigMap/${STATE} +│ would update +│ PAUSED entries for green`));
  assert.match(dryRun.stdout, /Dry run: nothing was written\./);
  assert.deepEqual(await versions(), before);

  const result = await bgswitch(['init']);
  assert.equal(result.code, 0, result.stderr);
  assert.match(result.stdout, new RegExp(`ConfigMap/${STATE} +│ updated +│ PAUSED entries for green`));
  const after = await coreApi().readNamespacedConfigMap({ name: STATE, namespace });
  assert.equal(JSON.parse(after.data?.green ?? '{}').lifecycle, 'PAUSED');
  assert.equal(after.data?.['consumer-blue-0'], state.data?.['consumer-blue-0'], 'existing entries are kept as they are');
});

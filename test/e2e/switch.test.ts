/**
 * End-to-end against the lab: the built CLI, a real API server, real consumer and sidecar processes.
 * Every switch is checked the way an operator would check it (status, ConfigMaps, Lease, Event,
 * history) and against the consumers' own transition logs (S1: never both colours consuming).
 */
import assert from 'node:assert/strict';
import { before, describe, it } from 'node:test';
import type { CoreV1Event } from '@kubernetes/client-node';
import {
  assertFleet,
  assertNoDualActive,
  bgswitch,
  coordinationApi,
  coreApi,
  ensureLab,
  namespace,
  resetFleet,
  status,
} from '../support/lab.js';

async function latestEvent(reason: string): Promise<{ message?: string; type?: string } | undefined> {
  const events = await coreApi().listNamespacedEvent({ namespace });
  // By eventTime (microseconds): lastTimestamp has whole seconds, and the fleet reset's switch can
  // fall in the same second as the test's.
  const time = (event: CoreV1Event): number => new Date(event.eventTime ?? event.lastTimestamp ?? 0).getTime();
  return events.items.filter((e) => e.reason === reason).sort((a, b) => time(b) - time(a))[0];
}

before(async () => {
  await ensureLab();
  await resetFleet();
});

describe('switch', () => {
  it('blue -> green through the API server proxy, recorded everywhere', async (t) => {
    const start = Date.now();
    const result = await bgswitch(['switch', 'green', '--yes', '--via', 'proxy']);
    assert.equal(result.code, 0, result.stdout + result.stderr);
    assert.match(result.stdout, /Switched blue -> green in/);
    assert.match(result.stderr, /Pause blue/);
    assertFleet(await status(), 'green');

    const active = await coreApi().readNamespacedConfigMap({ name: 'kafka-consumer-active-version', namespace });
    assert.equal(active.data?.active, 'green');
    const lease = await coordinationApi().readNamespacedLease({ name: 'bg-consumer-active-lease', namespace });
    assert.equal(lease.spec?.holderIdentity, 'green');
    const state = await coreApi().readNamespacedConfigMap({ name: 'kafka-consumer-state', namespace });
    assert.equal(state.metadata?.annotations?.['bgswitch.io/operation'], undefined, 'no operation left in progress');
    const event = await latestEvent('SwitchSucceeded');
    assert.match(event?.message ?? '', /@.* switched consumers blue -> green/);

    const history = await bgswitch(['history', '-o', 'json', '--limit', '1']);
    assert.equal(history.code, 0);
    const [entry] = JSON.parse(history.stdout) as Array<{ from: string; to: string; outcome: string; phases: Array<{ name: string }> }>;
    assert.equal(entry?.outcome, 'switched');
    assert.equal(`${entry?.from}->${entry?.to}`, 'blue->green');
    assert.deepEqual(
      entry?.phases.map((p) => p.name),
      ['preflight', 'lease', 'desired-paused', 'pause', 'verify-paused', 'desired-active', 'resume', 'verify-active'],
    );
    assertNoDualActive(t, start, 'blue -> green via proxy');
  });

  it('green -> blue directly at the pod IPs', async (t) => {
    const start = Date.now();
    const result = await bgswitch(['switch', 'blue', '--yes', '--via', 'direct', '-o', 'json']);
    assert.equal(result.code, 0, result.stderr);
    const report = JSON.parse(result.stdout) as { outcome: string; from: string; to: string };
    assert.deepEqual([report.outcome, report.from, report.to], ['switched', 'green', 'blue']);
    assertFleet(await status(), 'blue');
    assertNoDualActive(t, start, 'green -> blue direct');
  });

  it('switching to the colour already active is a no-op that says so', async () => {
    const before = await coreApi().readNamespacedConfigMap({ name: 'kafka-consumer-state', namespace });
    const result = await bgswitch(['switch', 'blue', '--yes']);
    assert.equal(result.code, 0);
    assert.match(result.stdout, /blue is already active and consistent; nothing was changed/);
    const after = await coreApi().readNamespacedConfigMap({ name: 'kafka-consumer-state', namespace });
    assert.equal(after.metadata?.resourceVersion, before.metadata?.resourceVersion, 'nothing written');
  });

  it('--dry-run prints the plan and writes nothing', async () => {
    const before = await coreApi().readNamespacedConfigMap({ name: 'kafka-consumer-state', namespace });
    const result = await bgswitch(['switch', 'green', '--dry-run']);
    assert.equal(result.code, 0, result.stderr);
    assert.match(result.stdout, /Dry run: switch blue -> green would:/);
    assert.match(result.stdout, /pause blue: consumer-blue-0, consumer-blue-1, consumer-blue-2/);
    const after = await coreApi().readNamespacedConfigMap({ name: 'kafka-consumer-state', namespace });
    assert.equal(after.metadata?.resourceVersion, before.metadata?.resourceVersion);
  });

  it('rollback goes back to the previous colour with the same protocol', async (t) => {
    const start = Date.now();
    assert.equal((await bgswitch(['switch', 'green', '--yes'])).code, 0);
    const result = await bgswitch(['rollback', '--yes']);
    assert.equal(result.code, 0, result.stdout + result.stderr);
    assert.match(result.stdout, /Switched green -> blue/);
    assertFleet(await status(), 'blue');
    const history = JSON.parse((await bgswitch(['history', '-o', 'json', '--limit', '2'])).stdout) as Array<{ kind: string; to: string }>;
    assert.deepEqual(
      history.map((h) => `${h.kind}:${h.to}`),
      ['rollback:blue', 'switch:green'],
    );
    assertNoDualActive(t, start, 'switch + rollback');
  });
});

describe('faults', () => {
  it('inject-fault sets a fault, confirmed on the consumer, and --clear really clears it', async () => {
    const set = await bgswitch(['inject-fault', 'consumer-green-0', 'delay=200']);
    assert.equal(set.code, 0, set.stdout + set.stderr);
    assert.match(set.stdout, /consumer-green-0.*delay=200.*delay=200.*confirmed/);
    let pod = (await status()).pods.find((p) => p.name === 'consumer-green-0');
    assert.equal(pod?.fault?.processingDelayMs, 200);
    assert.equal(pod?.desired, 'PAUSED', 'the lifecycle in the entry is kept');
    const entry = JSON.parse(
      (await coreApi().readNamespacedConfigMap({ name: 'kafka-consumer-state', namespace })).data?.['consumer-green-0'] ?? '{}',
    );
    assert.equal(entry.fault.processingDelayMs, 200);
    assert.equal(entry.lifecycle, 'PAUSED');

    const cleared = await bgswitch(['inject-fault', 'consumer-green-0', '--clear']);
    assert.equal(cleared.code, 0, cleared.stderr);
    pod = (await status()).pods.find((p) => p.name === 'consumer-green-0');
    assert.deepEqual(pod?.fault, { processingDelayMs: 0, errorRatePercent: 0, commitDelayMs: 0, pollTimeoutExceed: false });
  });

  it('an unknown pod is named, with the known ones, and nothing is written', async () => {
    const before = await coreApi().readNamespacedConfigMap({ name: 'kafka-consumer-state', namespace });
    const result = await bgswitch(['inject-fault', 'consumer-purple-0', 'delay=1']);
    assert.equal(result.code, 2);
    assert.match(result.stderr, /no pod or colour named "consumer-purple-0".*\n.*consumer-blue-0/);
    const after = await coreApi().readNamespacedConfigMap({ name: 'kafka-consumer-state', namespace });
    assert.equal(after.metadata?.resourceVersion, before.metadata?.resourceVersion);
  });
});

describe('automatic rollback', () => {
  it('a drain slower than --drain-timeout rolls back: exit 4, blue ACTIVE again, nothing locked', async (t) => {
    await resetFleet();
    assert.equal((await bgswitch(['inject-fault', 'blue', 'commit-delay=5000'])).code, 0);
    const start = Date.now();
    const result = await bgswitch(['switch', 'green', '--yes', '--drain-timeout', '1s']);
    assert.equal(result.code, 4, result.stdout + result.stderr);
    assert.match(result.stdout, /FAILED and was rolled back: blue is active again/);
    assert.match(result.stdout, /blue did not pause within 1s/);
    const view = await status();
    assert.equal(view.lease.blocking, false, 'the lock was released');
    assert.equal(view.declaredActive, 'blue');
    for (const pod of view.pods) assert.equal(pod.actual, pod.color === 'blue' ? 'ACTIVE' : 'PAUSED', pod.name);
    assert.match((await latestEvent('SwitchRolledBack'))?.message ?? '', /rolled back to blue/);
    assertNoDualActive(t, start, 'slow drain + rollback');
    assert.equal((await bgswitch(['inject-fault', 'blue', '--clear'])).code, 0);
  });

  it('a new colour that is unhealthy after resume rolls back', async (t) => {
    await resetFleet();
    assert.equal((await bgswitch(['inject-fault', 'green', 'error-rate=80'])).code, 0);
    const start = Date.now();
    const result = await bgswitch(['switch', 'green', '--yes', '--verify-timeout', '3s']);
    assert.equal(result.code, 4, result.stdout + result.stderr);
    assert.match(result.stdout, /green is not ACTIVE and ready within 3s/);
    const view = await status();
    assert.equal(view.declaredActive, 'blue');
    for (const pod of view.pods) assert.equal(pod.actual, pod.color === 'blue' ? 'ACTIVE' : 'PAUSED', pod.name);
    assertNoDualActive(t, start, 'unhealthy green + rollback');
    assert.equal((await bgswitch(['inject-fault', 'green', '--clear'])).code, 0);
  });
});

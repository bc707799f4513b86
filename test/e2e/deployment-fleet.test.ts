/**
 * End-to-end on a Deployment-managed fleet (k8s/overlays/lab-deployment, `bgswitch init
 * --color-keys`): random pod names, pods the ReplicaSet replaces at any time, the desired state in
 * the colour keys only. The same checks as switch.test.ts and faults-pods.test.ts (status, the state
 * ConfigMap, the consumers' own transition logs for S1), plus pods deleted in the middle of a switch.
 * The lab's StatefulSet fleet is put back at the end.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import {
  assertFleet,
  assertNoDualActive,
  bgswitch,
  coreApi,
  namespace,
  podRecords,
  report,
  sidecarReport,
  startBgswitch,
  status,
  useFleet,
  waitFor,
  watchReconciles,
  type StatusJson,
} from '../support/lab.js';

/** Every consumer pod the fleet ran during this file, for the S1 analysis (deleted ones included). */
const seen = new Set<string>();

async function stateKeys(): Promise<string[]> {
  const state = await coreApi().readNamespacedConfigMap({ name: 'kafka-consumer-state', namespace });
  return Object.keys(state.data ?? {}).sort();
}

/** The fleet after a switch to `active`: as assertFleet, every pod driven by its colour key, only colour keys stored. */
async function assertColorKeyFleet(active: 'blue' | 'green'): Promise<StatusJson> {
  // Pods deleted during a switch are listed while they terminate: wait for the six that remain.
  const view = await waitFor('six consumer pods, none terminating', async () => {
    const current = await status();
    return current.pods.length === 6 && current;
  });
  for (const pod of view.pods) seen.add(pod.name);
  assertFleet(view, active);
  assert.deepEqual(view.stateKeys, { mode: 'color', origin: 'stored' });
  for (const pod of view.pods) assert.deepEqual(pod.desiredKey, { key: pod.color, kind: 'color' }, `${pod.name} desired key`);
  assert.deepEqual(await stateKeys(), ['blue', 'green'], 'the state ConfigMap holds the colour keys only');
  return view;
}

async function podNames(color: 'blue' | 'green'): Promise<Array<{ name: string; uid: string }>> {
  const pods = await coreApi().listNamespacedPod({ namespace, labelSelector: `app=bg-consumer,color=${color}` });
  return pods.items
    .filter((pod) => !pod.metadata?.deletionTimestamp)
    .map((pod) => ({ name: pod.metadata?.name ?? '', uid: pod.metadata?.uid ?? '' }));
}

/** Waits for the ReplicaSet's replacement of a deleted pod of `color` (a name not among `known`) and its consumer's start. */
async function replacementOf(color: 'blue' | 'green', known: Set<string>, since: number): Promise<string> {
  const name = await waitFor(
    `the ReplicaSet to replace a deleted ${color} pod`,
    async () => (await podNames(color)).find((pod) => !known.has(pod.name))?.name,
    60_000,
  );
  seen.add(name);
  const started = await waitFor(
    `${name}'s consumer to start`,
    async () => podRecords(name, since).find((r) => r.event === 'start'),
    60_000,
  );
  assert.equal(started.event === 'start' && started.state, 'PAUSED', `${name} starts PAUSED`);
  return name;
}

before(async () => {
  for (const pod of await useFleet('deployment')) seen.add(pod);
});

after(async () => {
  await useFleet('statefulset');
});

describe('a Deployment fleet with colour keys', () => {
  it('blue -> green: only the colour keys are written, every pod follows its colour', async (t) => {
    const start = Date.now();
    const result = await bgswitch(['switch', 'green', '--yes']);
    assert.equal(result.code, 0, result.stdout + result.stderr);
    assert.match(result.stdout, /Switched blue -> green in/);
    await assertColorKeyFleet('green');
    assertNoDualActive(t, start, 'Deployment fleet blue -> green', [...seen]);
  });

  it('rollback goes back to blue the same way', async (t) => {
    const start = Date.now();
    const result = await bgswitch(['rollback', '--yes']);
    assert.equal(result.code, 0, result.stdout + result.stderr);
    assert.match(result.stdout, /Switched green -> blue/);
    await assertColorKeyFleet('blue');
    assertNoDualActive(t, start, 'Deployment fleet rollback', [...seen]);
  });

  it('a drain slower than --drain-timeout rolls back: exit 4, blue ACTIVE again', async (t) => {
    assert.equal((await bgswitch(['inject-fault', 'blue', 'commit-delay=5000'])).code, 0);
    const start = Date.now();
    const result = await bgswitch(['switch', 'green', '--yes', '--drain-timeout', '1s']);
    assert.equal(result.code, 4, result.stdout + result.stderr);
    assert.match(result.stdout, /FAILED and was rolled back: blue is active again/);
    const cleared = await bgswitch(['inject-fault', 'blue', '--clear']);
    assert.equal(cleared.code, 0, cleared.stderr);
    const view = await status();
    assert.equal(view.declaredActive, 'blue');
    for (const pod of view.pods) assert.equal(pod.actual, pod.color === 'blue' ? 'ACTIVE' : 'PAUSED', pod.name);
    assertNoDualActive(t, start, 'Deployment fleet slow drain + rollback', [...seen]);
  });

  it('P0: a paused pod deleted comes back under a new name PAUSED and stays PAUSED', async (t) => {
    const start = Date.now();
    const green = await podNames('green');
    const victim = green[0]!.name;
    await coreApi().deleteNamespacedPod({ name: victim, namespace });
    const replacement = await replacementOf('green', new Set(green.map((p) => p.name)), start);
    await waitFor(
      `the ${replacement} sidecar to reach its consumer`,
      async () => (await sidecarReport(replacement)).actual !== undefined,
      60_000,
    );
    const reports = await watchReconciles(replacement, 5);
    assert.deepEqual(
      reports.map((r) => r.actual),
      reports.map(() => 'PAUSED'),
      'the new sidecar saw its consumer PAUSED at every reconcile',
    );
    const row = (await status()).pods.find((p) => p.name === replacement);
    assert.deepEqual([row?.desired, row?.desiredKey], ['PAUSED', { key: 'green', kind: 'color' }]);
    assert.deepEqual(
      podRecords(replacement, start).flatMap((r) => (r.event === 'transition' ? [r.to] : [])),
      [],
      `${replacement} never left PAUSED`,
    );
    assertNoDualActive(t, start, 'paused pod replaced', [...seen]);
  });

  it('a blue and a green pod deleted mid-switch: the replacements never consume on the wrong side, the switch completes', async (t) => {
    const start = Date.now();
    const blue = await podNames('blue');
    const green = await podNames('green');
    const known = new Set([...blue, ...green].map((p) => p.name));
    // Generous deadlines: verification waits for the deleted pods to be gone and the replacements to be ready.
    const cli = startBgswitch(['switch', 'green', '--yes', '--drain-timeout', '60s', '--verify-timeout', '90s'], { timeoutMs: 240_000 });
    let exitedAt: number | undefined;
    void cli.exited.then(() => (exitedAt = Date.now()));
    await cli.stderrLine(/Pause blue \.\.\./);
    await Promise.all([
      coreApi().deleteNamespacedPod({ name: blue[1]!.name, namespace }),
      coreApi().deleteNamespacedPod({ name: green[1]!.name, namespace }),
    ]);
    const deletedAt = Date.now();
    const [newBlue, newGreen] = await Promise.all([replacementOf('blue', known, start), replacementOf('green', known, start)]);
    assert.equal(exitedAt, undefined, 'the pods were deleted while the switch ran');
    const result = await cli.exited;
    report(
      `switch with two pods replaced: exit ${result.code} after ${((Date.now() - start) / 1000).toFixed(1)} s (pods deleted ${deletedAt - start} ms after the start)`,
    );
    assert.equal(result.code, 0, result.stdout + result.stderr);

    for (const pod of [newBlue, newGreen]) {
      const started = podRecords(pod, start).find((r) => r.event === 'start');
      assert.ok(started && started.at < exitedAt!, `${pod} started while the switch ran`);
    }
    await assertColorKeyFleet('green');
    assert.deepEqual(
      podRecords(newBlue, start).flatMap((r) => (r.event === 'transition' ? [r.to] : [])),
      [],
      `${newBlue} (blue, created mid-switch) never left PAUSED`,
    );
    assert.ok(
      podRecords(newGreen, start).some((r) => r.event === 'transition' && r.to === 'ACTIVE'),
      `${newGreen} (green, created mid-switch) was resumed through the green key`,
    );
    assertNoDualActive(t, start, 'switch with pods replaced mid-way', [...seen]);
  });

  it('the CLI SIGKILLed as it starts resuming: with no command the new colour ends ACTIVE (sidecars on the colour key), the next switch finishes', async (t) => {
    const from = (await status()).declaredActive as 'blue' | 'green';
    const to = from === 'blue' ? 'green' : 'blue';
    const start = Date.now();
    const cli = startBgswitch(['switch', to, '--yes', '--lease-duration', '5s']);
    await cli.stderrLine(new RegExp(`^\\S+Z Resume ${to}( \\(group [^)]+\\))? \\.\\.\\.$`));
    cli.kill('SIGKILL');
    assert.equal((await cli.exited).code, 128, 'the CLI was killed, not finished');
    const killedAt = Date.now();

    // Nobody runs a command now: the sidecars act on the colour key alone.
    const view = await waitFor(
      `every ${to} pod ACTIVE with no CLI running`,
      async () => {
        const current = await status();
        const pods = current.pods.filter((p) => p.color === to);
        return pods.length === 3 && pods.every((p) => p.actual === 'ACTIVE') && current;
      },
      30_000,
    );
    report(`CLI killed before resuming ${to}: every ${to} pod ACTIVE ${Date.now() - killedAt} ms later, without any command`);
    for (const pod of view.pods) {
      if (pod.color === from) assert.equal(pod.actual, 'PAUSED', pod.name);
      assert.deepEqual(pod.desiredKey, { key: pod.color, kind: 'color' }, pod.name);
    }

    await waitFor("the killed CLI's lock to expire", async () => !(await status()).lease.blocking, 20_000);
    const finish = await bgswitch(['switch', to, '--yes']);
    assert.equal(finish.code, 0, finish.stdout + finish.stderr);
    assert.match(finish.stderr, new RegExp(`an interrupted switch ${from} -> ${to} .* is finished by this run`));
    await assertColorKeyFleet(to);
    assertNoDualActive(t, start, 'CLI killed before resume, then finished', [...seen]);
  });
});

/**
 * Fault matrix, the pods (issue 4, section 2): a paused pod deleted, an active consumer killed, a
 * sidecar restarted on a stale mounted file with its persisted generation gone, and a sidecar
 * frozen (SIGSTOP) through a whole switch. Each checks S1 from the consumers' own transition logs
 * and that every pod ends where the state ConfigMap says.
 */
import assert from 'node:assert/strict';
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { before, describe, it } from 'node:test';
import {
  assertFleet,
  assertNoDualActive,
  bgswitch,
  containerPid,
  coreApi,
  ensureLab,
  mountedStateEntry,
  namespace,
  nextStateFileRefresh,
  podDir,
  podRecords,
  resetFleet,
  sidecarReport,
  signalContainer,
  status,
  waitFor,
  waitForContainer,
  watchReconciles,
} from '../support/lab.js';
import type { LifecycleRecord } from '../../consumer/transitions.js';

/** Enough sidecar ticks (1 s each) to see a wrong decision happen if it were going to. */
const RECONCILES = 5;
const BLUE_PODS = ['consumer-blue-0', 'consumer-blue-1', 'consumer-blue-2'];

/** A pod's records from `from` on that have it consuming (ACTIVE, or DRAINING: still consuming its batch). */
function consumingSince(pod: string, from: number): LifecycleRecord[] {
  return podRecords(pod, from).filter(
    (r) => (r.event === 'transition' && r.to !== 'PAUSED') || (r.event === 'start' && r.state !== 'PAUSED'),
  );
}

before(async () => {
  await ensureLab();
});

describe('pods', () => {
  it('a paused-side pod deleted right after the switch comes back PAUSED and stays PAUSED', async (t) => {
    await resetFleet();
    const start = Date.now();
    assert.equal((await bgswitch(['switch', 'green', '--yes'])).code, 0);
    const pod = 'consumer-blue-1';
    const oldUid = (await coreApi().readNamespacedPod({ name: pod, namespace })).metadata?.uid;
    const deletedAt = Date.now();
    await coreApi().deleteNamespacedPod({ name: pod, namespace });

    await waitFor(
      `${pod} to be recreated by its StatefulSet`,
      async () => {
        const recreated = await coreApi().readNamespacedPod({ name: pod, namespace });
        return recreated.metadata?.uid !== oldUid && recreated.status?.podIP !== undefined;
      },
      60_000,
    );
    const started = await waitFor(
      `the recreated ${pod} consumer to start`,
      async () => podRecords(pod, deletedAt).find((r) => r.event === 'start'),
      60_000,
    );
    assert.equal(started.event === 'start' && started.state, 'PAUSED');

    // The consumer logs its start before it listens (the Kafka consumer first connects to the
    // broker): a reconcile before that cannot read it at all, which is not the question here.
    await waitFor(`the new ${pod} sidecar to reach its consumer`, async () => (await sidecarReport(pod)).actual !== undefined, 60_000);
    const reports = await watchReconciles(pod, RECONCILES);
    assert.deepEqual(
      reports.map((r) => r.actual),
      reports.map(() => 'PAUSED'),
      'the new sidecar saw its consumer PAUSED at every reconcile',
    );
    const view = await status();
    assertFleet(view, 'green');
    assert.deepEqual(consumingSince(pod, deletedAt), [], `${pod} was never resumed after it was deleted`);
    t.diagnostic(
      `${pod}: recreated and started PAUSED ${Math.round(started.at - deletedAt)} ms after the delete; PAUSED over ${reports.length} reconciles`,
    );
    assertNoDualActive(t, start, 'paused pod deleted');
  });

  it("the active side's consumer SIGKILLed: the kubelet restarts it PAUSED and the sidecar resumes it within seconds", async (t) => {
    await resetFleet();
    const pod = 'consumer-blue-0';
    const start = Date.now();
    const killedPid = signalContainer(pod, 'consumer', 'SIGKILL');
    const killedAt = Date.now();
    await waitForContainer(pod, 'consumer', killedPid);
    const restarted = await waitFor(
      'the restarted consumer to log its start',
      async () => podRecords(pod, killedAt).find((r) => r.event === 'start'),
      15_000,
    );
    assert.equal(restarted.event === 'start' && restarted.state, 'PAUSED', 'a consumer starts PAUSED');
    const resumed = await waitFor(
      `${pod} ACTIVE again`,
      async () => podRecords(pod, killedAt).find((r) => r.event === 'transition' && r.to === 'ACTIVE'),
      10_000,
    );
    const downMs = resumed.at - killedAt;
    assert.ok(downMs <= 10_000, `resumed ${downMs} ms after the kill`);
    t.diagnostic(
      `${pod}: consumer restarted ${Math.round(restarted.at - killedAt)} ms after SIGKILL, resumed by its sidecar ${Math.round(resumed.at - restarted.at)} ms later (${Math.round(downMs)} ms in all)`,
    );
    assertFleet(await status(), 'blue');
    assertNoDualActive(t, start, 'active consumer killed');
  });

  it('a sidecar restarted on a stale mounted file (still ACTIVE) without its persisted generation does not resume its consumer', async (t) => {
    await resetFleet();
    // The file must say ACTIVE (refreshed while blue was active) and stay so through the whole check:
    // take the blue pod whose next kubelet refresh is furthest away, waiting for one if none fits.
    const waitStarted = Date.now();
    const pod = await waitFor(
      'a blue pod whose mounted file says ACTIVE for the next 18 s',
      async () => {
        const fitting = BLUE_PODS.filter(
          (p) => mountedStateEntry(p).lifecycle === 'ACTIVE' && nextStateFileRefresh(p) - Date.now() > 18_000,
        );
        return fitting.sort((a, b) => nextStateFileRefresh(b) - nextStateFileRefresh(a))[0];
      },
      65_000,
    );
    t.diagnostic(
      `${pod}: mounted file says ACTIVE for ${Math.round((nextStateFileRefresh(pod) - Date.now()) / 1000)} s more (waited ${Math.round((Date.now() - waitStarted) / 1000)} s for it)`,
    );
    const start = Date.now();
    assert.equal((await bgswitch(['switch', 'green', '--yes'])).code, 0);
    const switchedAt = Date.now();
    const stale = mountedStateEntry(pod);
    assert.equal(stale.lifecycle, 'ACTIVE', `the mounted file of ${pod} is still the one from before the switch`);

    const generationFile = join(podDir(pod), 'volumes', 'sidecar-data', 'generation');
    rmSync(generationFile);
    const killedPid = signalContainer(pod, 'switch-sidecar', 'SIGKILL');
    const killedAt = Date.now();
    await waitForContainer(pod, 'switch-sidecar', killedPid);
    const reports = await watchReconciles(pod, RECONCILES);
    assert.equal(mountedStateEntry(pod).lifecycle, 'ACTIVE', 'the file was still stale when the check ended');

    assert.deepEqual(
      reports.map((r) => r.actual),
      reports.map(() => 'PAUSED'),
      'PAUSED at every reconcile of the restarted sidecar',
    );
    assert.deepEqual(consumingSince(pod, switchedAt), [], `${pod} was never resumed`);
    const generation = (await status()).pods.find((p) => p.name === pod)?.desiredGeneration;
    assert.ok(
      reports.every((r) => r.generation === generation),
      `the restarted sidecar took the API server's generation ${generation} over the file's ${stale.generation}`,
    );
    t.diagnostic(
      `${pod}: file said ACTIVE at generation ${stale.generation}; restarted sidecar (no persisted generation) kept it PAUSED over ${reports.length} reconciles, ${Math.round(Date.now() - killedAt)} ms after the kill`,
    );
    assertFleet(await status(), 'green');
    assertNoDualActive(t, start, 'sidecar restarted on a stale file');
  });

  for (const frozen of ['consumer-green-0', 'consumer-blue-0'] as const) {
    const side = frozen.includes('green') ? 'new' : 'old';
    it(`the ${side} colour's sidecar frozen (SIGSTOP) through a switch: no dual-active, and it converges when it returns`, async (t) => {
      await resetFleet();
      const start = Date.now();
      const frozenPid = signalContainer(frozen, 'switch-sidecar', 'SIGSTOP');
      let result;
      let whileFrozen;
      let switchedAt = Number.POSITIVE_INFINITY;
      try {
        // Short request timeouts: the pushes to the frozen sidecar fail in 2 s instead of 5 s.
        result = await bgswitch(['switch', 'green', '--yes', '-o', 'json', '--request-timeout', '2s']);
        switchedAt = Date.now();
        whileFrozen = await status(['--request-timeout', '1s']);
      } finally {
        // The kubelet may have restarted it meanwhile (liveness); then there is nothing to resume.
        if (containerPid(frozen, 'switch-sidecar') === frozenPid) process.kill(frozenPid, 'SIGCONT');
      }
      assert.ok([0, 4].includes(result.code), `exit ${result.code}: ${result.stdout}${result.stderr}`);
      const active = result.code === 0 ? 'green' : 'blue';
      assert.match(result.stderr, new RegExp(`push to the sidecar of ${frozen}`), 'the failed pushes are reported');
      assert.equal(whileFrozen.declaredActive, active);
      for (const pod of whileFrozen.pods)
        assert.equal(pod.actual, pod.color === active ? 'ACTIVE' : 'PAUSED', `${pod.name} while its sidecar was frozen`);
      assert.deepEqual(
        whileFrozen.problems.map((p) => p.kind),
        ['sidecar'],
        JSON.stringify(whileFrozen.problems),
      );

      const converged = await waitFor(
        `${frozen}'s sidecar to catch up with the ConfigMap`,
        async () => {
          const view = await status();
          const row = view.pods.find((p) => p.name === frozen);
          return row?.sidecar.reachable && row.sidecar.generation === row.desiredGeneration ? view : undefined;
        },
        30_000,
      );
      const expected = frozen.includes(active) ? 'ACTIVE' : 'PAUSED';
      const reports = await watchReconciles(frozen, RECONCILES);
      assert.deepEqual(
        reports.map((r) => r.actual),
        reports.map(() => expected),
        `${frozen} stays ${expected} after its sidecar returns`,
      );
      assertFleet(converged, active);
      if (active === 'green' && side === 'old') assert.deepEqual(consumingSince(frozen, switchedAt), [], 'the old colour is not resumed');
      t.diagnostic(
        `switch with ${frozen}'s sidecar frozen: exit ${result.code} (${active} active); sidecar converged and held ${expected} over ${reports.length} reconciles`,
      );
      assertNoDualActive(t, start, `${side} colour's sidecar frozen`);
    });
  }
});

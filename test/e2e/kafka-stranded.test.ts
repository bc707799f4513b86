/**
 * The original research's bug on the lab's real broker (issue 7, section 5, the negative case): green
 * runs with LEAVE_GROUP_ON_PAUSE=false, so once paused it stays in the shared group holding
 * partitions nobody consumes. bgswitch must name them (`status --check` exits 3), refuse to switch
 * (exit 3), and the verdict after a forced switch must show the lost messages.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { AppsV1Api, type V1EnvVar } from '@kubernetes/client-node';
import { adminConfig, bgswitch, coreApi, ensureLab, namespace, resetFleet, status, waitFor } from '../support/lab.js';
import { labVerify, underProduction } from '../support/kafka-scenario.js';

const GREEN = 'consumer-green';
const BUG = 'LEAVE_GROUP_ON_PAUSE';

/**
 * Sets (or with `undefined` removes) the bug switch in the green StatefulSet's consumer env, then
 * waits until every green pod runs the new template, is ready, and the fleet reports no problem.
 */
async function setGreenLeaveGroupOnPause(value: 'false' | undefined): Promise<void> {
  const apps = adminConfig().makeApiClient(AppsV1Api);
  const current = await apps.readNamespacedStatefulSet({ name: GREEN, namespace });
  const consumer = current.spec?.template.spec?.containers.find((c) => c.name === 'consumer');
  assert.ok(consumer, 'the green StatefulSet has a consumer container');
  const env: V1EnvVar[] = (consumer.env ?? []).filter((e) => e.name !== BUG);
  if (value !== undefined) env.push({ name: BUG, value });
  if (JSON.stringify(env) === JSON.stringify(consumer.env ?? [])) return;
  consumer.env = env;
  const replaced = await apps.replaceNamespacedStatefulSet({ name: GREEN, namespace, body: current });
  const generation = replaced.metadata?.generation ?? 0;
  await waitFor(
    `the green pods to be recreated ${value === undefined ? 'without' : `with ${BUG}=${value}`}`,
    async () => {
      const set = await apps.readNamespacedStatefulSet({ name: GREEN, namespace });
      const s = set.status;
      if (
        !s ||
        (s.observedGeneration ?? 0) < generation ||
        s.updateRevision !== s.currentRevision ||
        s.updatedReplicas !== 3 ||
        s.readyReplicas !== 3
      )
        return false;
      const pods = await coreApi().listNamespacedPod({ namespace, labelSelector: 'color=green' });
      return (
        pods.items.length === 3 &&
        pods.items.every((p) => p.metadata?.labels?.['controller-revision-hash'] === s.updateRevision && !p.metadata?.deletionTimestamp)
      );
    },
    10 * 60_000,
  );
  await waitFor('the fleet to report no problem', async () => (await status()).problems.length === 0, 5 * 60_000);
}

before(async () => {
  await ensureLab();
  await resetFleet();
});

after(async () => {
  // Later tests must see the normal fleet.
  await setGreenLeaveGroupOnPause(undefined);
  await resetFleet();
});

describe('a paused colour that keeps its partitions (LEAVE_GROUP_ON_PAUSE=false)', { timeout: 40 * 60_000 }, () => {
  it('is named by status --check (exit 3), refused by switch (exit 3), and a forced switch loses messages', async (t) => {
    await setGreenLeaveGroupOnPause('false');
    let stranded: number[] = [];
    const summary = await underProduction(async () => {
      const toGreen = await bgswitch(['switch', 'green', '--yes', '--drain-timeout', '60s', '--verify-timeout', '120s'], {
        timeoutMs: 5 * 60_000,
      });
      assert.equal(toGreen.code, 0, `green joins the group normally:\n${toGreen.stdout}${toGreen.stderr}`);

      // Green pauses but stays in the group, so only --force gets blue back; the group then splits
      // the partitions between blue and the paused green members.
      const forced = await bgswitch(['switch', 'blue', '--yes', '--force', '--drain-timeout', '5s', '--verify-timeout', '20s'], {
        timeoutMs: 5 * 60_000,
      });
      t.diagnostic(`forced switch to blue: exit ${forced.code}`);
      assert.match(forced.stdout + forced.stderr, /--force: continuing although .*green/, 'the forced switch says what it ignored');

      const check = await waitFor(
        'status --check to name the stranded partitions',
        async () => {
          const result = await bgswitch(['status', '--check']);
          return result.code === 3 && /assigned to paused consumer-green-\d/.test(result.stdout) ? result : undefined;
        },
        120_000,
      );
      t.diagnostic(
        `status --check: ${check.stdout
          .split('\n')
          .filter((line) => /not being consumed/.test(line))
          .join(' | ')}`,
      );
      const view = await status();
      const problems = view.problems.filter((p) => p.kind === 'stranded-partitions');
      assert.ok(problems.length > 0, JSON.stringify(view.problems));
      stranded = problems.flatMap((p) =>
        [...(/partitions? ([\d, ]+) of bg-events/.exec(p.message)?.[1] ?? '').matchAll(/\d+/g)].map((m) => Number(m[0])),
      );
      assert.ok(stranded.length > 0, `the problem names the partitions: ${JSON.stringify(problems)}`);

      const refused = await bgswitch(['switch', 'green', '--yes']);
      assert.equal(refused.code, 3, refused.stdout + refused.stderr);
      assert.match(refused.stderr, /consumer group bg-consumer: .*assigned to paused consumer-green-\d and .*not being consumed/);
      assert.match(refused.stderr, /--force/);
    });

    // A short settle: the stranded partitions' messages are not processed while the bug holds.
    const { code, verdict } = await labVerify(['--settle', '20s', '--run-id', summary.runId]);
    t.diagnostic(
      `forced switch with green stranded: run ${summary.runId}; ${verdict.produced} produced, ${verdict.processed} processed, ${verdict.lost} lost (stranded partitions ${stranded.join(', ')})`,
    );
    assert.notEqual(code, 0, 'lab verify fails');
    assert.ok(verdict.lost > 0, 'the original bug: messages of the stranded partitions are never processed');
    assert.match(verdict.reasons.join('\n'), /\d+ lost \(never processed\)/);
    const lostPartitions = new Set(verdict.examples.lost.map((m) => m.partition));
    assert.ok(
      [...lostPartitions].every((p) => stranded.includes(p)),
      `the lost messages are on the stranded partitions ${stranded.join(', ')}: ${[...lostPartitions].join(', ')}`,
    );
  });
});

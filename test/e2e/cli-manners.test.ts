/**
 * kubectl manners against the lab's real API server and pods: impersonation (--as, a repeated
 * --as-group) on API and pod-proxy calls, SIGTERM in the middle of a switch (stop and roll back like
 * the first Ctrl-C), and a switch while the sidecars have no push key (one line per step, `status`
 * names the problem).
 */
import assert from 'node:assert/strict';
import { readdirSync, rmSync, symlinkSync } from 'node:fs';
import { join } from 'node:path';
import { before, describe, it } from 'node:test';
import {
  assertFleet,
  assertNoDualActive,
  bgswitch,
  ensureLab,
  paths,
  podDir,
  resetFleet,
  startBgswitch,
  status,
  waitFor,
  type StatusJson,
} from '../support/lab.js';

before(async () => {
  await ensureLab();
  await resetFleet();
});

describe('impersonation against the real API server', () => {
  it('--as alone is refused for a user without RBAC; with --as-group bgswitch:operators (and another group) it works, pod-proxy calls included', async () => {
    const refused = await bgswitch(['status', '--as', 'jane@example.com'], { kubeconfig: paths.adminKubeconfig });
    assert.notEqual(refused.code, 0);
    assert.match(refused.stderr, /forbidden/i);

    // Two groups: were they sent as one header "bgswitch:operators,auditors", the API server would see one unknown group and refuse.
    const allowed = await bgswitch(
      ['status', '-o', 'json', '--as', 'jane@example.com', '--as-group', 'bgswitch:operators', '--as-group', 'auditors'],
      { kubeconfig: paths.adminKubeconfig },
    );
    assert.equal(allowed.code, 0, allowed.stderr);
    const view = JSON.parse(allowed.stdout) as StatusJson;
    assert.equal(view.pods.length, 6);
    assert.ok(
      view.pods.every((pod) => pod.sidecar.reachable),
      'the sidecars answered through the pod proxy as jane',
    );
  });
});

describe('SIGTERM during a switch', () => {
  it('stops and rolls back like the first Ctrl-C: exit 4, blue still active, never both colours consuming', async (t) => {
    const start = Date.now();
    // The soak holds the switch in a known step long enough for the signal to land there (the rollback soaks too).
    const running = startBgswitch(['switch', 'green', '--yes', '--soak', '10s']);
    await running.stderrLine(/Soak green/);
    running.kill('SIGTERM');
    const result = await running.exited;
    assert.match(result.stderr, /SIGTERM received: stopping and rolling back/);
    assert.equal(result.code, 4, `${result.stdout}${result.stderr}`);
    assertFleet(await status(), 'blue');
    assertNoDualActive(t, start, 'switch interrupted by SIGTERM');
  });
});

/** The consumer pods' directories under the lab kubelet. */
function consumerPods(): string[] {
  return readdirSync(join(paths.labDir, 'pods'))
    .filter((entry) => entry.startsWith('kafka-bg-test_consumer-'))
    .map((entry) => entry.slice('kafka-bg-test_'.length));
}

describe('a switch while the sidecars have no push key', () => {
  it('says so in one line per step, carries the switch with the lifecycle calls, and status names each sidecar', async (t) => {
    const pods = consumerPods();
    assert.equal(pods.length, 6);
    // The mounted Secret as before the kubelet delivers the key: no `key` file. (The lab kubelet leaves
    // the volume alone while its `..data` payload matches the Secret, so the file stays missing.)
    const keyLink = (pod: string) => join(podDir(pod), 'volumes', 'push-key', 'key');
    for (const pod of pods) rmSync(keyLink(pod));

    const view = await status();
    const keyless = view.problems.filter((problem) => /has no push key/.test(problem.message));
    assert.equal(keyless.length, 6, JSON.stringify(view.problems));
    assert.match(keyless[0]?.hint ?? '', /bgswitch init/);

    const start = Date.now();
    const result = await bgswitch(['switch', 'green', '--yes']);
    assert.equal(result.code, 0, result.stderr);
    for (const step of ['Pause blue', 'Resume green']) {
      assert.match(
        result.stderr,
        new RegExp(`warning: ${step}: 6 sidecars refused the push: no push key mounted yet; the lifecycle calls carried the step`),
      );
    }
    assert.equal(result.stderr.split('\n').filter((line) => line.includes('refused the push')).length, 2, 'one line per step');
    assert.doesNotMatch(result.stderr, /push to the sidecar of|rejected the signature/, 'no per-pod refusal lines');
    t.diagnostic(
      result.stderr
        .split('\n')
        .filter((line) => line.includes('refused the push'))
        .join('\n'),
    );
    assertNoDualActive(t, start, 'switch with keyless sidecars');

    // The key arrives (as the kubelet's AtomicWriter links it); the sidecars re-read it and status is clean again.
    for (const pod of pods) symlinkSync(join('..data', 'key'), keyLink(pod));
    await waitFor('the push key back in every sidecar', async () => (await status()).problems.length === 0);
    assertFleet(await status(), 'green');
    await resetFleet();
  });
});

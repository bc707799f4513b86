/**
 * The first run before the kubelet has mounted the push-key Secret in the sidecars: a real sidecar
 * without its key file and the real pod client (direct transport over loopback) show how the refusal
 * is told apart; the progress renderer turns a step's refusals into one line; `status` names a
 * sidecar without a key as a problem with the fix.
 */
import assert from 'node:assert/strict';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, describe, it } from 'node:test';
import { Writable } from 'node:stream';
import { startConsumer } from '../../consumer/server.js';
import { NoPushKeyError } from '../../src/core/errors.js';
import type { PodInfo } from '../../src/core/ports.js';
import type { SidecarStatus } from '../../src/shared/pod-api.js';
import { readStatus } from '../../src/core/status.js';
import { createPodAgent } from '../../src/pods/agent.js';
import { collapseRepeated, plainProgress } from '../../src/render/progress.js';
import { renderInitReport } from '../../src/render/init-view.js';
import { renderStatus } from '../../src/render/status-view.js';
import { createStyle } from '../../src/render/style.js';
import { startSidecar } from '../../sidecar/daemon.js';
import { captureLog, loopbackSidecarConfig, MemoryStateData, tempDir, waitFor } from './sidecar-fixtures.js';
import { createWorld, NAMES } from '../support/switch-world.js';

const POD = 'consumer-blue-0';
const KEY_TEXT = 'test-push-key-0123456789abcdef';

const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

class Capture extends Writable {
  text = '';
  override _write(chunk: Buffer, _encoding: BufferEncoding, done: () => void): void {
    this.text += chunk.toString();
    done();
  }
}

describe('a sidecar without its push key', () => {
  it('refuses a push in a way the pod client names (NoPushKeyError), and says so in /status until the key arrives', async () => {
    const dir = await tempDir('first-run');
    cleanups.push(dir.remove);
    const consumer = await startConsumer({ port: 0, host: '127.0.0.1', podName: POD, color: 'blue', writeLog: () => {} });
    cleanups.push(() => consumer.close());
    const config = loopbackSidecarConfig(dir.path, POD, consumer.url);
    await mkdir(config.stateDir);
    await mkdir(join(dir.path, 'push-key'));
    const sidecar = await startSidecar(config, { api: new MemoryStateData(), log: captureLog().log });
    cleanups.push(() => sidecar.shutdown());
    const agent = createPodAgent({
      via: 'direct',
      kubeConfig: undefined as never,
      namespace: 'kafka-bg-test',
      sidecarPort: sidecar.port,
      pushKey: async () => Buffer.from(KEY_TEXT),
      clock: { now: () => Date.now() },
      env: {},
    });
    cleanups.push(() => agent.close());
    const pod: PodInfo = { name: POD, color: 'blue', phase: 'Running', ready: true, ip: '127.0.0.1', restarts: 0, terminating: false };

    const refused = await agent.push(pod, { lifecycle: 'ACTIVE', generation: 1 }).then(
      () => undefined,
      (error: unknown) => error,
    );
    assert.ok(refused instanceof NoPushKeyError, `expected NoPushKeyError, got ${String(refused)}`);
    assert.match(refused.message, /the sidecar has no push key yet .*within about a minute of `bgswitch init`/);
    assert.equal((await agent.sidecarStatus(pod)).pushKeyMounted, false);

    await writeFile(config.pushKeyFile, `${KEY_TEXT}\n`);
    await waitFor('the sidecar reports its key', async () => (await agent.sidecarStatus(pod)).pushKeyMounted === true);
    await agent.push(pod, { lifecycle: 'ACTIVE', generation: 1 });
  });
});

describe('repeated warnings', () => {
  it('the refused pushes of each step become one line per step, also those that land after their step ended', () => {
    const out = new Capture();
    const progress = collapseRepeated(plainProgress(out, createStyle(out, { NO_COLOR: '1' })));
    const at = Date.UTC(2026, 10, 26, 9, 0, 0);
    const text = 'refused the push: no push key mounted yet; the lifecycle calls carried the step';
    const pause = { name: 'pause' as const, rollback: false, title: 'Pause blue' };
    const resume = { name: 'resume' as const, rollback: false, title: 'Resume green' };
    const refused = (step: typeof pause | typeof resume, pod: number) =>
      progress.sink({
        type: 'warning',
        message: `push to the sidecar of consumer-${pod}: no key`,
        repeated: { noun: 'sidecar', text, step },
        at,
      });
    progress.sink({ type: 'phase-start', phase: pause, at });
    for (let pod = 0; pod < 6; pod++) refused(pause, pod);
    progress.sink({ type: 'warning', message: 'took over the expired lock of someone', at });
    progress.sink({ type: 'phase-end', phase: pause, ok: true, detail: '', durationMs: 800, at });
    progress.sink({ type: 'phase-start', phase: resume, at });
    for (let pod = 0; pod < 4; pod++) refused(resume, pod);
    progress.sink({ type: 'phase-end', phase: resume, ok: true, detail: '', durationMs: 300, at });
    for (let pod = 4; pod < 6; pod++) refused(resume, pod);
    progress.stop();
    assert.deepEqual(
      out.text.split('\n').map((line) => line.replace(/^\S+ /, '')),
      [
        'Pause blue ...',
        'warning: took over the expired lock of someone',
        'Pause blue: ok in 800ms',
        'Resume green ...',
        'Resume green: ok in 300ms',
        `warning: Pause blue: 6 sidecars ${text}`,
        `warning: Resume green: 6 sidecars ${text}`,
        '',
      ],
    );
  });
});

describe('status and a sidecar without a key', () => {
  it('shows "no key" for the pod and a problem with the fix', async (t) => {
    const world = createWorld(t, { pods: 1 });
    const fleet = world.fleet;
    // The in-memory fleet, with green's sidecar reporting no key as a real sidecar does.
    const withoutKey = Object.create(fleet) as typeof fleet;
    withoutKey.sidecarStatus = async (pod: PodInfo): Promise<SidecarStatus> => ({
      ...(await fleet.sidecarStatus(pod)),
      pushKeyMounted: pod.name !== 'consumer-green-0',
    });
    const view = await readStatus({ cluster: world.cluster, pods: withoutKey, names: NAMES, clock: world.clock });
    const problems = view.problems.filter((p) => p.kind === 'sidecar');
    assert.deepEqual(
      problems.map((p) => p.message),
      ['consumer-green-0: the sidecar has no push key, so it refuses pushes'],
    );
    assert.match(problems[0]!.hint ?? '', /within about a minute of `bgswitch init`/);
    const text = renderStatus(view, { context: 'lab', server: 'https://10.77.0.1:6443' }, createStyle(new Capture(), { NO_COLOR: '1' }));
    assert.match(text, /consumer-green-0 .*no key \(gen \d+\)/);
    assert.match(text, /consumer-blue-0 .*ok \(gen \d+\)/);
  });
});

describe('bgswitch init', () => {
  const plain = createStyle(new Capture(), { NO_COLOR: '1' });
  const secret = (action: 'created' | 'unchanged' | 'would create') => ({
    object: `Secret/${NAMES.pushKeySecret}`,
    action,
    detail: 'signs sidecar pushes (value never shown)',
  });

  it('says when a newly created push key reaches the sidecars', () => {
    const text = renderInitReport({ dryRun: false, steps: [secret('created')] }, plain);
    assert.match(text, /The push key reaches the running sidecars when the kubelet refreshes the mounted Secret, usually within a minute/);
    assert.match(text, /`bgswitch status` shows their SIDECAR as "no key"/);
  });

  it('says nothing of it when the key already existed or on a dry run', () => {
    assert.doesNotMatch(renderInitReport({ dryRun: false, steps: [secret('unchanged')] }, plain), /push key reaches/);
    assert.doesNotMatch(renderInitReport({ dryRun: true, steps: [secret('would create')] }, plain), /push key reaches/);
  });
});

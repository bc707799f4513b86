/**
 * `lab up` is idempotent and repairs a half-up lab; the process layer never signals a process that
 * is not the lab's (test/unit/manifests.test.ts covers the manifests the lab applies). Needs root (labUp).
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { inspectProcess, isAlive, stopProcess, type ProcessSpec } from '../../lab/control-plane/process.js';
import { labStatus, labUp } from '../../lab/control.js';

const controlPlane = ['etcd', 'kube-apiserver', 'kube-controller-manager'];

async function controlPlanePids(): Promise<Record<string, number | undefined>> {
  const status = await labStatus();
  return Object.fromEntries(status.components.filter((c) => controlPlane.includes(c.component)).map((c) => [c.component, c.pid]));
}

describe('lab up on a lab that is already there', { timeout: 30 * 60_000 }, () => {
  before(async () => {
    await labUp({ scope: 'control-plane' });
  });

  it('leaves running components alone', async () => {
    const before = await controlPlanePids();
    assert.ok(
      Object.values(before).every((pid) => pid !== undefined),
      JSON.stringify(before),
    );
    const lines: string[] = [];
    await labUp({ scope: 'control-plane', report: (line) => lines.push(line) });
    assert.deepEqual(await controlPlanePids(), before);
    for (const component of controlPlane)
      assert.ok(
        lines.some((line) => line.startsWith(`${component}: running`)),
        lines.join('\n'),
      );
  });

  it('restarts a component that died', async () => {
    const { 'kube-controller-manager': killed } = await controlPlanePids();
    assert.ok(killed);
    process.kill(killed, 'SIGKILL');
    const lines: string[] = [];
    await labUp({ scope: 'control-plane', report: (line) => lines.push(line) });
    const { 'kube-controller-manager': restarted } = await controlPlanePids();
    assert.ok(restarted !== undefined && restarted !== killed);
    assert.ok(
      lines.some((line) => /^kube-controller-manager: (started|restarted)/.test(line)),
      lines.join('\n'),
    );
  });
});

describe('lab processes', () => {
  let dir: string;
  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'bgswitch-lab-process-'));
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  it('never signals an unrelated process that a stale pid file points at', async () => {
    const stranger = spawn('sleep', ['60'], { stdio: 'ignore' });
    try {
      const pid = stranger.pid as number;
      const spec: ProcessSpec = {
        name: 'etcd',
        command: '/usr/bin/etcd',
        args: [`--data-dir=${dir}/etcd`],
        pidFile: join(dir, 'etcd.pid'),
        logFile: join(dir, 'etcd.log'),
        labMarker: dir,
      };
      writeFileSync(spec.pidFile, `${pid}\n`);
      assert.deepEqual(inspectProcess(spec), { state: 'down' });
      assert.equal(await stopProcess(spec, 1000), 'not running');
      assert.equal(isAlive(pid), true);
    } finally {
      stranger.kill('SIGKILL');
    }
  });
});

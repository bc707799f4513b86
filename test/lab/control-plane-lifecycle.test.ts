/**
 * `lab up` is idempotent and repairs a half-up lab; the process layer never signals a process that
 * is not the lab's; the manifest reader applies k8s/ as written and refuses kustomize features it
 * does not implement. Needs root (labUp); the last two groups need no cluster.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { readManifests } from '../../lab/apply.js';
import { inspectProcess, isAlive, stopProcess, type ProcessSpec } from '../../lab/control-plane/process.js';
import { labStatus, labUp } from '../../lab/control.js';
import { findRepoRoot } from '../../lab/paths.js';

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
    assert.ok(Object.values(before).every((pid) => pid !== undefined), JSON.stringify(before));
    const lines: string[] = [];
    await labUp({ scope: 'control-plane', report: (line) => lines.push(line) });
    assert.deepEqual(await controlPlanePids(), before);
    for (const component of controlPlane) assert.ok(lines.some((line) => line.startsWith(`${component}: running`)), lines.join('\n'));
  });

  it('restarts a component that died', async () => {
    const { 'kube-controller-manager': killed } = await controlPlanePids();
    assert.ok(killed);
    process.kill(killed, 'SIGKILL');
    const lines: string[] = [];
    await labUp({ scope: 'control-plane', report: (line) => lines.push(line) });
    const { 'kube-controller-manager': restarted } = await controlPlanePids();
    assert.ok(restarted !== undefined && restarted !== killed);
    assert.ok(lines.some((line) => /^kube-controller-manager: (started|restarted)/.test(line)), lines.join('\n'));
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

describe('applying k8s/', () => {
  let dir: string;
  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'bgswitch-lab-manifests-'));
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  it('reads every document of the listed files, in order', () => {
    const manifests = readManifests(join(findRepoRoot(import.meta.url), 'k8s'));
    const names = manifests.map(({ object }) => `${object.kind}/${object.metadata.name}`);
    assert.equal(names[0], 'Namespace/kafka-bg-test');
    for (const expected of ['ConfigMap/kafka-consumer-state', 'ConfigMap/kafka-consumer-active-version', 'RoleBinding/bgswitch-operator', 'StatefulSet/consumer-blue', 'StatefulSet/consumer-green']) {
      assert.ok(names.includes(expected), `${expected} missing from ${names.join(', ')}`);
    }
  });

  it('refuses kustomization fields it does not implement instead of ignoring them', () => {
    writeFileSync(join(dir, 'kustomization.yaml'), 'resources: [a.yaml]\nnamePrefix: staging-\n');
    writeFileSync(join(dir, 'a.yaml'), 'apiVersion: v1\nkind: Namespace\nmetadata: { name: x }\n');
    assert.throws(() => readManifests(dir), /uses 'namePrefix', which the lab does not implement/);
  });

  it('refuses resources that are not YAML files of the directory', () => {
    writeFileSync(join(dir, 'kustomization.yaml'), 'resources: [../base]\n');
    assert.throws(() => readManifests(dir), /is not a YAML file/);
  });
});

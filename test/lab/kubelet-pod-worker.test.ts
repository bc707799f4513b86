/**
 * One PodWorker with real processes, a real network namespace on the lab bridge and real bind
 * mounts, but no API server: its ObjectSource and status sink are in memory. The image's program is
 * a tiny HTTP server written by the test, reached from the host at the pod IP exactly as the probes
 * and the API server's proxy reach pods. Needs root (ip netns, mount); does not need the lab running.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { V1ContainerStatus, V1Pod, V1PodStatus } from '@kubernetes/client-node';
import { waitFor } from '../../lab/control-plane/wait.js';
import { PodIpAllocator } from '../../lab/kubelet/ipam.js';
import { ensureLabBridge, LAB_BRIDGE, podNetworkNames, removePodNetwork } from '../../lab/kubelet/network.js';
import { commandForImage } from '../../lab/kubelet/process.js';
import { podDirectory, PodWorker } from '../../lab/kubelet/pod-worker.js';
import { MemoryObjects } from '../unit/kubelet-fixtures.js';

/**
 * The "image": serves probes, its own environment and files as the container sees them. Written
 * where the lab runs the consumer image's program, whichever module format that file has.
 */
const PROGRAM = `
const http = process.getBuiltinModule('node:http');
const fs = process.getBuiltinModule('node:fs');
let live = true;
http.createServer((req, res) => {
  const url = new URL(req.url, 'http://pod');
  if (url.pathname === '/ready') return res.end('ok');
  if (url.pathname === '/live') { res.statusCode = live ? 200 : 500; return res.end(); }
  if (url.pathname === '/break-liveness') { live = false; return res.end(); }
  if (url.pathname === '/env') return res.end(JSON.stringify(process.env));
  if (url.pathname === '/file') {
    try { return res.end(fs.readFileSync(url.searchParams.get('path'))); } catch (e) { res.statusCode = 404; return res.end(String(e)); }
  }
  res.statusCode = 404; res.end();
}).listen(8080, '0.0.0.0', () => console.log('program listening'));
process.on('SIGTERM', () => process.exit(0));
`;

// High in the pod range, away from the addresses a running lab hands out first.
const POD_IP = '10.77.0.249';
const UID = `worker-test-${process.pid}`;
const POD_NAME = 'worker-test-0';
/** The kubelet creates missing mountpoints on the host (empty); the test removes this one. */
const MOUNT_PATH = '/etc/bgs-worker-test-settings';

/** ConfigMap reads wait while `gate` is set (a slow API server during a volume refresh). */
class GatedObjects extends MemoryObjects {
  gate: Promise<void> | undefined;
  waiting = 0;
  readonly order: string[] = [];

  override async configMap(namespace: string, name: string) {
    if (this.gate) {
      this.waiting++;
      await this.gate;
      this.order.push('refresh read answered');
    }
    return super.configMap(namespace, name);
  }
}

let root: string;
let objects: GatedObjects;
let bridgeExisted: boolean;
const statuses: V1PodStatus[] = [];
const deleted: V1Pod[] = [];
let worker: PodWorker;

function latestStatus(): V1PodStatus | undefined {
  return statuses.at(-1);
}

function container(): V1ContainerStatus | undefined {
  return latestStatus()?.containerStatuses?.[0];
}

async function fromPod(path: string): Promise<{ status: number; body: string }> {
  const response = await fetch(`http://${POD_IP}:8080${path}`, { signal: AbortSignal.timeout(2000) });
  return { status: response.status, body: await response.text() };
}

function waitForStatus<T>(what: string, check: (status: V1PodStatus | undefined) => T | undefined, timeoutMs = 15_000): Promise<T> {
  return waitFor(
    what,
    async () => {
      const value = check(latestStatus());
      return value === undefined ? { done: false, reason: JSON.stringify(latestStatus()?.containerStatuses) } : { done: true, value };
    },
    { timeoutMs, firstIntervalMs: 20, maxIntervalMs: 200 },
  );
}

const readyContainer = (status: V1PodStatus | undefined) => {
  const current = status?.containerStatuses?.[0];
  return status?.phase === 'Running' && current?.ready === true ? current : undefined;
};

function pid(): number {
  return Number(readFileSync(join(podDirectory(root, 'lab-test', POD_NAME), 'app.pid'), 'utf8').trim());
}

describe('PodWorker (real processes and network, in-memory API)', { timeout: 120_000 }, () => {
  before(async () => {
    root = mkdtempSync(join(tmpdir(), 'bgs-pod-worker-'));
    const repo = join(root, 'repo');
    const program = commandForImage('bgswitch/reference-consumer:test', repo)?.at(-1);
    assert.ok(program, 'the lab runs the consumer image');
    mkdirSync(dirname(program), { recursive: true });
    writeFileSync(program, PROGRAM);
    bridgeExisted = execFileSync('ip', ['-o', 'link', 'show'], { encoding: 'utf8' }).includes(`${LAB_BRIDGE}:`);
    await ensureLabBridge();

    objects = new GatedObjects();
    objects.configMaps.set('lab-test/settings', { data: { greeting: 'hello' } });
    const pod: V1Pod = {
      metadata: { name: POD_NAME, namespace: 'lab-test', uid: UID, labels: { color: 'green' } },
      spec: {
        nodeName: 'lab-node',
        terminationGracePeriodSeconds: 2,
        containers: [
          {
            name: 'app',
            image: 'bgswitch/reference-consumer:test',
            ports: [{ name: 'http', containerPort: 8080 }],
            env: [
              { name: 'MY_POD_NAME', valueFrom: { fieldRef: { fieldPath: 'metadata.name' } } },
              { name: 'MY_POD_IP', valueFrom: { fieldRef: { fieldPath: 'status.podIP' } } },
            ],
            volumeMounts: [{ name: 'settings', mountPath: MOUNT_PATH, readOnly: true }],
            readinessProbe: { httpGet: { path: '/ready', port: 'http' }, periodSeconds: 1 },
            livenessProbe: { httpGet: { path: '/live', port: 8080 }, initialDelaySeconds: 3, periodSeconds: 1, failureThreshold: 2 },
          },
        ],
        volumes: [{ name: 'settings', configMap: { name: 'settings' } }],
      },
      status: { podIP: POD_IP },
    };
    worker = new PodWorker(pod, {
      labDir: root,
      repo,
      objects,
      ipam: new PodIpAllocator(join(root, 'kubelet', 'ipam.json')),
      writeStatus: async (_pod, status) => {
        statuses.push(structuredClone(status));
      },
      deletePod: async (deletedPod) => {
        objects.order.push('pod object deleted');
        deleted.push(deletedPod);
      },
      volumeSyncMs: 250,
      graceCapMs: 2000,
      log: () => {},
    });
    worker.start();
  });

  after(async () => {
    await worker?.terminate('vanished');
    await removePodNetwork(podNetworkNames(UID));
    if (!bridgeExisted) execFileSync('ip', ['link', 'del', LAB_BRIDGE]);
    rmdirSync(MOUNT_PATH);
    rmSync(root, { recursive: true, force: true });
  });

  it('runs the container Ready at its pod IP, reachable from the host', async () => {
    const running = await waitForStatus('the container to be Ready', readyContainer);
    assert.equal(latestStatus()?.podIP, POD_IP);
    assert.equal(latestStatus()?.hostIP, '10.77.0.1');
    assert.equal(running.containerID, `lab://${pid()}`);
    assert.deepEqual(
      latestStatus()?.conditions?.map((condition) => [condition.type, condition.status]),
      [
        ['PodReadyToStartContainers', 'True'],
        ['Initialized', 'True'],
        ['ContainersReady', 'True'],
        ['Ready', 'True'],
      ],
    );
    assert.equal((await fromPod('/ready')).body, 'ok');
  });

  it('gives the process its resolved env and the ConfigMap at its mountPath, read-only', async () => {
    const env = JSON.parse((await fromPod('/env')).body) as Record<string, string>;
    assert.equal(env.MY_POD_NAME, POD_NAME);
    assert.equal(env.MY_POD_IP, POD_IP);
    assert.deepEqual(
      Object.keys(env)
        .filter((name) => name !== 'NODE_V8_COVERAGE')
        .sort(),
      ['HOME', 'HOSTNAME', 'KUBERNETES_SERVICE_HOST', 'KUBERNETES_SERVICE_PORT', 'MY_POD_IP', 'MY_POD_NAME', 'PATH'],
      'nothing of the kubelet’s environment or of the launch shell leaks in',
    );
    assert.equal((await fromPod(`/file?path=${MOUNT_PATH}/greeting`)).body, 'hello');
    assert.equal((await fromPod(`/file?path=${MOUNT_PATH}/..data/greeting`)).body, 'hello');
    assert.throws(() => execFileSync('sh', ['-c', `echo x > /proc/${pid()}/root${MOUNT_PATH}/new`], { stdio: 'ignore' }));
    assert.equal(existsSync(`${MOUNT_PATH}/greeting`), false, 'the mount is private to the container');
  });

  it('restarts a SIGKILLed container after a back-off, counting it and logging the exit', async () => {
    const killed = pid();
    const restartsBefore = container()?.restartCount ?? 0;
    process.kill(killed, 'SIGKILL');
    const backingOff = await waitForStatus('CrashLoopBackOff', (status) => status?.containerStatuses?.[0]?.state?.waiting);
    assert.equal(backingOff.reason, 'CrashLoopBackOff');
    const restarted = await waitForStatus('the restarted container to be Ready', (status) => {
      const current = readyContainer(status);
      return current !== undefined && current.restartCount > restartsBefore ? current : undefined;
    });
    assert.equal(restarted.restartCount, restartsBefore + 1);
    assert.equal(restarted.lastState?.terminated?.exitCode, 137);
    const log = readFileSync(join(podDirectory(root, 'lab-test', POD_NAME), 'app.log'), 'utf8')
      .trim()
      .split('\n');
    const exit = JSON.parse(log.filter((line) => line.includes('"by":"lab-kubelet"')).at(-1) ?? '{}') as Record<string, unknown>;
    assert.deepEqual(
      { ...exit, at: typeof exit.at },
      { event: 'exit', by: 'lab-kubelet', pod: POD_NAME, container: 'app', code: 137, signal: 'SIGKILL', at: 'number' },
    );
    assert.equal(log.filter((line) => line === 'program listening').length, restarted.restartCount + 1, 'every run appends to one log');
  });

  it('restarts the container when its liveness probe fails', async () => {
    const restartsBefore = container()?.restartCount ?? 0;
    await fromPod('/break-liveness');
    const restarted = await waitForStatus('a liveness restart', (status) => {
      const current = readyContainer(status);
      return current !== undefined && current.restartCount > restartsBefore ? current : undefined;
    });
    assert.equal(restarted.lastState?.terminated?.exitCode, 0, 'stopped with SIGTERM, which the program honours');
    assert.equal((await fromPod('/live')).status, 200);
  });

  // Deleting a namespace's name leaves the namespace alive while the process runs in it; the
  // process's next start needs it back. A detached veth cuts the pod off at once.
  for (const [what, breakNetwork, unreachableAtOnce] of [
    ['a vanished network namespace', () => execFileSync('ip', ['netns', 'del', podNetworkNames(UID).netns]), false],
    ['a veth detached from the bridge', () => execFileSync('ip', ['link', 'set', podNetworkNames(UID).hostVeth, 'nomaster']), true],
  ] as const) {
    it(`repairs ${what} when the container next starts`, async () => {
      breakNetwork();
      if (unreachableAtOnce) await assert.rejects(fromPod('/ready'), 'the pod is unreachable now');
      const restartsBefore = container()?.restartCount ?? 0;
      process.kill(pid(), 'SIGKILL');
      await waitForStatus('the container to be Ready again', (status) => {
        const current = readyContainer(status);
        return current !== undefined && current.restartCount > restartsBefore ? current : undefined;
      });
      assert.equal((await fromPod('/ready')).body, 'ok');
    });
  }

  it('on deletion stops the process, removes network, IP and volumes (after a volume refresh in flight), keeps the log and deletes the object', async () => {
    const lastPid = pid();
    const dir = podDirectory(root, 'lab-test', POD_NAME);
    // A volume refresh is in flight when the pod is deleted: it must finish before the volumes go,
    // or it writes into a directory being removed (rmdir ENOTEMPTY, the pod stuck Terminating).
    let answer!: () => void;
    objects.gate = new Promise((resolve) => (answer = resolve));
    await waitFor(
      'a volume refresh waiting for the API server',
      async () => (objects.waiting > 0 ? { done: true, value: true } : { done: false, reason: 'no refresh yet' }),
      { timeoutMs: 5000 },
    );
    const terminated = worker.terminate('deleted');
    const ipam = join(root, 'kubelet', 'ipam.json');
    await waitFor(
      "the pod's process, network and IP to be gone (the volumes are next)",
      async () =>
        UID in (JSON.parse(readFileSync(ipam, 'utf8')) as { allocations: Record<string, string> }).allocations
          ? { done: false, reason: 'IP still allocated' }
          : { done: true, value: true },
      { timeoutMs: 10_000 },
    );
    objects.gate = undefined;
    answer();
    await terminated;
    assert.deepEqual(objects.order, ['refresh read answered', 'pod object deleted'], 'teardown waited for the refresh');
    assert.equal(existsSync(`/proc/${lastPid}`), false, 'process gone');
    assert.equal(execFileSync('ip', ['netns', 'list'], { encoding: 'utf8' }).includes(podNetworkNames(UID).netns), false, 'netns gone');
    assert.deepEqual(JSON.parse(readFileSync(join(root, 'kubelet', 'ipam.json'), 'utf8')), { allocations: {} }, 'IP freed');
    assert.equal(existsSync(join(dir, 'volumes')), false, 'volumes removed');
    assert.equal(existsSync(join(dir, 'app.pid')), false, 'pid file removed');
    assert.ok(readFileSync(join(dir, 'app.log'), 'utf8').includes('program listening'), 'log kept');
    assert.deepEqual(
      deleted.map((pod) => pod.metadata?.uid),
      [UID],
    );
  });
});

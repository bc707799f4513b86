/**
 * The lab kubelet against the real lab API server: pods of a StatefulSet in a throw-away namespace
 * are bound, run in their own network namespace with their volumes at the real mount paths, probed,
 * restarted and torn down, and everything shows in the API the way a real kubelet shows it.
 * Needs root and the built lab (`npm run build`); brings the lab up with labUp.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, readdirSync, readFileSync, rmdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { AppsV1Api, CoreV1Api, type KubeConfig, type V1Pod } from '@kubernetes/client-node';
import { adminRequest, kubeConfigFrom } from '../../lab/control-plane/clients.js';
import { waitFor, type Probe } from '../../lab/control-plane/wait.js';
import { labUp, type LabInfo } from '../../lab/control.js';
import { podNetworkNames } from '../../lab/kubelet/network.js';
import { pkiFiles } from '../../lab/pki.js';

const NAMESPACE = `kubelet-test-${randomBytes(3).toString('hex')}`;
const STATEFULSET = 'probe-consumer';
const POD = `${STATEFULSET}-0`;
const CONFIGMAP = 'kubelet-test-config';

let lab: LabInfo;
let admin: KubeConfig;
let core: CoreV1Api;

function podDir(name: string): string {
  return join(lab.paths.labDir, 'pods', `${NAMESPACE}_${name}`);
}

function containerPid(name: string, container: string): number {
  return Number(readFileSync(join(podDir(name), `${container}.pid`), 'utf8').trim());
}

function waitForPod<T>(what: string, name: string, check: (pod: V1Pod) => Probe<T>, timeoutMs = 30_000): Promise<T> {
  return waitFor(
    what,
    async () => {
      try {
        return check(await core.readNamespacedPod({ name, namespace: NAMESPACE }));
      } catch (error) {
        return { done: false, reason: String(error) };
      }
    },
    { timeoutMs, firstIntervalMs: 50, maxIntervalMs: 500, hint: `see ${lab.paths.logFile('kubelet')}` },
  );
}

const ready = (pod: V1Pod): Probe<V1Pod> =>
  pod.status?.conditions?.some((condition) => condition.type === 'Ready' && condition.status === 'True')
    ? { done: true, value: pod }
    : {
        done: false,
        reason: `phase ${pod.status?.phase}, containers ${JSON.stringify(pod.status?.containerStatuses?.map((c) => c.state))}`,
      };

function waitingFor(container: string, reason: string): (pod: V1Pod) => Probe<{ reason?: string; message?: string }> {
  return (pod) => {
    const waiting = pod.status?.containerStatuses?.find((status) => status.name === container)?.state?.waiting;
    return waiting?.reason === reason
      ? { done: true, value: waiting }
      : { done: false, reason: `state ${JSON.stringify(pod.status?.containerStatuses)}` };
  };
}

describe('lab kubelet', { timeout: 30 * 60_000 }, () => {
  before(async () => {
    lab = await labUp();
    admin = kubeConfigFrom(lab.paths.adminKubeconfig);
    core = admin.makeApiClient(CoreV1Api);
    await core.createNamespace({ body: { metadata: { name: NAMESPACE } } });
    await core.createNamespacedConfigMap({
      namespace: NAMESPACE,
      body: { metadata: { name: CONFIGMAP }, data: { greeting: 'hello', mode: 'lab' } },
    });
    // The ServiceAccount admission refuses pods until the namespace's default account exists, and
    // every pod's service-account volume needs the CA bundle the controller manager publishes.
    await waitFor(
      'the default ServiceAccount and kube-root-ca.crt',
      async () => {
        try {
          await core.readNamespacedServiceAccount({ name: 'default', namespace: NAMESPACE });
          await core.readNamespacedConfigMap({ name: 'kube-root-ca.crt', namespace: NAMESPACE });
          return { done: true, value: undefined };
        } catch (error) {
          return { done: false, reason: String(error) };
        }
      },
      { timeoutMs: 30_000 },
    );
    await admin.makeApiClient(AppsV1Api).createNamespacedStatefulSet({
      namespace: NAMESPACE,
      body: {
        metadata: { name: STATEFULSET },
        spec: {
          serviceName: STATEFULSET,
          replicas: 1,
          selector: { matchLabels: { app: STATEFULSET } },
          template: {
            metadata: { labels: { app: STATEFULSET, color: 'blue' } },
            spec: {
              terminationGracePeriodSeconds: 5,
              containers: [
                {
                  name: 'consumer',
                  image: 'bgswitch/reference-consumer:0.1.0',
                  ports: [{ name: 'http', containerPort: 8080 }],
                  env: [
                    { name: 'MY_COLOR', value: 'blue' },
                    { name: 'MY_POD_NAME', valueFrom: { fieldRef: { fieldPath: 'metadata.name' } } },
                    { name: 'MY_NAMESPACE', valueFrom: { fieldRef: { fieldPath: 'metadata.namespace' } } },
                    { name: 'MY_POD_IP', valueFrom: { fieldRef: { fieldPath: 'status.podIP' } } },
                    { name: 'MY_COLOR_LABEL', valueFrom: { fieldRef: { fieldPath: "metadata.labels['color']" } } },
                    { name: 'GREETING', valueFrom: { configMapKeyRef: { name: CONFIGMAP, key: 'greeting' } } },
                  ],
                  volumeMounts: [
                    { name: 'config', mountPath: '/etc/kubelet-test-config', readOnly: true },
                    { name: 'scratch', mountPath: '/var/run/kubelet-test-scratch' },
                  ],
                  readinessProbe: { httpGet: { path: '/actuator/health/readiness', port: 'http' }, periodSeconds: 1, failureThreshold: 2 },
                  livenessProbe: { httpGet: { path: '/actuator/health/liveness', port: 8080 }, periodSeconds: 5, failureThreshold: 3 },
                },
              ],
              volumes: [
                { name: 'config', configMap: { name: CONFIGMAP } },
                { name: 'scratch', emptyDir: {} },
              ],
            },
          },
        },
      },
    });
  });

  after(async () => {
    if (core === undefined) return;
    await core.deleteNamespace({ name: NAMESPACE });
    await waitFor(
      'the test pods to be torn down',
      async () => {
        const pods = await core.listNamespacedPod({ namespace: NAMESPACE });
        return pods.items.length === 0 ? { done: true, value: undefined } : { done: false, reason: `${pods.items.length} pods left` };
      },
      { timeoutMs: 30_000 },
    );
    // The kubelet creates missing mountpoints on the host, empty, and keeps pod logs for good.
    for (const mountpoint of ['/etc/kubelet-test-config', '/var/run/kubelet-test-scratch'])
      if (existsSync(mountpoint)) rmdirSync(mountpoint);
    for (const entry of readdirSync(join(lab.paths.labDir, 'pods'))) {
      if (entry.startsWith(`${NAMESPACE}_`)) rmSync(join(lab.paths.labDir, 'pods', entry), { recursive: true, force: true });
    }
  });

  it('binds the pod to lab-node and runs it Ready on a non-loopback lab IP', async () => {
    const pod = await waitForPod('the pod to be Ready', POD, ready);
    assert.equal(pod.spec?.nodeName, 'lab-node');
    assert.equal(pod.status?.phase, 'Running');
    assert.match(pod.status?.podIP ?? '', /^10\.77\.0\.(\d+)$/);
    assert.notEqual(pod.status?.podIP, '10.77.0.1');
    assert.equal(pod.status?.hostIP, '10.77.0.1');
    const consumer = pod.status?.containerStatuses?.find((status) => status.name === 'consumer');
    assert.equal(consumer?.ready, true);
    assert.equal(consumer?.containerID, `lab://${containerPid(POD, 'consumer')}`);
    assert.ok(consumer?.state?.running?.startedAt, 'running state with startedAt');
  });

  it('gives the container its env with fieldRefs and configMapKeyRef resolved, and nothing of the kubelet’s own', async () => {
    const pod = await waitForPod('the pod to be Ready', POD, ready);
    const environ = readFileSync(`/proc/${containerPid(POD, 'consumer')}/environ`, 'utf8').split('\0');
    const env = Object.fromEntries(
      environ
        .filter((entry) => entry.includes('='))
        .map((entry) => [entry.slice(0, entry.indexOf('=')), entry.slice(entry.indexOf('=') + 1)]),
    );
    assert.equal(env.MY_POD_NAME, POD);
    assert.equal(env.MY_NAMESPACE, NAMESPACE);
    assert.equal(env.MY_POD_IP, pod.status?.podIP);
    assert.equal(env.MY_COLOR_LABEL, 'blue');
    assert.equal(env.GREETING, 'hello');
    assert.equal(env.KUBERNETES_SERVICE_HOST, '10.77.0.1');
    assert.equal(env.KUBERNETES_SERVICE_PORT, '16443');
    const expectedNames = [
      'GREETING',
      'HOME',
      'HOSTNAME',
      'KUBERNETES_SERVICE_HOST',
      'KUBERNETES_SERVICE_PORT',
      'MY_COLOR',
      'MY_COLOR_LABEL',
      'MY_NAMESPACE',
      'MY_POD_IP',
      'MY_POD_NAME',
      'PATH',
    ];
    assert.deepEqual(
      Object.keys(env)
        .filter((name) => name !== 'NODE_V8_COVERAGE')
        .sort(),
      expectedNames,
    );
  });

  it('mounts the ConfigMap with the ..data layout and the service-account files at their real paths, inside the container only', () => {
    // Read inside the container's mount namespace (paths through /proc/<pid>/root would resolve
    // absolute symlinks such as /var/run -> /run on the host).
    const pid = String(containerPid(POD, 'consumer'));
    const inContainer = (...command: string[]) => execFileSync('nsenter', ['-t', pid, '-m', ...command], { encoding: 'utf8' });
    const config = '/etc/kubelet-test-config';
    assert.match(inContainer('readlink', `${config}/..data`), /^\.\.\d{4}_\d\d_\d\d_\d\d_\d\d_\d\d\.\w+\n$/);
    assert.equal(inContainer('readlink', `${config}/greeting`), '..data/greeting\n');
    assert.equal(inContainer('cat', `${config}/greeting`), 'hello');
    assert.equal(inContainer('cat', `${config}/mode`), 'lab');

    const serviceAccount = '/var/run/secrets/kubernetes.io/serviceaccount';
    assert.equal(inContainer('cat', `${serviceAccount}/namespace`), NAMESPACE);
    assert.match(inContainer('cat', `${serviceAccount}/token`), /^[\w-]+\.[\w-]+\.[\w-]+$/, 'a JWT');
    assert.match(inContainer('cat', `${serviceAccount}/ca.crt`), /BEGIN CERTIFICATE/);

    assert.equal(existsSync(`${config}/greeting`), false, 'the bind mount does not leak to the host');
  });

  it('is reachable through the API server’s pod proxy', async () => {
    const response = await adminRequest(
      pkiFiles(lab.paths.pkiDir),
      'GET',
      `/api/v1/namespaces/${NAMESPACE}/pods/${POD}:8080/proxy/actuator/health`,
    );
    assert.equal(response.status, 200, response.body);
    assert.equal((JSON.parse(response.body) as { status: string }).status, 'UP');
  });

  it('restarts a killed container, counts the restart and logs the exit', async () => {
    const before = await waitForPod('the pod to be Ready', POD, ready);
    const restartsBefore = before.status?.containerStatuses?.find((status) => status.name === 'consumer')?.restartCount ?? 0;
    const killedPid = containerPid(POD, 'consumer');
    process.kill(killedPid, 'SIGKILL');

    const after = await waitForPod('the consumer to be restarted and Ready again', POD, (pod) => {
      const consumer = pod.status?.containerStatuses?.find((status) => status.name === 'consumer');
      return consumer !== undefined && consumer.restartCount > restartsBefore && consumer.ready
        ? { done: true, value: consumer }
        : { done: false, reason: JSON.stringify(consumer) };
    });
    assert.equal(after.restartCount, restartsBefore + 1);
    assert.equal(after.lastState?.terminated?.exitCode, 137);
    assert.equal(after.lastState?.terminated?.containerID, `lab://${killedPid}`);
    assert.notEqual(containerPid(POD, 'consumer'), killedPid);

    const exits = readFileSync(join(podDir(POD), 'consumer.log'), 'utf8')
      .split('\n')
      .filter((line) => line.includes('"by":"lab-kubelet"'))
      .map((line) => JSON.parse(line) as { event: string; pod: string; container: string; code: number; signal: string; at: number });
    const exit = exits.at(-1);
    assert.deepEqual(
      { ...exit, at: typeof exit?.at },
      { event: 'exit', by: 'lab-kubelet', pod: POD, container: 'consumer', code: 137, signal: 'SIGKILL', at: 'number' },
    );
  });

  it('tears a deleted pod down, deletes it, and the StatefulSet recreates it with a fresh network', async () => {
    const old = await waitForPod('the pod to be Ready', POD, ready);
    const oldUid = old.metadata?.uid ?? '';
    const oldPid = containerPid(POD, 'consumer');
    const logBefore = readFileSync(join(podDir(POD), 'consumer.log'), 'utf8');
    await core.deleteNamespacedPod({ name: POD, namespace: NAMESPACE });

    const recreated = await waitForPod('the StatefulSet to recreate the pod, Ready', POD, (pod) =>
      pod.metadata?.uid !== oldUid ? ready(pod) : { done: false, reason: 'still the old pod' },
    );
    assert.equal(existsSync(`/proc/${oldPid}`), false, 'the old container process is gone');
    const netns = execFileSync('ip', ['netns', 'list'], { encoding: 'utf8' });
    assert.equal(netns.includes(podNetworkNames(oldUid).netns), false, 'the old network namespace is gone');
    assert.ok(netns.includes(podNetworkNames(recreated.metadata?.uid ?? '').netns), 'the new pod has its own namespace');
    const log = readFileSync(join(podDir(POD), 'consumer.log'), 'utf8');
    assert.ok(log.startsWith(logBefore) && log.length > logBefore.length, 'the recreated pod appends to the same log');
  });

  it('reports an image it cannot run as ErrImagePull and a missing ConfigMap as CreateContainerConfigError', async () => {
    const bare = (name: string, image: string, configMap: string): V1Pod => ({
      metadata: { name },
      spec: {
        terminationGracePeriodSeconds: 1,
        containers: [{ name: 'main', image, env: [{ name: 'X', valueFrom: { configMapKeyRef: { name: configMap, key: 'x' } } }] }],
      },
    });
    await core.createNamespacedPod({ namespace: NAMESPACE, body: bare('foreign-image', 'nginx:1.27', CONFIGMAP) });
    await core.createNamespacedPod({
      namespace: NAMESPACE,
      body: bare('missing-config', 'bgswitch/reference-consumer:0.1.0', 'no-such-configmap'),
    });

    const pull = await waitForPod('ErrImagePull', 'foreign-image', waitingFor('main', 'ErrImagePull'));
    assert.match(pull.message ?? '', /cannot run image "nginx:1\.27"/);
    const config = await waitForPod('CreateContainerConfigError', 'missing-config', waitingFor('main', 'CreateContainerConfigError'));
    assert.match(config.message ?? '', /configmap "no-such-configmap" not found/);
  });
});

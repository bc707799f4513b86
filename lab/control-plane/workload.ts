/**
 * The workload half of `lab up`: first-time product initialisation through the real bgswitch CLI
 * (as the operator identity, so RBAC is exercised exactly as an operator would meet it), and the
 * wait for every StatefulSet pod to be Ready. The CLI is only run when the cluster shows it has
 * not been initialised / activated yet, so re-running `up` never undoes a switch made since.
 * Object names are bgswitch's defaults, which k8s/ uses.
 */
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import type { CoordinationV1Api, CoreV1Api, KubeConfig, KubernetesObject, V1Pod } from '@kubernetes/client-node';
import { systemClock } from '../../src/shared/clock.js';
import { OperationError } from '../../src/shared/errors.js';
import { createPodAgent } from '../../src/pods/agent.js';
import { parseEntry } from '../../src/shared/desired-state.js';
import { DEFAULT_CONSUMER_GROUP } from '../../src/shared/kafka-records.js';
import { LAB_KAFKA_BOOTSTRAP, type LabPaths } from '../paths.js';
import { isApiStatus } from './clients.js';
import { describeError, waitFor } from './wait.js';

const execFileAsync = promisify(execFile);

export const STATE_CONFIGMAP = 'kafka-consumer-state';
const SWITCH_LEASE = 'bg-consumer-active-lease';
const PUSH_KEY_SECRET = 'bgswitch-push-key';

/**
 * The lab's broker and the group the reference consumers share: `bgswitch init` stores them in the
 * active-version ConfigMap, so every later bgswitch command in the lab is Kafka-aware by default.
 */
const LAB_KAFKA_INIT_ARGS = ['--kafka-bootstrap', LAB_KAFKA_BOOTSTRAP, '--kafka-group', DEFAULT_CONSUMER_GROUP];

/** Runs `node bin/bgswitch.js <args> --kubeconfig <operator kubeconfig> --yes` (`init` also gets the lab's Kafka settings); returns its output. */
export async function runProductCli(paths: LabPaths, args: string[]): Promise<string> {
  const compiledCli = join(paths.repoRoot, 'dist', 'cli', 'main.cjs');
  if (!existsSync(compiledCli)) throw new OperationError(`the bgswitch CLI is not built (${compiledCli} is missing)`, 'run npm run build');
  const commandLine = [
    join(paths.repoRoot, 'bin', 'bgswitch.js'),
    ...args,
    ...(args[0] === 'init' ? LAB_KAFKA_INIT_ARGS : []),
    '--kubeconfig',
    paths.operatorKubeconfig,
    '--yes',
  ];
  try {
    const { stdout, stderr } = await execFileAsync(process.execPath, commandLine, {
      cwd: paths.repoRoot,
      encoding: 'utf8',
      timeout: 180_000,
    });
    return `${stdout}${stderr}`.trim();
  } catch (error) {
    const { stdout = '', stderr = '', code } = error as { stdout?: string; stderr?: string; code?: number | string };
    throw new OperationError(`'bgswitch ${args.join(' ')}' failed (exit ${code}):\n${`${stdout}${stderr}`.trim()}`);
  }
}

async function readConfigMapData(core: CoreV1Api, namespace: string, name: string): Promise<Record<string, string>> {
  try {
    return (await core.readNamespacedConfigMap({ name, namespace })).data ?? {};
  } catch (error) {
    if (isApiStatus(error, 404)) return {};
    throw error;
  }
}

/** `bgswitch init` has not run yet: the Lease or push-key Secret it creates (and k8s/ does not) is missing. */
export async function needsInitialisation(core: CoreV1Api, coordination: CoordinationV1Api, namespace: string): Promise<boolean> {
  const missing = (read: Promise<unknown>) =>
    read.then(
      () => false,
      (error: unknown) => {
        if (isApiStatus(error, 404)) return true;
        throw error;
      },
    );
  const [leaseMissing, keyMissing] = await Promise.all([
    missing(coordination.readNamespacedLease({ name: SWITCH_LEASE, namespace })),
    missing(core.readNamespacedSecret({ name: PUSH_KEY_SECRET, namespace })),
  ]);
  return leaseMissing || keyMissing;
}

/** No desired-state entry asks any pod or colour to be ACTIVE: the first switch has not completed. */
export async function needsActivation(core: CoreV1Api, namespace: string): Promise<boolean> {
  const data = await readConfigMapData(core, namespace, STATE_CONFIGMAP);
  return !Object.values(data).some((raw) => {
    const parsed = parseEntry(raw);
    return parsed.ok && parsed.value.lifecycle === 'ACTIVE';
  });
}

export interface ExpectedPod {
  namespace: string;
  name: string;
}

/** `<name>-<ordinal>` for every replica of every applied StatefulSet. */
export function expectedStatefulSetPods(applied: KubernetesObject[]): ExpectedPod[] {
  return applied
    .filter((object) => object.kind === 'StatefulSet')
    .flatMap((object) => {
      const replicas = (object as { spec?: { replicas?: number } }).spec?.replicas ?? 1;
      const namespace = object.metadata?.namespace ?? 'default';
      return Array.from({ length: replicas }, (_, ordinal) => ({ namespace, name: `${object.metadata?.name}-${ordinal}` }));
    });
}

function podProblem(pod: V1Pod | undefined): string | undefined {
  if (pod === undefined) return 'not created';
  if (pod.metadata?.deletionTimestamp) return 'terminating';
  const ready = pod.status?.conditions?.some((condition) => condition.type === 'Ready' && condition.status === 'True');
  return ready ? undefined : `${pod.status?.phase ?? 'no status'}, not ready`;
}

/** Waits until every expected pod exists and is Ready; `stillWorking` fails the wait early. */
export async function waitForPodsReady(
  core: CoreV1Api,
  expected: ExpectedPod[],
  timeoutMs: number,
  stillWorking: () => Promise<void>,
): Promise<void> {
  const namespaces = [...new Set(expected.map((pod) => pod.namespace))];
  await waitFor(
    `${expected.length} pods to be Ready`,
    async () => {
      await stillWorking();
      let pods: V1Pod[];
      try {
        pods = (await Promise.all(namespaces.map((namespace) => core.listNamespacedPod({ namespace })))).flatMap((list) => list.items);
      } catch (error) {
        return { done: false, reason: `cannot list pods: ${describeError(error)}` };
      }
      const byName = new Map(pods.map((pod) => [`${pod.metadata?.namespace}/${pod.metadata?.name}`, pod]));
      const problems = expected.flatMap((want) => {
        const problem = podProblem(byName.get(`${want.namespace}/${want.name}`));
        return problem === undefined ? [] : [`${want.name} (${problem})`];
      });
      return problems.length === 0 ? { done: true, value: undefined } : { done: false, reason: `not ready: ${problems.join(', ')}` };
    },
    { timeoutMs, firstIntervalMs: 100, hint: 'see .lab/logs/kubelet.log and `npm run lab -- status`' },
  );
}

/**
 * Waits until every sidecar reports its push key mounted (the kubelet writes the Secret created by
 * `bgswitch init` into running pods on its next volume refresh), so the first switch's pushes are
 * not refused.
 */
export async function waitForSidecarPushKeys(
  kubeConfig: KubeConfig,
  expected: ExpectedPod[],
  timeoutMs: number,
  stillWorking: () => Promise<void>,
): Promise<void> {
  const namespace = expected[0]?.namespace ?? 'default';
  const agent = createPodAgent({
    via: 'proxy',
    kubeConfig,
    namespace,
    pushKey: () => Promise.reject(new Error('the lab never pushes')),
    clock: systemClock,
  });
  try {
    await waitFor(
      `the push key in ${expected.length} sidecars`,
      async () => {
        await stillWorking();
        const missing = await Promise.all(
          expected.map(async ({ name }) => {
            const pod = {
              name,
              color: name.includes('green') ? 'green' : 'blue',
              phase: 'Running',
              ready: true,
              restarts: 0,
              terminating: false,
            } as const;
            const status = await agent.sidecarStatus(pod).catch((error: unknown) => describeError(error));
            return typeof status === 'string' ? `${name} (${status})` : status.pushKeyMounted === false ? name : undefined;
          }),
        );
        const waiting = missing.filter((name) => name !== undefined);
        return waiting.length === 0 ? { done: true, value: undefined } : { done: false, reason: `no push key yet: ${waiting.join(', ')}` };
      },
      { timeoutMs, firstIntervalMs: 250, hint: 'the lab kubelet refreshes Secret volumes; see .lab/logs/kubelet.log' },
    );
  } finally {
    await agent.close();
  }
}

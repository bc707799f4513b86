/**
 * `npm run lab -- fleet statefulset|deployment` (and `lab up --fleet deployment`): which workload
 * runs the consumers of the lab. `up` brings up the StatefulSet fleet (k8s/overlays/lab, pod keys);
 * the Deployment fleet (k8s/overlays/lab-deployment, colour keys) replaces it in the same namespace,
 * under the same names, Services, broker and group, so every bgswitch command works unchanged.
 *
 * A change of fleet: delete the other kind's workloads and wait until their pods are gone (two
 * fleets of one colour would share one Service), apply the overlay, run `bgswitch init` with the
 * fleet's key mode, wait for every pod to be Ready with its push key, then `bgswitch switch blue`
 * (a no-op when blue already consumes). Idempotent: asking for the fleet that runs only re-checks it.
 */
import { join } from 'node:path';
import { AppsV1Api, CoreV1Api, type V1Pod } from '@kubernetes/client-node';
import { applyManifests, kustomizeBuild } from './apply.js';
import { isApiStatus, kubeConfigFrom } from './control-plane/clients.js';
import { describeError, waitFor } from './control-plane/wait.js';
import { runProductCli, waitForSidecarPushKeys } from './control-plane/workload.js';
import { binaryCacheDir, DEFAULT_K8S_VERSION, findRepoRoot, labPaths, WORKLOAD_NAMESPACE } from './paths.js';

export const FLEET_KINDS = ['statefulset', 'deployment'] as const;
export type FleetKind = (typeof FLEET_KINDS)[number];

const FLEETS: Record<FleetKind, { overlay: string; workload: 'StatefulSet' | 'Deployment'; podOwner: string; keys: string }> = {
  statefulset: { overlay: 'k8s/overlays/lab', workload: 'StatefulSet', podOwner: 'StatefulSet', keys: '--pod-keys' },
  deployment: { overlay: 'k8s/overlays/lab-deployment', workload: 'Deployment', podOwner: 'ReplicaSet', keys: '--color-keys' },
};

const WORKLOAD_NAMES = ['consumer-blue', 'consumer-green'];

export interface FleetOptions {
  repoRoot?: string;
  labDir?: string;
  k8sVersion?: string;
  podsReadyTimeoutMs?: number;
  report?: (line: string) => void;
}

export function isFleetKind(value: string): value is FleetKind {
  return (FLEET_KINDS as readonly string[]).includes(value);
}

/** Makes `kind` the lab's consumer fleet (the lab must be up). Returns the names of its pods. */
export async function labUseFleet(kind: FleetKind, options: FleetOptions = {}): Promise<string[]> {
  const paths = labPaths(options.repoRoot ?? findRepoRoot(import.meta.url), options.labDir);
  const report = options.report ?? (() => {});
  const timeoutMs = options.podsReadyTimeoutMs ?? 180_000;
  const fleet = FLEETS[kind];
  const other = FLEETS[kind === 'deployment' ? 'statefulset' : 'deployment'];
  const config = kubeConfigFrom(paths.adminKubeconfig);
  const apps = config.makeApiClient(AppsV1Api);
  const core = config.makeApiClient(CoreV1Api);
  const namespace = WORKLOAD_NAMESPACE;

  const deleted = await Promise.all(
    WORKLOAD_NAMES.map((name) =>
      (other.workload === 'StatefulSet'
        ? apps.deleteNamespacedStatefulSet({ name, namespace, propagationPolicy: 'Background' })
        : apps.deleteNamespacedDeployment({ name, namespace, propagationPolicy: 'Background' })
      ).then(
        () => true,
        (error: unknown) => {
          if (isApiStatus(error, 404)) return false;
          throw error;
        },
      ),
    ),
  );
  if (deleted.some(Boolean)) report(`deleted the ${other.workload}s; waiting for their pods to end`);
  await waitFor(
    `the ${other.workload} pods to be gone`,
    async () => {
      const left = (await listConsumerPods(core, namespace)).filter((pod) => ownerKind(pod) === other.podOwner);
      return left.length === 0 ? { done: true, value: undefined } : { done: false, reason: `still there: ${names(left)}` };
    },
    { timeoutMs, firstIntervalMs: 200, hint: 'see .lab/logs/kubelet.log and .lab/logs/kube-controller-manager.log' },
  );

  const kubectl = join(binaryCacheDir(options.k8sVersion ?? DEFAULT_K8S_VERSION), 'kubectl');
  const objects = await kustomizeBuild(kubectl, join(paths.repoRoot, fleet.overlay));
  await applyManifests(config, objects);
  report(`applied ${fleet.overlay} (${objects.length} objects)`);
  const replicas = objects
    .filter((object) => object.kind === fleet.workload)
    .reduce((sum, object) => sum + ((object as { spec?: { replicas?: number } }).spec?.replicas ?? 1), 0);

  const pods = await waitFor(
    `${replicas} ${fleet.workload} pods to be Ready`,
    async () => {
      let all: V1Pod[];
      try {
        all = await listConsumerPods(core, namespace);
      } catch (error) {
        return { done: false, reason: `cannot list pods: ${describeError(error)}` };
      }
      const ours = all.filter((pod) => ownerKind(pod) === fleet.podOwner && !pod.metadata?.deletionTimestamp);
      const ready = ours.filter((pod) => pod.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True'));
      const done = ready.length === replicas && ours.length === replicas && ours.length === all.length;
      return done
        ? { done: true, value: names(ready).split(', ') }
        : { done: false, reason: `${ready.length}/${replicas} Ready (${names(all)})` };
    },
    { timeoutMs, firstIntervalMs: 200, hint: 'see .lab/logs/kubelet.log and `npm run lab -- status`' },
  );
  report(`${pods.length} pods Ready: ${pods.join(', ')}`);

  await runProductCli(paths, ['init', fleet.keys]);
  await waitForSidecarPushKeys(
    config,
    pods.map((name) => ({ namespace, name })),
    timeoutMs,
    async () => {},
  );
  await runProductCli(paths, ['switch', 'blue']);
  report(`bgswitch init ${fleet.keys}; blue consumes`);
  return pods;
}

async function listConsumerPods(core: CoreV1Api, namespace: string): Promise<V1Pod[]> {
  const list = await core.listNamespacedPod({ namespace, labelSelector: 'app=bg-consumer' });
  return list.items;
}

function ownerKind(pod: V1Pod): string | undefined {
  return pod.metadata?.ownerReferences?.find((owner) => owner.controller)?.kind;
}

function names(pods: V1Pod[]): string {
  return pods.map((pod) => pod.metadata?.name ?? '?').join(', ') || 'none';
}

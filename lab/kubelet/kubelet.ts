/**
 * The lab kubelet: registers the Node `lab-node` and keeps it Ready, binds every unscheduled pod of
 * the default scheduler to it (the lab has no scheduler), and runs a PodWorker per pod bound to it.
 * A pod with a deletionTimestamp is stopped and then deleted with grace period 0, as the kubelet
 * does, so its controller can recreate it; a pod that vanishes from the API is stopped likewise.
 *
 * Guarantees: on start, processes and network namespaces of a previous run are removed first
 * (nothing is adopted); `stop()` stops every pod's processes and removes their networks without
 * touching the pod objects. Not guaranteed: anything about pods bound to other nodes.
 */
import {
  CoreV1Api,
  KubeConfig,
  makeInformer,
  PatchStrategy,
  setHeaderOptions,
  type Informer,
  type ObjectCache,
  type V1Pod,
  type V1PodStatus,
} from '@kubernetes/client-node';
import { mkdirSync } from 'node:fs';
import { arch, cpus, hostname, release, totalmem } from 'node:os';
import { join } from 'node:path';
import { PodIpAllocator } from './ipam.js';
import { ensureLabBridge, LAB_GATEWAY_IP, removeAllPodNetworks } from './network.js';
import { ApiObjectSource, isNotFound } from './object-source.js';
import { PodWorker, type Log, type TeardownReason } from './pod-worker.js';
import { killLeftoverContainers } from './process.js';

export const LAB_NODE_NAME = 'lab-node';
const HEARTBEAT_MS = 20_000;
const INFORMER_RESTART_MS = 2000;
const BIND_RETRY_MS = 1000;
/** How many times its cores the lab node offers to the scheduler (see the node status below). */
const LAB_CPU_OVERCOMMIT = 8;

/** The kubelet's own cap on termination grace periods in the lab (pods may ask for 30 s). */
const GRACE_CAP_MS = 10_000;

export interface KubeletOptions {
  kubeconfig: string;
  labDir: string;
  repo: string;
  configMapSyncSeconds: number;
  log: Log;
}

const mergePatch = setHeaderOptions('Content-Type', PatchStrategy.MergePatch);

export class LabKubelet {
  private readonly core: CoreV1Api;
  private readonly kubeConfig: KubeConfig;
  private readonly workers = new Map<string, PodWorker>();
  /** Teardowns in progress by `<namespace>/<name>`: a same-named successor waits for them (shared pod dir). */
  private readonly teardowns = new Map<string, Promise<void>>();
  private readonly retiring = new Set<PodWorker>();
  private readonly binding = new Set<string>();
  private readonly ipam: PodIpAllocator;
  private informer: (Informer<V1Pod> & ObjectCache<V1Pod>) | undefined;
  private heartbeat: NodeJS.Timeout | undefined;
  private readyTransition = new Date();
  private stopping = false;

  constructor(private readonly options: KubeletOptions) {
    this.kubeConfig = new KubeConfig();
    this.kubeConfig.loadFromFile(options.kubeconfig);
    this.core = this.kubeConfig.makeApiClient(CoreV1Api);
    this.ipam = new PodIpAllocator(join(options.labDir, 'kubelet', 'ipam.json'));
  }

  async start(): Promise<void> {
    const { labDir, repo, log } = this.options;
    mkdirSync(join(labDir, 'pods'), { recursive: true });
    const killed = killLeftoverContainers(join(labDir, 'pods'), repo);
    if (killed.length > 0) log('killed container processes of a previous run', { pids: killed });
    await removeAllPodNetworks();
    await ensureLabBridge();
    await this.registerNode();
    this.heartbeat = setInterval(() => void this.reportNodeStatus(), HEARTBEAT_MS);

    const existing = await this.core.listPodForAllNamespaces({ fieldSelector: `spec.nodeName=${LAB_NODE_NAME}` });
    this.ipam.retainOnly(new Set(existing.items.map((pod) => pod.metadata?.uid ?? '')));

    const informer = makeInformer(this.kubeConfig, '/api/v1/pods', () => this.core.listPodForAllNamespaces());
    informer.on('add', (pod) => this.onPod(pod));
    informer.on('update', (pod) => this.onPod(pod));
    informer.on('delete', (pod) => this.onPodGone(pod));
    // The informer stops on any list or watch error and must be restarted; so does a failed start.
    const restart = (error: unknown) => {
      if (this.stopping) return;
      log('pod watch failed; restarting it', { error: String(error) });
      setTimeout(() => void informer.start().catch(restart), INFORMER_RESTART_MS);
    };
    informer.on('error', restart);
    this.informer = informer;
    await informer.start().catch(restart);
    log('lab kubelet started', { node: LAB_NODE_NAME, pods: existing.items.length });
  }

  /** Stops every pod's processes and network; pod objects are left as they are. */
  async stop(): Promise<void> {
    this.stopping = true;
    clearInterval(this.heartbeat);
    await this.informer?.stop();
    await Promise.all([...this.workers.values()].map((worker) => worker.terminate('shutdown')));
    await Promise.all(this.teardowns.values());
    await removeAllPodNetworks();
    await this.reportNodeStatus(false).catch(() => undefined);
    this.options.log('lab kubelet stopped');
  }

  private onPod(pod: V1Pod): void {
    if (this.stopping) return;
    const uid = pod.metadata?.uid ?? '';
    const nodeName = pod.spec?.nodeName;
    if (nodeName === undefined || nodeName === '') {
      const ours = (pod.spec?.schedulerName ?? 'default-scheduler') === 'default-scheduler';
      if (ours && pod.metadata?.deletionTimestamp === undefined) void this.bind(pod);
      return;
    }
    if (nodeName !== LAB_NODE_NAME) return;
    let worker = this.workers.get(uid);
    if (worker === undefined) {
      if (pod.status?.phase === 'Succeeded' || pod.status?.phase === 'Failed') return;
      if (pod.metadata?.deletionTimestamp !== undefined) {
        // Nothing of it runs here (e.g. deleted while no kubelet ran): just let it go.
        void this.deletePod(pod).catch((error) => this.options.log('pod delete failed', { pod: podKey(pod), error: String(error) }));
        return;
      }
      worker = new PodWorker(pod, this.workerDeps());
      this.workers.set(uid, worker);
      const started = worker;
      const previous = this.teardowns.get(podKey(pod)) ?? Promise.resolve();
      void previous.then(() => {
        if (this.workers.get(uid) === started && !this.stopping) started.start();
      });
    }
    worker.update(pod);
    if (pod.metadata?.deletionTimestamp !== undefined) this.retire(pod, worker, 'deleted');
  }

  private onPodGone(pod: V1Pod): void {
    const worker = this.workers.get(pod.metadata?.uid ?? '');
    if (worker !== undefined) this.retire(pod, worker, 'vanished');
  }

  /** Tears the pod down once; its successor of the same name starts only after that. */
  private retire(pod: V1Pod, worker: PodWorker, reason: TeardownReason): void {
    if (this.retiring.has(worker)) return;
    this.retiring.add(worker);
    const key = podKey(pod);
    const teardown = worker
      .terminate(reason)
      .catch((error) => this.options.log('pod teardown failed', { pod: key, error: String(error) }))
      .finally(() => {
        this.workers.delete(pod.metadata?.uid ?? '');
        this.retiring.delete(worker);
        if (this.teardowns.get(key) === teardown) this.teardowns.delete(key);
      });
    this.teardowns.set(key, teardown);
  }

  private async bind(pod: V1Pod): Promise<void> {
    const uid = pod.metadata?.uid ?? '';
    if (this.binding.has(uid)) return;
    this.binding.add(uid);
    try {
      await this.core.createNamespacedPodBinding({
        name: pod.metadata?.name ?? '',
        namespace: pod.metadata?.namespace ?? 'default',
        body: {
          metadata: { name: pod.metadata?.name, namespace: pod.metadata?.namespace, uid },
          target: { apiVersion: 'v1', kind: 'Node', name: LAB_NODE_NAME },
        },
      });
      this.options.log('pod bound', { pod: podKey(pod), node: LAB_NODE_NAME });
    } catch (error) {
      const code = (error as { code?: number }).code;
      if (code !== 409 && !isNotFound(error)) {
        this.options.log('pod binding failed; retrying', { pod: podKey(pod), error: String(error) });
        setTimeout(() => {
          const latest = this.informer?.get(pod.metadata?.name ?? '', pod.metadata?.namespace);
          if (latest !== undefined && latest.metadata?.uid === uid) this.onPod(latest);
        }, BIND_RETRY_MS);
      }
    } finally {
      this.binding.delete(uid);
    }
  }

  private workerDeps() {
    return {
      labDir: this.options.labDir,
      repo: this.options.repo,
      objects: new ApiObjectSource(this.core),
      ipam: this.ipam,
      writeStatus: (pod: V1Pod, status: V1PodStatus) => this.writePodStatus(pod, status),
      deletePod: (pod: V1Pod) => this.deletePod(pod),
      volumeSyncMs: this.options.configMapSyncSeconds * 1000,
      graceCapMs: GRACE_CAP_MS,
      log: this.options.log,
    };
  }

  private async writePodStatus(pod: V1Pod, status: V1PodStatus): Promise<void> {
    try {
      await this.core.patchNamespacedPodStatus(
        {
          name: pod.metadata?.name ?? '',
          namespace: pod.metadata?.namespace ?? 'default',
          // The uid makes the patch fail rather than land on a recreated pod of the same name.
          body: { metadata: { uid: pod.metadata?.uid }, status },
        },
        mergePatch,
      );
    } catch (error) {
      if (!isNotFound(error)) throw error;
    }
  }

  private async deletePod(pod: V1Pod): Promise<void> {
    try {
      await this.core.deleteNamespacedPod({
        name: pod.metadata?.name ?? '',
        namespace: pod.metadata?.namespace ?? 'default',
        gracePeriodSeconds: 0,
        body: { gracePeriodSeconds: 0, preconditions: { uid: pod.metadata?.uid } },
      });
    } catch (error) {
      if (!isNotFound(error) && (error as { code?: number }).code !== 409) throw error;
    }
  }

  private async registerNode(): Promise<void> {
    try {
      await this.core.createNode({
        body: {
          metadata: {
            name: LAB_NODE_NAME,
            labels: {
              'kubernetes.io/hostname': LAB_NODE_NAME,
              'kubernetes.io/os': 'linux',
              'kubernetes.io/arch': goArch(),
            },
          },
          spec: { podCIDR: '10.77.0.0/24', podCIDRs: ['10.77.0.0/24'] },
        },
      });
    } catch (error) {
      if ((error as { code?: number }).code !== 409) throw error;
    }
    this.readyTransition = new Date();
    await this.reportNodeStatus();
  }

  private async reportNodeStatus(ready = true): Promise<void> {
    const now = new Date();
    if (!ready) this.readyTransition = now;
    const condition = (type: string, isTrue: boolean, reason: string, message: string) => ({
      type,
      status: isTrue ? 'True' : 'False',
      reason,
      message,
      lastHeartbeatTime: now,
      lastTransitionTime: this.readyTransition,
    });
    const memoryKi = `${Math.floor(totalmem() / 1024)}Ki`;
    // The manifests request CPU for real clusters (150m per pod); the lab's idle consumers use next
    // to none, so the node offers more than its cores, or 60 pods (30 per colour) would not schedule.
    const resources = { cpu: String(cpus().length * LAB_CPU_OVERCOMMIT), memory: memoryKi, pods: '110' };
    const status = {
      capacity: resources,
      allocatable: resources,
      addresses: [
        { type: 'InternalIP', address: LAB_GATEWAY_IP },
        { type: 'Hostname', address: LAB_NODE_NAME },
      ],
      conditions: [
        ready
          ? condition('Ready', true, 'KubeletReady', 'lab kubelet is posting ready status')
          : condition('Ready', false, 'KubeletStopped', 'lab kubelet stopped'),
        condition('MemoryPressure', false, 'KubeletHasSufficientMemory', 'lab kubelet does not track memory pressure'),
        condition('DiskPressure', false, 'KubeletHasNoDiskPressure', 'lab kubelet does not track disk pressure'),
        condition('PIDPressure', false, 'KubeletHasSufficientPID', 'lab kubelet does not track PID pressure'),
      ],
      nodeInfo: {
        machineID: hostname(),
        systemUUID: hostname(),
        bootID: '',
        kernelVersion: release(),
        osImage: 'bgswitch lab',
        containerRuntimeVersion: 'lab://local-processes',
        kubeletVersion: 'v1.34.4-lab',
        kubeProxyVersion: '',
        operatingSystem: 'linux',
        architecture: goArch(),
      },
    };
    try {
      await this.core.patchNodeStatus({ name: LAB_NODE_NAME, body: { status } }, mergePatch);
    } catch (error) {
      this.options.log('node status update failed', { error: String(error) });
    }
  }
}

function podKey(pod: V1Pod): string {
  return `${pod.metadata?.namespace}/${pod.metadata?.name}`;
}

/** Node's arch names in Go's spelling, as Kubernetes labels use them. */
function goArch(): string {
  const names: Record<string, string> = { x64: 'amd64', arm64: 'arm64', arm: 'arm', ia32: '386' };
  return names[arch()] ?? arch();
}

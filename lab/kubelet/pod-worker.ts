/**
 * One pod on the lab node, from admission to teardown: IP + network namespace, volumes, one
 * ContainerSupervisor per container, periodic volume refresh, and the pod's status (phase,
 * conditions, IPs, containerStatuses) written whenever it changes.
 *
 * Files under `<lab-dir>/pods/<namespace>_<pod>/`: `volumes/<name>/`, `<container>.pid` (while the
 * container runs) and `<container>.log` (kept forever: a recreated pod of the same name appends).
 *
 * Guarantees: `terminate()` leaves no process, namespace, veth, IP or volume of the pod behind;
 * status writes carry the pod's uid, so they can never land on a recreated pod of the same name.
 * Not supported: init containers, ephemeral containers, readiness gates. Ignored: securityContext
 * (containers run as root; the API server still enforces the namespace's Pod Security level), resources.
 */
import type { V1Container, V1Pod, V1PodCondition, V1PodStatus } from '@kubernetes/client-node';
import { mkdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { ContainerSupervisor, ImageNotRunnableError } from './container-supervisor.js';
import { resolveContainerEnv } from './env.js';
import { ContainerConfigError, type PodRuntimeFacts } from './field-ref.js';
import type { PodIpAllocator } from './ipam.js';
import {
  createPodNetwork,
  ensureLabBridge,
  LAB_GATEWAY_IP,
  podNetworkIntact,
  podNetworkNames,
  removePodNetwork,
  type PodNetworkNames,
} from './network.js';
import type { ObjectSource } from './object-source.js';
import { commandForImage, type ContainerLaunch, type Mount } from './process.js';
import { PodVolumes } from './volumes.js';

export type Log = (message: string, fields?: Record<string, unknown>) => void;

/**
 * Why a pod is torn down: `deleted` (deletionTimestamp set: delete the object afterwards),
 * `vanished` (the object is gone) or `shutdown` (the kubelet stops: the pod keeps its IP for the
 * next kubelet run).
 */
export type TeardownReason = 'deleted' | 'vanished' | 'shutdown';

export interface PodWorkerDeps {
  labDir: string;
  repo: string;
  objects: ObjectSource;
  ipam: PodIpAllocator;
  /** Writes the pod's status; the patch names the pod's uid. */
  writeStatus(pod: V1Pod, status: V1PodStatus): Promise<void>;
  /** Deletes the pod object with grace period 0 (after teardown, as the kubelet does). */
  deletePod(pod: V1Pod): Promise<void>;
  volumeSyncMs: number;
  /** Upper bound of any termination grace period in the lab. */
  graceCapMs: number;
  log: Log;
}

const RETRY_MS = 2000;
const STATUS_DEBOUNCE_MS = 100;
const OWNED_CONDITIONS = ['PodReadyToStartContainers', 'Initialized', 'ContainersReady', 'Ready'];

export function podDirectory(labDir: string, namespace: string, name: string): string {
  return join(labDir, 'pods', `${namespace}_${name}`);
}

export class PodWorker {
  private pod: V1Pod;
  private readonly uid: string;
  private readonly dir: string;
  private readonly facts: PodRuntimeFacts;
  private readonly network: PodNetworkNames;
  private readonly volumes: PodVolumes;
  private readonly supervisors: ContainerSupervisor[];
  private readonly startTime: Date;
  private readonly conditionTimes = new Map<string, { status: string; time: Date }>();
  /** Why containers have not been started yet (network or volume setup failing), if they have not. */
  private blocked: { reason: string; message?: string } | undefined = { reason: 'ContainerCreating' };
  private networkReady = false;
  private terminating: Promise<void> | undefined;
  private sandboxCheck: Promise<void> | undefined;
  private closed = false;
  private setup: Promise<void> = Promise.resolve();
  private resyncTimer: NodeJS.Timeout | undefined;
  /** The volume refresh in flight, if any: teardown waits for it, or it would write into a directory being removed. */
  private resync: Promise<void> | undefined;
  private statusTimer: NodeJS.Timeout | undefined;
  private statusWrite: Promise<void> = Promise.resolve();
  private lastWrittenStatus = '';
  private wake: () => void = () => {};

  constructor(
    pod: V1Pod,
    private readonly deps: PodWorkerDeps,
  ) {
    this.pod = pod;
    this.uid = pod.metadata?.uid ?? '';
    this.dir = podDirectory(deps.labDir, pod.metadata?.namespace ?? 'default', pod.metadata?.name ?? '');
    this.facts = { podIp: deps.ipam.allocate(this.uid, pod.status?.podIP), hostIp: LAB_GATEWAY_IP };
    this.network = podNetworkNames(this.uid);
    this.volumes = new PodVolumes(pod, join(this.dir, 'volumes'), this.facts, deps.objects);
    this.startTime = pod.status?.startTime === undefined ? new Date() : new Date(pod.status.startTime);
    const previousRestarts = new Map((pod.status?.containerStatuses ?? []).map((status) => [status.name, status.restartCount]));
    this.supervisors = (pod.spec?.containers ?? []).map(
      (container) => new ContainerSupervisor(container, this.supervisorContext(container), previousRestarts.get(container.name) ?? 0),
    );
  }

  get name(): string {
    return `${this.pod.metadata?.namespace}/${this.pod.metadata?.name}`;
  }

  /** Sets up the pod and starts its containers (returns at once; progress shows in the status). */
  start(): void {
    mkdirSync(this.dir, { recursive: true });
    this.requestStatus();
    this.setup = this.setUp();
  }

  /** The latest version of the pod object (labels, annotations, status conditions of others). */
  update(pod: V1Pod): void {
    if (pod.metadata?.uid === this.uid) this.pod = pod;
  }

  /**
   * Stops every container (SIGTERM, then SIGKILL after the pod's grace period, capped), removes the
   * network and volumes, frees the IP unless the kubelet is only shutting down, and deletes the pod
   * object if it was `deleted`. Idempotent: the first reason wins.
   */
  terminate(reason: TeardownReason): Promise<void> {
    this.terminating ??= this.tearDown(reason);
    return this.terminating;
  }

  private async setUp(): Promise<void> {
    if ((this.pod.spec?.initContainers ?? []).length > 0) {
      this.blocked = { reason: 'CreateContainerConfigError', message: 'the lab kubelet does not run init containers' };
      this.requestStatus();
      return;
    }
    await this.retryUntilDone('network', async () => {
      await createPodNetwork(this.network, this.facts.podIp);
    });
    this.networkReady = true;
    await this.retryUntilDone('volumes', () => this.volumes.sync());
    if (this.terminating !== undefined) return;
    this.blocked = undefined;
    for (const supervisor of this.supervisors) supervisor.start();
    this.requestStatus();
    this.resyncTimer = setInterval(() => {
      this.resync ??= this.resyncVolumes().finally(() => (this.resync = undefined));
    }, this.deps.volumeSyncMs);
  }

  /** Runs `step` until it succeeds or the pod is terminating; failures show as the containers' waiting reason. */
  private async retryUntilDone(step: string, action: () => Promise<void>): Promise<void> {
    while (this.terminating === undefined) {
      try {
        await action();
        return;
      } catch (error) {
        const reason = error instanceof ContainerConfigError ? 'CreateContainerConfigError' : 'ContainerCreating';
        this.blocked = { reason, message: `${step}: ${(error as Error).message}` };
        this.deps.log('pod setup failed, retrying', { pod: this.name, step, error: (error as Error).message });
        this.requestStatus();
        await new Promise<void>((resolve) => {
          const timer = setTimeout(resolve, RETRY_MS);
          this.wake = () => {
            clearTimeout(timer);
            resolve();
          };
        });
      }
    }
  }

  private async resyncVolumes(): Promise<void> {
    try {
      await this.volumes.sync();
    } catch (error) {
      // The kubelet keeps the last good content when a refresh fails.
      this.deps.log('volume refresh failed', { pod: this.name, error: (error as Error).message });
    }
  }

  private async tearDown(reason: TeardownReason): Promise<void> {
    this.wake();
    clearInterval(this.resyncTimer);
    await this.setup;
    const graceSeconds = this.pod.metadata?.deletionGracePeriodSeconds ?? this.pod.spec?.terminationGracePeriodSeconds ?? 30;
    const graceMs = Math.min(graceSeconds * 1000, this.deps.graceCapMs);
    // No status is written from here on: a stopping kubelet must not mark pods Failed, and a deleted
    // pod's object is going away anyway.
    this.closed = true;
    clearTimeout(this.statusTimer);
    await this.statusWrite;
    await Promise.all(this.supervisors.map((supervisor) => supervisor.stop(graceMs)));
    await removePodNetwork(this.network);
    if (reason !== 'shutdown') this.deps.ipam.release(this.uid);
    await this.resync;
    await this.volumes.remove();
    for (const supervisor of this.supervisors) rmSync(join(this.dir, `${supervisor.spec.name}.pid`), { force: true });
    if (reason === 'deleted') await this.deps.deletePod(this.pod);
    this.deps.log('pod torn down', { pod: this.name, reason });
  }

  private supervisorContext(container: V1Container) {
    return {
      podName: this.pod.metadata?.name ?? '',
      podIp: this.facts.podIp,
      restartPolicy: this.pod.spec?.restartPolicy ?? 'Always',
      logFile: join(this.dir, `${container.name}.log`),
      pidFile: join(this.dir, `${container.name}.pid`),
      prepare: (spec: V1Container) => this.prepareLaunch(spec),
      onChange: () => this.requestStatus(),
      log: (message: string, fields?: Record<string, unknown>) => this.deps.log(message, { pod: this.name, ...fields }),
    };
  }

  private async prepareLaunch(container: V1Container): Promise<ContainerLaunch> {
    const image = container.image ?? '';
    const command = commandForImage(image, this.deps.repo);
    if (command === undefined) {
      throw new ImageNotRunnableError(
        `the lab kubelet cannot run image "${image}": it runs only bgswitch/reference-consumer and bgswitch/switch-sidecar images`,
      );
    }
    const env = await resolveContainerEnv(this.pod, container, this.facts, this.deps.objects);
    await this.ensureSandbox(container.name);
    return {
      netns: this.network.netns,
      // `command` (the entrypoint) is the image's own; `args` are passed to it as a runtime does.
      argv: [...command, ...(container.args ?? [])],
      env,
      mounts: this.mountsOf(container),
      workingDir: container.workingDir ?? '/',
      logFile: join(this.dir, `${container.name}.log`),
    };
  }

  /**
   * Recreates the pod's network if something removed it or its bridge (e.g. `lab down` while this
   * kubelet ran), like the kubelet recreates a dead sandbox: the pod's other containers are
   * restarted into the new namespace. One check at a time per pod.
   */
  private ensureSandbox(starting: string): Promise<void> {
    this.sandboxCheck ??= (async () => {
      if (await podNetworkIntact(this.network)) return;
      this.deps.log('pod network is gone or detached from the bridge; recreating it', { pod: this.name });
      await ensureLabBridge();
      await createPodNetwork(this.network, this.facts.podIp);
      for (const supervisor of this.supervisors) {
        if (supervisor.spec.name !== starting) void supervisor.restart('pod network namespace recreated', this.deps.graceCapMs);
      }
    })().finally(() => {
      this.sandboxCheck = undefined;
    });
    return this.sandboxCheck;
  }

  private mountsOf(container: V1Container): Mount[] {
    return (container.volumeMounts ?? []).map((volumeMount) => {
      const volume = this.pod.spec?.volumes?.find((candidate) => candidate.name === volumeMount.name);
      if (volume === undefined) {
        throw new ContainerConfigError(`volumeMount '${volumeMount.name}' names no volume of the pod`);
      }
      const base = this.volumes.hostPath(volume);
      return {
        hostPath: volumeMount.subPath ? join(base, volumeMount.subPath) : base,
        mountPath: volumeMount.mountPath,
        readOnly: volumeMount.readOnly === true,
      };
    });
  }

  private requestStatus(): void {
    if (this.closed || this.statusTimer !== undefined) return;
    this.statusTimer = setTimeout(() => {
      this.statusTimer = undefined;
      void this.flushStatus();
    }, STATUS_DEBOUNCE_MS);
  }

  /** Writes the current status if it differs from the last one written; one write at a time. */
  private flushStatus(): Promise<void> {
    this.statusWrite = this.statusWrite.then(async () => {
      if (this.closed) return;
      const status = this.currentStatus();
      const serialized = JSON.stringify(status);
      if (serialized === this.lastWrittenStatus) return;
      try {
        await this.deps.writeStatus(this.pod, status);
        this.lastWrittenStatus = serialized;
      } catch (error) {
        this.deps.log('pod status write failed, retrying', { pod: this.name, error: (error as Error).message });
        setTimeout(() => this.requestStatus(), 1000);
      }
    });
    return this.statusWrite;
  }

  private currentStatus(): V1PodStatus {
    const blocked = this.blocked;
    const containerStatuses = this.supervisors.map((supervisor) => {
      const status = supervisor.status();
      return blocked === undefined ? status : { ...status, state: { waiting: blocked } };
    });
    const containersReady = this.supervisors.length > 0 && this.supervisors.every((supervisor) => supervisor.isReady);
    const owned = [
      this.condition('PodReadyToStartContainers', this.networkReady),
      this.condition('Initialized', true),
      this.condition('ContainersReady', containersReady, containersReady ? undefined : 'ContainersNotReady'),
      this.condition('Ready', containersReady, containersReady ? undefined : 'ContainersNotReady'),
    ];
    const foreign = (this.pod.status?.conditions ?? []).filter((condition) => !OWNED_CONDITIONS.includes(condition.type));
    return {
      phase: this.phase(),
      conditions: [...foreign, ...owned],
      hostIP: this.facts.hostIp,
      hostIPs: [{ ip: this.facts.hostIp }],
      podIP: this.facts.podIp,
      podIPs: [{ ip: this.facts.podIp }],
      startTime: this.startTime,
      containerStatuses,
    };
  }

  private condition(type: string, isTrue: boolean, reason?: string): V1PodCondition {
    const status = isTrue ? 'True' : 'False';
    const previous = this.conditionTimes.get(type);
    const time = previous !== undefined && previous.status === status ? previous.time : new Date();
    this.conditionTimes.set(type, { status, time });
    return { type, status, lastTransitionTime: time, ...(reason === undefined ? {} : { reason }) };
  }

  /** The kubelet's phase rule: Pending while a container never ran, Running while any runs or restarts. */
  private phase(): string {
    if (this.blocked !== undefined || this.supervisors.some((supervisor) => supervisor.neverRan)) return 'Pending';
    const finalCodes = this.supervisors.map((supervisor) => supervisor.finalExitCode);
    if (finalCodes.some((code) => code === undefined)) return 'Running';
    return finalCodes.every((code) => code === 0) ? 'Succeeded' : 'Failed';
  }
}

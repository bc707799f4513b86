/**
 * One container of a pod over its whole life: start it, probe it, restart it after it exits (per the
 * pod's restartPolicy, with a capped doubling back-off), and stop it on request. It keeps the
 * state the kubelet reports in `containerStatuses` and the `<container>.pid` file current, and
 * appends one `{"event":"exit",...}` line to the container's log after every run.
 *
 * Guarantees: at most one process per container at a time; after `stop()` resolves no process of
 * this container is left and none will be started. Not supported: startupProbe, lifecycle hooks.
 */
import type { V1Container, V1ContainerStatus, V1ContainerState } from '@kubernetes/client-node';
import { appendFileSync, rmSync, writeFileSync } from 'node:fs';
import { constants } from 'node:os';
import { performance } from 'node:perf_hooks';
import { ContainerConfigError } from './field-ref.js';
import { isSupportedProbe, ProbeLoop } from './probes.js';
import { launchContainer, signalContainer, type ContainerLaunch, type ContainerProcess, type ProcessExit } from './process.js';

export const INITIAL_BACKOFF_MS = 500;
export const MAX_BACKOFF_MS = 10_000;
/** A run this long resets the back-off (the kubelet uses 10 minutes; the lab wants fast recovery). */
const BACKOFF_RESET_AFTER_MS = 10_000;
/** Retry period while a container cannot be created or started. */
const RUN_RETRY_MS = 2000;
/** Grace period of a liveness kill (the kubelet uses the pod's; capped like every lab grace period). */
const LIVENESS_KILL_GRACE_MS = 5000;

/** Thrown by `prepare` when the image is not one the lab can run. */
export class ImageNotRunnableError extends ContainerConfigError {}

export interface SupervisorContext {
  podName: string;
  podIp: string;
  restartPolicy: string;
  logFile: string;
  pidFile: string;
  /** Builds the launch (env, mounts...) right before each start, as the kubelet resolves env per start. */
  prepare(container: V1Container): Promise<ContainerLaunch>;
  /** Called after every change of the reported state. */
  onChange(): void;
  log(message: string, fields?: Record<string, unknown>): void;
}

interface Terminated {
  exitCode: number;
  signal: NodeJS.Signals | null;
  reason: string;
  startedAt: Date;
  finishedAt: Date;
  containerID: string;
}

type State =
  | { kind: 'waiting'; reason: string; message?: string }
  | { kind: 'running'; startedAt: Date; pid: number }
  | ({ kind: 'terminated' } & Terminated);

export class ContainerSupervisor {
  private state: State = { kind: 'waiting', reason: 'ContainerCreating' };
  private lastTerminated: Terminated | undefined;
  private restartCount: number;
  private ready = false;
  private process: ContainerProcess | undefined;
  private probes: ProbeLoop[] = [];
  private stopping = false;
  private wake: () => void = () => {};
  private loop: Promise<void> = Promise.resolve();
  private backoffMs = INITIAL_BACKOFF_MS;

  constructor(
    readonly spec: V1Container,
    private readonly context: SupervisorContext,
    previousRestartCount = 0,
  ) {
    this.restartCount = previousRestartCount;
  }

  start(): void {
    this.loop = this.run();
  }

  /** SIGTERM, then SIGKILL after `graceMs`; resolves once the process is gone and the loop has ended. */
  async stop(graceMs: number): Promise<void> {
    this.stopping = true;
    this.wake();
    await this.terminateProcess(graceMs);
    await this.loop;
  }

  /** Kills the running process (liveness failure, new sandbox); the restart loop then starts it again. */
  async restart(why: string, graceMs: number): Promise<void> {
    if (this.process === undefined) return;
    this.context.log(`${why}, restarting container`, { container: this.spec.name });
    await this.terminateProcess(graceMs);
  }

  private async terminateProcess(graceMs: number): Promise<void> {
    const running = this.process;
    if (running === undefined) return;
    signalContainer(running.pid, 'SIGTERM');
    let timer: NodeJS.Timeout | undefined;
    const gone = await Promise.race([
      running.exited.then(() => true),
      new Promise<false>((resolve) => (timer = setTimeout(() => resolve(false), graceMs))),
    ]);
    clearTimeout(timer);
    if (!gone) signalContainer(running.pid, 'SIGKILL');
    await running.exited;
  }

  status(): V1ContainerStatus {
    const current = this.state;
    const status: V1ContainerStatus = {
      name: this.spec.name,
      image: this.spec.image ?? '',
      imageID: `lab://${this.spec.image ?? ''}`,
      ready: this.ready,
      started: current.kind === 'running',
      restartCount: this.restartCount,
      state: this.stateJson(current),
      lastState: this.lastTerminated === undefined ? {} : this.stateJson({ kind: 'terminated', ...this.lastTerminated }),
    };
    const containerID =
      current.kind === 'running' ? `lab://${current.pid}` : (current.kind === 'terminated' ? current : this.lastTerminated)?.containerID;
    if (containerID !== undefined) status.containerID = containerID;
    return status;
  }

  /** Whether the container has never run yet (it keeps the pod Pending). */
  get neverRan(): boolean {
    return this.lastTerminated === undefined && this.state.kind === 'waiting';
  }

  /** The final exit code once the container will not be restarted, else undefined. */
  get finalExitCode(): number | undefined {
    return this.state.kind === 'terminated' ? this.state.exitCode : undefined;
  }

  get isReady(): boolean {
    return this.ready;
  }

  private stateJson(state: State): V1ContainerState {
    switch (state.kind) {
      case 'waiting':
        return { waiting: state.message === undefined ? { reason: state.reason } : { reason: state.reason, message: state.message } };
      case 'running':
        return { running: { startedAt: state.startedAt } };
      case 'terminated':
        return {
          terminated: {
            exitCode: state.exitCode,
            ...(state.signal === null ? {} : { signal: constants.signals[state.signal] }),
            reason: state.reason,
            startedAt: state.startedAt,
            finishedAt: state.finishedAt,
            containerID: state.containerID,
          },
        };
    }
  }

  private setState(state: State): void {
    this.state = state;
    this.context.onChange();
  }

  private async run(): Promise<void> {
    while (!this.stopping) {
      let launch: ContainerLaunch;
      try {
        launch = await this.context.prepare(this.spec);
      } catch (error) {
        if (error instanceof ImageNotRunnableError) {
          this.setState({ kind: 'waiting', reason: 'ErrImagePull', message: error.message });
          return;
        }
        const reason = error instanceof ContainerConfigError ? 'CreateContainerConfigError' : 'CreateContainerError';
        this.setState({ kind: 'waiting', reason, message: (error as Error).message });
        await this.sleep(RUN_RETRY_MS);
        continue;
      }
      if (this.stopping) break;
      if (this.lastTerminated !== undefined) this.restartCount++;
      let terminated: Terminated;
      try {
        terminated = await this.runOnce(launch);
      } catch (error) {
        this.setState({ kind: 'waiting', reason: 'RunContainerError', message: (error as Error).message });
        await this.sleep(RUN_RETRY_MS);
        continue;
      }
      if (this.stopping || !this.shouldRestart(terminated.exitCode)) {
        this.setState({ kind: 'terminated', ...terminated });
        return;
      }
      this.lastTerminated = terminated;
      const ranMs = terminated.finishedAt.getTime() - terminated.startedAt.getTime();
      if (ranMs >= BACKOFF_RESET_AFTER_MS) this.backoffMs = INITIAL_BACKOFF_MS;
      const delay = this.backoffMs;
      this.backoffMs = Math.min(this.backoffMs * 2, MAX_BACKOFF_MS);
      this.setState({
        kind: 'waiting',
        reason: 'CrashLoopBackOff',
        message: `back-off ${delay}ms restarting failed container=${this.spec.name} pod=${this.context.podName}`,
      });
      await this.sleep(delay);
    }
  }

  private async runOnce(launch: ContainerLaunch): Promise<Terminated> {
    const startedAt = new Date();
    const running = launchContainer(launch);
    this.process = running;
    writeFileSync(this.context.pidFile, `${running.pid}\n`);
    this.ready = this.spec.readinessProbe === undefined || !isSupportedProbe(this.spec.readinessProbe);
    this.startProbes();
    this.setState({ kind: 'running', startedAt, pid: running.pid });
    this.context.log('container started', { container: this.spec.name, pid: running.pid });

    const exit = await running.exited;
    const finishedAt = new Date();
    this.stopProbes();
    this.process = undefined;
    this.ready = false;
    rmSync(this.context.pidFile, { force: true });
    this.appendExitEvent(exit);
    const exitCode = exitCodeOf(exit);
    this.context.log('container exited', { container: this.spec.name, pid: running.pid, code: exitCode, signal: exit.signal });
    return {
      exitCode,
      signal: exit.signal,
      reason: exitCode === 0 ? 'Completed' : 'Error',
      startedAt,
      finishedAt,
      containerID: `lab://${running.pid}`,
    };
  }

  private shouldRestart(exitCode: number): boolean {
    if (this.context.restartPolicy === 'Never') return false;
    if (this.context.restartPolicy === 'OnFailure') return exitCode !== 0;
    return true;
  }

  private startProbes(): void {
    const ports = this.spec.ports ?? [];
    const { readinessProbe, livenessProbe } = this.spec;
    if (readinessProbe !== undefined && isSupportedProbe(readinessProbe)) {
      this.probes.push(
        new ProbeLoop(readinessProbe, this.context.podIp, ports, false, (healthy) => {
          this.ready = healthy;
          this.context.onChange();
        }),
      );
    }
    if (livenessProbe !== undefined && isSupportedProbe(livenessProbe)) {
      this.probes.push(
        new ProbeLoop(livenessProbe, this.context.podIp, ports, true, (healthy) => {
          if (!healthy) void this.restart('liveness probe failed', LIVENESS_KILL_GRACE_MS);
        }),
      );
    }
    for (const probe of [readinessProbe, livenessProbe]) {
      if (probe !== undefined && !isSupportedProbe(probe)) {
        this.context.log('probe type not supported by the lab kubelet; ignored', { container: this.spec.name });
      }
    }
  }

  private stopProbes(): void {
    for (const probe of this.probes) probe.stop();
    this.probes = [];
  }

  private appendExitEvent(exit: ProcessExit): void {
    const event = {
      event: 'exit',
      by: 'lab-kubelet',
      pod: this.context.podName,
      container: this.spec.name,
      code: exitCodeOf(exit),
      signal: exit.signal,
      at: performance.timeOrigin + performance.now(),
    };
    appendFileSync(this.context.logFile, `${JSON.stringify(event)}\n`);
  }

  /** Waits `ms`, or less if `stop()` is called meanwhile. */
  private sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const timer = setTimeout(resolve, ms);
      this.wake = () => {
        clearTimeout(timer);
        resolve();
      };
    });
  }
}

/** The exit code the kubelet reports: the process's own, or 128 + signal number when signalled. */
function exitCodeOf(exit: ProcessExit): number {
  return exit.code ?? 128 + (exit.signal === null ? 0 : constants.signals[exit.signal]);
}

/**
 * A simulated installation for the model explorer: the in-memory cluster (test/support/memory-cluster.ts),
 * the simulated consumers (test/support/memory-fleet.ts), one REAL sidecar Reconciler per pod and any
 * number of REAL switch runs (src/core/switch.ts), all connected through a network the scheduler
 * controls.
 *
 * The network: every pod call a CLI makes (lifecycle, status, readiness, faults, the signed push to
 * the sidecar) and every call a sidecar makes to its consumer is a message that waits in `pending`
 * until the scheduler delivers it (in any order), loses it (request lost: never applied; reply lost:
 * applied, the caller sees an error), or it times out. Model assumption (docs/safety.md): a message
 * is applied within its caller's timeout or never — `MAX_CLI_DELAY_MS` for the CLI (its request
 * timeout; a lifecycle call's own, shorter timeout when the switch bounds it by its lock),
 * `MAX_SIDECAR_DELAY_MS` for the sidecar's calls to its own consumer. A call its caller aborts (a
 * resume cancelled because the lock was lost) answers at once but stays on the wire until its
 * timeout: it may already have left.
 *
 * Each pod's sidecar runs the daemon's loop (seed from the API server, then reconcile every
 * RECONCILE_INTERVAL_MS of virtual time); the schedule can add ticks in between. Its file source is
 * a copy of some earlier version of the state ConfigMap (the kubelet's refresh lags by as much as the
 * schedule wants, but never goes backwards); its API source reads the in-memory cluster (down when
 * the cluster is); its API watch delivers the ConfigMap's versions in order, annotations included,
 * whenever the schedule says (`watch`: lagging as much as it wants, or never); its generation store survives a sidecar restart but not a pod deletion (emptyDir).
 * A dead CLI or sidecar never hears back: messages it sent may still be applied, like requests
 * already on the wire. A push may also stall past its sender's timeout and arrive later (the one
 * exception to the delay bound: pushes are fenced by generation, and the sidecar refuses a signature
 * older than MAX_CLOCK_SKEW_MS).
 * CLIs run with any --force / --soak, may be cut off from the API server on their own, may run on a
 * clock ahead of the cluster's (it judges the Lease's expiry), and may be frozen (SIGSTOP, a laptop
 * suspended) and thawed later: while frozen nothing it awaits comes back to it (answers from the
 * cluster and the pods, its timers), so it sends nothing and renews nothing, while time runs on;
 * requests it sent before stay on the wire. A freeze can be armed to strike the moment the CLI
 * starts a given step, i.e. right after that step's synchronous start (its lock check) and before
 * anything it awaits. `inject-fault` runs alongside.
 * A colour may be scaled up (`addPod`): a new pod, its consumer PAUSED, its sidecar started on the
 * current file, with no pod key until a switch writes one, so its colour key drives it (the seed has
 * both, as `bgswitch init` and a first switch to blue leave them).
 * Not modelled: scaling down, pods without IP, Kubernetes readiness, a CLI stopped inside synchronous
 * code (between computing a call's bounded timeout and writing it), lifecycle calls arriving after
 * their sender's timeout (docs/safety.md, "Not covered").
 */
import { BgswitchError, PodUnreachableError } from '../../src/shared/errors.js';
import { ClusterUnreachableError } from '../../src/core/errors.js';
import { injectFault, type FaultReport, type FaultRequest } from '../../src/core/faults.js';
import type { Clock } from '../../src/shared/clock.js';
import type { Cluster, PodAgent, PodInfo } from '../../src/core/ports.js';
import { runSwitch, type SwitchReport, type SwitchRequest } from '../../src/core/switch.js';
import { switchWording } from '../../src/render/switch-wording.js';
import type { OperationKind } from '../../src/core/operation.js';
import { GENERATION_ANNOTATION, encodeEntry } from '../../src/shared/desired-state.js';
import { MAX_CLOCK_SKEW_MS } from '../../src/shared/push-signature.js';
import { COLORS, type Color, type Lifecycle } from '../../src/shared/model.js';
import { Reconciler, type ConsumerPort, type GenerationStore, type StateDataSource } from '../../sidecar/reconciler.js';
import type { Logger } from '../../sidecar/log.js';
import { Journal } from '../support/journal.js';
import { MemoryCluster } from '../support/memory-cluster.js';
import { MemoryFleet } from '../support/memory-fleet.js';
import { ACTOR, NAMES, killable } from '../support/switch-world.js';
import type { ProgressEvent } from '../../src/core/events.js';
import { ModelClock, settle } from './clock.js';

/** At most the protocol's lock margin (min(5 s, lease / 3)) for the 15 s lease used here. */
export const MAX_CLI_DELAY_MS = 5_000;
/** The sidecar's default per-call timeout towards its consumer (sidecar/config.ts). */
export const MAX_SIDECAR_DELAY_MS = 3_000;
export const LEASE_MS = 15_000;
/** The sidecar daemon's reconcile period in the model (the daemon's loop, sidecar/daemon.ts). */
export const RECONCILE_INTERVAL_MS = 1_000;

/** Who sent a message; a dead origin never hears the answer, a frozen one only once thawed. */
interface Origin {
  name: string;
  alive: boolean;
  /** While frozen: the answers and wake-ups held until the thaw. */
  held?: Array<() => void>;
}

/** `deliver` now, or once `origin` thaws if it is frozen. */
function whenRunning(origin: Origin, deliver: () => void): void {
  if (origin.held) origin.held.push(deliver);
  else deliver();
}

/** `promise`'s outcome, handed to `origin` only while it runs. */
function heldFor<T>(origin: Origin, promise: Promise<T>): Promise<T> {
  return new Promise<T>((resolve, reject) =>
    promise.then(
      (value) => whenRunning(origin, () => resolve(value)),
      (error: unknown) => whenRunning(origin, () => reject(error)),
    ),
  );
}

/** A phase as the progress events name it, e.g. "resume" or "rollback:verify-paused". */
export type PhaseKey = string;

export function phaseKey(phase: { name: string; rollback: boolean }): PhaseKey {
  return `${phase.rollback ? 'rollback:' : ''}${phase.name}`;
}

export interface Message {
  id: number;
  origin: Origin;
  pod: string;
  op: string;
  /** A signed L2 push: the only message that may arrive after its sender gave up (see stall()). */
  push: boolean;
  sentAt: number;
  deadline: number;
  apply: () => Promise<unknown>;
  /** Answers the sender once; later answers (a stalled push's late delivery) are dropped. */
  answer: (outcome: { ok: true; value: unknown } | { ok: false; error: unknown }) => void;
}

export interface CliOptions {
  request?: Partial<SwitchRequest>;
  /** How far this CLI's clock is ahead of the cluster's (negative: behind); judges the Lease's expiry. */
  skewMs?: number;
}

export interface CliRun {
  index: number;
  holder: string;
  target: Color;
  kind: OperationKind;
  force: boolean;
  skewMs: number;
  origin: Origin;
  /** While true, this CLI's calls to the API server fail (its own network to it is cut); pods still answer. */
  apiCut: boolean;
  /** Freeze the CLI the moment it starts this step (see freeze()). */
  freezeAt?: PhaseKey;
  /** Times the CLI was thawed after another CLI had taken its lock over. */
  thawedAfterTakeover: number;
  kill: () => void;
  done: boolean;
  /** Cluster time the run ended. */
  finishedAt?: number;
  report?: SwitchReport;
  error?: unknown;
  progress: ProgressEvent[];
}

/** An `inject-fault` invocation running alongside the switches. */
export interface FaultRun {
  index: number;
  target: string;
  /** A switch was running when it started. */
  alongsideSwitch: boolean;
  kill: () => void;
  done: boolean;
  report?: FaultReport;
  error?: unknown;
}

interface SimPod {
  info: PodInfo;
  sidecar: Reconciler;
  sidecarOrigin: Origin;
  /** emptyDir: kept across sidecar restarts, lost with the pod. */
  generations: { value: number };
  /** Index into stateVersions() of what the mounted file shows. */
  fileVersion: number;
  /** Index into stateVersions() of the last version its API watch delivered. */
  watchVersion: number;
  /** The sidecar container is not running: pushes fail, no ticks. */
  sidecarDown: boolean;
  /** The CLI cannot reach this sidecar (its port is partitioned off); the sidecar itself runs on. */
  partitioned: boolean;
  /** The CLI cannot reach this pod at all (consumer and sidecar); the pod itself runs on. */
  cutOff: boolean;
}

/** One version of the state ConfigMap, as written. */
export interface StateVersion {
  data: Record<string, string>;
  annotations: Record<string, string>;
}

const quietLog: Logger = { info: () => {}, warn: () => {}, error: () => {} };

function podInfo(name: string, color: Color): PodInfo {
  return { name, color, phase: 'Running', ready: true, ip: `10.77.0.${color === 'blue' ? 10 : 60}`, restarts: 0, terminating: false };
}

export class ModelWorld {
  readonly clock = new ModelClock();
  readonly journal = new Journal(this.clock);
  readonly cluster = new MemoryCluster(this.clock, this.journal);
  readonly fleet: MemoryFleet;
  readonly pending: Message[] = [];
  /** Pushes held up on the wire past their sender's timeout; deliverable until the signature expires. */
  readonly stalled: Message[] = [];
  readonly clis: CliRun[] = [];
  readonly faultRuns: FaultRun[] = [];
  /** Stalled pushes that reached their sidecar after their sender had timed out. */
  latePushes = 0;
  /** Watch deliveries a sidecar took while the ConfigMap recorded a CLI switch (left to its tick). */
  recordedSwitchDeliveries = 0;
  readonly pods = new Map<string, SimPod>();
  /** In recovery every message is delivered at once. */
  autoDeliver = false;
  private messages = 0;
  private readonly versions: StateVersion[];
  private journalRead = 0;

  /** Pods per colour now: podsPerColor, plus those added by scaling up. */
  private readonly podCounts: Record<Color, number>;
  /** Pods added while some CLI was running. */
  addedMidSwitch = 0;

  constructor(
    drainMs: number,
    readonly podsPerColor: number,
  ) {
    this.fleet = new MemoryFleet(this.clock, this.journal, drainMs);
    this.podCounts = { blue: podsPerColor, green: podsPerColor };
    const data: Record<string, string> = {};
    for (const color of COLORS) {
      for (const name of this.podNames(color)) {
        const active = color === 'blue';
        this.cluster.seedPod(podInfo(name, color));
        this.fleet.addConsumer(name, color, { state: active ? 'ACTIVE' : 'PAUSED' });
        data[name] = encodeEntry({ lifecycle: active ? 'ACTIVE' : 'PAUSED', generation: 1 });
      }
      data[color] = encodeEntry({ lifecycle: color === 'blue' ? 'ACTIVE' : 'PAUSED', generation: 1 });
    }
    const seedVersion = { data, annotations: { [GENERATION_ANNOTATION]: '1' } };
    this.versions = [seedVersion];
    this.cluster.seedConfigMap(NAMES.stateConfigMap, data, seedVersion.annotations);
    this.cluster.seedConfigMap(NAMES.activeConfigMap, { active: 'blue' });
    const longAgo = new Date(this.clock.now() - 3_600_000);
    this.cluster.seedLease({
      name: NAMES.lease,
      holderIdentity: 'blue',
      leaseDurationSeconds: 15,
      acquireTime: longAgo,
      renewTime: longAgo,
      leaseTransitions: 1,
    });
  }

  /** Starts one sidecar per pod, each seeded and reconciled once (the installation at rest). */
  async start(): Promise<void> {
    for (const color of COLORS) {
      for (const name of this.podNames(color)) await this.startPod(name, color);
    }
    this.autoDeliver = true;
    // The daemon loops' first reconciles may already wait on messages sent before this.
    for (const message of [...this.pending]) this.deliver(message);
    for (const pod of this.pods.values()) await pod.sidecar.reconcile();
    this.autoDeliver = false;
  }

  /** Every version the state ConfigMap had, oldest first (the seed, then each successful write). */
  stateVersions(): readonly StateVersion[] {
    // Kept up to date from the journal's new entries only: every sidecar's file read asks for it.
    const entries = this.journal.entries;
    for (; this.journalRead < entries.length; this.journalRead++) {
      const e = entries[this.journalRead]!;
      if (e.source === 'cluster' && e.op === 'write-configmap' && e.name === NAMES.stateConfigMap && e.ok)
        this.versions.push(e.detail as StateVersion);
    }
    return this.versions;
  }

  // The network ---------------------------------------------------------------------------------
  private send<T>(origin: Origin, pod: string, op: string, maxDelayMs: number, apply: () => Promise<T>, push = false): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      let answered = false;
      const message: Message = {
        id: ++this.messages,
        origin,
        pod,
        op,
        push,
        sentAt: this.clock.now(),
        deadline: this.clock.now() + maxDelayMs,
        apply,
        answer: (outcome) => {
          if (answered || !origin.alive) return;
          answered = true;
          whenRunning(origin, () => {
            if (!origin.alive) return;
            if (outcome.ok) resolve(outcome.value as T);
            else reject(outcome.error);
          });
        },
      };
      if (this.autoDeliver) this.deliver(message);
      else this.pending.push(message);
    });
  }

  /** Applies the message at the pod and answers the sender with the result. */
  deliver(message: Message): void {
    this.take(message);
    message.apply().then(
      (value) => message.answer({ ok: true, value }),
      (error: unknown) => message.answer({ ok: false, error }),
    );
  }

  /** The message is lost: the request before it arrived (`applied` false) or the reply after it did. */
  lose(message: Message, applied: boolean): void {
    this.take(message);
    if (applied) message.apply().catch(() => {});
    message.answer({
      ok: false,
      error: new PodUnreachableError(message.pod, `${message.pod}: ${message.op}: connection reset (simulated)`),
    });
  }

  /**
   * A push held up on the wire (TCP retransmitting through a flaky link): its sender times out at
   * its deadline as usual, but the request may still arrive later (deliverLate), after newer
   * generations were pushed. Only pushes: they are fenced by generation and signature age, lifecycle
   * calls are not (docs/safety.md, "Not covered").
   */
  stall(message: Message): void {
    this.take(message);
    this.stalled.push(message);
  }

  /** A stalled push arrives; the sidecar refuses it (401) once its signature is older than the allowed skew. */
  deliverLate(message: Message): void {
    this.stalled.splice(this.stalled.indexOf(message), 1);
    if (this.clock.now() - message.sentAt > MAX_CLOCK_SKEW_MS) {
      message.answer({
        ok: false,
        error: new PodUnreachableError(
          message.pod,
          `${message.pod}: ${message.op}: sidecar answered 401 (timestamp outside the allowed clock skew)`,
        ),
      });
      return;
    }
    if (this.clock.now() > message.deadline) this.latePushes++;
    this.deliver(message);
  }

  /**
   * The network behaves for up to `maxMs` of virtual time: every message is delivered, one at a
   * time, and time jumps to the next sleeper whenever nothing is on the wire. Stops as soon as
   * `reached()` holds after a step, so the schedule's next event lands right there.
   */
  async runUntil(reached: () => boolean, maxMs: number): Promise<void> {
    const end = this.clock.now() + maxMs;
    for (let step = 0; step < 5_000 && !reached(); step++) {
      const message = this.pending[0];
      if (message) {
        this.deliver(message);
        await settle();
        continue;
      }
      const next = this.clock.nextWakeAt();
      if (next === undefined || next > end) return this.advance(Math.max(0, end - this.clock.now()));
      await this.advance(next - this.clock.now());
    }
  }

  /** Delivers everything pending, then whatever that caused, until nothing new is sent (bounded). */
  async flush(): Promise<void> {
    for (let round = 0; round < 50 && this.pending.length > 0; round++) {
      for (const message of [...this.pending]) this.deliver(message);
      await settle();
    }
  }

  /** Advances virtual time; a message still pending past its deadline timed out, unapplied. */
  async advance(ms: number): Promise<void> {
    await this.clock.advanceTo(this.clock.now() + ms, (now) => {
      const timedOut = (message: Message) => new PodUnreachableError(message.pod, `${message.pod}: ${message.op}: timed out (simulated)`);
      for (const message of this.pending.filter((m) => m.deadline < now)) {
        this.take(message);
        message.answer({ ok: false, error: timedOut(message) });
      }
      for (const message of this.stalled.filter((m) => m.deadline < now)) message.answer({ ok: false, error: timedOut(message) });
    });
  }

  private take(message: Message): void {
    const index = this.pending.indexOf(message);
    if (index >= 0) this.pending.splice(index, 1);
  }

  // CLIs ----------------------------------------------------------------------------------------
  startCli(target: Color, kind: OperationKind, options: CliOptions = {}): CliRun {
    const index = this.clis.length + 1;
    const holder = `${ACTOR}/${index}/model`;
    const origin: Origin = { name: `cli-${index}`, alive: true };
    const progress: ProgressEvent[] = [];
    const request = options.request ?? {};
    let ids = 0;
    const skewMs = options.skewMs ?? 0;
    const clock: Clock = { now: () => this.clock.now() + skewMs, sleep: (ms, signal) => heldFor(origin, this.clock.sleep(ms, signal)) };
    const base = {
      cluster: this.clusterFor(() => run.apiCut, origin),
      pods: this.agentFor(origin),
      clock,
      names: NAMES,
      holder,
      actor: ACTOR,
      newId: () => `cli-${index}-op-${++ids}`,
      emit: (event: ProgressEvent) => {
        progress.push(event);
        if (event.type === 'phase-start' && run.freezeAt === phaseKey(event.phase)) {
          delete run.freezeAt;
          this.freeze(run);
        }
      },
      wording: switchWording,
    };
    const frozen = killable(base);
    const run: CliRun = {
      index,
      holder,
      target,
      kind,
      force: request.force ?? false,
      skewMs,
      origin,
      apiCut: false,
      thawedAfterTakeover: 0,
      progress,
      done: false,
      kill: () => {
        frozen.kill();
        origin.alive = false;
      },
    };
    this.clis.push(run);
    runSwitch(frozen.context, {
      target,
      kind,
      force: false,
      dryRun: false,
      drainTimeoutMs: 4_000,
      verifyTimeoutMs: 4_000,
      soakMs: 0,
      pollIntervalMs: 250,
      leaseDurationMs: LEASE_MS,
      ...request,
    }).then(
      (report) => Object.assign(run, { done: true, finishedAt: this.clock.now(), report }),
      (error: unknown) => Object.assign(run, { done: true, finishedAt: this.clock.now(), error }),
    );
    return run;
  }

  /** The CLI process stops (SIGSTOP): nothing it awaits reaches it until thaw(); time runs on. */
  freeze(cli: CliRun): void {
    cli.origin.held ??= [];
  }

  /** The CLI process continues (SIGCONT): what it missed reaches it now, in order. */
  thaw(cli: CliRun): void {
    const held = cli.origin.held;
    if (!held) return;
    delete cli.origin.held;
    if (this.cluster.peekLease(NAMES.lease)?.holderIdentity !== cli.holder && !cli.done) cli.thawedAfterTakeover++;
    for (const deliver of held) deliver();
  }

  /** `bgswitch inject-fault <target> ...` started now, alongside whatever switch is running. */
  startFault(target: string, change: FaultRequest['change']): FaultRun {
    const index = this.faultRuns.length + 1;
    const origin: Origin = { name: `inject-fault-${index}`, alive: true };
    const frozen = killable({
      cluster: this.cluster,
      pods: this.agentFor(origin),
      clock: this.clock,
      names: NAMES,
      holder: origin.name,
      actor: ACTOR,
      newId: () => origin.name,
      emit: () => {},
      wording: switchWording,
    });
    const run: FaultRun = {
      index,
      target,
      alongsideSwitch: this.clis.some((cli) => !cli.done && cli.origin.alive),
      done: false,
      kill: () => {
        frozen.kill();
        origin.alive = false;
      },
    };
    this.faultRuns.push(run);
    injectFault(frozen.context, { target, change, timeoutMs: 4_000, pollIntervalMs: 250, dryRun: false }).then(
      (report) => Object.assign(run, { done: true, report }),
      (error: unknown) => Object.assign(run, { done: true, error }),
    );
    return run;
  }

  /**
   * The cluster as one CLI reaches it: unreachable for that CLI alone while `cut()` says so; a call
   * made while the CLI is frozen (the step it was frozen in) is answered once it thaws.
   */
  private clusterFor(cut: () => boolean, origin: Origin): Cluster {
    return new Proxy(this.cluster, {
      get(target, property, receiver) {
        const value = Reflect.get(target, property, receiver) as unknown;
        if (typeof value !== 'function') return value;
        return (...args: unknown[]) => {
          const result = cut()
            ? Promise.reject(new ClusterUnreachableError('connect ETIMEDOUT: this CLI cannot reach the API server (simulated)'))
            : (value as (...a: unknown[]) => Promise<unknown>).apply(target, args);
          return origin.held ? heldFor(origin, result) : result;
        };
      },
    });
  }

  /**
   * The CLI's PodAgent: every call a message on the network. A lifecycle call given a timeout (the
   * switch's lock bound) is applied within it or never; one whose signal is already aborted is not
   * sent, and one aborted on the wire answers at once (the request may still land, see send()).
   */
  private agentFor(origin: Origin): PodAgent {
    const call = <T>(pod: PodInfo, op: string, apply: () => Promise<T>, push = false, timeoutMs = MAX_CLI_DELAY_MS) =>
      this.send(
        origin,
        pod.name,
        `${origin.name} ${op}`,
        Math.min(MAX_CLI_DELAY_MS, timeoutMs),
        async () => {
          if (this.pod(pod.name).cutOff) throw new PodUnreachableError(pod.name, `${pod.name}: ${op}: connect EHOSTUNREACH (simulated)`);
          return apply();
        },
        push,
      );
    const abortable = <T>(signal: AbortSignal | undefined, sent: () => Promise<T>): Promise<T> => {
      if (!signal) return sent();
      if (signal.aborted) return Promise.reject(signal.reason);
      return new Promise<T>((resolve, reject) => {
        const onAbort = () => reject(signal.reason);
        signal.addEventListener('abort', onAbort, { once: true });
        sent()
          .then(resolve, reject)
          .finally(() => signal.removeEventListener('abort', onAbort));
      });
    };
    return {
      lifecycle: (pod, action, signal, timeoutMs) =>
        abortable(signal, () => call(pod, action, () => this.fleet.lifecycle(pod, action), false, timeoutMs)),
      status: (pod) => call(pod, 'status', () => this.fleet.status(pod)),
      ready: (pod) => call(pod, 'ready', () => this.fleet.ready(pod)),
      getFault: (pod) => call(pod, 'get-fault', () => this.fleet.getFault(pod)),
      setFault: (pod, fault) => call(pod, 'set-fault', () => this.fleet.setFault(pod, fault)),
      sidecarStatus: (pod) => call(pod, 'sidecar-status', async () => this.runningSidecar(pod.name).status()),
      push: (pod, entry) =>
        call(
          pod,
          `push ${entry.lifecycle}@${entry.generation}`,
          async () => {
            const outcome = await this.runningSidecar(pod.name).acceptPush(structuredClone(entry));
            if (!outcome.accepted)
              throw new PodUnreachableError(
                pod.name,
                `${pod.name}: sidecar answered 409 (highest generation ${outcome.highestGeneration})`,
              );
          },
          true,
        ),
    };
  }

  // Pods and sidecars ---------------------------------------------------------------------------
  pod(name: string): SimPod {
    const pod = this.pods.get(name);
    if (!pod) throw new Error(`model: no pod ${name}`);
    return pod;
  }

  podNames(color: Color): string[] {
    return Array.from({ length: this.podCounts[color] }, (_, index) => `consumer-${color}-${index}`);
  }

  get allPods(): string[] {
    return [...this.podNames('blue'), ...this.podNames('green')];
  }

  /**
   * The colour's StatefulSet is scaled up by one (at most `maxAdded` over its start): the new pod's
   * consumer starts PAUSED (the consumer contract), its sidecar on a fresh emptyDir and the file as
   * the ConfigMap is now.
   */
  async addPod(color: Color, maxAdded: number): Promise<void> {
    if (this.podCounts[color] >= this.podsPerColor + maxAdded) return;
    const name = `consumer-${color}-${this.podCounts[color]}`;
    this.podCounts[color] += 1;
    if (this.clis.some((cli) => !cli.done && cli.origin.alive)) this.addedMidSwitch += 1;
    this.cluster.seedPod(podInfo(name, color));
    this.fleet.addConsumer(name, color, { state: 'PAUSED' });
    await this.startPod(name, color);
  }

  private async startPod(name: string, color: Color): Promise<void> {
    const pod = {
      info: podInfo(name, color),
      generations: { value: 0 },
      fileVersion: this.stateVersions().length - 1,
      watchVersion: this.stateVersions().length - 1,
      sidecarOrigin: { name: 'none', alive: false },
      sidecarDown: false,
      partitioned: false,
      cutOff: false,
    } as SimPod;
    this.pods.set(name, pod);
    await this.startSidecar(pod);
  }

  private runningSidecar(name: string): Reconciler {
    const pod = this.pod(name);
    if (pod.sidecarDown || pod.partitioned) throw new PodUnreachableError(name, `${name}: sidecar: connect ECONNREFUSED (simulated)`);
    return pod.sidecar;
  }

  /** The sidecar container stops (crash, OOM): requests it already sent may still land; it hears nothing back. */
  stopSidecar(name: string): void {
    const pod = this.pod(name);
    pod.sidecarDown = true;
    pod.sidecarOrigin.alive = false;
  }

  /** The sidecar container (re)starts: a new process, same emptyDir and mounted file. */
  async restartSidecar(name: string): Promise<void> {
    await this.startSidecar(this.pod(name));
  }

  /** The consumer container restarts: it comes back PAUSED (the consumer contract). */
  restartConsumer(name: string): void {
    this.fleet.setState(name, 'PAUSED');
  }

  /**
   * The pod is deleted and recreated by its StatefulSet: a fresh consumer (PAUSED), a fresh emptyDir
   * (generation 0), the file freshly projected from the current ConfigMap, and messages on the wire
   * to or from the old pod never arrive.
   */
  async recreatePod(name: string): Promise<void> {
    const pod = this.pod(name);
    for (const message of this.pending.filter((m) => m.pod === name)) this.lose(message, false);
    this.fleet.setState(name, 'PAUSED');
    pod.generations = { value: 0 };
    pod.fileVersion = this.stateVersions().length - 1;
    await this.startSidecar(pod);
  }

  /** The kubelet refreshes the mounted file to a newer version (never an older one). */
  refreshFile(name: string, steps: number): void {
    const pod = this.pod(name);
    pod.fileVersion = Math.min(this.stateVersions().length - 1, pod.fileVersion + steps);
  }

  tick(name: string): void {
    const pod = this.pod(name);
    if (!pod.sidecarDown) void pod.sidecar.reconcile();
  }

  /**
   * The sidecar's API watch delivers the next `steps` versions of the state ConfigMap, in order
   * (annotations included: while one records a CLI switch, the sidecar leaves them to its tick). A
   * watch lags as much as the schedule wants, or is down (no `watch` at all), never reorders.
   */
  watch(name: string, steps: number): void {
    const pod = this.pod(name);
    if (pod.sidecarDown) return;
    const versions = this.stateVersions();
    const last = Math.min(versions.length - 1, pod.watchVersion + steps);
    for (let next = pod.watchVersion + 1; next <= last; next++) {
      void pod.sidecar.apiChanged(structuredClone(versions[next]!)).then((status) => {
        if (status.cliOperation) this.recordedSwitchDeliveries++;
      });
    }
    pod.watchVersion = last;
  }

  private async startSidecar(pod: SimPod): Promise<void> {
    pod.sidecarOrigin.alive = false;
    const origin: Origin = { name: `sidecar-${pod.info.name}`, alive: true };
    const info = pod.info;
    const call = <T>(op: string, apply: () => Promise<T>) =>
      this.send(origin, info.name, `${origin.name} ${op}`, MAX_SIDECAR_DELAY_MS, apply);
    const consumer: ConsumerPort = {
      state: () => call('status', async () => (await this.fleet.status(info)).state),
      pause: () => call('pause', async (): Promise<Lifecycle> => (await this.fleet.lifecycle(info, 'pause')).currentState),
      resume: () => call('resume', async (): Promise<Lifecycle> => (await this.fleet.lifecycle(info, 'resume')).currentState),
      getFault: () => call('get-fault', () => this.fleet.getFault(info)),
      setFault: (fault) => call('set-fault', () => this.fleet.setFault(info, fault)),
    };
    const file: StateDataSource = { read: async () => ({ ...this.stateVersions()[pod.fileVersion]!.data }) };
    const api: StateDataSource = { read: async () => ({ ...((await this.cluster.getConfigMap(NAMES.stateConfigMap))?.data ?? {}) }) };
    const store = pod.generations;
    const generations: GenerationStore = {
      load: async () => store.value,
      save: async (generation) => {
        store.value = generation;
      },
    };
    const sidecar = await Reconciler.create({
      pod: info.name,
      color: info.color,
      consumer,
      file,
      api,
      generations,
      clock: this.clock,
      log: quietLog,
    });
    pod.sidecar = sidecar;
    pod.sidecarOrigin = origin;
    pod.sidecarDown = false;
    // A new watch starts from a fresh list (the seed read below stands for it).
    pod.watchVersion = this.stateVersions().length - 1;
    // The daemon's loop: seed from the API server, then reconcile every interval until the process dies.
    void (async () => {
      await sidecar.seedFromApi();
      while (origin.alive) {
        await sidecar.reconcile();
        await this.clock.sleep(RECONCILE_INTERVAL_MS);
      }
    })();
  }

  /** A CLI that ended with something other than a bgswitch error crashed. */
  crashes(): string[] {
    const runs = [
      ...this.clis.map((cli) => ({ name: `cli-${cli.index}`, ...cli })),
      ...this.faultRuns.map((run) => ({ name: `inject-fault-${run.index}`, ...run })),
    ];
    return runs.flatMap((run) =>
      run.done && run.error !== undefined && !(run.error instanceof BgswitchError)
        ? [`${run.name}: ${String((run.error as Error)?.stack ?? run.error)}`]
        : [],
    );
  }
}

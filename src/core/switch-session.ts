/**
 * What one switch run shares between its steps (./switch.ts): the request, the lock, the state
 * store, the phase timings and the Kafka hand-off so far, and the helpers every step uses to observe
 * pods, read the consumer group, time a phase and tell the operator.
 */
import { otherColor, type Color } from '../shared/model.js';
import { errorMessage } from '../shared/errors.js';
import { KafkaUnavailableError } from './errors.js';
import { phaseLabel, type PhaseName, type PhaseRef, type ProgressEvent, type ProgressEventInput } from './events.js';
import { listFleet, observePods, type PodObservation, type PodState } from './fleet.js';
import type { KafkaHandoff, PhaseTiming } from './history.js';
import { readGroup, type GroupView, type ObservedPod } from './kafka-group.js';
import { LeaseLostError, SwitchLock } from './lease.js';
import type { OperationRecord } from './operation.js';
import type { PollOptions } from './poll.js';
import type { ConfigMapSnapshot, PodInfo } from './ports.js';
import { DesiredStateStore, type DesiredState } from './state-store.js';
import type { SwitchContext, SwitchRequest } from './switch.js';

/**
 * Margin the lock must still be valid for before resuming: covers the resume calls themselves. At
 * most a third of the lease (the renewal period), or a short lease could never pass the check.
 */
const LOCK_MARGIN_MS = 5_000;
const FIRST_POLL_INTERVAL_MS = 10;

export class SwitchSession {
  readonly id: string;
  readonly from: Color;
  readonly to: Color;
  readonly store: DesiredStateStore;
  readonly lock: SwitchLock;
  readonly lockMarginMs: number;
  readonly startedAt: number;
  readonly phases: PhaseTiming[] = [];
  /** The step running now: a background push's warning names the step that sent it. */
  currentPhase: PhaseRef | undefined;
  generation = 0;
  /** The consumer group's hand-off, filled in by the steps (Kafka configured only). */
  readonly kafka: KafkaHandoff | undefined;
  /** Every topic the group was seen with during this run, so a rebalance cannot hide one. */
  readonly kafkaTopics = new Set<string>();
  /** When the colour being left was last seen all PAUSED: the start of the Kafka hand-off wait. */
  pausedAt: number | undefined;
  /**
   * What the old colour's pods answered step 4's pause calls. A pod that answered PAUSED stays
   * PAUSED while this run holds the lock (nothing resumes it: its entry is PAUSED), so step 5 takes
   * that answer instead of asking it again, when the pod is listed with the same address.
   */
  pauseAnswers: PodObservation[] = [];
  /** Both colours as the last verify-active poll that passed saw them (step 8, or the soak's last check). */
  verifiedFleet: PodObservation[] | undefined;
  /** The new colour's pods step 8 saw ACTIVE and ready: the soak holds these, not pods added since. */
  verifiedPods: ReadonlySet<string> | undefined;
  /** The last state seen of each pod: a change is reported, and a failed rollback names them. */
  readonly lastPodState = new Map<string, PodState>();
  /**
   * Carried between the steps instead of read again (one round trip each): the pods behind the
   * Services as the last desired-state write listed them (the pause and resume steps act on exactly
   * those; the verification polls always list afresh), the desired state as this run last read or
   * wrote it, and the active-version ConfigMap as the preflight read it. A write over a stale state
   * or ConfigMap is refused (409) and re-read, so carrying them never overwrites anyone.
   */
  fleet: Record<Color, PodInfo[]> = { blue: [], green: [] };
  state: DesiredState | undefined;
  activeConfigMap: ConfigMapSnapshot | undefined;
  private operation: OperationRecord | undefined;

  constructor(
    readonly context: SwitchContext,
    readonly request: SwitchRequest,
  ) {
    this.id = context.newId();
    this.to = request.target;
    this.from = otherColor(request.target);
    this.store = new DesiredStateStore(context.cluster, context.names.stateConfigMap);
    this.lock = new SwitchLock(context.cluster, context.names.lease, context.holder, context.clock, {
      leaseDurationMs: request.leaseDurationMs,
    });
    this.lockMarginMs = Math.min(LOCK_MARGIN_MS, request.leaseDurationMs / 3);
    this.startedAt = context.clock.now();
    this.kafka = context.kafka ? { groupId: context.kafka.groupId } : undefined;
  }

  now(): number {
    return this.context.clock.now();
  }

  emit(event: ProgressEventInput): void {
    this.context.emit({ ...event, at: this.now() } as ProgressEvent);
  }

  /** Runs one step: announces it, times it, and records it in the phase timings whatever happens. */
  async phase<T>(name: PhaseName, rollback: boolean, title: string, work: () => Promise<T>): Promise<T> {
    const phase: PhaseRef = { name, rollback, title };
    this.currentPhase = phase;
    const start = this.now();
    this.emit({ type: 'phase-start', phase });
    const end = (ok: boolean, detail: string) => {
      const durationMs = this.now() - start;
      this.phases.push({ name: phaseLabel(name, rollback), ok, durationMs });
      this.emit({ type: 'phase-end', phase, ok, detail, durationMs });
    };
    try {
      const value = await work();
      end(true, typeof value === 'string' ? value : '');
      return value;
    } catch (error) {
      end(false, errorMessage(error));
      throw error;
    }
  }

  /** The operation record (S3) as of `phase`; it keeps the first start time across updates. */
  operationRecord(phase: string): OperationRecord {
    this.operation = {
      id: this.id,
      kind: this.request.kind,
      from: this.from,
      to: this.to,
      phase,
      holder: this.context.holder,
      actor: this.context.actor,
      startedAt: this.operation?.startedAt ?? new Date(this.startedAt).toISOString(),
      updatedAt: new Date(this.now()).toISOString(),
    };
    return this.operation;
  }

  /**
   * Both colours' pods, listed now for a verification step's first poll while the step before it is
   * still waiting for its calls' answers: the first poll then costs no list round trip of its own.
   */
  listAhead(): Record<Color, Promise<PodInfo[]>> {
    const listed = { blue: this.context.cluster.listPods('blue'), green: this.context.cluster.listPods('green') };
    for (const list of Object.values(listed)) list.catch(() => undefined);
    return listed;
  }

  async observeAll(withReadiness: boolean): Promise<PodObservation[]> {
    const pods = await listFleet(this.context.cluster);
    return observePods(this.context.pods, [...pods.blue, ...pods.green], { withReadiness });
  }

  /**
   * One colour's pods (`listed`, or listed now), observed; each pod whose state changed is reported.
   * A pod listed by the name and address of one of `answered` is taken as observed there, not asked again.
   */
  async observeColor(
    color: Color,
    withReadiness: boolean,
    signal: AbortSignal | undefined,
    answered: readonly PodObservation[] = [],
    listed: Promise<PodInfo[]> = this.context.cluster.listPods(color),
  ): Promise<PodObservation[]> {
    const pods = await listed;
    const known = (pod: PodInfo) => answered.find((o) => o.pod.name === pod.name && o.pod.ip !== undefined && o.pod.ip === pod.ip);
    const asked = await observePods(
      this.context.pods,
      pods.filter((pod) => !known(pod)),
      { withReadiness, signal },
    );
    const observations = pods.map((pod) => {
      const answer = known(pod);
      return answer ? { ...answer, pod } : asked.find((o) => o.pod === pod)!;
    });
    for (const o of observations) {
      if (this.lastPodState.get(o.pod.name) !== o.state) {
        this.lastPodState.set(o.pod.name, o.state);
        this.emit({ type: 'pod', pod: o.pod.name, color: o.pod.color, state: o.state, ...(o.error ? { detail: o.error } : {}) });
      }
    }
    return observations;
  }

  /** The group now, its members matched to `pods` (listed afresh when none are given). */
  async readGroup(pods: ObservedPod[]): Promise<GroupView> {
    const known =
      pods.length > 0
        ? pods
        : await listFleet(this.context.cluster).then((fleet) => [...fleet.blue, ...fleet.green].map((pod) => ({ pod })));
    const view = await readGroup(this.context.kafka!, known, this.kafkaTopics);
    for (const topic of view.topics) this.kafkaTopics.add(topic);
    return view;
  }

  /** Inside a wait an unanswered broker is "not yet": its message is kept for the deadline's report. */
  async readGroupWhileWaiting(pods: ObservedPod[]): Promise<GroupView | string> {
    try {
      return await this.readGroup(pods);
    } catch (error) {
      if (error instanceof KafkaUnavailableError) return error.message;
      throw error;
    }
  }

  pollOptions(timeoutMs: number, signal: AbortSignal | undefined): PollOptions {
    const { pollIntervalMs } = this.request;
    return {
      clock: this.context.clock,
      timeoutMs,
      initialIntervalMs: Math.min(FIRST_POLL_INTERVAL_MS, pollIntervalMs),
      maxIntervalMs: pollIntervalMs,
      signal,
    };
  }

  /**
   * Just before a desired-state write (the store's read-modify-write calls it on the state it read):
   * the lock must still be ours for `marginMs`, and the operation record the one this run wrote. A
   * CLI frozen past its lock's expiry thus never writes over a takeover, and once the new holder has
   * written its own record, the write's compare-and-swap refuses ours.
   */
  fenceWrite(current: DesiredState, marginMs: number): void {
    this.lock.assertHeld(marginMs);
    const holder = current.operation?.holder;
    if (holder !== this.context.holder) {
      throw new LeaseLostError(
        `lost the switch lock: ${holder === undefined ? 'another switch ended meanwhile' : `${holder} is switching now`} (the state ConfigMap's operation record is not ours)`,
      );
    }
  }

  /** True while the lock is certainly ours. */
  holdsLock(): boolean {
    try {
      this.lock.assertHeld(0);
      return true;
    } catch {
      return false;
    }
  }
}

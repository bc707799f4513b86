/**
 * The switch protocol, "Pause First, Resume Second" (design section 4), as plain logic over the
 * ports of ./ports.ts.
 *
 * Guarantees (with the sidecars doing their part, docs/safety.md):
 *  - S1: the new colour is resumed only after every pod of the old colour was seen PAUSED (or not
 *    running) AND the lock was confirmed ours; the old colour is re-checked while verifying the new
 *    one, and any pod found consuming again rolls the switch back at once.
 *  - A failed step rolls back through the same steps in the other direction; a rollback that cannot
 *    verify the new colour PAUSED never resumes the old one (it ends with everything paused, exit 5).
 *  - S3: the first desired-state write also records the operation in the state ConfigMap; it is
 *    removed only when the switch ends, so a killed CLI leaves it for `status` and the next run.
 *    A run that lost its lock writes no ConfigMap at the end (only the Event): they belong to the new holder.
 * Does not guarantee: progress while the API server or the pods are unreachable (it stops safely and
 * says what is left where).
 *
 * Steps of run():
 *  1. preflight      read ConfigMaps, Lease, pods of both colours and their lifecycle; refuse or no-op
 *  2. lease          take the switch lock (unique holder), renew it in the background
 *  3. desired-paused both colours PAUSED in the state ConfigMap, new generation, operation recorded
 *  4. pause          L1 pause to every old pod, in parallel; L2 signed pushes to every pod in the
 *                    background (in generation order per pod; never on the critical path)
 *  5. verify-paused  poll until every old pod is PAUSED, within the drain timeout (with Kafka: and no
 *                    old pod is left in the consumer group; the committed offsets are the hand-off)
 *  6. desired-active lock still ours? new colour ACTIVE, new generation
 *  7. resume         L1 resume to every new pod, in parallel; L2 pushes to every pod in the background
 *  8. verify-active  poll until every new pod is ACTIVE and ready (old still PAUSED; with Kafka: and
 *                    every partition assigned to a new pod); optional soak (with --max-lag: the lag trigger)
 *  9. record         active-version ConfigMap + history, operation removed, Event, Lease holder = colour
 * Any failure in 3-8 after something changed runs 3-8 back towards the old colour.
 */
import { resolveEntry } from '../shared/desired-state.js';
import { COLORS, otherColor, type Color, type DesiredEntry, type DesiredLifecycle } from '../shared/model.js';
import { errorMessage, KafkaUnavailableError, NoPushKeyError, OperationError, RefusedError } from './errors.js';
import type { PhaseName, PhaseRef, ProgressEventInput, ProgressSink } from './events.js';
import { certainlyIdle, describeStates, listFleet, mayBeConsuming, observePods, type PodObservation, type PodState } from './fleet.js';
import { appendHistory, HISTORY_KEY, type HistoryEntry, type KafkaHandoff, type PhaseTiming, type SwitchOutcome } from './history.js';
import { committedOffsetsOf, describePartitions, describeStranded, membersOfColor, partitionsNotHeldBy, readGroup, strandedMembers, type GroupMemberView, type GroupView, type ObservedPod } from './kafka-group.js';
import { LeaseLostError, leaseBlocks, SwitchLock } from './lease.js';
import type { OperationKind, OperationRecord } from './operation.js';
import { assertPermissions, switchPermissions } from './permissions.js';
import { pollUntil } from './poll.js';
import type { Clock, Cluster, KafkaGroup, ObjectNames, PodAgent, PodInfo } from './ports.js';
import { DesiredStateStore, retryOnConflict, type DesiredState } from './state-store.js';


/** Before the kubelet mounts the push-key Secret, every sidecar refuses pushes; the L1 calls do the work. */
const NO_PUSH_KEY = { noun: 'sidecar', text: 'refused the push: no push key mounted yet; the lifecycle calls carried the step' };
export interface SwitchRequest {
  target: Color;
  kind: OperationKind;
  /** Proceed although the fleet is inconsistent (dual-active, unreachable pods). */
  force: boolean;
  dryRun: boolean;
  /** Step 5 deadline (ms). */
  drainTimeoutMs: number;
  /** Step 8 deadline (ms). */
  verifyTimeoutMs: number;
  /** After step 8, how long the new colour must stay ACTIVE and ready (ms; 0 = no soak). */
  soakMs: number;
  /** Longest interval between status polls (ms); the first poll is at once, the next after 50 ms, doubling up to this. */
  pollIntervalMs: number;
  /** Lease duration while switching (ms). */
  leaseDurationMs: number;
  /** The lag trigger: during the soak, a group lag that keeps growing beyond this rolls back (undefined = off). */
  maxLag?: number | undefined;
}

export interface SwitchContext {
  cluster: Cluster;
  pods: PodAgent;
  clock: Clock;
  names: ObjectNames;
  /** Unique per invocation (user@host/pid/random): the Lease holder. */
  holder: string;
  /** Who runs it (user@host), for the Event and the history. */
  actor: string;
  newId: () => string;
  emit: ProgressSink;
  /** Aborting (Ctrl-C) stops the forward switch and rolls back; the rollback itself is not abortable. */
  signal?: AbortSignal;
  /** The consumer group both colours share, when Kafka is configured (off with --no-kafka). */
  kafka?: KafkaGroup | undefined;
}

export interface PodSummary {
  name: string;
  color: Color;
  state: PodState;
  ready?: boolean;
  desired?: DesiredLifecycle;
  lastSequenceNumber?: number;
}

export type SwitchReportOutcome = SwitchOutcome | 'noop' | 'dry-run';

export interface SwitchReport {
  id: string;
  kind: OperationKind;
  outcome: SwitchReportOutcome;
  from: Color;
  to: Color;
  actor: string;
  generation: number;
  startedAt: string;
  finishedAt: string;
  durationMs: number;
  /** Why it rolled back or failed. */
  reason?: string;
  phases: PhaseTiming[];
  podsBefore: PodSummary[];
  podsAfter: PodSummary[];
  /** dry-run: what would be done, step by step. */
  plan?: string[];
  /** rollback-failed / failed: what is left where, and what to run next. */
  leftovers?: string[];
  /** The consumer group's hand-off, when Kafka is configured. */
  kafka?: KafkaHandoff;
}

/** A verification or step failure that calls for a rollback. */
export class StepFailedError extends OperationError {}

/**
 * Margin the lock must still be valid for before resuming: covers the resume calls themselves. At
 * most a third of the lease (the renewal period), or a short lease could never pass the check.
 */
const LOCK_MARGIN_MS = 5_000;
const FIRST_POLL_INTERVAL_MS = 50;
/** The lag trigger fires after this many soak checks in a row above --max-lag, each higher than the one before. */
const LAG_GROWTH_CHECKS = 3;

/** What a verify-paused poll saw; `group` once every pod was PAUSED (with Kafka). */
interface PausedWait {
  observations: PodObservation[];
  waiting: PodObservation[];
  group?: { view: GroupView | string; stayed: GroupMemberView[] };
}

/** What a verify-active poll saw; `group.wait` says what the group still lacks. */
interface ActiveWait {
  fresh: PodObservation[];
  waiting: PodObservation[];
  group?: { wait?: string; partitions?: number };
}

interface Preflight {
  declared: Color | undefined;
  state: DesiredState;
  observations: PodObservation[];
  noop: boolean;
  /** The Lease's holder, when it is not the target colour at rest (e.g. a killed CLI's, or a failed hand-back). */
  staleHolder: string | undefined;
}

export async function runSwitch(context: SwitchContext, request: SwitchRequest): Promise<SwitchReport> {
  return new SwitchRun(context, request).run();
}

class SwitchRun {
  private readonly id: string;
  private readonly from: Color;
  private readonly to: Color;
  private readonly store: DesiredStateStore;
  private readonly lock: SwitchLock;
  private readonly startedAt: number;
  private readonly phases: PhaseTiming[] = [];
  /** The step running now: a background push's warning names the step that sent it. */
  private currentPhase: PhaseRef | undefined;
  private generation = 0;
  /** Set once the first desired-state write succeeded: from then on a failure means rollback. */
  private changedFleet = false;
  private operation: OperationRecord | undefined;
  private readonly lastPodState = new Map<string, PodState>();
  private readonly pushQueues = new Map<string, Promise<void>>();
  private readonly lockMarginMs: number;
  private readonly kafka: KafkaHandoff | undefined;
  /** Every topic the group was seen with during this run, so a rebalance cannot hide one. */
  private readonly kafkaTopics = new Set<string>();
  /** When the colour being left was last seen all PAUSED: the start of the Kafka hand-off wait. */
  private pausedAt: number | undefined;

  constructor(
    private readonly context: SwitchContext,
    private readonly request: SwitchRequest,
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

  async run(): Promise<SwitchReport> {
    const preflight = await this.phase('preflight', false, 'Preflight: ConfigMaps, Lease, pods', () => this.preflight());
    const podsBefore = summarize(preflight.observations, preflight.state);
    this.generation = preflight.state.generation;
    if (preflight.noop) {
      if (preflight.staleHolder !== undefined) await this.handLeaseBack(preflight.staleHolder);
      return this.report('noop', podsBefore, podsBefore);
    }
    if (this.request.dryRun) return { ...this.report('dry-run', podsBefore, podsBefore), plan: this.plan(preflight) };

    await this.phase('lease', false, `Take the switch lock (Lease ${this.context.names.lease})`, async () => {
      const { tookOverExpired, previousHolder } = await this.lock.acquire();
      if (tookOverExpired) this.emit({ type: 'warning', message: `took over the expired lock of ${previousHolder}` });
      return `held by ${this.context.holder}`;
    });
    this.lock.startRenewing();

    let outcome: SwitchOutcome = 'switched';
    let active: Color | undefined = this.to;
    let reason: string | undefined;
    let leftovers: string[] | undefined;
    try {
      try {
        await this.transition(this.from, this.to, false, this.context.signal);
      } catch (error) {
        reason = errorMessage(error);
        // No rollback without the lock: once it expired another CLI may have taken it over and
        // switched, and rolling back would write every pod PAUSED over that switch (model-2).
        if (error instanceof LeaseLostError || !this.changedFleet || !this.holdsLock()) {
          outcome = 'failed';
          active = preflight.declared;
          leftovers = this.changedFleet ? await this.describeFleet() : ['nothing was changed'];
        } else {
          this.emit({ type: 'warning', message: `rolling back to ${this.from}: ${reason}` });
          try {
            await this.transition(this.to, this.from, true, undefined);
            outcome = 'rolled-back';
            active = this.from;
          } catch (rollbackError) {
            outcome = 'rollback-failed';
            active = preflight.declared;
            reason = `${reason}; rollback failed: ${errorMessage(rollbackError)}`;
            leftovers = await this.describeFleet();
          }
        }
      }
      if (outcome !== 'failed' || this.changedFleet) {
        // A record that fails (API server down) must not hide the outcome: report it with the rest.
        const unrecorded = await this.record(outcome, active, reason).then(() => undefined, errorMessage);
        if (unrecorded) leftovers = [...(leftovers ?? []), `could not record the outcome: ${unrecorded}; run \`bgswitch status\` once the cluster answers`];
      }
    } finally {
      await this.settlePushes();
      await this.releaseLock(active ?? preflight.declared);
    }
    const podsAfter = summarize(await this.observeAll(true).catch(() => []), await this.store.read().catch(() => preflight.state));
    return { ...this.report(outcome, podsBefore, podsAfter), ...(reason ? { reason } : {}), ...(leftovers ? { leftovers } : {}), ...(this.kafka ? { kafka: this.kafka } : {}) };
  }

  // Step 1 ------------------------------------------------------------------------------------
  private async preflight(): Promise<Preflight> {
    const { cluster, names, clock } = this.context;
    await assertPermissions(cluster, this.context.pods, switchPermissions(names), names.namespace);
    const [activeConfigMap, state, lease] = await Promise.all([
      cluster.getConfigMap(names.activeConfigMap),
      this.store.read(),
      cluster.getLease(names.lease),
    ]);
    if (!activeConfigMap) {
      throw new RefusedError(`ConfigMap ${names.activeConfigMap} does not exist in ${names.namespace}`, 'apply the manifests (kubectl apply -k k8s/overlays/production) and run `bgswitch init`');
    }
    const declaredRaw = activeConfigMap.data.active;
    if (declaredRaw !== undefined && declaredRaw !== 'blue' && declaredRaw !== 'green') {
      throw new RefusedError(`ConfigMap ${names.activeConfigMap} says active: ${JSON.stringify(declaredRaw)}, which is not a colour`, 'fix it to blue or green with kubectl edit');
    }
    const declared = declaredRaw as Color | undefined;
    if (state.entries.size === 0 && state.malformed.size === 0) {
      throw new RefusedError(`ConfigMap ${names.stateConfigMap} has no desired state yet`, 'run `bgswitch init` first');
    }
    if (lease && leaseBlocks(lease, clock.now())) throw this.lock.refusal(lease);
    const observations = await this.observeAll(false);
    const byColor = (color: Color) => observations.filter((o) => o.pod.color === color);
    if (byColor(this.to).length === 0) {
      throw new RefusedError(`no ${this.to} pods found behind Service ${names.services[this.to]}`, `scale up the ${this.to} StatefulSet before switching to it`);
    }
    for (const [key, error] of state.malformed) {
      this.emit({ type: 'warning', message: `state entry "${key}" is malformed (${error}); the switch will overwrite it` });
    }
    if (state.operation) {
      this.emit({
        type: 'warning',
        message: `an interrupted ${state.operation.kind} ${state.operation.from} -> ${state.operation.to} (by ${state.operation.actor}, last step ${state.operation.phase}) is finished by this run`,
      });
    }

    const consuming = (color: Color) => byColor(color).filter(mayBeConsuming);
    const dualActive = consuming('blue').some((o) => o.state !== 'unreachable') && consuming('green').some((o) => o.state !== 'unreachable');
    const unreachable = observations.filter((o) => o.state === 'unreachable');
    const problems: string[] = [];
    if (dualActive) problems.push(`dual-active: ${describeStates([...consuming('blue'), ...consuming('green')])}`);
    if (unreachable.length > 0) problems.push(`unreachable: ${unreachable.map((o) => `${o.pod.name} (${o.error ?? 'no answer'})`).join('; ')}`);
    if (problems.length > 0) {
      if (!this.request.force) {
        throw new RefusedError(`the fleet is inconsistent: ${problems.join('; ')}`, 'run `bgswitch status` to see why; --force switches anyway (the old colour is still paused first)');
      }
      this.emit({ type: 'warning', message: `--force: proceeding although ${problems.join('; ')}` });
    }

    // The paused side: the colour not declared active (nothing declared yet: the target, not consuming).
    if (this.context.kafka) await this.preflightGroup(observations, declared ? otherColor(declared) : this.to);

    const desiredOf = (pod: PodInfo) => {
      const resolved = resolveEntry(state.snapshot.data, pod.name, pod.color);
      return resolved.status === 'ok' ? resolved.entry.lifecycle : undefined;
    };
    const noop =
      declared === this.to &&
      !state.operation &&
      byColor(this.to).every((o) => o.state === 'ACTIVE' && desiredOf(o.pod) === 'ACTIVE') &&
      byColor(this.from).every((o) => certainlyIdle(o) && desiredOf(o.pod) !== 'ACTIVE');
    const staleHolder = lease && lease.holderIdentity !== this.to ? (lease.holderIdentity ?? '') : undefined;
    return { declared, state, observations, noop, staleHolder };
  }

  /**
   * The group must answer, and no pod of the paused side (`pausedColor`, or any PAUSED pod) may
   * hold partitions: nobody consumes those, and the switch could not hand them over.
   */
  private async preflightGroup(observations: PodObservation[], pausedColor: Color): Promise<void> {
    let group: GroupView;
    try {
      group = await this.readGroup(observations);
    } catch (error) {
      if (!(error instanceof KafkaUnavailableError)) throw error;
      throw new RefusedError(error.message, 'check the broker; `--no-kafka` switches without the consumer-group checks', { cause: error });
    }
    const stranded = strandedMembers(group, pausedColor);
    if (stranded.length > 0) {
      const what = stranded.map(describeStranded).join('; ');
      if (!this.request.force) {
        throw new RefusedError(
          `consumer group ${group.groupId}: ${what}`,
          'paused consumers must leave the group (docs/operations.md, stranded partitions); --force switches anyway, and those partitions stay unconsumed while they are held',
        );
      }
      this.emit({ type: 'warning', message: `--force: proceeding although ${what}` });
    }
    this.kafka!.lagBefore = group.lag.total;
  }

  /**
   * A no-op still puts the Lease back at rest naming the active colour when an earlier run could not
   * (its hand-back failed, or it was killed after recording): nothing else would ever repair it.
   */
  private async handLeaseBack(staleHolder: string): Promise<void> {
    try {
      await this.lock.acquire();
      await this.lock.release(this.to);
      this.emit({ type: 'info', message: `the switch lock was left with ${staleHolder || 'no holder'}; handed back to ${this.to}` });
    } catch (error) {
      this.emit({ type: 'warning', message: `the switch lock is left with ${staleHolder || 'no holder'}: ${errorMessage(error)}` });
    }
  }

  private plan(preflight: Preflight): string[] {
    const podsOf = (color: Color) => preflight.observations.filter((o) => o.pod.color === color).map((o) => o.pod.name);
    const next = preflight.state.generation + 1;
    return [
      `take Lease ${this.context.names.lease} as ${this.context.holder} (${Math.round(this.request.leaseDurationMs / 1000)}s, renewed)`,
      `write ConfigMap ${this.context.names.stateConfigMap}: every pod PAUSED, generation ${next}, operation recorded`,
      `pause ${this.from}: ${podsOf(this.from).join(', ') || 'no pods'} (lifecycle call + signed sidecar push)`,
      `wait up to ${this.request.drainTimeoutMs / 1000}s until every ${this.from} pod is PAUSED${this.kafka ? ` and none is left in consumer group ${this.kafka.groupId}` : ''}, else roll back`,
      `write ConfigMap ${this.context.names.stateConfigMap}: ${this.to} ACTIVE, generation ${next + 1}`,
      `resume ${this.to}: ${podsOf(this.to).join(', ')} (lifecycle call + signed sidecar push)`,
      `wait up to ${this.request.verifyTimeoutMs / 1000}s until every ${this.to} pod is ACTIVE and ready${this.kafka ? ` and every partition of ${this.kafkaTopics.size > 0 ? [...this.kafkaTopics].join(', ') : 'the group'} is assigned to a ${this.to} pod` : ''}, else roll back` +
        (this.request.soakMs > 0 ? `; then soak ${this.request.soakMs / 1000}s${this.request.maxLag !== undefined && this.kafka ? ` (roll back if the lag keeps growing beyond ${this.request.maxLag})` : ''}` : ''),
      `write ConfigMap ${this.context.names.activeConfigMap}: active=${this.to} + history; Event; Lease holder ${this.to}`,
    ];
  }

  // Steps 3-8, in either direction ---------------------------------------------------------------
  private async transition(from: Color, to: Color, rollback: boolean, signal: AbortSignal | undefined): Promise<void> {
    const step = (name: PhaseName) => (rollback ? `rollback:${name}` : name);

    await this.phase('desired-paused', rollback, `Desired state: ${from} and ${to} PAUSED`, async () => {
      const pods = await listFleet(this.context.cluster);
      const written = await this.store.update((current) => ({
        entries: pausedEverywhere(current, [...pods.blue, ...pods.green]),
        operation: this.operationRecord(step('pause')),
      }));
      this.generation = written.generation;
      this.changedFleet = true;
      return `generation ${written.generation}`;
    });

    await this.phase('pause', rollback, `Pause ${from}`, async () => {
      const [state, pods] = await Promise.all([this.store.read(), listFleet(this.context.cluster)]);
      this.pushAll(pods[to], state, signal);
      await this.command(pods[from], 'pause', state, signal);
      return `${pods[from].length} ${from} pods asked to pause`;
    });

    const group = this.kafka ? ` (group ${this.kafka.groupId})` : '';
    await this.phase('verify-paused', rollback, `Verify every ${from} pod PAUSED${group}`, () => this.verifyPaused(from, signal));

    await this.phase('desired-active', rollback, `Desired state: ${to} ACTIVE`, async () => {
      this.lock.assertHeld(this.lockMarginMs);
      const pods = await listFleet(this.context.cluster);
      const written = await this.store.update((current) => ({
        entries: activeColor(current, pods[to], to),
        operation: this.operationRecord(step('resume')),
      }));
      this.generation = written.generation;
      return `generation ${written.generation}`;
    });

    await this.phase('resume', rollback, `Resume ${to}`, async () => {
      this.lock.assertHeld(this.lockMarginMs);
      const [state, pods] = await Promise.all([this.store.read(), listFleet(this.context.cluster)]);
      this.pushAll(pods[from], state, signal);
      await this.command(pods[to], 'resume', state, signal);
      return `${pods[to].length} ${to} pods asked to resume`;
    });

    await this.phase('verify-active', rollback, `Verify every ${to} pod ACTIVE and ready${group}`, () =>
      this.verifyActive(from, to, this.request.verifyTimeoutMs, signal, true),
    );

    if (this.request.soakMs > 0) {
      await this.phase('soak', rollback, `Soak ${to} for ${this.request.soakMs / 1000}s`, () => this.soak(from, to, signal));
    }
  }

  /** L1 lifecycle call + L2 push to each pod, in parallel. Failures are left to verification. */
  /**
   * L1 lifecycle call to each pod, in parallel, plus its L2 push. Only the L1 calls are awaited:
   * verification watches the consumers themselves, so a hung sidecar never holds the switch (and
   * the gap) back. Failures are left to verification.
   */
  private async command(pods: PodInfo[], action: 'pause' | 'resume', state: DesiredState, signal: AbortSignal | undefined): Promise<void> {
    this.pushAll(pods, state, signal);
    await Promise.all(
      pods.map(async (pod) => {
        try {
          await this.context.pods.lifecycle(pod, action, signal);
        } catch (error) {
          this.emit({ type: 'warning', message: `${action} ${pod.name}: ${errorMessage(error)}` });
        }
      }),
    );
  }

  /** L2 pushes in the background (also to the other colour: it fences sidecars against stale files); see settlePushes(). */
  private pushAll(pods: PodInfo[], state: DesiredState, signal: AbortSignal | undefined): void {
    for (const pod of pods) this.push(pod, state, signal);
  }

  /** Waits for every push still in flight, so the run never ends with requests behind it. */
  private async settlePushes(): Promise<void> {
    await Promise.all(this.pushQueues.values());
  }

  /** Pushes to one pod go out in generation order: each waits for the previous one to that pod. */
  private push(pod: PodInfo, state: DesiredState, signal: AbortSignal | undefined): void {
    const resolved = resolveEntry(state.snapshot.data, pod.name, pod.color);
    if (resolved.status !== 'ok') return;
    const step = this.currentPhase;
    const send = async () => {
      try {
        await this.context.pods.push(pod, resolved.entry, signal);
      } catch (error) {
        const repeated = error instanceof NoPushKeyError ? { repeated: { ...NO_PUSH_KEY, ...(step ? { step } : {}) } } : {};
        this.emit({ type: 'warning', message: `push to the sidecar of ${pod.name}: ${errorMessage(error)}`, ...repeated });
      }
    };
    this.pushQueues.set(pod.name, (this.pushQueues.get(pod.name) ?? Promise.resolve()).then(send));
  }

  private async verifyPaused(color: Color, signal: AbortSignal | undefined): Promise<string> {
    this.pausedAt = undefined;
    const group = this.context.kafka;
    const result = await pollUntil<PausedWait>(
      async () => {
        const observations = await this.observeColor(color, false, signal);
        // --force excuses unreachable pods of the colour being left, never the ones this run resumed.
        const excuseUnreachable = this.request.force && color === this.from;
        const waiting = observations.filter((o) => !certainlyIdle(o) && !(excuseUnreachable && o.state === 'unreachable'));
        if (waiting.length > 0 || !group) return { done: waiting.length === 0, value: { observations, waiting } };
        if (this.pausedAt === undefined) {
          this.pausedAt = this.context.clock.now();
          this.emit({ type: 'info', message: `every ${color} pod PAUSED; waiting for them to leave consumer group ${group.groupId}` });
        }
        const view = await this.readGroupWhileWaiting(observations);
        const stayed = typeof view === 'string' ? [] : membersOfColor(view, color);
        return { done: typeof view !== 'string' && stayed.length === 0, value: { observations, waiting, group: { view, stayed } } };
      },
      this.pollOptions(this.request.drainTimeoutMs, signal),
    );
    const last = result.done ? result.value : result.last;
    const seconds = (result.elapsedMs / 1000).toFixed(1);
    if (!result.done && (last === undefined || last.waiting.length > 0)) {
      throw new StepFailedError(`${color} did not pause within ${this.request.drainTimeoutMs / 1000}s: ${describeStates(last?.waiting ?? [])}`);
    }
    const paused = `${last!.observations.length} pods PAUSED`;
    if (!group || !last?.group) return `${paused} in ${seconds}s`;
    const { view, stayed } = last.group;
    if (!result.done) {
      const detail =
        typeof view === 'string'
          ? view
          : `still members: ${stayed.map((m) => `${m.pod}${m.assignments.length > 0 ? ` (${m.assignments.map((a) => `${a.topic} ${a.partitions.join(', ')}`).join('; ')})` : ''}`).join(', ')}`;
      const message = `${color} pods are PAUSED but did not leave consumer group ${group.groupId} within ${this.request.drainTimeoutMs / 1000}s: ${detail}`;
      if (!this.request.force) throw new StepFailedError(message);
      this.emit({ type: 'warning', message: `--force: continuing although ${message}` });
      return `${paused}; ${color} still in group ${group.groupId} (--force)`;
    }
    if (typeof view !== 'string') this.kafka!.handoffOffsets = committedOffsetsOf(view);
    return `${paused} and out of group ${group.groupId} in ${seconds}s`;
  }

  /**
   * Every pod of `to` ACTIVE and ready, none of `from` consuming. With `waitForGroup` (step 8, not
   * the soak: a rebalance there is no failure) also every partition assigned to a `to` pod and no
   * `from` pod left in the group; the time since `from` was all PAUSED is the Kafka hand-off wait.
   */
  private async verifyActive(from: Color, to: Color, timeoutMs: number, signal: AbortSignal | undefined, waitForGroup = false): Promise<string> {
    const group = waitForGroup ? this.context.kafka : undefined;
    const result = await pollUntil<ActiveWait>(
      async () => {
        const [old, fresh] = await Promise.all([this.observeColor(from, false, signal), this.observeColor(to, true, signal)]);
        const resumedOld = old.filter((o) => !certainlyIdle(o) && o.state !== 'unreachable');
        if (resumedOld.length > 0) {
          throw new StepFailedError(`${from} is consuming again while ${to} resumes: ${describeStates(resumedOld)}`);
        }
        const reachable = fresh.filter((o) => o.state !== 'unreachable' || !this.request.force);
        const waiting = reachable.filter((o) => o.state !== 'ACTIVE' || o.ready !== true);
        const podsDone = waiting.length === 0 && reachable.length > 0;
        if (!podsDone || !group) return { done: podsDone, value: { fresh, waiting } };
        const view = await this.readGroupWhileWaiting([...old, ...fresh]);
        if (typeof view === 'string') return { done: false, value: { fresh, waiting, group: { wait: view } } };
        const notHeld = partitionsNotHeldBy(view, to);
        const stayed = membersOfColor(view, from);
        const groupWait =
          notHeld.length > 0 ? `not yet assigned to ${to}: ${describePartitions(notHeld)}` : stayed.length > 0 ? `${from} still in the group: ${stayed.map((m) => m.pod).join(', ')}` : undefined;
        if (groupWait === undefined) {
          this.kafka!.lagAfter = view.lag.total;
          if (this.pausedAt !== undefined) this.kafka!.handoffWaitMs = this.context.clock.now() - this.pausedAt;
        }
        return { done: groupWait === undefined, value: { fresh, waiting, group: { ...(groupWait ? { wait: groupWait } : {}), partitions: view.partitions.length } } };
      },
      this.pollOptions(timeoutMs, signal),
    );
    const last = result.done ? result.value : result.last;
    if (!result.done && (last === undefined || last.waiting.length > 0 || !last.group)) {
      const waiting = last?.waiting ?? [];
      const detail = waiting.map((o) => `${o.pod.name} ${o.state}${o.state === 'ACTIVE' && o.ready === false ? ' but not ready' : ''}`).join(', ');
      throw new StepFailedError(`${to} is not ACTIVE and ready within ${timeoutMs / 1000}s: ${detail || 'no reachable pods'}`);
    }
    const ready = `${last!.fresh.length} pods ACTIVE and ready`;
    if (!group || !last?.group) return `${ready} in ${(result.elapsedMs / 1000).toFixed(1)}s`;
    if (!result.done) {
      const message = `${to} pods are ACTIVE but consumer group ${group.groupId} was not handed over within ${timeoutMs / 1000}s: ${last.group.wait}`;
      if (!this.request.force) throw new StepFailedError(message);
      this.emit({ type: 'warning', message: `--force: continuing although ${message}` });
      return `${ready}; group ${group.groupId} not handed over (--force)`;
    }
    const handoff = this.kafka?.handoffWaitMs === undefined ? '' : `, Kafka hand-off ${(this.kafka.handoffWaitMs / 1000).toFixed(1)}s`;
    return `${ready}, ${last.group.partitions ?? 0} partitions on ${to} in ${(result.elapsedMs / 1000).toFixed(1)}s${handoff}`;
  }

  /**
   * The new colour must stay ACTIVE and ready, and the old one PAUSED, for the whole soak. With
   * --max-lag (and Kafka), the lag trigger: LAG_GROWTH_CHECKS checks in a row above the limit, each
   * higher than the last, roll the switch back. A lag that is high but falling is catching up.
   */
  private async soak(from: Color, to: Color, signal: AbortSignal | undefined): Promise<string> {
    const end = this.context.clock.now() + this.request.soakMs;
    const watchLag = this.context.kafka !== undefined && this.request.maxLag !== undefined;
    const growing: number[] = [];
    let checks = 0;
    while (this.context.clock.now() < end) {
      await this.verifyActive(from, to, 0, signal);
      if (watchLag) await this.checkLag(growing);
      checks++;
      await this.context.clock.sleep(Math.min(1000, Math.max(0, end - this.context.clock.now())), signal);
    }
    return `${to} stayed healthy (${checks} checks${watchLag ? `, lag ${this.kafka!.lagAfter ?? '?'}` : ''})`;
  }

  /** One lag sample of the soak; `growing` holds the current run of rising samples above the limit. */
  private async checkLag(growing: number[]): Promise<void> {
    const limit = this.request.maxLag!;
    const view = await this.readGroupWhileWaiting([]);
    if (typeof view === 'string') {
      this.emit({ type: 'warning', message: `lag check skipped: ${view}` });
      return;
    }
    const lag = view.lag.total;
    this.kafka!.lagAfter = lag;
    if (lag > limit && (growing.length === 0 || lag > growing[growing.length - 1]!)) growing.push(lag);
    else growing.splice(0, growing.length, ...(lag > limit ? [lag] : []));
    if (growing.length >= LAG_GROWTH_CHECKS) {
      throw new StepFailedError(`lag: consumer group ${view.groupId}'s lag keeps growing beyond --max-lag ${limit} (${growing.join(' -> ')})`);
    }
  }

  // Step 9 --------------------------------------------------------------------------------------
  private async record(outcome: SwitchOutcome, active: Color | undefined, reason: string | undefined): Promise<void> {
    await this.phase('record', false, 'Record: active-version, history, Event', async () => {
      const { cluster } = this.context;
      const entry: HistoryEntry = {
        id: this.id,
        kind: this.request.kind,
        from: this.from,
        to: this.to,
        outcome,
        actor: this.context.actor,
        startedAt: new Date(this.startedAt).toISOString(),
        finishedAt: new Date(this.context.clock.now()).toISOString(),
        durationMs: this.context.clock.now() - this.startedAt,
        generation: this.generation,
        phases: [...this.phases],
        ...(reason ? { reason } : {}),
        ...(this.kafka ? { kafka: this.kafka } : {}),
      };
      // After losing the lock another switch may own the ConfigMaps: leave them (and our operation
      // record, for `status` and the next run) alone; only the Event is written.
      const lockHeld = this.holdsLock();
      if (lockHeld) await this.recordConfigMaps(outcome, active, entry);
      await cluster.recordEvent(eventFor(outcome, this.context.actor, this.from, this.to, entry.durationMs, this.generation, reason));
      if (!lockHeld) return 'the switch lock was lost: ConfigMaps left as they are';
      return active ? `active: ${active}` : 'active colour unchanged';
    });
  }

  /** active-version (+ history) in one write, then the operation record removed (or marked failed). */
  private async recordConfigMaps(outcome: SwitchOutcome, active: Color | undefined, entry: HistoryEntry): Promise<void> {
    const { cluster, names } = this.context;
    await retryOnConflict(names.activeConfigMap, async () => {
      const current = await cluster.getConfigMap(names.activeConfigMap);
      if (!current) throw new OperationError(`ConfigMap ${names.activeConfigMap} disappeared`);
      const data: Record<string, string> = { ...current.data, [HISTORY_KEY]: appendHistory(current.data[HISTORY_KEY], entry) };
      if (active) data.active = active;
      await cluster.writeConfigMap({ name: names.activeConfigMap, data, annotations: current.annotations, resourceVersion: current.resourceVersion });
    });
    const operation = outcome === 'rollback-failed' ? this.operationRecord('rollback-failed') : null;
    const written = await this.store.update(() => ({ operation }));
    this.generation = written.generation;
  }

  /** True while the lock is certainly ours. */
  private holdsLock(): boolean {
    try {
      this.lock.assertHeld(0);
      return true;
    } catch {
      return false;
    }
  }

  private async releaseLock(active: Color | undefined): Promise<void> {
    try {
      if (active) await this.lock.release(active);
      else await this.lock.stopRenewing();
    } catch (error) {
      this.emit({ type: 'warning', message: `could not hand the Lease back (it expires by itself): ${errorMessage(error)}` });
      await this.lock.stopRenewing();
    }
  }

  /** For a failed rollback: where every pod is, in words, and what to run next. */
  private async describeFleet(): Promise<string[]> {
    try {
      const observations = await this.observeAll(false);
      const lines = COLORS.map((color) => `${color}: ${describeStates(observations.filter((o) => o.pod.color === color)) || 'no pods'}`);
      const consuming = observations.filter(mayBeConsuming);
      lines.push(
        consuming.length === 0
          ? 'nothing is consuming; desired state is PAUSED for every pod'
          : `possibly consuming: ${consuming.map((o) => o.pod.name).join(', ')}`,
      );
      lines.push(`next: fix the cause, then \`bgswitch switch ${this.from}\` (or ${this.to})`);
      return lines;
    } catch (error) {
      const lastSeen = [...this.lastPodState].map(([pod, state]) => `${pod} ${state}`).join(', ');
      return [
        `could not observe the fleet: ${errorMessage(error)}`,
        ...(lastSeen ? [`last seen: ${lastSeen}`] : []),
        'desired state in the ConfigMap may say PAUSED for every pod; run `bgswitch status` once the cluster answers',
      ];
    }
  }

  // Helpers ------------------------------------------------------------------------------------
  /** The group now, its members matched to `pods` (listed afresh when none are given). */
  private async readGroup(pods: ObservedPod[]): Promise<GroupView> {
    const known = pods.length > 0 ? pods : await listFleet(this.context.cluster).then((fleet) => [...fleet.blue, ...fleet.green].map((pod) => ({ pod })));
    const view = await readGroup(this.context.kafka!, known, this.kafkaTopics);
    for (const topic of view.topics) this.kafkaTopics.add(topic);
    return view;
  }

  /** Inside a wait an unanswered broker is "not yet": its message is kept for the deadline's report. */
  private async readGroupWhileWaiting(pods: ObservedPod[]): Promise<GroupView | string> {
    try {
      return await this.readGroup(pods);
    } catch (error) {
      if (error instanceof KafkaUnavailableError) return error.message;
      throw error;
    }
  }

  private async observeAll(withReadiness: boolean): Promise<PodObservation[]> {
    const pods = await listFleet(this.context.cluster);
    return observePods(this.context.pods, [...pods.blue, ...pods.green], { withReadiness });
  }

  private async observeColor(color: Color, withReadiness: boolean, signal: AbortSignal | undefined): Promise<PodObservation[]> {
    const pods = await this.context.cluster.listPods(color);
    const observations = await observePods(this.context.pods, pods, { withReadiness, signal });
    for (const o of observations) {
      if (this.lastPodState.get(o.pod.name) !== o.state) {
        this.lastPodState.set(o.pod.name, o.state);
        this.emit({ type: 'pod', pod: o.pod.name, color: o.pod.color, state: o.state, ...(o.error ? { detail: o.error } : {}) });
      }
    }
    return observations;
  }

  private pollOptions(timeoutMs: number, signal: AbortSignal | undefined) {
    return { clock: this.context.clock, timeoutMs, initialIntervalMs: Math.min(FIRST_POLL_INTERVAL_MS, this.request.pollIntervalMs), maxIntervalMs: this.request.pollIntervalMs, signal };
  }

  private operationRecord(phase: string): OperationRecord {
    const now = new Date(this.context.clock.now()).toISOString();
    this.operation = {
      id: this.id,
      kind: this.request.kind,
      from: this.from,
      to: this.to,
      phase,
      holder: this.context.holder,
      actor: this.context.actor,
      startedAt: this.operation?.startedAt ?? new Date(this.startedAt).toISOString(),
      updatedAt: now,
    };
    return this.operation;
  }

  private async phase<T>(name: PhaseName, rollback: boolean, title: string, work: () => Promise<T>): Promise<T> {
    const phase: PhaseRef = { name, rollback, title };
    this.currentPhase = phase;
    const start = this.context.clock.now();
    this.emit({ type: 'phase-start', phase });
    try {
      const value = await work();
      const durationMs = this.context.clock.now() - start;
      this.phases.push({ name: rollback ? `rollback:${name}` : name, ok: true, durationMs });
      this.emit({ type: 'phase-end', phase, ok: true, detail: typeof value === 'string' ? value : '', durationMs });
      return value;
    } catch (error) {
      const durationMs = this.context.clock.now() - start;
      this.phases.push({ name: rollback ? `rollback:${name}` : name, ok: false, durationMs });
      this.emit({ type: 'phase-end', phase, ok: false, detail: errorMessage(error), durationMs });
      throw error;
    }
  }

  private emit(event: ProgressEventInput): void {
    this.context.emit({ ...event, at: this.context.clock.now() } as Parameters<ProgressSink>[0]);
  }

  private report(outcome: SwitchReportOutcome, podsBefore: PodSummary[], podsAfter: PodSummary[]): SwitchReport {
    const now = this.context.clock.now();
    return {
      id: this.id,
      kind: this.request.kind,
      outcome,
      from: this.from,
      to: this.to,
      actor: this.context.actor,
      generation: this.generation,
      startedAt: new Date(this.startedAt).toISOString(),
      finishedAt: new Date(now).toISOString(),
      durationMs: now - this.startedAt,
      phases: [...this.phases],
      podsBefore,
      podsAfter,
    };
  }
}

/** Step 3: every known entry and every pod PAUSED, faults kept. */
function pausedEverywhere(current: DesiredState, pods: PodInfo[]): Map<string, Omit<DesiredEntry, 'generation'>> {
  const entries = new Map<string, Omit<DesiredEntry, 'generation'>>();
  const keys = new Set<string>([...current.entries.keys(), ...current.malformed.keys(), ...pods.map((p) => p.name)]);
  for (const key of keys) entries.set(key, withLifecycle(current.entries.get(key), 'PAUSED'));
  return entries;
}

/** Step 6: the new colour's pods (and its colour key, if used) ACTIVE, faults kept. */
function activeColor(current: DesiredState, pods: PodInfo[], color: Color): Map<string, Omit<DesiredEntry, 'generation'>> {
  const entries = new Map<string, Omit<DesiredEntry, 'generation'>>();
  for (const pod of pods) entries.set(pod.name, withLifecycle(current.entries.get(pod.name), 'ACTIVE'));
  if (current.entries.has(color)) entries.set(color, withLifecycle(current.entries.get(color), 'ACTIVE'));
  return entries;
}

function withLifecycle(existing: DesiredEntry | undefined, lifecycle: DesiredLifecycle): Omit<DesiredEntry, 'generation'> {
  return existing?.fault ? { lifecycle, fault: existing.fault } : { lifecycle };
}

function summarize(observations: PodObservation[], state: DesiredState): PodSummary[] {
  return observations.map((o) => {
    const resolved = resolveEntry(state.snapshot.data, o.pod.name, o.pod.color);
    return {
      name: o.pod.name,
      color: o.pod.color,
      state: o.state,
      ...(o.ready !== undefined ? { ready: o.ready } : {}),
      ...(resolved.status === 'ok' ? { desired: resolved.entry.lifecycle } : {}),
      ...(o.status ? { lastSequenceNumber: o.status.lastSequenceNumber } : {}),
    };
  });
}

function eventFor(outcome: SwitchOutcome, actor: string, from: Color, to: Color, durationMs: number, generation: number, reason: string | undefined) {
  const seconds = (durationMs / 1000).toFixed(1);
  switch (outcome) {
    case 'switched':
      return { reason: 'SwitchSucceeded', type: 'Normal' as const, actor, message: `${actor} switched consumers ${from} -> ${to} in ${seconds}s (generation ${generation})` };
    case 'rolled-back':
      return { reason: 'SwitchRolledBack', type: 'Warning' as const, actor, message: `${actor}'s switch ${from} -> ${to} was rolled back to ${from} after ${seconds}s: ${reason}` };
    case 'rollback-failed':
      return { reason: 'SwitchRollbackFailed', type: 'Warning' as const, actor, message: `${actor}'s switch ${from} -> ${to} failed and could not be rolled back: ${reason}` };
    case 'failed':
      return { reason: 'SwitchFailed', type: 'Warning' as const, actor, message: `${actor}'s switch ${from} -> ${to} failed: ${reason}` };
  }
}



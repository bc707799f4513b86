/**
 * The switch protocol, "Pause First, Resume Second", as plain logic over the ports of ./ports.ts.
 * Read this file top to bottom; each step's detail is in the file it names.
 *
 * Guarantees (with the sidecars doing their part; see docs/safety.md):
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
 *  1. preflight      read ConfigMaps, Lease, pods of both colours and their lifecycle; refuse or no-op (switch-preflight.ts)
 *  2. lease          take the switch lock (unique holder), renew it in the background (lease.ts)
 *  3. desired-paused both colours PAUSED in the state ConfigMap, new generation, operation recorded
 *  4. pause          L1 pause to every old pod, in parallel; L2 signed pushes to every pod in the
 *                    background (in generation order per pod; never on the critical path) (switch-pushes.ts)
 *  5. verify-paused  poll until every old pod is PAUSED, within the drain timeout (with Kafka: and no
 *                    old pod is left in the consumer group; the committed offsets are the hand-off) (switch-waits.ts)
 *  6. desired-active lock still ours? new colour ACTIVE, new generation
 *  7. resume         L1 resume to every new pod, in parallel; L2 pushes to every pod in the background
 *  8. verify-active  poll until every new pod is ACTIVE and ready (old still PAUSED; with Kafka: and
 *                    every partition assigned to a new pod); optional soak (with --max-lag: the lag trigger)
 *  9. record         active-version ConfigMap + history, operation removed, Event, Lease holder = colour (switch-record.ts)
 * Any failure in 3-8 after something changed runs 3-8 back towards the old colour.
 */
import { resolveEntry } from '../shared/desired-state.js';
import type { Color, DesiredLifecycle } from '../shared/model.js';
import { errorMessage } from '../shared/errors.js';
import { phaseLabel, type PhaseName, type ProgressSink } from './events.js';
import { listFleet, type PodObservation, type PodState } from './fleet.js';
import type { KafkaHandoff, PhaseTiming, SwitchOutcome } from './history.js';
import { LeaseLostError } from './lease.js';
import type { OperationKind } from './operation.js';
import type { Clock } from '../shared/clock.js';
import type { Cluster, KafkaGroup, ObjectNames, PodAgent, PodInfo, SwitchLeftovers, SwitchWording } from './ports.js';
import type { DesiredState } from './state-store.js';
import { handLeaseBack, preflight, type Preflight } from './switch-preflight.js';
import { PushQueues } from './switch-pushes.js';
import { record, releaseLock } from './switch-record.js';
import { activeColor, pausedEverywhere, type StateKeyMode } from './state-keys.js';
import { SwitchSession } from './switch-session.js';
import { soak, verifyActive, verifyPaused } from './switch-waits.js';

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
  /** Longest interval between status polls (ms); the first poll is at once, the next after 10 ms, doubling up to this. */
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
  /** The words of the plan and of a failure's leftovers (src/render/switch-wording.ts). */
  wording: SwitchWording;
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

export async function runSwitch(context: SwitchContext, request: SwitchRequest): Promise<SwitchReport> {
  return new SwitchRun(new SwitchSession(context, request)).run();
}

class SwitchRun {
  /** Set once the first desired-state write succeeded: from then on a failure means rollback. */
  private changedFleet = false;
  /** Pod keys or colour keys, decided in preflight. */
  private keyMode: StateKeyMode = 'pod';
  private readonly pushes: PushQueues;

  constructor(private readonly session: SwitchSession) {
    this.pushes = new PushQueues(session);
  }

  async run(): Promise<SwitchReport> {
    const { session } = this;
    const { context, from, to } = session;
    // 1. preflight: read everything, change nothing
    const before = await session.phase('preflight', false, 'Preflight: ConfigMaps, Lease, pods', () => preflight(session));
    const podsBefore = summarize(before.observations, before.state);
    session.generation = before.state.generation;
    this.keyMode = before.keyMode.mode;
    if (before.noop) {
      if (before.staleHolder !== undefined) await handLeaseBack(session, before);
      return this.report('noop', podsBefore, podsBefore);
    }
    if (session.request.dryRun) return { ...this.report('dry-run', podsBefore, podsBefore), plan: context.wording.plan(this.plan(before)) };

    // 2. lease
    await session.phase('lease', false, `Take the switch lock (Lease ${context.names.lease})`, async () => {
      const { tookOverExpired, previousHolder } = await session.lock.acquire({ lease: before.lease });
      if (tookOverExpired) session.emit({ type: 'warning', message: `took over the expired lock of ${previousHolder}` });
      return `held by ${context.holder}`;
    });
    session.lock.startRenewing();

    let after: Promise<[PodObservation[], DesiredState]> | undefined;
    let outcome: SwitchOutcome = 'switched';
    let active: Color | undefined = to;
    let reason: string | undefined;
    const leftovers: SwitchLeftovers[] = [];
    try {
      try {
        await this.transition(from, to, false, context.signal); // 3-8
      } catch (error) {
        reason = errorMessage(error);
        // No rollback without the lock: once it expired another CLI may have taken it over and
        // switched, and rolling back would write every pod PAUSED over that switch (model-2).
        if (error instanceof LeaseLostError || !this.changedFleet || !session.holdsLock()) {
          outcome = 'failed';
          active = before.declared;
          leftovers.push(this.changedFleet ? await this.describeFleet() : { kind: 'nothing-changed' });
        } else {
          session.emit({ type: 'warning', message: `rolling back to ${from}: ${reason}` });
          try {
            await this.transition(to, from, true, undefined);
            outcome = 'rolled-back';
            active = from;
          } catch (rollbackError) {
            outcome = 'rollback-failed';
            active = before.declared;
            reason = `${reason}; rollback failed: ${errorMessage(rollbackError)}`;
            leftovers.push(await this.describeFleet());
          }
        }
      }
      // 9. record, whatever the outcome, once something changed
      if (outcome !== 'failed' || this.changedFleet) {
        // A record that fails (API server down) must not hide the outcome: report it with the rest.
        const unrecorded = await record(session, outcome, active, reason).then(() => undefined, errorMessage);
        if (unrecorded) leftovers.push({ kind: 'unrecorded', error: unrecorded });
      }
    } finally {
      await this.pushes.settle();
      // The report's picture of the fleet: a switch that ended as it should and was recorded shows
      // what its last verification saw and the state it recorded; anything else is read afresh
      // (reads only, never failing) while the lock is handed back.
      const clean = outcome === 'switched' && leftovers.length === 0 && session.verifiedFleet !== undefined && session.state !== undefined;
      after = clean
        ? Promise.resolve([session.verifiedFleet!, session.state!])
        : Promise.all([session.observeAll(true).catch(() => []), session.store.read().catch(() => before.state)]);
      await releaseLock(session, active ?? before.declared);
    }
    const podsAfter = summarize(...(await after));
    return {
      ...this.report(outcome, podsBefore, podsAfter),
      ...(reason ? { reason } : {}),
      ...(leftovers.length > 0 ? { leftovers: leftovers.flatMap((l) => context.wording.leftovers(l)) } : {}),
      ...(session.kafka ? { kafka: session.kafka } : {}),
    };
  }

  /** Steps 3-8, in either direction. */
  private async transition(from: Color, to: Color, rollback: boolean, signal: AbortSignal | undefined): Promise<void> {
    const { session } = this;
    const { cluster } = session.context;
    const step = (name: PhaseName) => phaseLabel(name, rollback);

    // 3. (the pods listed afresh: a pod gone loses its entry, a pod added since the preflight gets one)
    await session.phase('desired-paused', rollback, `Desired state: ${from} and ${to} PAUSED`, async () => {
      const pods = await listFleet(cluster);
      session.fleet = pods;
      const written = await session.store.update(
        (current) => ({
          ...pausedEverywhere(current, [...pods.blue, ...pods.green], this.keyMode),
          operation: session.operationRecord(step('pause')),
        }),
        session.state,
      );
      session.state = written;
      session.generation = written.generation;
      this.changedFleet = true;
      return `generation ${written.generation}`;
    });

    // 4. (the state just written and the pods it was written for; the calls first, then the pushes)
    // Step 5's first poll lists the pods while the calls are answered (the pods it finds were
    // listed after step 3's write, as before; one it finds that was not asked to pause is asked).
    let listedAhead: Record<Color, Promise<PodInfo[]>> | undefined;
    await session.phase('pause', rollback, `Pause ${from}`, async () => {
      const { state, fleet: pods } = session;
      const answers = this.pushes.command(pods[from], 'pause', state!, signal);
      listedAhead = session.listAhead();
      this.pushes.pushAll(pods[to], state!, signal);
      session.pauseAnswers = await answers;
      return `${pods[from].length} ${from} pods asked to pause`;
    });

    const group = session.kafka ? ` (group ${session.kafka.groupId})` : '';
    // 5.
    await session.phase('verify-paused', rollback, `Verify every ${from} pod PAUSED${group}`, () =>
      verifyPaused(session, from, signal, listedAhead),
    );

    // 6. (the pods as listed by the poll of step 5 that saw every old pod PAUSED)
    await session.phase('desired-active', rollback, `Desired state: ${to} ACTIVE`, async () => {
      session.lock.assertHeld(session.lockMarginMs);
      const pods = session.fleet;
      const written = await session.store.update((current) => {
        session.fenceWrite(current, session.lockMarginMs);
        return { ...activeColor(current, pods[to], to, this.keyMode), operation: session.operationRecord(step('resume')) };
      }, session.state);
      session.state = written;
      session.generation = written.generation;
      return `generation ${written.generation}`;
    });

    // 7. (the pods given ACTIVE entries in step 6, with the state as written there)
    await session.phase('resume', rollback, `Resume ${to}`, async () => {
      session.lock.assertHeld(session.lockMarginMs);
      const { state, fleet: pods } = session;
      // The resume calls go out first, step 8's first list with them, the pushes (not awaited) after.
      const resumed = this.pushes.command(pods[to], 'resume', state!, signal);
      listedAhead = session.listAhead();
      this.pushes.pushAll(pods[from], state!, signal);
      await resumed;
      return `${pods[to].length} ${to} pods asked to resume`;
    });

    const { verifyTimeoutMs, soakMs } = session.request;
    // 8.
    await session.phase('verify-active', rollback, `Verify every ${to} pod ACTIVE and ready${group}`, () =>
      verifyActive(session, from, to, verifyTimeoutMs, signal, { waitForGroup: true, listedAhead }),
    );

    if (soakMs > 0) await session.phase('soak', rollback, `Soak ${to} for ${soakMs / 1000}s`, () => soak(session, from, to, signal));
  }

  /** For a failed switch or rollback: where every pod is, and what to run next. */
  private async describeFleet(): Promise<SwitchLeftovers> {
    const { session } = this;
    try {
      return { kind: 'fleet', observations: await session.observeAll(false), retry: [session.from, session.to] };
    } catch (error) {
      return { kind: 'unobserved', error: errorMessage(error), lastSeen: [...session.lastPodState] };
    }
  }

  private plan(before: Preflight) {
    const { session } = this;
    const { context, request } = session;
    const podsOf = (color: Color) => before.observations.filter((o) => o.pod.color === color).map((o) => o.pod.name);
    return {
      from: session.from,
      to: session.to,
      names: context.names,
      holder: context.holder,
      leaseDurationMs: request.leaseDurationMs,
      nextGeneration: before.state.generation + 1,
      pods: { blue: podsOf('blue'), green: podsOf('green') },
      drainTimeoutMs: request.drainTimeoutMs,
      verifyTimeoutMs: request.verifyTimeoutMs,
      soakMs: request.soakMs,
      maxLag: request.maxLag,
      kafka: session.kafka ? { groupId: session.kafka.groupId, topics: [...session.kafkaTopics] } : undefined,
    };
  }

  private report(outcome: SwitchReportOutcome, podsBefore: PodSummary[], podsAfter: PodSummary[]): SwitchReport {
    const { session } = this;
    const now = session.now();
    return {
      id: session.id,
      kind: session.request.kind,
      outcome,
      from: session.from,
      to: session.to,
      actor: session.context.actor,
      generation: session.generation,
      startedAt: new Date(session.startedAt).toISOString(),
      finishedAt: new Date(now).toISOString(),
      durationMs: now - session.startedAt,
      phases: [...session.phases],
      podsBefore,
      podsAfter,
    };
  }
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

/**
 * Steps 5 and 8 of the switch (./switch.ts) and the soak: poll the consumers (and, with Kafka, the
 * consumer group) until the step's condition holds or its deadline passes, and say what was still
 * wrong at the deadline. Each step-5 poll also lists the other colour (while it observes its own):
 * the pods of the poll that saw every old pod PAUSED are the ones step 6 writes for, so the write
 * needs no list of its own.
 */
import { otherColor, type Color } from '../shared/model.js';
import { OperationError } from '../shared/errors.js';
import { byPodName, certainlyIdle, describeStates, type PodObservation } from './fleet.js';
import type { PodInfo } from './ports.js';
import {
  committedOffsetsOf,
  describePartitions,
  membersOfColor,
  partitionsNotHeldBy,
  type GroupMemberView,
  type GroupView,
} from './kafka-group.js';
import { pollUntil } from './poll.js';
import type { SwitchSession } from './switch-session.js';

/** A step's condition did not hold by its deadline, or broke while waiting: the switch rolls back. */
export class StepFailedError extends OperationError {}

/** The lag trigger fires after this many soak checks in a row above --max-lag, each higher than the one before. */
const LAG_GROWTH_CHECKS = 3;

/** What a verify-paused poll saw; `group` once every pod was PAUSED (with Kafka). */
interface PausedWait {
  /** Both colours as listed by this poll: what the desired-active write is made for. */
  fleet: Record<Color, PodInfo[]>;
  observations: PodObservation[];
  waiting: PodObservation[];
  group?: { view: GroupView | string; stayed: GroupMemberView[] };
}

/** What a verify-active poll saw; `group.wait` says what the group still lacks. */
interface ActiveWait {
  old: PodObservation[];
  fresh: PodObservation[];
  waiting: PodObservation[];
  group?: { wait?: string; partitions?: number };
}

export async function verifyPaused(
  session: SwitchSession,
  color: Color,
  signal: AbortSignal | undefined,
  listedAhead?: Record<Color, Promise<PodInfo[]>>,
): Promise<string> {
  session.pausedAt = undefined;
  const group = session.context.kafka;
  let ahead = listedAhead;
  const result = await pollUntil<PausedWait>(
    async () => {
      // The other colour is listed while this one is observed: step 6 writes for both as seen here.
      const other = otherColor(color);
      const listed = ahead ?? session.listAhead();
      ahead = undefined;
      const otherListed = listed[other];
      const paused = session.pauseAnswers.filter((o) => o.state === 'PAUSED');
      const observations = await session.observeColor(color, false, signal, paused, listed[color]);
      const fleet = {
        [color]: observations.map((o) => o.pod).sort(byPodName),
        [other]: [...(await otherListed)].sort(byPodName),
      } as Record<Color, PodInfo[]>;
      // --force excuses unreachable pods of the colour being left, never the ones this run resumed.
      const excuseUnreachable = session.request.force && color === session.from;
      const waiting = observations.filter((o) => !certainlyIdle(o) && !(excuseUnreachable && o.state === 'unreachable'));
      if (waiting.length > 0 || !group) return { done: waiting.length === 0, value: { fleet, observations, waiting } };
      if (session.pausedAt === undefined) {
        session.pausedAt = session.context.clock.now();
        session.emit({ type: 'info', message: `every ${color} pod PAUSED; waiting for them to leave consumer group ${group.groupId}` });
      }
      const view = await session.readGroupWhileWaiting(observations);
      const stayed = typeof view === 'string' ? [] : membersOfColor(view, color);
      return { done: typeof view !== 'string' && stayed.length === 0, value: { fleet, observations, waiting, group: { view, stayed } } };
    },
    session.pollOptions(session.request.drainTimeoutMs, signal),
  );
  const last = result.done ? result.value : result.last;
  const seconds = (result.elapsedMs / 1000).toFixed(1);
  if (!result.done && (last === undefined || last.waiting.length > 0)) {
    throw new StepFailedError(
      `${color} did not pause within ${session.request.drainTimeoutMs / 1000}s: ${describeStates(last?.waiting ?? [])}`,
    );
  }
  // Step 6 writes for the pods of the poll that saw every one of `color` PAUSED: no list of its own.
  session.fleet = last!.fleet;
  const paused = `${last!.observations.length} pods PAUSED`;
  if (!group || !last?.group) return `${paused} in ${seconds}s`;
  const { view, stayed } = last.group;
  if (!result.done) {
    const detail =
      typeof view === 'string'
        ? view
        : `still members: ${stayed.map((m) => `${m.pod}${m.assignments.length > 0 ? ` (${m.assignments.map((a) => `${a.topic} ${a.partitions.join(', ')}`).join('; ')})` : ''}`).join(', ')}`;
    const message = `${color} pods are PAUSED but did not leave consumer group ${group.groupId} within ${session.request.drainTimeoutMs / 1000}s: ${detail}`;
    if (!session.request.force) throw new StepFailedError(message);
    session.emit({ type: 'warning', message: `--force: continuing although ${message}` });
    return `${paused}; ${color} still in group ${group.groupId} (--force)`;
  }
  if (typeof view !== 'string') session.kafka!.handoffOffsets = committedOffsetsOf(view);
  return `${paused} and out of group ${group.groupId} in ${seconds}s`;
}

/** How a verify-active wait runs (step 8, or a check of the soak). */
interface ActiveCheck {
  /** Step 8, not the soak (a rebalance there is no failure): also wait for the consumer group. */
  waitForGroup?: boolean;
  /** The soak's: only these pods of `to` must stay ACTIVE and ready. */
  verified?: ReadonlySet<string>;
  /** The first poll's pod lists, made while the step before was answered. */
  listedAhead?: Record<Color, Promise<PodInfo[]>>;
}

/**
 * Every pod of `to` ACTIVE and ready (but a pod being deleted; with `verified`, only those pods),
 * none of `from` consuming (a pod being deleted included). With `waitForGroup` also every partition
 * assigned to a `to` pod and no `from` pod left in the group; the time since `from` was all PAUSED
 * is the Kafka hand-off wait.
 */
export async function verifyActive(
  session: SwitchSession,
  from: Color,
  to: Color,
  timeoutMs: number,
  signal: AbortSignal | undefined,
  { waitForGroup = false, verified, listedAhead }: ActiveCheck = {},
): Promise<string> {
  const group = waitForGroup ? session.context.kafka : undefined;
  let ahead = listedAhead;
  const result = await pollUntil<ActiveWait>(
    async () => {
      const listed = ahead ?? session.listAhead();
      ahead = undefined;
      const [old, fresh] = await Promise.all([
        session.observeColor(from, false, signal, [], listed[from]),
        session.observeColor(to, true, signal, [], listed[to]),
      ]);
      const resumedOld = old.filter((o) => !certainlyIdle(o) && o.state !== 'unreachable');
      if (resumedOld.length > 0) {
        throw new StepFailedError(`${from} is consuming again while ${to} resumes: ${describeStates(resumedOld)}`);
      }
      // A pod being deleted (scale-down) is leaving, not failing. In the soak, a pod added since step 8
      // is still joining (its sidecar resumes it from its entry): only the pods verified then must stay.
      const required = fresh.filter((o) => !o.pod.terminating && (verified === undefined || verified.has(o.pod.name)));
      const reachable = required.filter((o) => o.state !== 'unreachable' || !session.request.force);
      const waiting = reachable.filter((o) => o.state !== 'ACTIVE' || o.ready !== true);
      const podsDone = waiting.length === 0 && reachable.length > 0;
      if (!podsDone || !group) return { done: podsDone, value: { old, fresh, waiting } };
      const view = await session.readGroupWhileWaiting([...old, ...fresh]);
      if (typeof view === 'string') return { done: false, value: { old, fresh, waiting, group: { wait: view } } };
      const notHeld = partitionsNotHeldBy(view, to);
      const stayed = membersOfColor(view, from);
      const groupWait =
        notHeld.length > 0
          ? `not yet assigned to ${to}: ${describePartitions(notHeld)}`
          : stayed.length > 0
            ? `${from} still in the group: ${stayed.map((m) => m.pod).join(', ')}`
            : undefined;
      if (groupWait === undefined) {
        session.kafka!.lagAfter = view.lag.total;
        if (session.pausedAt !== undefined) session.kafka!.handoffWaitMs = session.context.clock.now() - session.pausedAt;
      }
      return {
        done: groupWait === undefined,
        value: { old, fresh, waiting, group: { ...(groupWait ? { wait: groupWait } : {}), partitions: view.partitions.length } },
      };
    },
    session.pollOptions(timeoutMs, signal),
  );
  const last = result.done ? result.value : result.last;
  if (!result.done && (last === undefined || last.waiting.length > 0 || !last.group)) {
    const waiting = last?.waiting ?? [];
    const detail = waiting
      .map((o) => `${o.pod.name} ${o.state}${o.state === 'ACTIVE' && o.ready === false ? ' but not ready' : ''}`)
      .join(', ');
    throw new StepFailedError(`${to} is not ACTIVE and ready within ${timeoutMs / 1000}s: ${detail || 'no reachable pods'}`);
  }
  if (result.done) session.verifiedFleet = [...last!.old, ...last!.fresh];
  const activeAndReady = last!.fresh.filter((o) => o.state === 'ACTIVE' && o.ready).map((o) => o.pod.name);
  if (verified === undefined) session.verifiedPods = new Set(activeAndReady);
  const ready = `${activeAndReady.length} pods ACTIVE and ready`;
  if (!group || !last?.group) return `${ready} in ${(result.elapsedMs / 1000).toFixed(1)}s`;
  if (!result.done) {
    const message = `${to} pods are ACTIVE but consumer group ${group.groupId} was not handed over within ${timeoutMs / 1000}s: ${last.group.wait}`;
    if (!session.request.force) throw new StepFailedError(message);
    session.emit({ type: 'warning', message: `--force: continuing although ${message}` });
    return `${ready}; group ${group.groupId} not handed over (--force)`;
  }
  const handoff = session.kafka?.handoffWaitMs === undefined ? '' : `, Kafka hand-off ${(session.kafka.handoffWaitMs / 1000).toFixed(1)}s`;
  return `${ready}, ${last.group.partitions ?? 0} partitions on ${to} in ${(result.elapsedMs / 1000).toFixed(1)}s${handoff}`;
}

/**
 * The new colour's pods verified in step 8 must stay ACTIVE and ready (one deleted meanwhile is
 * left out, one added is not yet held to it), and the old one PAUSED, for the whole soak. With
 * --max-lag (and Kafka), the lag trigger: LAG_GROWTH_CHECKS checks in a row above the limit, each
 * higher than the last, roll the switch back. A lag that is high but falling is catching up.
 */
export async function soak(session: SwitchSession, from: Color, to: Color, signal: AbortSignal | undefined): Promise<string> {
  const end = session.context.clock.now() + session.request.soakMs;
  const watchLag = session.context.kafka !== undefined && session.request.maxLag !== undefined;
  const growing: number[] = [];
  let checks = 0;
  while (session.context.clock.now() < end) {
    await verifyActive(session, from, to, 0, signal, { verified: session.verifiedPods });
    if (watchLag) await checkLag(session, growing);
    checks++;
    await session.context.clock.sleep(Math.min(1000, Math.max(0, end - session.context.clock.now())), signal);
  }
  return `${to} stayed healthy (${checks} checks${watchLag ? `, lag ${session.kafka!.lagAfter ?? '?'}` : ''})`;
}

/** One lag sample of the soak; `growing` holds the current run of rising samples above the limit. */
async function checkLag(session: SwitchSession, growing: number[]): Promise<void> {
  const limit = session.request.maxLag!;
  const view = await session.readGroupWhileWaiting([]);
  if (typeof view === 'string') {
    session.emit({ type: 'warning', message: `lag check skipped: ${view}` });
    return;
  }
  const lag = view.lag.total;
  session.kafka!.lagAfter = lag;
  if (lag > limit && (growing.length === 0 || lag > growing[growing.length - 1]!)) growing.push(lag);
  else growing.splice(0, growing.length, ...(lag > limit ? [lag] : []));
  if (growing.length >= LAG_GROWTH_CHECKS) {
    throw new StepFailedError(
      `lag: consumer group ${view.groupId}'s lag keeps growing beyond --max-lag ${limit} (${growing.join(' -> ')})`,
    );
  }
}

/**
 * Step 1 of the switch (./switch.ts): read everything, change nothing. Refuses a fleet that cannot
 * be switched safely (unless --force), and decides whether the switch is a no-op.
 */
import { resolveEntry } from '../shared/desired-state.js';
import { otherColor, type Color } from '../shared/model.js';
import { errorMessage } from '../shared/errors.js';
import { KafkaUnavailableError, RefusedError } from './errors.js';
import { certainlyIdle, describeStates, listFleet, mayBeConsuming, observePods, type PodObservation } from './fleet.js';
import { describeStranded, strandedMembers, type GroupView } from './kafka-group.js';
import { leaseBlocks } from './lease.js';
import { assertPermissions, switchPermissions } from './permissions.js';
import type { LeaseSnapshot, PodInfo } from './ports.js';
import type { DesiredState } from './state-store.js';
import { resolveKeyMode, storedKeyMode, type ResolvedKeyMode } from './state-keys.js';
import type { SwitchSession } from './switch-session.js';

export interface Preflight {
  declared: Color | undefined;
  state: DesiredState;
  observations: PodObservation[];
  noop: boolean;
  /** The Lease as read (undefined: none), for the lock to be taken on this read instead of reading it again. */
  lease: LeaseSnapshot | undefined;
  /** The Lease's holder, when it is not the target colour at rest (e.g. a killed CLI's, or a failed hand-back). */
  staleHolder: string | undefined;
  /** Pod keys or colour keys: what steps 3 and 6 write (./state-keys.ts). */
  keyMode: ResolvedKeyMode;
}

export async function preflight(session: SwitchSession): Promise<Preflight> {
  const { cluster, names, clock, pods } = session.context;
  const { to, from, request } = session;
  // The reads and the pod list go out with the permission check (they change nothing); a refusal
  // of the check is still reported first, and no pod is called before it passed.
  const reads = Promise.all([cluster.getConfigMap(names.activeConfigMap), session.store.read(), cluster.getLease(names.lease)]);
  const fleet = listFleet(cluster);
  reads.catch(() => undefined);
  fleet.catch(() => undefined);
  await assertPermissions(cluster, pods, switchPermissions(names), names.namespace);
  const [activeConfigMap, state, lease] = await reads;
  if (!activeConfigMap) {
    throw new RefusedError(
      `ConfigMap ${names.activeConfigMap} does not exist in ${names.namespace}`,
      'apply the manifests (kubectl apply -k k8s/overlays/production) and run `bgswitch init`',
    );
  }
  const declaredRaw = activeConfigMap.data.active;
  if (declaredRaw !== undefined && declaredRaw !== 'blue' && declaredRaw !== 'green') {
    throw new RefusedError(
      `ConfigMap ${names.activeConfigMap} says active: ${JSON.stringify(declaredRaw)}, which is not a colour`,
      'fix it to blue or green with kubectl edit',
    );
  }
  const declared = declaredRaw as Color | undefined;
  const storedMode = storedKeyMode(activeConfigMap);
  if (state.entries.size === 0 && state.malformed.size === 0) {
    throw new RefusedError(`ConfigMap ${names.stateConfigMap} has no desired state yet`, 'run `bgswitch init` first');
  }
  if (lease && leaseBlocks(lease, clock.now())) throw session.lock.refusal(lease);
  session.fleet = await fleet;
  session.state = state;
  session.activeConfigMap = activeConfigMap;
  const observations = await observePods(pods, [...session.fleet.blue, ...session.fleet.green], { withReadiness: false });
  const byColor = (color: Color) => observations.filter((o) => o.pod.color === color);
  if (byColor(to).length === 0) {
    throw new RefusedError(
      `no ${to} pods found behind Service ${names.services[to]}`,
      `scale up the ${to} workload (StatefulSet, Deployment or Rollout) before switching to it`,
    );
  }
  for (const [key, error] of state.malformed) {
    session.emit({ type: 'warning', message: `state entry "${key}" is malformed (${error}); the switch will overwrite it` });
  }
  if (state.operation) {
    const { kind, from: opFrom, to: opTo, actor, phase } = state.operation;
    session.emit({
      type: 'warning',
      message: `an interrupted ${kind} ${opFrom} -> ${opTo} (by ${actor}, last step ${phase}) is finished by this run`,
    });
  }

  const consuming = (color: Color) => byColor(color).filter(mayBeConsuming);
  const dualActive = consuming('blue').some((o) => o.state !== 'unreachable') && consuming('green').some((o) => o.state !== 'unreachable');
  const unreachable = observations.filter((o) => o.state === 'unreachable');
  const problems: string[] = [];
  if (dualActive) problems.push(`dual-active: ${describeStates([...consuming('blue'), ...consuming('green')])}`);
  if (unreachable.length > 0)
    problems.push(`unreachable: ${unreachable.map((o) => `${o.pod.name} (${o.error ?? 'no answer'})`).join('; ')}`);
  if (problems.length > 0) {
    if (!request.force) {
      throw new RefusedError(
        `the fleet is inconsistent: ${problems.join('; ')}`,
        'run `bgswitch status` to see why; --force switches anyway (the old colour is still paused first)',
      );
    }
    session.emit({ type: 'warning', message: `--force: proceeding although ${problems.join('; ')}` });
  }

  // The paused side: the colour not declared active (nothing declared yet: the target, not consuming).
  if (session.context.kafka) await preflightGroup(session, observations, declared ? otherColor(declared) : to);

  const desiredOf = (pod: PodInfo) => {
    const resolved = resolveEntry(state.snapshot.data, pod.name, pod.color);
    return resolved.status === 'ok' ? resolved.entry.lifecycle : undefined;
  };
  const noop =
    declared === to &&
    !state.operation &&
    byColor(to).every((o) => o.state === 'ACTIVE' && desiredOf(o.pod) === 'ACTIVE') &&
    byColor(from).every((o) => certainlyIdle(o) && desiredOf(o.pod) !== 'ACTIVE');
  const staleHolder = lease && lease.holderIdentity !== to ? (lease.holderIdentity ?? '') : undefined;
  const keyMode = resolveKeyMode(
    storedMode,
    observations.map((o) => o.pod),
  );
  return { declared, state, observations, noop, lease, staleHolder, keyMode };
}

/**
 * The group must answer, and no pod of the paused side (`pausedColor`, or any PAUSED pod) may
 * hold partitions: nobody consumes those, and the switch could not hand them over.
 */
async function preflightGroup(session: SwitchSession, observations: PodObservation[], pausedColor: Color): Promise<void> {
  let group: GroupView;
  try {
    group = await session.readGroup(observations);
  } catch (error) {
    if (!(error instanceof KafkaUnavailableError)) throw error;
    throw new RefusedError(error.message, 'check the broker; `--no-kafka` switches without the consumer-group checks', { cause: error });
  }
  const stranded = strandedMembers(group, pausedColor);
  if (stranded.length > 0) {
    const what = stranded.map(describeStranded).join('; ');
    if (!session.request.force) {
      throw new RefusedError(
        `consumer group ${group.groupId}: ${what}`,
        'paused consumers must leave the group (docs/operations.md, stranded partitions); --force switches anyway, and those partitions stay unconsumed while they are held',
      );
    }
    session.emit({ type: 'warning', message: `--force: proceeding although ${what}` });
  }
  session.kafka!.lagBefore = group.lag.total;
}

/**
 * A no-op still puts the Lease back at rest naming the active colour when an earlier run could not
 * (its hand-back failed, or it was killed after recording): nothing else would ever repair it.
 */
export async function handLeaseBack(session: SwitchSession, before: Preflight): Promise<void> {
  const holder = before.staleHolder || 'no holder';
  try {
    await session.lock.acquire({ lease: before.lease });
    await session.lock.release(session.to);
    session.emit({ type: 'info', message: `the switch lock was left with ${holder}; handed back to ${session.to}` });
  } catch (error) {
    session.emit({ type: 'warning', message: `the switch lock is left with ${holder}: ${errorMessage(error)}` });
  }
}

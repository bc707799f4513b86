/**
 * `status`: one consistent picture of the fleet — declared active colour, lock, generation, last
 * switch, and every pod's actual vs desired state, sidecar and fault — with every problem named in
 * words and what to run next.
 */
import { OPERATION_ANNOTATION, resolveEntry, type EntrySource } from '../shared/desired-state.js';
import { isColor, otherColor, type Color, type DesiredLifecycle, type Fault } from '../shared/model.js';
import { errorMessage, PodUnreachableError } from '../shared/errors.js';
import { listFleet, mayBeConsuming, observePods, type PodObservation, type PodState } from './fleet.js';
import { HISTORY_KEY, readHistory, type HistoryEntry } from './history.js';
import { describeStranded, readGroup, strandedMembers, type GroupView } from './kafka-group.js';
import { leaseBlocks, leaseExpiry } from './lease.js';
import type { OperationRecord } from './operation.js';
import type { Clock } from '../shared/clock.js';
import type { Cluster, ConfigMapSnapshot, KafkaGroup, ObjectNames, PodAgent, PodInfo } from './ports.js';
import type { SidecarStatus } from '../shared/pod-api.js';
import { resolveKeyMode, storedKeyMode, type ResolvedKeyMode } from './state-keys.js';
import { decodeDesiredState, type DesiredState } from './state-store.js';

export type ProblemKind =
  | 'not-initialised'
  | 'dual-active'
  | 'no-active'
  | 'drift'
  | 'unreachable'
  | 'sidecar'
  | 'interrupted'
  | 'malformed'
  | 'lock'
  | 'kafka-unreachable'
  | 'stranded-partitions'
  | 'pod-key-override';

export interface Problem {
  kind: ProblemKind;
  message: string;
  hint?: string;
}

export interface PodRow {
  name: string;
  color: Color;
  phase: string;
  ready: boolean;
  restarts: number;
  actual: PodState;
  desired: DesiredLifecycle | 'missing' | 'malformed';
  desiredGeneration?: number;
  desiredFault?: Fault;
  /** The key of the state ConfigMap that decided `desired` (a pod key wins over the colour key). */
  desiredKey?: EntrySource;
  sidecar: { reachable: boolean; generation?: number; error?: string; pushKeyMounted?: boolean };
  fault?: Fault;
  lastSequenceNumber?: number;
  totalMessagesReceived?: number;
}

export interface StatusView {
  namespace: string;
  declaredActive?: Color;
  lease: { holder?: string; expiresAt?: string; blocking: boolean };
  generation: number;
  /** Which keys the switch writes: pod keys or colour keys (src/core/state-keys.ts). */
  stateKeys: ResolvedKeyMode;
  operation?: OperationRecord;
  lastSwitch?: HistoryEntry;
  pods: PodRow[];
  /** The consumer group, when Kafka is configured; `error` when the broker did not answer. */
  kafka?: GroupView | { groupId: string; bootstrap: string; error: string };
  problems: Problem[];
}

export async function readStatus(context: {
  cluster: Cluster;
  pods: PodAgent;
  names: ObjectNames;
  clock: Clock;
  kafka?: KafkaGroup | undefined;
}): Promise<StatusView> {
  const { cluster, names } = context;
  const [active, stateSnapshot, lease, fleet] = await Promise.all([
    cluster.getConfigMap(names.activeConfigMap),
    cluster.getConfigMap(names.stateConfigMap),
    cluster.getLease(names.lease),
    listFleet(cluster),
  ]);
  const pods = [...fleet.blue, ...fleet.green];
  const state = stateSnapshot ? decodeDesiredState(stateSnapshot) : undefined;
  // Each pod's consumer, sidecar and fault calls all at once: one pod round trip, not two.
  const [observations, extras] = await Promise.all([
    observePods(context.pods, pods, { withReadiness: false }),
    Promise.all(pods.map((pod) => podExtras(context.pods, pod))),
  ]);
  const rows = observations.map((o, i) => row(o, extras[i]!, state));

  const problems: Problem[] = [];
  const declared = active?.data.active;
  if (!active || !state || (state.entries.size === 0 && state.malformed.size === 0)) {
    problems.push({ kind: 'not-initialised', message: 'bgswitch is not initialised in this namespace', hint: 'run `bgswitch init`' });
  }
  const now = context.clock.now();
  const blocking = leaseBlocks(lease, now);
  const expiry = lease ? leaseExpiry(lease) : undefined;
  if (state?.operation) {
    const op = state.operation;
    problems.push(
      blocking
        ? {
            kind: 'lock',
            message: `${op.kind} ${op.from} -> ${op.to} in progress by ${op.actor} (step ${op.phase})`,
            hint: 'wait for it to finish',
          }
        : {
            kind: 'interrupted',
            message: `interrupted ${op.kind} ${op.from} -> ${op.to} by ${op.actor} at step ${op.phase} (started ${op.startedAt})`,
            hint: `run \`bgswitch switch ${op.to}\` to finish it or \`bgswitch switch ${op.from}\` to undo it`,
          },
    );
  } else if (blocking) {
    problems.push({ kind: 'lock', message: `the switch lock is held by ${lease?.holderIdentity}`, hint: 'another switch is running' });
  }
  // A mode stored wrongly is a problem to name, not a reason to show nothing.
  let stored: ReturnType<typeof storedKeyMode>;
  try {
    stored = storedKeyMode(active);
  } catch (error) {
    problems.push({ kind: 'malformed', message: errorMessage(error), hint: 'run `bgswitch init --color-keys` or `--pod-keys`' });
  }
  const stateKeys = resolveKeyMode(stored, pods);
  problems.push(...fleetProblems(observations, rows, state, declared), ...storedJsonProblems(active, stateSnapshot, state));
  if (stateKeys.mode === 'color' && state) problems.push(...podKeyOverrides(rows, state));
  const kafka = context.kafka
    ? await readGroup(context.kafka, observations).catch((error: unknown) => ({
        groupId: context.kafka!.groupId,
        bootstrap: context.kafka!.bootstrap,
        error: errorMessage(error),
      }))
    : undefined;
  if (kafka) problems.push(...groupProblems(kafka, isColor(declared) ? otherColor(declared) : undefined));
  return {
    namespace: names.namespace,
    ...(isColor(declared) ? { declaredActive: declared } : {}),
    lease: {
      ...(lease?.holderIdentity ? { holder: lease.holderIdentity } : {}),
      ...(expiry !== undefined && blocking ? { expiresAt: new Date(expiry).toISOString() } : {}),
      blocking,
    },
    generation: state?.generation ?? 0,
    stateKeys,
    ...(state?.operation ? { operation: state.operation } : {}),
    ...(active ? lastSwitch(readHistory(active.data[HISTORY_KEY]).entries) : {}),
    pods: rows,
    ...(kafka ? { kafka } : {}),
    problems,
  };
}

function groupProblems(kafka: NonNullable<StatusView['kafka']>, pausedColor: Color | undefined): Problem[] {
  if ('error' in kafka) {
    return [
      {
        kind: 'kafka-unreachable',
        message: `consumer group ${kafka.groupId} cannot be read: ${kafka.error}`,
        hint: 'check the broker; a switch refuses until it answers (or run it with --no-kafka)',
      },
    ];
  }
  return strandedMembers(kafka, pausedColor).map((member) => ({
    kind: 'stranded-partitions',
    message: describeStranded(member),
    hint: `the consumer must leave group ${kafka.groupId} when paused (docs/consumer-contract.md); restarting the pod (kubectl delete pod ${member.pod}) releases them now`,
  }));
}

/**
 * Colour-key mode: a pod key that says otherwise than its colour's key overrides it (the sidecar
 * resolves the pod key first). Only `inject-fault` or a hand edit writes one; the next switch removes it.
 */
function podKeyOverrides(rows: PodRow[], state: DesiredState): Problem[] {
  return rows.flatMap((r) => {
    // A malformed pod key is named as malformed already.
    if (r.desiredKey?.kind !== 'pod' || r.desired === 'malformed') return [];
    const colorEntry = state.entries.get(r.color);
    if (colorEntry?.lifecycle === r.desired) return [];
    return [
      {
        kind: 'pod-key-override' as const,
        message: `${r.name}: its pod key says ${r.desired}, overriding the ${r.color} key (${colorEntry?.lifecycle ?? 'missing'})`,
        hint: `the next switch removes pod keys; to drop it now: kubectl edit configmap ${state.snapshot.name} (delete key ${r.name})`,
      },
    ];
  });
}

/** True when the fleet has any problem worth a non-zero `status --check`. */
export function hasProblems(view: StatusView): boolean {
  return view.problems.length > 0;
}

/** Stored values nothing acts on when unreadable; each is named so nobody mistakes it for absent. */
function storedJsonProblems(
  active: ConfigMapSnapshot | undefined,
  stateSnapshot: ConfigMapSnapshot | undefined,
  state: DesiredState | undefined,
): Problem[] {
  const problems: Problem[] = [];
  const declared = active?.data.active;
  if (active && declared !== undefined && !isColor(declared)) {
    problems.push({
      kind: 'malformed',
      message: `ConfigMap ${active.name} declares active=${JSON.stringify(declared.slice(0, 40))}, which is neither blue nor green`,
      hint: 'run `bgswitch switch <colour>` to set it',
    });
  }
  for (const problem of active ? readHistory(active.data[HISTORY_KEY]).unreadable : []) {
    problems.push({
      kind: 'malformed',
      message: `unreadable switch history in ConfigMap ${active!.name}: ${problem}`,
      hint: '`bgswitch history` skips it; the next switch rewrites the history without it',
    });
  }
  if (stateSnapshot?.annotations[OPERATION_ANNOTATION] !== undefined && !state?.operation) {
    problems.push({
      kind: 'malformed',
      message: `the switch-in-progress record (annotation ${OPERATION_ANNOTATION} on ${stateSnapshot.name}) is unreadable`,
      hint: 'check `bgswitch history` and the pods; the next switch replaces it',
    });
  }
  return problems;
}

function lastSwitch(history: HistoryEntry[]): { lastSwitch?: HistoryEntry } {
  return history[0] ? { lastSwitch: history[0] } : {};
}

async function podExtras(agent: PodAgent, pod: PodInfo): Promise<{ sidecar: SidecarStatus | Error; fault: Fault | Error }> {
  const settle = async <T>(call: () => Promise<T>): Promise<T | Error> => {
    try {
      return await call();
    } catch (error) {
      if (error instanceof PodUnreachableError) return error;
      throw error;
    }
  };
  if (!pod.ip) return { sidecar: new Error('pod has no IP'), fault: new Error('pod has no IP') };
  const [sidecar, fault] = await Promise.all([settle(() => agent.sidecarStatus(pod)), settle(() => agent.getFault(pod))]);
  return { sidecar, fault };
}

function row(o: PodObservation, extras: { sidecar: SidecarStatus | Error; fault: Fault | Error }, state: DesiredState | undefined): PodRow {
  const resolved = state ? resolveEntry(state.snapshot.data, o.pod.name, o.pod.color) : ({ status: 'missing' } as const);
  const desired = resolved.status === 'ok' ? resolved.entry.lifecycle : resolved.status;
  return {
    name: o.pod.name,
    color: o.pod.color,
    phase: o.pod.phase,
    ready: o.pod.ready,
    restarts: o.pod.restarts,
    actual: o.state,
    desired,
    ...(resolved.status === 'ok' ? { desiredGeneration: resolved.entry.generation } : {}),
    ...(resolved.status === 'ok' && resolved.entry.fault ? { desiredFault: resolved.entry.fault } : {}),
    ...(resolved.status !== 'missing' ? { desiredKey: resolved.source } : {}),
    sidecar:
      extras.sidecar instanceof Error
        ? { reachable: false, error: extras.sidecar.message }
        : {
            reachable: true,
            generation: extras.sidecar.generation,
            ...(extras.sidecar.pushKeyMounted === false ? { pushKeyMounted: false } : {}),
          },
    ...(extras.fault instanceof Error ? {} : { fault: extras.fault }),
    ...(o.status ? { lastSequenceNumber: o.status.lastSequenceNumber, totalMessagesReceived: o.status.totalMessagesReceived } : {}),
  };
}

function fleetProblems(
  observations: PodObservation[],
  rows: PodRow[],
  state: DesiredState | undefined,
  declared: string | undefined,
): Problem[] {
  const problems: Problem[] = [];
  const consuming = (color: Color) => observations.filter((o) => o.pod.color === color && mayBeConsuming(o) && o.state !== 'unreachable');
  const blue = consuming('blue');
  const green = consuming('green');
  if (blue.length > 0 && green.length > 0) {
    problems.push({
      kind: 'dual-active',
      message: `DUAL-ACTIVE: blue ${blue.map((o) => o.pod.name).join(', ')} and green ${green.map((o) => o.pod.name).join(', ')} are consuming at once`,
      hint: `run \`bgswitch switch ${isColor(declared) ? declared : 'blue'} --force\` now (it pauses the other colour first)`,
    });
  }
  if (isColor(declared) && blue.length + green.length === 0 && observations.length > 0) {
    problems.push({
      kind: 'no-active',
      message: `no pod is consuming, though ${declared} is declared active`,
      hint: `run \`bgswitch switch ${declared}\``,
    });
  }
  for (const r of rows) {
    if (r.actual === 'unreachable')
      problems.push({ kind: 'unreachable', message: `${r.name}: consumer unreachable`, hint: 'check the pod (kubectl describe pod)' });
    else if (r.actual !== 'not-running' && (r.desired === 'ACTIVE' || r.desired === 'PAUSED') && r.actual !== r.desired) {
      problems.push({
        kind: 'drift',
        message: `${r.name}: desired ${r.desired}, actual ${r.actual}`,
        hint: 'the sidecar converges within seconds; if it persists, check its logs',
      });
    }
    if (r.actual !== 'not-running' && !r.sidecar.reachable)
      problems.push({ kind: 'sidecar', message: `${r.name}: sidecar unreachable (${r.sidecar.error ?? 'no answer'})` });
    if (r.sidecar.pushKeyMounted === false) {
      problems.push({
        kind: 'sidecar',
        message: `${r.name}: the sidecar has no push key, so it refuses pushes`,
        hint: 'the kubelet mounts the push-key Secret within about a minute of `bgswitch init`; if it persists, run `bgswitch init` and check the pod mounts the Secret',
      });
    }
  }
  for (const [key, error] of state?.malformed ?? []) {
    problems.push({
      kind: 'malformed',
      message: `state entry "${key}" is malformed: ${error}; sidecars ignore it`,
      hint: 'the next switch rewrites it; or fix it with kubectl edit',
    });
  }
  return problems;
}

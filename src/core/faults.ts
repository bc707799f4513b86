/**
 * `inject-fault`: a fault becomes part of the pod's desired state (so a restarted consumer gets it
 * back), is pushed to the sidecar and set on the consumer directly, and is then confirmed by reading
 * the consumer's `GET /fault`. The lifecycle in the entry is kept as it is.
 */
import { resolveEntry } from '../shared/desired-state.js';
import { isColor, NO_FAULT, sameFault, type Color, type DesiredEntry, type Fault } from '../shared/model.js';
import { errorMessage, OperationError, PodUnreachableError, UsageError } from '../shared/errors.js';
import { RefusedError } from './errors.js';
import { listFleet } from './fleet.js';
import { assertPermissions, faultPermissions } from './permissions.js';
import { pollUntil } from './poll.js';
import type { Clock } from '../shared/clock.js';
import type { Cluster, ObjectNames, PodAgent, PodInfo } from './ports.js';
import { DesiredStateStore } from './state-store.js';

export interface FaultRequest {
  /** A pod name or a colour. */
  target: string;
  /** The fields to set; `clear` resets every field to 0 / false. */
  change: Partial<Fault> | 'clear';
  timeoutMs: number;
  pollIntervalMs: number;
  dryRun: boolean;
}

export interface FaultContext {
  cluster: Cluster;
  pods: PodAgent;
  clock: Clock;
  names: ObjectNames;
}

export interface PodFaultResult {
  pod: string;
  color: Color;
  desired: Fault;
  /** What the consumer reports after the change (undefined when it could not be read). */
  actual?: Fault;
  confirmed: boolean;
  error?: string;
}

export interface FaultReport {
  target: string;
  generation: number;
  dryRun: boolean;
  pods: PodFaultResult[];
}

export async function injectFault(context: FaultContext, request: FaultRequest): Promise<FaultReport> {
  const { cluster, names } = context;
  await assertPermissions(cluster, context.pods, faultPermissions(names), names.namespace);
  const fleet = await listFleet(cluster);
  const all = [...fleet.blue, ...fleet.green];
  const targets = isColor(request.target) ? fleet[request.target] : all.filter((pod) => pod.name === request.target);
  if (targets.length === 0) {
    const known = all.map((pod) => pod.name).join(', ') || 'none';
    throw new UsageError(`no pod or colour named "${request.target}" in ${names.namespace}`, `name one of: blue, green, ${known}`);
  }

  const store = new DesiredStateStore(cluster, names.stateConfigMap);
  const current = await store.read();
  const planned = new Map<string, DesiredEntry>();
  for (const pod of targets) {
    const resolved = resolveEntry(current.snapshot.data, pod.name, pod.color);
    if (resolved.status !== 'ok') {
      throw new RefusedError(
        `pod ${pod.name} has no valid desired state in ${names.stateConfigMap}`,
        'run `bgswitch init`, or `bgswitch status` to see the problem',
      );
    }
    const fault = request.change === 'clear' ? { ...NO_FAULT } : { ...(resolved.entry.fault ?? NO_FAULT), ...request.change };
    planned.set(pod.name, { ...resolved.entry, fault });
  }
  if (request.dryRun) {
    return {
      target: request.target,
      generation: current.generation,
      dryRun: true,
      pods: targets.map((pod) => result(pod, planned.get(pod.name)!.fault!)),
    };
  }

  const written = await store.update((latest) => {
    const entries = new Map<string, Omit<DesiredEntry, 'generation'>>();
    for (const pod of targets) {
      const resolved = resolveEntry(latest.snapshot.data, pod.name, pod.color);
      const lifecycle = resolved.status === 'ok' ? resolved.entry.lifecycle : planned.get(pod.name)!.lifecycle;
      entries.set(pod.name, { lifecycle, fault: planned.get(pod.name)!.fault! });
    }
    return { entries };
  });

  const pods = await Promise.all(targets.map((pod) => applyAndConfirm(context, request, pod, written.snapshot.data)));
  return { target: request.target, generation: written.generation, dryRun: false, pods };
}

async function applyAndConfirm(
  context: FaultContext,
  request: FaultRequest,
  pod: PodInfo,
  data: Record<string, string>,
): Promise<PodFaultResult> {
  const resolved = resolveEntry(data, pod.name, pod.color);
  if (resolved.status !== 'ok' || !resolved.entry.fault) throw new OperationError(`desired state of ${pod.name} vanished while writing it`);
  const desired = resolved.entry.fault;
  const [push, direct] = await Promise.allSettled([context.pods.push(pod, resolved.entry), context.pods.setFault(pod, desired)]);
  const failures = [push, direct].filter((r): r is PromiseRejectedResult => r.status === 'rejected').map((r) => errorMessage(r.reason));
  for (const settled of [push, direct]) {
    if (settled.status === 'rejected' && !(settled.reason instanceof PodUnreachableError)) throw settled.reason;
  }
  const outcome = await pollUntil(
    async () => {
      try {
        const actual = await context.pods.getFault(pod);
        return { done: sameFault(actual, desired), value: actual as Fault | undefined };
      } catch (error) {
        if (error instanceof PodUnreachableError) return { done: false, value: undefined };
        throw error;
      }
    },
    { clock: context.clock, timeoutMs: request.timeoutMs, initialIntervalMs: request.pollIntervalMs },
  );
  const actual = outcome.done ? outcome.value : outcome.last;
  return {
    ...result(pod, desired),
    ...(actual ? { actual } : {}),
    confirmed: outcome.done,
    ...(outcome.done
      ? {}
      : { error: failures.join('; ') || `the consumer still reports a different fault after ${request.timeoutMs / 1000}s` }),
  };
}

function result(pod: PodInfo, desired: Fault): PodFaultResult {
  return { pod: pod.name, color: pod.color, desired, confirmed: false };
}

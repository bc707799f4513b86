/**
 * Pure translations between Kubernetes API objects (their JSON, typed with client-node's model
 * types, which are erased at run time) and the port types of src/core/ports.ts. No I/O, so all of
 * it is unit-tested.
 *
 * Guarantees: Lease times and an Event's eventTime leave as MicroTime (RFC 3339 with exactly 6
 * fractional digits, which the API server requires) and come back as Date whether a string or a
 * Date arrives; Event bodies satisfy the API server's validation limits.
 */
import type { CoreV1Event, V1ConfigMap, V1Lease, V1LeaseSpec, V1Pod } from '@kubernetes/client-node';
import type { AuditEvent, ConfigMapSnapshot, LeaseSnapshot, LeaseWrite, PodInfo } from '../core/ports.js';
import type { Color } from '../shared/model.js';

export const COMPONENT = 'bgswitch';

/** A label selector in the `k=v,k2=v2` form `list` accepts; keys sorted so it is deterministic. */
export function labelSelectorString(selector: Readonly<Record<string, string>>): string {
  return Object.keys(selector)
    .sort()
    .map((key) => `${key}=${selector[key]}`)
    .join(',');
}

export function podInfoFromPod(pod: V1Pod, color: Color): PodInfo {
  const status = pod.status ?? {};
  const ready = (status.conditions ?? []).some((condition) => condition.type === 'Ready' && condition.status === 'True');
  const restarts = (status.containerStatuses ?? []).reduce((sum, container) => sum + (container.restartCount ?? 0), 0);
  const info: PodInfo = {
    name: pod.metadata?.name ?? '',
    color,
    phase: status.phase ?? 'Unknown',
    ready,
    restarts,
    terminating: pod.metadata?.deletionTimestamp != null,
  };
  if (status.podIP) info.ip = status.podIP;
  const controller = pod.metadata?.ownerReferences?.find((owner) => owner.controller);
  if (controller) info.controllerKind = controller.kind;
  return info;
}

export function configMapSnapshot(configMap: V1ConfigMap, requestedName: string): ConfigMapSnapshot {
  return {
    name: configMap.metadata?.name ?? requestedName,
    data: { ...(configMap.data ?? {}) },
    annotations: { ...(configMap.metadata?.annotations ?? {}) },
    resourceVersion: configMap.metadata?.resourceVersion ?? '',
  };
}

/** JSON brings times as strings; client-node's types say Date; accept both. */
export function timeFromApi(value: unknown): Date | undefined {
  if (value instanceof Date) return Number.isNaN(value.getTime()) ? undefined : value;
  if (typeof value !== 'string' || value === '') return undefined;
  const parsed = new Date(value);
  return Number.isNaN(parsed.getTime()) ? undefined : parsed;
}

/** MicroTime on the wire: toISOString's milliseconds padded to microseconds. */
export function microTime(date: Date): string {
  return date.toISOString().replace(/Z$/, '000Z');
}

/** A Lease spec as sent: the times already in their wire form. */
export type LeaseSpecJson = Omit<V1LeaseSpec, 'acquireTime' | 'renewTime'> & { acquireTime: string; renewTime: string };

/** An Event as sent: the times already in their wire form. */
export type EventJson = Omit<CoreV1Event, 'eventTime' | 'firstTimestamp' | 'lastTimestamp' | 'metadata'> & {
  metadata: { name: string; namespace: string };
  eventTime: string;
  firstTimestamp: string;
  lastTimestamp: string;
};

export function leaseSnapshot(lease: V1Lease, requestedName: string): LeaseSnapshot {
  const spec = lease.spec ?? {};
  const snapshot: LeaseSnapshot = {
    name: lease.metadata?.name ?? requestedName,
    resourceVersion: lease.metadata?.resourceVersion ?? '',
  };
  if (spec.holderIdentity) snapshot.holderIdentity = spec.holderIdentity;
  if (spec.leaseDurationSeconds !== undefined) snapshot.leaseDurationSeconds = spec.leaseDurationSeconds;
  const acquireTime = timeFromApi(spec.acquireTime);
  if (acquireTime) snapshot.acquireTime = acquireTime;
  const renewTime = timeFromApi(spec.renewTime);
  if (renewTime) snapshot.renewTime = renewTime;
  if (spec.leaseTransitions !== undefined) snapshot.leaseTransitions = spec.leaseTransitions;
  return snapshot;
}

export function leaseSpec(write: LeaseWrite): LeaseSpecJson {
  return {
    holderIdentity: write.holderIdentity,
    leaseDurationSeconds: write.leaseDurationSeconds,
    acquireTime: microTime(write.acquireTime),
    renewTime: microTime(write.renewTime),
    leaseTransitions: write.leaseTransitions,
  };
}

/** The API server's limits for Events that carry eventTime (core/v1 validation). */
const REASON_LIMIT = 128;
const REPORTING_INSTANCE_LIMIT = 128;
const MESSAGE_LIMIT = 1024;

function clip(text: string, limit: number): string {
  return text.length > limit ? `${text.slice(0, limit - 1)}…` : text;
}

export interface EventTarget {
  namespace: string;
  configMapName: string;
  configMapUid?: string;
}

/** A core/v1 Event on the active-version ConfigMap; `suffix` makes the name unique (hex). */
export function auditEventBody(event: AuditEvent, target: EventTarget, now: Date, suffix: string): EventJson {
  const reason = clip(event.reason, REASON_LIMIT);
  const involvedObject: CoreV1Event['involvedObject'] = {
    apiVersion: 'v1',
    kind: 'ConfigMap',
    name: target.configMapName,
    namespace: target.namespace,
  };
  if (target.configMapUid) involvedObject.uid = target.configMapUid;
  return {
    apiVersion: 'v1',
    kind: 'Event',
    metadata: { name: `${target.configMapName}.${suffix}`, namespace: target.namespace },
    involvedObject,
    reason,
    // Required by validation once eventTime is set; the reason is the action taken.
    action: reason,
    message: clip(event.message, MESSAGE_LIMIT),
    type: event.type,
    source: { component: COMPONENT },
    reportingComponent: COMPONENT,
    reportingInstance: clip(event.actor, REPORTING_INSTANCE_LIMIT),
    firstTimestamp: now.toISOString(),
    lastTimestamp: now.toISOString(),
    eventTime: microTime(now),
    count: 1,
  };
}

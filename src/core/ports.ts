/**
 * The small interfaces the switch protocol runs over. src/kube and src/pods implement them for a
 * real cluster; tests implement them in memory. Nothing here imports Kubernetes, HTTP or terminal code.
 */
import type { Color, DesiredEntry, Fault } from '../shared/model.js';
import type { LifecycleChange, LifecycleStatus, SidecarStatus } from '../shared/pod-api.js';
import type { PodObservation, PodState } from './fleet.js';

export interface ConfigMapSnapshot {
  name: string;
  data: Record<string, string>;
  annotations: Record<string, string>;
  /** Opaque; passed back on write for optimistic concurrency. */
  resourceVersion: string;
}

/** A ConfigMap to write: without resourceVersion it is created, with one it replaces exactly that version. */
export interface ConfigMapWrite {
  name: string;
  data: Record<string, string>;
  annotations: Record<string, string>;
  resourceVersion?: string;
}

export interface LeaseSnapshot {
  name: string;
  holderIdentity?: string;
  leaseDurationSeconds?: number;
  acquireTime?: Date;
  renewTime?: Date;
  leaseTransitions?: number;
  resourceVersion: string;
}

export interface LeaseWrite {
  name: string;
  holderIdentity: string;
  leaseDurationSeconds: number;
  acquireTime: Date;
  renewTime: Date;
  leaseTransitions: number;
  resourceVersion?: string;
}

export interface PodInfo {
  name: string;
  color: Color;
  /** Kubernetes pod phase: Pending, Running, Succeeded, Failed, Unknown. */
  phase: string;
  ready: boolean;
  ip?: string;
  restarts: number;
  terminating: boolean;
  /** The kind of the pod's controlling owner (`StatefulSet`, `ReplicaSet`, ...), if any. */
  controllerKind?: string;
}

/** One audit record, written as a Kubernetes Event on the active-version ConfigMap. */
export interface AuditEvent {
  reason: string;
  message: string;
  type: 'Normal' | 'Warning';
  /** Who did it (user@host). */
  actor: string;
}

/** One permission the protocol needs, as a SelfSubjectAccessReview asks it. */
export interface PermissionCheck {
  verb: string;
  /** e.g. `configmaps`, `pods/proxy` (resource/subresource). */
  resource: string;
  group?: string;
  name?: string;
}

/**
 * The cluster as the protocol sees it. Writes are optimistic: a write with a stale
 * resourceVersion throws ConflictError; a create of an existing object throws ConflictError.
 */
export interface Cluster {
  getConfigMap(name: string): Promise<ConfigMapSnapshot | undefined>;
  writeConfigMap(configMap: ConfigMapWrite): Promise<ConfigMapSnapshot>;
  getLease(name: string): Promise<LeaseSnapshot | undefined>;
  writeLease(lease: LeaseWrite): Promise<LeaseSnapshot>;
  /** Every pod selected by the colour's Service selector, whatever its readiness. */
  listPods(color: Color): Promise<PodInfo[]>;
  recordEvent(event: AuditEvent): Promise<void>;
  /** The checks the current credentials fail (optional: in-memory clusters grant everything). */
  missingPermissions?(checks: PermissionCheck[]): Promise<PermissionCheck[]>;
}

/**
 * Talks to one pod: the consumer's lifecycle API (L1) and the sidecar (L2). Every method throws
 * PodUnreachableError when the pod cannot be reached or answers with an error.
 */
export interface PodAgent {
  /**
   * L1 pause or resume. `timeoutMs` bounds the whole call, resends included: nothing is sent once
   * it has passed (the switch bounds it by its lock, src/core/switch-pushes.ts).
   */
  lifecycle(pod: PodInfo, action: 'pause' | 'resume', signal?: AbortSignal, timeoutMs?: number): Promise<LifecycleChange>;
  status(pod: PodInfo, signal?: AbortSignal): Promise<LifecycleStatus>;
  /** `GET /actuator/health/readiness` reports UP. */
  ready(pod: PodInfo, signal?: AbortSignal): Promise<boolean>;
  getFault(pod: PodInfo, signal?: AbortSignal): Promise<Fault>;
  /** L1: PUTs every fault field, so zero / false really clears. */
  setFault(pod: PodInfo, fault: Fault, signal?: AbortSignal): Promise<void>;
  /** L2: signed `POST /desired-state` to the pod's sidecar. */
  push(pod: PodInfo, entry: DesiredEntry, signal?: AbortSignal): Promise<void>;
  sidecarStatus(pod: PodInfo, signal?: AbortSignal): Promise<SidecarStatus>;
  /** What reaching pods needs from the API server (the pod proxy verbs), if anything. */
  readonly permissions?: PermissionCheck[];
}

/** Names of the objects bgswitch works with (docs/architecture.md, Kubernetes objects); every one is configurable. */
export interface ObjectNames {
  namespace: string;
  activeConfigMap: string;
  stateConfigMap: string;
  lease: string;
  services: Record<Color, string>;
  pushKeySecret: string;
}

/** One member of the consumer group, as the group coordinator describes it. */
export interface KafkaGroupMember {
  memberId: string;
  clientId: string;
  /** The address the member connected from, without Kafka's leading "/". */
  host: string;
  /** Assigned partitions per topic (empty while the group rebalances). */
  assignments: Array<{ topic: string; partitions: number[] }>;
}

/** An offset of one partition: committed (the next offset to read) or log end. */
export interface KafkaPartitionOffset {
  topic: string;
  partition: number;
  offset: number;
}

/**
 * The consumer group the fleet shares, read-only (src/kafka implements it over a Kafka admin
 * client). Every method throws KafkaUnavailableError when the broker cannot answer in time.
 */
export interface KafkaGroup {
  readonly groupId: string;
  /** host:port,... as configured, for messages. */
  readonly bootstrap: string;
  /** Group state (STABLE, PREPARING_REBALANCE, COMPLETING_REBALANCE, EMPTY, DEAD) and members. */
  describe(): Promise<{ state: string; members: KafkaGroupMember[] }>;
  /** The group's committed offsets, every topic it has committed for. */
  committedOffsets(): Promise<KafkaPartitionOffset[]>;
  /** The log-end offset of every partition of these topics. */
  endOffsets(topics: string[]): Promise<KafkaPartitionOffset[]>;
}

/**
 * How a switch words its dry-run plan and what a failure leaves behind: the protocol decides what
 * to say, src/render/switch-wording.ts says it.
 */
export interface SwitchWording {
  plan(plan: SwitchPlan): string[];
  leftovers(leftovers: SwitchLeftovers): string[];
}

/** What a dry run would do, step by step. */
export interface SwitchPlan {
  from: Color;
  to: Color;
  names: ObjectNames;
  holder: string;
  leaseDurationMs: number;
  /** The generation the first desired-state write would have. */
  nextGeneration: number;
  pods: Record<Color, string[]>;
  drainTimeoutMs: number;
  verifyTimeoutMs: number;
  soakMs: number;
  maxLag?: number | undefined;
  /** With Kafka: the group and the topics seen so far. */
  kafka?: { groupId: string; topics: string[] } | undefined;
}

/** What a failed switch leaves behind, for the operator to act on. */
export type SwitchLeftovers =
  | { kind: 'nothing-changed' }
  /** Where every pod is now; `retry` names the colours a next switch could target. */
  | { kind: 'fleet'; observations: PodObservation[]; retry: [Color, Color] }
  /** The fleet could not be observed: the error and the states last seen. */
  | { kind: 'unobserved'; error: string; lastSeen: Array<[pod: string, state: PodState]> }
  | { kind: 'unrecorded'; error: string };

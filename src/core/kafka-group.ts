/**
 * The consumer group both colours share, as the protocol reads it: which pod each member is, which
 * partitions it holds, committed offsets and lag per colour. Plain logic over the KafkaGroup port.
 *
 * A member is matched to a pod by its client id equal to the pod name (the reference consumer uses
 * its pod name as client id, docs/consumer-contract.md), else by its host equal to the pod IP; any
 * other member is listed as unknown. The group's topics are those it has committed offsets for or
 * is assigned, plus any the caller already knows (a switch remembers them across a rebalance).
 * A partition without a committed offset counts its whole log as lag.
 */
import type { Color } from '../shared/model.js';
import type { PodState } from './fleet.js';
import type { KafkaGroup, KafkaPartitionOffset, PodInfo } from './ports.js';

export interface GroupMemberView {
  memberId: string;
  clientId: string;
  host: string;
  /** The pod this member is, when known. */
  pod?: string;
  color?: Color;
  /** The pod's lifecycle as its consumer reported it, when observed. */
  podState?: PodState;
  assignments: Array<{ topic: string; partitions: number[] }>;
}

export interface GroupPartitionView {
  topic: string;
  partition: number;
  /** Member id holding it, if assigned. */
  owner?: string;
  pod?: string;
  color?: Color;
  committed?: number;
  end: number;
  lag: number;
}

export interface GroupLag {
  total: number;
  blue: number;
  green: number;
  /** Partitions assigned to no member. */
  unassigned: number;
  /** Partitions held by members that are none of our pods. */
  unknown: number;
}

export interface GroupView {
  groupId: string;
  bootstrap: string;
  state: string;
  topics: string[];
  members: GroupMemberView[];
  partitions: GroupPartitionView[];
  lag: GroupLag;
}

/** Pods as the caller observed them; `state` is absent when the consumer was not asked. */
export interface ObservedPod {
  pod: PodInfo;
  state?: PodState;
}

export async function readGroup(group: KafkaGroup, pods: ObservedPod[], knownTopics: Iterable<string> = []): Promise<GroupView> {
  const [description, committed] = await Promise.all([group.describe(), group.committedOffsets()]);
  const members = description.members
    .map((member) => withPod(member, pods))
    .sort((a, b) => (a.pod ?? `~${a.clientId}`).localeCompare(b.pod ?? `~${b.clientId}`, 'en', { numeric: true }));
  const topics = [
    ...new Set([...knownTopics, ...committed.map((c) => c.topic), ...members.flatMap((m) => m.assignments.map((a) => a.topic))]),
  ].sort();
  const ends = topics.length > 0 ? await group.endOffsets(topics) : [];
  const committedAt = offsetIndex(committed);
  const owners = new Map<string, GroupMemberView>();
  for (const member of members)
    for (const { topic, partitions } of member.assignments) for (const p of partitions) owners.set(key(topic, p), member);

  const partitions = [...ends]
    .sort((a, b) => a.topic.localeCompare(b.topic) || a.partition - b.partition)
    .map((end): GroupPartitionView => {
      const owner = owners.get(key(end.topic, end.partition));
      const done = committedAt.get(key(end.topic, end.partition));
      return {
        topic: end.topic,
        partition: end.partition,
        ...(owner ? { owner: owner.memberId } : {}),
        ...(owner?.pod ? { pod: owner.pod } : {}),
        ...(owner?.color ? { color: owner.color } : {}),
        ...(done !== undefined ? { committed: done } : {}),
        end: end.offset,
        lag: Math.max(0, end.offset - (done ?? 0)),
      };
    });
  const lag: GroupLag = { total: 0, blue: 0, green: 0, unassigned: 0, unknown: 0 };
  for (const p of partitions) {
    lag.total += p.lag;
    lag[p.owner === undefined ? 'unassigned' : (p.color ?? 'unknown')] += p.lag;
  }
  return { groupId: group.groupId, bootstrap: group.bootstrap, state: description.state, topics, members, partitions, lag };
}

function withPod(
  member: { memberId: string; clientId: string; host: string; assignments: GroupMemberView['assignments'] },
  pods: ObservedPod[],
): GroupMemberView {
  const match = pods.find((o) => o.pod.name === member.clientId) ?? pods.find((o) => o.pod.ip !== undefined && o.pod.ip === member.host);
  const assignments = member.assignments
    .filter((a) => a.partitions.length > 0)
    .map((a) => ({ topic: a.topic, partitions: [...a.partitions].sort((x, y) => x - y) }));
  return {
    memberId: member.memberId,
    clientId: member.clientId,
    host: member.host,
    ...(match ? { pod: match.pod.name, color: match.pod.color } : {}),
    ...(match?.state ? { podState: match.state } : {}),
    assignments,
  };
}

const key = (topic: string, partition: number) => `${topic}\u0000${partition}`;

function offsetIndex(offsets: KafkaPartitionOffset[]): Map<string, number> {
  return new Map(offsets.map((o) => [key(o.topic, o.partition), o.offset]));
}

export function holdsPartitions(member: GroupMemberView): boolean {
  return member.assignments.some((a) => a.partitions.length > 0);
}

/**
 * Members that should not consume but hold partitions: their pod reports PAUSED, or belongs to
 * `pausedColor`. Those partitions are not being consumed by anyone (the original research's lost half).
 */
/**
 * Members holding partitions they do not consume: a pod that reports PAUSED, or a pod of the paused
 * colour whose lifecycle cannot be read. A pod of the paused colour that reports ACTIVE or DRAINING
 * does consume what it holds (an interrupted switch, or dual-active, each named as its own problem),
 * so it is not stranded, and a recovery switch must not be refused for it.
 */
export function strandedMembers(view: GroupView, pausedColor: Color | undefined): GroupMemberView[] {
  const notConsuming = (m: GroupMemberView): boolean =>
    m.podState === 'PAUSED' ||
    (pausedColor !== undefined &&
      m.color === pausedColor &&
      (m.podState === undefined || m.podState === 'unreachable' || m.podState === 'not-running'));
  return view.members.filter((m) => holdsPartitions(m) && notConsuming(m));
}

/** "partitions 1, 4 of bg-events are assigned to paused consumer-blue-1 and are not being consumed" */
export function describeStranded(member: GroupMemberView): string {
  const who = member.podState === 'PAUSED' ? `paused ${member.pod}` : `${member.pod}, of the paused colour ${member.color},`;
  const held = member.assignments
    .map((a) => `${a.partitions.length === 1 ? 'partition' : 'partitions'} ${a.partitions.join(', ')} of ${a.topic}`)
    .join(' and ');
  const verb = member.assignments.reduce((n, a) => n + a.partitions.length, 0) === 1 ? 'is' : 'are';
  return `${held} ${verb} assigned to ${who} and ${verb} not being consumed`;
}

export function membersOfColor(view: GroupView, color: Color): GroupMemberView[] {
  return view.members.filter((m) => m.color === color);
}

/** Partitions not (yet) held by a member of `color`. */
export function partitionsNotHeldBy(view: GroupView, color: Color): GroupPartitionView[] {
  return view.partitions.filter((p) => p.color !== color);
}

/** "bg-events/2 (unassigned), bg-events/3 (consumer-blue-1)" */
export function describePartitions(partitions: GroupPartitionView[]): string {
  return partitions
    .map((p) => `${p.topic}/${p.partition} (${p.owner === undefined ? 'unassigned' : (p.pod ?? 'unknown member')})`)
    .join(', ');
}

/** The committed offsets of every partition, as handed from one colour to the other. */
export function committedOffsetsOf(view: GroupView): KafkaPartitionOffset[] {
  return view.partitions.flatMap((p) =>
    p.committed === undefined ? [] : [{ topic: p.topic, partition: p.partition, offset: p.committed }],
  );
}

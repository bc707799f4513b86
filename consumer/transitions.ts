/**
 * The reference consumer's transition log (one JSON line per event) and its analysis: when were a
 * blue and a green pod both consuming (dual-active, invariant S1), and when was no pod ACTIVE (gap).
 *
 * Guarantees: parsing never throws (container logs mix other output; anything that is not a valid
 * record is skipped); the analysis is pure and does not depend on how the pods' records are
 * interleaved (each pod's records are ordered by `at`, ties keep their log order). Intervals are
 * half-open [from, to): a pod pausing at t and another resuming at t do not overlap.
 * Not guaranteed: that timestamps of different machines are comparable (the consumers of one lab
 * run on one machine and share its clock).
 */
import { isLifecycle, type Lifecycle } from '../src/shared/model.js';

export interface StartRecord {
  event: 'start';
  pod: string;
  color: string;
  state: Lifecycle;
  /** Epoch milliseconds with a sub-millisecond fraction. */
  at: number;
}

export interface TransitionRecord {
  event: 'transition';
  pod: string;
  color: string;
  from: Lifecycle;
  to: Lifecycle;
  at: number;
}

/** Written by the consumer on a graceful exit, or by the lab kubelet (`by`) when it sees the container end. */
export interface ExitRecord {
  event: 'exit';
  pod: string;
  color?: string;
  state?: Lifecycle;
  by?: string;
  at: number;
}

export type LifecycleRecord = StartRecord | TransitionRecord | ExitRecord;

/**
 * Parses one log's text. Lines may carry a prefix before the JSON object (CRI log format); lines
 * that are not a start / transition / exit record are ignored. An exit record without `pod` (the lab
 * kubelet's) belongs to the process whose records precede it in this same log, so it inherits that
 * pod and colour; one with nothing before it cannot be attributed and is dropped.
 */
export function parseTransitionLog(text: string): LifecycleRecord[] {
  const records: LifecycleRecord[] = [];
  let previous: LifecycleRecord | undefined;
  for (const line of text.split('\n')) {
    const record = toRecord(parseJsonObject(line), previous);
    if (record) {
      records.push(record);
      previous = record;
    }
  }
  return records;
}

function parseJsonObject(line: string): Record<string, unknown> | undefined {
  const trimmed = line.trim();
  const open = trimmed.indexOf('{');
  if (open < 0 || !trimmed.endsWith('}')) return undefined;
  try {
    const value: unknown = JSON.parse(trimmed.slice(open));
    return typeof value === 'object' && value !== null && !Array.isArray(value) ? (value as Record<string, unknown>) : undefined;
  } catch {
    return undefined;
  }
}

function toRecord(value: Record<string, unknown> | undefined, previous: LifecycleRecord | undefined): LifecycleRecord | undefined {
  if (!value || typeof value.at !== 'number' || !Number.isFinite(value.at)) return undefined;
  const { at, pod, color } = value;
  const named = typeof pod === 'string' && pod !== '' && typeof color === 'string';
  switch (value.event) {
    case 'start':
      return named && isLifecycle(value.state) ? { event: 'start', pod, color, state: value.state, at } : undefined;
    case 'transition':
      return named && isLifecycle(value.from) && isLifecycle(value.to)
        ? { event: 'transition', pod, color, from: value.from, to: value.to, at }
        : undefined;
    case 'exit': {
      const exitPod = typeof pod === 'string' && pod !== '' ? pod : previous?.pod;
      if (exitPod === undefined) return undefined;
      const exitColor = typeof color === 'string' ? color : exitPod === previous?.pod ? previous.color : undefined;
      const record: ExitRecord = { event: 'exit', pod: exitPod, at };
      if (exitColor !== undefined) record.color = exitColor;
      if (isLifecycle(value.state)) record.state = value.state;
      if (typeof value.by === 'string') record.by = value.by;
      return record;
    }
    default:
      return undefined;
  }
}

export interface DualActiveInterval {
  from: number;
  to: number;
  /** Every blue pod that was ACTIVE or DRAINING at some point of the interval, sorted. */
  blue: string[];
  green: string[];
}

export interface GapInterval {
  from: number;
  to: number;
  durationMs: number;
}

/** A process lifetime that ended without an exit record: it was killed and nobody logged it. */
export interface MissingExit {
  pod: string;
  lastRecordAt: number;
  restartAt: number;
}

export interface TransitionAnalysis {
  window: { from: number; to: number };
  dualActive: DualActiveInterval[];
  gaps: GapInterval[];
  missingExits: MissingExit[];
}

export interface AnalysisWindow {
  /** Default: the earliest record. */
  from?: number;
  /** Default: the latest record. */
  to?: number;
}

/** One pod process in one lifecycle state over [from, to). */
interface Segment {
  pod: string;
  color: string;
  state: Lifecycle;
  from: number;
  to: number;
}

/**
 * Reconstructs every pod's lifecycle over time and reports the dual-active intervals and the gaps
 * inside the window. A process that logged no exit before its pod's next `start` is assumed to have
 * stayed in its last state until that restart (the safe assumption for S1: it may have kept
 * consuming); such lifetimes are listed in `missingExits`. A last lifetime without exit lasts to the
 * end of the window. A transition without a preceding start counts from its own `at`.
 */
export function analyzeTransitions(records: readonly LifecycleRecord[], window: AnalysisWindow = {}): TransitionAnalysis {
  const from = window.from ?? records.reduce((earliest, record) => Math.min(earliest, record.at), Number.POSITIVE_INFINITY);
  const to = window.to ?? records.reduce((latest, record) => Math.max(latest, record.at), Number.NEGATIVE_INFINITY);
  if (!(from < to)) return { window: { from, to }, dualActive: [], gaps: [], missingExits: [] };
  const { segments, missingExits } = buildSegments(records);
  const clipped = segments
    .map((segment) => ({ ...segment, from: Math.max(segment.from, from), to: Math.min(segment.to, to) }))
    .filter((segment) => segment.from < segment.to);
  const dualActive: DualActiveInterval[] = [];
  const gaps: GapInterval[] = [];
  for (const [start, end] of elementaryIntervals(clipped, from, to)) {
    const live = clipped.filter((segment) => segment.from <= start && segment.to >= end);
    const consuming = live.filter((segment) => segment.state !== 'PAUSED');
    const blue = consuming.filter((segment) => segment.color === 'blue').map((segment) => segment.pod);
    const green = consuming.filter((segment) => segment.color === 'green').map((segment) => segment.pod);
    if (blue.length > 0 && green.length > 0) appendDualActive(dualActive, start, end, blue, green);
    if (!live.some((segment) => segment.state === 'ACTIVE')) appendGap(gaps, start, end);
  }
  return { window: { from, to }, dualActive, gaps, missingExits };
}

function buildSegments(records: readonly LifecycleRecord[]): { segments: Segment[]; missingExits: MissingExit[] } {
  const byPod = new Map<string, LifecycleRecord[]>();
  for (const record of records) {
    const podRecords = byPod.get(record.pod);
    if (podRecords) podRecords.push(record);
    else byPod.set(record.pod, [record]);
  }
  const segments: Segment[] = [];
  const missingExits: MissingExit[] = [];
  for (const [pod, podRecords] of byPod) {
    // Array.prototype.sort is stable: records with equal `at` keep their log order.
    const ordered = [...podRecords].sort((a, b) => a.at - b.at);
    let open: Omit<Segment, 'to'> | undefined;
    let lastRecordAt = 0;
    const close = (at: number): void => {
      if (open && open.from < at) segments.push({ ...open, to: at });
      open = undefined;
    };
    for (const record of ordered) {
      if (record.event === 'start') {
        if (open) missingExits.push({ pod, lastRecordAt, restartAt: record.at });
        close(record.at);
        open = { pod, color: record.color, state: record.state, from: record.at };
      } else if (record.event === 'transition') {
        close(record.at);
        open = { pod, color: record.color, state: record.to, from: record.at };
      } else {
        close(record.at);
      }
      lastRecordAt = record.at;
    }
    close(Number.POSITIVE_INFINITY);
  }
  return { segments, missingExits };
}

/** The sorted cut points of the window: between two neighbours, no segment starts or ends. */
function elementaryIntervals(segments: readonly Segment[], from: number, to: number): Array<[number, number]> {
  const cuts = new Set<number>([from, to]);
  for (const segment of segments) {
    cuts.add(segment.from);
    cuts.add(segment.to);
  }
  const sorted = [...cuts].sort((a, b) => a - b);
  const intervals: Array<[number, number]> = [];
  for (let index = 1; index < sorted.length; index += 1) {
    intervals.push([sorted[index - 1] as number, sorted[index] as number]);
  }
  return intervals;
}

function appendDualActive(list: DualActiveInterval[], from: number, to: number, blue: string[], green: string[]): void {
  const last = list.at(-1);
  if (last && last.to === from) {
    last.to = to;
    last.blue = [...new Set([...last.blue, ...blue])].sort();
    last.green = [...new Set([...last.green, ...green])].sort();
  } else {
    list.push({ from, to, blue: [...blue].sort(), green: [...green].sort() });
  }
}

function appendGap(list: GapInterval[], from: number, to: number): void {
  const last = list.at(-1);
  if (last && last.to === from) {
    last.to = to;
    last.durationMs = to - last.from;
  } else {
    list.push({ from, to, durationMs: to - from });
  }
}

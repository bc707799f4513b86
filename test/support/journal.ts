/**
 * One ordered record of everything the in-memory cluster and fleet saw: API calls, pod calls and
 * consumer state changes, each with its virtual time and a sequence number, so a test can assert
 * the order of operations across the cluster and the pods ("step 3 written before any pause").
 */
import type { Clock } from '../../src/shared/clock.js';

export type JournalSource = 'cluster' | 'pod' | 'consumer';

export interface JournalEntry {
  seq: number;
  at: number;
  source: JournalSource;
  /** e.g. write-configmap, get-lease, pause, push, transition. */
  op: string;
  /** Object or pod name. */
  name: string;
  ok: boolean;
  error?: string;
  /** What was written / pushed / changed (a copy). */
  detail?: unknown;
}

export class Journal {
  readonly entries: JournalEntry[] = [];

  constructor(private readonly clock: Clock) {}

  add(entry: Omit<JournalEntry, 'seq' | 'at'>): JournalEntry {
    const recorded = { ...entry, seq: this.entries.length, at: this.clock.now() };
    this.entries.push(recorded);
    return recorded;
  }

  filter(predicate: (entry: JournalEntry) => boolean): JournalEntry[] {
    return this.entries.filter(predicate);
  }

  first(predicate: (entry: JournalEntry) => boolean): JournalEntry | undefined {
    return this.entries.find(predicate);
  }

  last(predicate: (entry: JournalEntry) => boolean): JournalEntry | undefined {
    return this.entries.findLast(predicate);
  }
}

/** Entries that changed something: cluster writes and events, pod lifecycle calls, pushes and fault changes. */
export function isMutation(entry: JournalEntry): boolean {
  if (entry.source === 'cluster') return entry.op.startsWith('write-') || entry.op === 'event';
  return entry.source === 'pod' && ['pause', 'resume', 'push', 'set-fault'].includes(entry.op);
}

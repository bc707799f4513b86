/**
 * What the protocol tells the operator while it works: a union of events that the renderers
 * (src/render) show as spinners, plain timestamped lines, or nothing (JSON mode collects the report).
 */
import type { Color, Lifecycle } from '../shared/model.js';

/** The steps of the switch protocol (./switch.ts). A rollback runs the same steps with `rollback` set. */
export type PhaseName =
  | 'preflight'
  | 'lease'
  | 'desired-paused'
  | 'pause'
  | 'verify-paused'
  | 'desired-active'
  | 'resume'
  | 'verify-active'
  | 'soak'
  | 'record';

/** How a step is named in the phase timings, the history and the operation record: `rollback:` marks the rollback's steps. */
export function phaseLabel(name: PhaseName, rollback: boolean): string {
  return rollback ? `rollback:${name}` : name;
}

export interface PhaseRef {
  name: PhaseName;
  /** Set on the steps of an automatic rollback. */
  rollback: boolean;
  /** Human title, e.g. "Pause blue (3 pods)". */
  title: string;
}

export type ProgressEvent =
  | { type: 'phase-start'; phase: PhaseRef; at: number }
  | { type: 'phase-progress'; phase: PhaseRef; detail: string; at: number }
  | { type: 'phase-end'; phase: PhaseRef; ok: boolean; detail: string; durationMs: number; at: number }
  | { type: 'pod'; pod: string; color: Color; state: Lifecycle | 'unreachable' | 'not-running'; detail?: string; at: number }
  /** With `repeated`, the warnings of one step (the step that caused them) that share it are shown as one line: "<step>: <n> <noun>s <text>". */
  | { type: 'warning'; message: string; repeated?: { noun: string; text: string; step?: PhaseRef }; at: number }
  | { type: 'info'; message: string; at: number };

export type ProgressSink = (event: ProgressEvent) => void;

/** Distributes the `Omit<…, 'at'>` variants so call sites need not stamp time themselves. */
export type ProgressEventInput = ProgressEvent extends infer E ? (E extends { at: number } ? Omit<E, 'at'> : never) : never;

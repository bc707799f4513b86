/**
 * The domain vocabulary shared by the CLI, the sidecar and the lab: colours, lifecycle states,
 * faults and the desired-state entry. Pure data; no I/O.
 */

export const COLORS = ['blue', 'green'] as const;
export type Color = (typeof COLORS)[number];

export function isColor(value: unknown): value is Color {
  return value === 'blue' || value === 'green';
}

export function otherColor(color: Color): Color {
  return color === 'blue' ? 'green' : 'blue';
}

/** What the consumer reports (`GET /lifecycle/status` field `state`). Only PAUSED counts as paused. */
export const LIFECYCLES = ['ACTIVE', 'DRAINING', 'PAUSED'] as const;
export type Lifecycle = (typeof LIFECYCLES)[number];

/** What may be desired: a consumer is never asked to be DRAINING. */
export type DesiredLifecycle = 'ACTIVE' | 'PAUSED';

export function isLifecycle(value: unknown): value is Lifecycle {
  return typeof value === 'string' && (LIFECYCLES as readonly string[]).includes(value);
}

/** A consumer that is not PAUSED may still consume (DRAINING finishes its in-flight batch). */
export function mayConsume(state: Lifecycle): boolean {
  return state !== 'PAUSED';
}

/** The consumer's fault settings (`GET /fault`). All zero / false means no fault. */
export interface Fault {
  processingDelayMs: number;
  errorRatePercent: number;
  commitDelayMs: number;
  pollTimeoutExceed: boolean;
}

export const NO_FAULT: Readonly<Fault> = Object.freeze({
  processingDelayMs: 0,
  errorRatePercent: 0,
  commitDelayMs: 0,
  pollTimeoutExceed: false,
});

export function sameFault(a: Fault, b: Fault): boolean {
  return (
    a.processingDelayMs === b.processingDelayMs &&
    a.errorRatePercent === b.errorRatePercent &&
    a.commitDelayMs === b.commitDelayMs &&
    a.pollTimeoutExceed === b.pollTimeoutExceed
  );
}

export function isNoFault(fault: Fault): boolean {
  return sameFault(fault, NO_FAULT);
}

/**
 * One pod's (or one colour's) desired state, as stored in the state ConfigMap and as pushed to a
 * sidecar. `generation` orders desired states: a sidecar ignores anything older than the highest
 * generation it has seen. Entries written by the seed (no generation) count as generation 0.
 */
export interface DesiredEntry {
  lifecycle: DesiredLifecycle;
  generation: number;
  fault?: Fault;
}

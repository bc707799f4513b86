/**
 * The domain vocabulary shared by the CLI, the sidecar and the lab: colours, lifecycle states,
 * faults and the desired-state entry. Pure data; no I/O.
 */
import * as v from 'valibot';
import { count, exactRecord, flag, oneOf } from './validation.js';

export const COLORS = ['blue', 'green'] as const;
export type Color = (typeof COLORS)[number];

export const colorSchema = oneOf(COLORS);

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
export type DesiredLifecycle = DesiredEntry['lifecycle'];

export function isLifecycle(value: unknown): value is Lifecycle {
  return typeof value === 'string' && (LIFECYCLES as readonly string[]).includes(value);
}

/** A consumer that is not PAUSED may still consume (DRAINING finishes its in-flight batch). */
export function mayConsume(state: Lifecycle): boolean {
  return state !== 'PAUSED';
}

/**
 * The consumer's fault settings (`GET /fault`). All zero / false means no fault. In a desired
 * entry a field left out means 0 / false, so a fault is always applied whole.
 */
export const faultSchema = exactRecord({
  processingDelayMs: v.optional(count, 0),
  errorRatePercent: v.optional(v.pipe(count, v.maxValue(100, 'must be at most 100')), 0),
  commitDelayMs: v.optional(count, 0),
  pollTimeoutExceed: v.optional(flag, false),
});
export type Fault = v.InferOutput<typeof faultSchema>;

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
 * generation it has seen. Entries written without a generation count as generation 0.
 */
export const desiredEntrySchema = exactRecord({
  lifecycle: oneOf(['ACTIVE', 'PAUSED']),
  generation: v.optional(count, 0),
  fault: v.optional(faultSchema),
});
export type DesiredEntry = v.InferOutput<typeof desiredEntrySchema>;

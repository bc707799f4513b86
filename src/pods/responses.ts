/**
 * Checks what the consumer (docs/consumer-contract.md) and the sidecar answer, against the schemas
 * of src/shared/pod-api.ts. Pure.
 *
 * Guarantees: a value is returned only when every field the caller relies on is present with the
 * right type; otherwise the error says which field is wrong. The lifecycle field is `state`
 * (the original implementation read `status` and so never saw a state at all).
 */
import type { Fault } from '../shared/model.js';
import {
  faultReportSchema,
  lifecycleChangeSchema,
  lifecycleStatusSchema,
  sidecarStatusSchema,
  statusFieldSchema,
  type LifecycleChange,
  type LifecycleStatus,
  type SidecarStatus,
} from '../shared/pod-api.js';
import { parseJson, type ParseResult } from '../shared/validation.js';

const BODY = 'the body';

export function parseLifecycleStatus(body: string): ParseResult<LifecycleStatus> {
  return parseJson(lifecycleStatusSchema, body, BODY);
}

export function parseLifecycleChange(body: string): ParseResult<LifecycleChange> {
  return parseJson(lifecycleChangeSchema, body, BODY);
}

export function parseFaultReport(body: string): ParseResult<Fault> {
  return parseJson(faultReportSchema, body, BODY);
}

/** `PUT /fault/...` answers `{"type":...,"status":"applied"}`. */
export function parseFaultApplied(body: string): ParseResult<true> {
  const parsed = parseJson(statusFieldSchema, body, BODY);
  if (!parsed.ok) return parsed;
  const { status } = parsed.value;
  return status === 'applied'
    ? { ok: true, value: true }
    : { ok: false, error: `field "status" is ${JSON.stringify(status)}, not "applied"` };
}

/** Spring health: `{"status":"UP"}`; any other status string means not ready. */
export function parseHealthStatus(body: string): ParseResult<string> {
  const parsed = parseJson(statusFieldSchema, body, BODY);
  return parsed.ok ? { ok: true, value: parsed.value.status } : parsed;
}

export function parseSidecarStatus(body: string): ParseResult<SidecarStatus> {
  return parseJson(sidecarStatusSchema, body, BODY);
}

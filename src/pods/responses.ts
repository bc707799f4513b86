/**
 * Shape checks for what the consumer (design section 3) and the sidecar answer. Pure.
 *
 * Guarantees: a value is returned only when every field the caller relies on is present with the
 * right type; otherwise the error says which field is wrong. The lifecycle field is `state`
 * (the original implementation read `status` and so never saw a state at all).
 */
import type { LifecycleChange, LifecycleStatus, SidecarStatus } from '../shared/pod-api.js';
import { parseEntry, type ParseResult } from '../shared/desired-state.js';
import { isLifecycle, type Fault } from '../shared/model.js';

type Json = Record<string, unknown>;

function object(body: string): ParseResult<Json> {
  let value: unknown;
  try {
    value = JSON.parse(body);
  } catch {
    return { ok: false, error: 'the body is not JSON' };
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return { ok: false, error: 'the body is not a JSON object' };
  return { ok: true, value: value as Json };
}

/** The first field that is not of the expected type, as an error text. */
function wrongField(record: Json, fields: Record<string, 'number' | 'boolean' | 'string' | 'lifecycle'>): string | undefined {
  for (const [field, kind] of Object.entries(fields)) {
    const value = record[field];
    const fine = kind === 'lifecycle' ? isLifecycle(value) : kind === 'number' ? Number.isFinite(value) : typeof value === kind;
    if (!fine) {
      const expected = kind === 'lifecycle' ? 'ACTIVE, DRAINING or PAUSED' : `a ${kind}`;
      return `field "${field}" must be ${expected}, got ${JSON.stringify(value) ?? 'nothing'}`;
    }
  }
  return undefined;
}

function checked<T>(body: string, fields: Record<string, 'number' | 'boolean' | 'string' | 'lifecycle'>, build: (record: Json) => T): ParseResult<T> {
  const parsed = object(body);
  if (!parsed.ok) return parsed;
  const problem = wrongField(parsed.value, fields);
  return problem ? { ok: false, error: problem } : { ok: true, value: build(parsed.value) };
}

export function parseLifecycleStatus(body: string): ParseResult<LifecycleStatus> {
  return checked(
    body,
    { state: 'lifecycle', stateCode: 'number', lastSequenceNumber: 'number', totalMessagesReceived: 'number' },
    (r) => ({
      state: r['state'] as LifecycleStatus['state'],
      stateCode: r['stateCode'] as number,
      lastSequenceNumber: r['lastSequenceNumber'] as number,
      totalMessagesReceived: r['totalMessagesReceived'] as number,
    }),
  );
}

export function parseLifecycleChange(body: string): ParseResult<LifecycleChange> {
  return checked(body, { previousState: 'lifecycle', currentState: 'lifecycle', lastSequenceNumber: 'number' }, (r) => ({
    previousState: r['previousState'] as LifecycleChange['previousState'],
    currentState: r['currentState'] as LifecycleChange['currentState'],
    lastSequenceNumber: r['lastSequenceNumber'] as number,
  }));
}

export function parseFaultReport(body: string): ParseResult<Fault> {
  return checked(
    body,
    { processingDelayMs: 'number', errorRatePercent: 'number', commitDelayMs: 'number', pollTimeoutExceed: 'boolean' },
    (r) => ({
      processingDelayMs: r['processingDelayMs'] as number,
      errorRatePercent: r['errorRatePercent'] as number,
      commitDelayMs: r['commitDelayMs'] as number,
      pollTimeoutExceed: r['pollTimeoutExceed'] as boolean,
    }),
  );
}

/** `PUT /fault/...` answers `{"type":...,"status":"applied"}`. */
export function parseFaultApplied(body: string): ParseResult<true> {
  const parsed = checked(body, { status: 'string' }, (r) => r['status']);
  if (!parsed.ok) return parsed;
  return parsed.value === 'applied' ? { ok: true, value: true } : { ok: false, error: `field "status" is ${JSON.stringify(parsed.value)}, not "applied"` };
}

/** Spring health: `{"status":"UP"}`; any other status string means not ready. */
export function parseHealthStatus(body: string): ParseResult<string> {
  return checked(body, { status: 'string' }, (r) => r['status'] as string);
}

export function parseSidecarStatus(body: string): ParseResult<SidecarStatus> {
  const parsed = checked(body, { pod: 'string', generation: 'number' }, (r) => r);
  if (!parsed.ok) return parsed;
  const record = parsed.value;
  const status: SidecarStatus = { pod: record['pod'] as string, generation: record['generation'] as number };
  if (record['desired'] !== undefined && record['desired'] !== null) {
    const desired = parseEntry(JSON.stringify(record['desired']));
    if (!desired.ok) return { ok: false, error: `field "desired": ${desired.error}` };
    status.desired = desired.value;
  }
  for (const field of ['desiredSource', 'lastError'] as const) {
    const value = record[field];
    if (value === undefined || value === null) continue;
    if (typeof value !== 'string') return { ok: false, error: `field "${field}" must be a string` };
    status[field] = value;
  }
  const pushKeyMounted = record['pushKeyMounted'];
  if (pushKeyMounted !== undefined && pushKeyMounted !== null) {
    if (typeof pushKeyMounted !== 'boolean') return { ok: false, error: 'field "pushKeyMounted" must be true or false' };
    status.pushKeyMounted = pushKeyMounted;
  }
  const actual = record['actual'];
  if (actual !== undefined && actual !== null) {
    if (!isLifecycle(actual)) return { ok: false, error: `field "actual" must be ACTIVE, DRAINING or PAUSED, got ${JSON.stringify(actual)}` };
    status.actual = actual;
  }
  return { ok: true, value: status };
}

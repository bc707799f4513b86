/**
 * The one validation layer: every JSON value that comes from outside (a ConfigMap entry or
 * annotation, a pod's answer, a push, a Kafka record) is checked against a valibot schema once, typed
 * from that schema, and a wrong value is reported in words naming the field, never guessed at.
 *
 * Every schema here carries its own message ("must be ..."); a problem reads "<path> <message>",
 * e.g. `generation must be a non-negative integer`, `fault.errorRatePercent must be at most 100`.
 */
import * as v from 'valibot';

export type ParseResult<T> = { ok: true; value: T } | { ok: false; error: string };

/** A non-negative safe integer: generations, counts, offsets. */
export const count = v.pipe(
  v.number('must be a non-negative integer'),
  v.safeInteger('must be a non-negative integer'),
  v.minValue(0, 'must be a non-negative integer'),
);
/** A finite number of zero or more: durations, lags. */
export const amount = v.pipe(
  v.number('must be a non-negative number'),
  v.finite('must be a non-negative number'),
  v.minValue(0, 'must be a non-negative number'),
);
/** Any finite number: timestamps, codes. */
export const finite = v.pipe(v.number('must be a number'), v.finite('must be a number'));
export const text = v.string('must be a string');
export const nonEmptyText = v.pipe(text, v.nonEmpty('must be a non-empty string'));
export const flag = v.boolean('must be true or false');

/** One of a few literal values; the message lists them and quotes what came instead. */
export function oneOf<const T extends readonly [string, ...string[]]>(options: T) {
  const quoted = options.map((option) => JSON.stringify(option));
  const words = quoted.length === 1 ? quoted[0] : `${quoted.slice(0, -1).join(', ')} or ${quoted[quoted.length - 1]}`;
  return v.picklist(options, (issue) => `must be ${words}, got ${JSON.stringify(issue.input) ?? 'nothing'}`);
}

const NOT_OBJECT = 'must be an object';
const NOT_ARRAY = 'must be an array';
/** valibot's objects accept arrays (as objects missing every field); a JSON array is not an object here. */
const plainObject = v.custom<Record<string, unknown>>(
  (input) => typeof input === 'object' && input !== null && !Array.isArray(input),
  NOT_OBJECT,
);

/** An object with exactly these fields (an unknown one is an error): what bgswitch itself writes. */
export function exactRecord<const E extends v.ObjectEntries>(entries: E) {
  return v.pipe(plainObject, v.strictObject(entries, NOT_OBJECT));
}

/** An object with at least these fields (others are ignored): what other programs answer. */
export function openRecord<const E extends v.ObjectEntries>(entries: E) {
  return v.pipe(plainObject, v.object(entries, NOT_OBJECT));
}

/** An object with at least these fields, the others kept as they are: an envelope around more. */
export function looseRecord<const E extends v.ObjectEntries>(entries: E) {
  return v.pipe(plainObject, v.looseObject(entries, NOT_OBJECT));
}

export function list<const S extends v.GenericSchema>(item: S) {
  return v.array(item, NOT_ARRAY);
}

/** A problem in words: `<path> <message>`, `<path> is missing`, `unknown field "<path>"`. */
export function describeIssue(issue: v.BaseIssue<unknown>): string {
  const path = (issue.path ?? []).reduce<string>((at, item) => {
    const key = item.key;
    if (typeof key === 'number') return `${at}[${key}]`;
    return at ? `${at}.${String(key)}` : String(key);
  }, '');
  if (issue.expected === 'never') return `unknown field "${path}"`;
  if (!path) return issue.message === NOT_OBJECT ? 'not a JSON object' : issue.message === NOT_ARRAY ? 'not a JSON array' : issue.message;
  if (issue.input === undefined && (issue.type === 'object' || issue.type === 'strict_object')) return `${path} is missing`;
  return `${path} ${issue.message}`;
}

/** Checks a value already parsed from JSON. */
export function check<S extends v.GenericSchema>(schema: S, value: unknown): ParseResult<v.InferOutput<S>> {
  const result = v.safeParse(schema, value, { abortEarly: true });
  return result.success ? { ok: true, value: result.output } : { ok: false, error: describeIssue(result.issues[0]) };
}

/**
 * Parses JSON text and checks it. `subject` names the whole for the two problems that have no
 * field: "the body is not JSON", "the history is not a JSON array".
 */
export function parseJson<S extends v.GenericSchema>(schema: S, raw: string, subject?: string): ParseResult<v.InferOutput<S>> {
  let value: unknown;
  try {
    value = JSON.parse(raw);
  } catch {
    return { ok: false, error: subject ? `${subject} is not JSON` : 'not JSON' };
  }
  const checked = check(schema, value);
  if (checked.ok || !subject || !checked.error.startsWith('not a JSON ')) return checked;
  return { ok: false, error: `${subject} is ${checked.error}` };
}

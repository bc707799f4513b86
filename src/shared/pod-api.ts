/**
 * What a pod's two HTTP servers answer: the consumer's lifecycle API (docs/consumer-contract.md)
 * and the sidecar's status. The CLI reads them, the reference consumer and the sidecar serve them.
 * Each answer is a schema (./validation.ts); its type is inferred from it. Fields other programs
 * add are ignored.
 */
import * as v from 'valibot';
import { desiredEntrySchema, LIFECYCLES } from './model.js';
import { finite, flag, openRecord, oneOf, text } from './validation.js';

const lifecycle = oneOf(LIFECYCLES);

/** `GET /lifecycle/status` */
export const lifecycleStatusSchema = openRecord({
  state: lifecycle,
  stateCode: finite,
  lastSequenceNumber: finite,
  totalMessagesReceived: finite,
});
export type LifecycleStatus = v.InferOutput<typeof lifecycleStatusSchema>;

/** `POST /lifecycle/pause|resume` */
export const lifecycleChangeSchema = openRecord({
  previousState: lifecycle,
  currentState: lifecycle,
  lastSequenceNumber: finite,
});
export type LifecycleChange = v.InferOutput<typeof lifecycleChangeSchema>;

/** `GET /fault`: every field, as the consumer applies it. */
export const faultReportSchema = openRecord({
  processingDelayMs: finite,
  errorRatePercent: finite,
  commitDelayMs: finite,
  pollTimeoutExceed: flag,
});

/** `PUT /fault/...` answers `{"type":...,"status":"applied"}`; Spring health answers `{"status":"UP"}`. */
export const statusFieldSchema = openRecord({ status: text });

/** An optional field that older or other sidecars may send as null: null means absent. */
const absent = <S extends v.GenericSchema>(schema: S) => v.nullish(schema);

/** `GET /status` of a sidecar. */
export const sidecarStatusSchema = v.pipe(
  openRecord({
    pod: text,
    generation: finite,
    desired: absent(desiredEntrySchema),
    desiredSource: absent(text),
    actual: absent(lifecycle),
    lastError: absent(text),
    /** False when the sidecar has no push key (the Secret is not mounted yet); absent from older sidecars. */
    pushKeyMounted: absent(flag),
  }),
  v.transform(
    (status) =>
      Object.fromEntries(Object.entries(status).filter(([, value]) => value !== null && value !== undefined)) as WithoutNulls<
        typeof status
      >,
  ),
);
export type SidecarStatus = v.InferOutput<typeof sidecarStatusSchema>;

type WithoutNulls<T> = { [K in keyof T]: Exclude<T[K], null> };

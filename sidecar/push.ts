/**
 * Authenticates and validates one L2 push (`POST /desired-state`, src/shared/push-signature.ts)
 * before the reconciler sees it. Order: key present (401), body shape good enough to know pod and
 * generation (400), signature and freshness (401), addressed to this pod (403), entry valid by the
 * ConfigMap's own rules (400). The generation check (409) is the reconciler's, because only it
 * knows the highest generation seen. Pure: no I/O, no logging; reasons never contain the key or
 * the signature.
 */
import { desiredEntrySchema, type DesiredEntry } from '../src/shared/model.js';
import { verifyPush } from '../src/shared/push-signature.js';
import { check, count, looseRecord, nonEmptyText, parseJson } from '../src/shared/validation.js';
import type { PushRejection } from './metrics.js';

export interface PushRequest {
  body: string;
  timestamp: string | undefined;
  signature: string | undefined;
  /** The push key, or undefined when the key file does not exist. */
  key: Buffer | undefined;
  myPod: string;
  nowMs: number;
}

export type PushVerdict =
  | { ok: true; entry: DesiredEntry }
  | { ok: false; status: 400 | 401 | 403; reason: PushRejection; message: string };

function reject(status: 400 | 401 | 403, reason: PushRejection, message: string): PushVerdict {
  return { ok: false, status, reason, message };
}

/** What must be readable before the signature can be checked: the pod and generation it signs; the rest is the entry. */
const envelopeSchema = looseRecord({ pod: nonEmptyText, generation: count });

export function evaluatePush(push: PushRequest): PushVerdict {
  if (push.key === undefined) return reject(401, 'no_key', 'this sidecar has no push key (the push-key Secret is not mounted)');
  const envelope = parseJson(envelopeSchema, push.body, 'body');
  if (!envelope.ok) return reject(400, 'malformed', envelope.error.startsWith('body ') ? envelope.error : `body.${envelope.error}`);
  const { pod, ...entryFields } = envelope.value;
  const { generation } = envelope.value;
  const verified = verifyPush(push.key, pod, generation, push.body, push.timestamp, push.signature, push.nowMs);
  if (!verified.ok) return reject(401, 'unauthorized', verified.reason);
  if (pod !== push.myPod) return reject(403, 'wrong_pod', `push is for pod ${pod}, this sidecar serves ${push.myPod}`);
  const entry = check(desiredEntrySchema, entryFields);
  if (!entry.ok) return reject(400, 'malformed', entry.error);
  return { ok: true, entry: entry.value };
}

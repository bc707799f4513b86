/**
 * The signed desired-state push (L2) from the CLI to a sidecar: `POST /desired-state`.
 *
 * Body: JSON `{"pod":"consumer-blue-0","generation":7,"lifecycle":"PAUSED","fault":{...}?}`.
 * Headers:
 *  - `x-bgswitch-timestamp`: milliseconds since the epoch when the CLI signed it.
 *  - `x-bgswitch-signature`: `v1=` + hex HMAC-SHA256 over `v1\n<pod>\n<generation>\n<timestamp>\n<raw body>`
 *    with the key from the push-key Secret. Pod and generation are signed explicitly and must
 *    also match the body, so a signature for one pod or generation cannot be replayed for another.
 *
 * The sidecar answers 401 for a missing/bad signature or a timestamp outside the allowed skew,
 * 409 for a generation older than the highest it has seen, 400/413 for a malformed/oversized body,
 * 403 for a correctly signed push addressed to another pod, 503 while it shuts down.
 */
import { createHmac, timingSafeEqual } from 'node:crypto';

export const TIMESTAMP_HEADER = 'x-bgswitch-timestamp';
export const SIGNATURE_HEADER = 'x-bgswitch-signature';
export const MAX_PUSH_BODY_BYTES = 4096;
export const MAX_CLOCK_SKEW_MS = 60_000;

function digest(key: Buffer, pod: string, generation: number, timestamp: string, body: string): string {
  return createHmac('sha256', key).update(`v1\n${pod}\n${generation}\n${timestamp}\n${body}`).digest('hex');
}

export function signPush(key: Buffer, pod: string, generation: number, body: string, nowMs: number): Record<string, string> {
  const timestamp = String(nowMs);
  return {
    'content-type': 'application/json',
    [TIMESTAMP_HEADER]: timestamp,
    [SIGNATURE_HEADER]: `v1=${digest(key, pod, generation, timestamp, body)}`,
  };
}

export type VerifyResult = { ok: true } | { ok: false; reason: string };

/** Constant-time check of a push signature and its freshness. */
export function verifyPush(
  key: Buffer,
  pod: string,
  generation: number,
  body: string,
  timestamp: string | undefined,
  signature: string | undefined,
  nowMs: number,
): VerifyResult {
  if (!timestamp || !signature) return { ok: false, reason: 'missing signature headers' };
  if (!/^\d{1,16}$/.test(timestamp)) return { ok: false, reason: 'malformed timestamp' };
  if (Math.abs(nowMs - Number(timestamp)) > MAX_CLOCK_SKEW_MS) return { ok: false, reason: 'timestamp outside the allowed clock skew' };
  const match = /^v1=([0-9a-f]{64})$/.exec(signature);
  if (!match) return { ok: false, reason: 'malformed signature' };
  const expected = Buffer.from(digest(key, pod, generation, timestamp, body), 'hex');
  const given = Buffer.from(match[1]!, 'hex');
  return timingSafeEqual(expected, given) ? { ok: true } : { ok: false, reason: 'signature mismatch' };
}

/**
 * The key bytes from the Secret's text (as mounted into the sidecar or read by the CLI): surrounding
 * whitespace such as a trailing newline is not part of the key. Undefined when nothing is left.
 */
export function pushKeyFromText(text: string): Buffer | undefined {
  const trimmed = text.trim();
  return trimmed === '' ? undefined : Buffer.from(trimmed, 'utf8');
}

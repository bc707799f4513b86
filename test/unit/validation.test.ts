/**
 * The one validation layer (src/shared/validation.ts): how a wrong value is put in words. Every
 * external JSON goes through it, so these words are what an operator reads in `status`, in a
 * rejected push and in an unexpected pod answer.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import * as v from 'valibot';
import { desiredEntrySchema } from '../../src/shared/model.js';
import { check, count, exactRecord, flag, list, oneOf, openRecord, parseJson, text } from '../../src/shared/validation.js';

const phases = openRecord({ name: text, ok: flag, phases: v.optional(list(openRecord({ durationMs: count }))) });

describe('validation words', () => {
  it('names the field by its path, nested and in arrays', () => {
    assert.deepEqual(check(phases, { name: 'x', ok: true, phases: [{ durationMs: 1 }, { durationMs: -1 }] }), {
      ok: false,
      error: 'phases[1].durationMs must be a non-negative integer',
    });
    assert.deepEqual(check(desiredEntrySchema, { lifecycle: 'ACTIVE', fault: { errorRatePercent: 101 } }), {
      ok: false,
      error: 'fault.errorRatePercent must be at most 100',
    });
  });

  it('says a field is missing, and names a field it does not know', () => {
    assert.deepEqual(check(phases, { ok: true }), { ok: false, error: 'name is missing' });
    assert.deepEqual(check(exactRecord({ name: text }), { name: 'x', color: 'green' }), { ok: false, error: 'unknown field "color"' });
    assert.deepEqual(check(openRecord({ name: text }), { name: 'x', color: 'green' }), { ok: true, value: { name: 'x' } });
  });

  it('lists the allowed values and quotes what came instead', () => {
    assert.deepEqual(check(openRecord({ state: oneOf(['ACTIVE', 'DRAINING', 'PAUSED']) }), { state: 'paused' }), {
      ok: false,
      error: 'state must be "ACTIVE", "DRAINING" or "PAUSED", got "paused"',
    });
  });

  it("names the whole when it is not JSON or not an object, with the caller's subject", () => {
    assert.deepEqual(parseJson(phases, '{"name":', 'the body'), { ok: false, error: 'the body is not JSON' });
    assert.deepEqual(parseJson(phases, '[1]', 'the body'), { ok: false, error: 'the body is not a JSON object' });
    assert.deepEqual(parseJson(list(text), '{}', 'the history'), { ok: false, error: 'the history is not a JSON array' });
    assert.deepEqual(parseJson(desiredEntrySchema, 'PAUSED'), { ok: false, error: 'not JSON' });
  });

  it('fills the defaults of a desired entry and adds no key that was not there', () => {
    const parsed = parseJson(desiredEntrySchema, '{"lifecycle":"PAUSED","fault":{"processingDelayMs":200}}');
    assert.deepEqual(parsed, {
      ok: true,
      value: {
        lifecycle: 'PAUSED',
        generation: 0,
        fault: { processingDelayMs: 200, errorRatePercent: 0, commitDelayMs: 0, pollTimeoutExceed: false },
      },
    });
    const plain = parseJson(desiredEntrySchema, '{"lifecycle":"ACTIVE","generation":3}');
    assert.ok(plain.ok && !('fault' in plain.value), 'no fault key appears');
  });
});

/**
 * The sidecar's decision logic, driven entirely in memory: which desired state wins, when it
 * pauses, when a resume needs the API server, faults, generations and serialisation.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { systemClock } from '../../src/shared/clock.js';
import { OPERATION_ANNOTATION } from '../../src/shared/desired-state.js';
import type { Fault } from '../../src/shared/model.js';
import { Reconciler } from '../../sidecar/reconciler.js';
import { MemoryConsumer, MemoryGenerations, MemoryStateData, captureLog, entryText } from './sidecar-fixtures.js';

const POD = 'consumer-blue-0';
const SLOW: Fault = { processingDelayMs: 200, errorRatePercent: 50, commitDelayMs: 100, pollTimeoutExceed: true };
const CLEAR: Fault = { processingDelayMs: 0, errorRatePercent: 0, commitDelayMs: 0, pollTimeoutExceed: false };
const OPERATION = { [OPERATION_ANNOTATION]: '{"id":"op-1","kind":"switch","from":"blue","to":"green"}' };

/** A version of the state ConfigMap as the API watch delivers it. */
function watched(data: Record<string, string>, annotations: Record<string, string> = {}) {
  return { data, annotations };
}

async function setup(persistedGeneration = 0) {
  const consumer = new MemoryConsumer();
  const file = new MemoryStateData();
  const api = new MemoryStateData();
  const generations = new MemoryGenerations(persistedGeneration);
  const logs = captureLog();
  const reconciler = await Reconciler.create({
    pod: POD,
    color: 'blue',
    consumer,
    file,
    api,
    generations,
    clock: systemClock,
    log: logs.log,
  });
  return { consumer, file, api, generations, logs, reconciler };
}

describe('sidecar reconciler: desired state', () => {
  it('pauses an ACTIVE consumer when the mounted file says PAUSED and the API server has nothing newer', async () => {
    const { consumer, file, api, reconciler } = await setup();
    consumer.lifecycle = 'ACTIVE';
    file.data = { [POD]: entryText('PAUSED', 3) };
    api.data = { [POD]: entryText('PAUSED', 3) };
    const status = await reconciler.reconcile();
    assert.deepEqual(consumer.commands(), ['pause']);
    assert.equal(status.actual, 'PAUSED');
    assert.equal(status.generation, 3);
    assert.equal(api.reads, 1, 'the API server is asked once before pausing');
  });

  it('never undoes a newer switch: a stale PAUSED (push refused, old file) does not pause a consumer the API server says is ACTIVE', async () => {
    // The lab found this: the sidecar missed the CLI's pushes (no push key mounted yet), the CLI
    // resumed the consumer directly (L1) after writing ACTIVE at generation 7, and the sidecar's
    // older PAUSED must not pause it again.
    const { consumer, file, api, reconciler } = await setup();
    file.data = { [POD]: entryText('PAUSED', 6) };
    api.data = { [POD]: entryText('PAUSED', 6) };
    await reconciler.reconcile();
    consumer.lifecycle = 'ACTIVE';
    api.data = { [POD]: entryText('ACTIVE', 7) };
    const status = await reconciler.reconcile();
    assert.deepEqual(consumer.commands(), [], 'no pause');
    assert.equal(status.actual, 'ACTIVE');
    assert.equal(status.desired?.lifecycle, 'ACTIVE');
    assert.equal(status.desiredSource, 'api');
    assert.equal(status.generation, 7);
  });

  it('still pauses on what it knows when the API server cannot be read (pausing is always safe)', async () => {
    const { consumer, file, api, reconciler } = await setup();
    consumer.lifecycle = 'ACTIVE';
    file.data = { [POD]: entryText('PAUSED', 3) };
    api.unreachable = true;
    const status = await reconciler.reconcile();
    assert.deepEqual(consumer.commands(), ['pause']);
    assert.equal(status.actual, 'PAUSED');
    assert.equal(status.desiredSource, 'file');
  });

  it('uses the colour key when there is no pod key, and the pod key when both exist', async () => {
    const { consumer, file, api, reconciler } = await setup();
    file.data = { blue: entryText('PAUSED', 2) };
    consumer.lifecycle = 'ACTIVE';
    await reconciler.reconcile();
    assert.deepEqual(consumer.commands(), ['pause']);
    file.data = { blue: entryText('PAUSED', 4), [POD]: entryText('ACTIVE', 4) };
    api.data = { [POD]: entryText('ACTIVE', 4) };
    const status = await reconciler.reconcile();
    assert.equal(status.desired?.lifecycle, 'ACTIVE');
    assert.deepEqual(consumer.commands(), ['pause', 'resume']);
  });

  it('ignores a stale file after a higher push, and follows a file with a higher generation than the push', async () => {
    const { consumer, file, api, reconciler } = await setup();
    file.data = { [POD]: entryText('PAUSED', 4) };
    api.data = { [POD]: entryText('ACTIVE', 5) }; // the CLI writes before it pushes
    const pushed = await reconciler.acceptPush({ lifecycle: 'ACTIVE', generation: 5 });
    assert.ok(pushed.accepted);
    assert.equal(pushed.status.desiredSource, 'push');
    assert.equal(consumer.lifecycle, 'ACTIVE');
    await reconciler.reconcile();
    assert.equal(consumer.lifecycle, 'ACTIVE', 'the stale PAUSED file (generation 4) must not act');

    file.data = { [POD]: entryText('PAUSED', 6) };
    const status = await reconciler.reconcile();
    assert.equal(status.desiredSource, 'file');
    assert.equal(status.generation, 6);
    assert.equal(consumer.lifecycle, 'PAUSED');
  });

  it('prefers push over api over file at the same generation', async () => {
    const { api, file, reconciler } = await setup();
    file.data = { [POD]: entryText('PAUSED', 7) };
    api.data = { [POD]: entryText('PAUSED', 7) };
    await reconciler.seedFromApi();
    assert.equal((await reconciler.reconcile()).desiredSource, 'api');
    const pushed = await reconciler.acceptPush({ lifecycle: 'PAUSED', generation: 7 });
    assert.ok(pushed.accepted, 'an equal generation is an idempotent accept');
    assert.equal(pushed.status.desiredSource, 'push');
  });

  it('refuses a push older than the highest generation seen, from any source', async () => {
    const { file, reconciler } = await setup();
    file.data = { [POD]: entryText('PAUSED', 9) };
    await reconciler.reconcile();
    const outcome = await reconciler.acceptPush({ lifecycle: 'ACTIVE', generation: 8 });
    assert.deepEqual(outcome, { accepted: false, highestGeneration: 9 });
  });

  it('logs a malformed file entry once and never acts on it', async () => {
    const { consumer, file, logs, reconciler } = await setup();
    consumer.lifecycle = 'ACTIVE';
    file.data = { [POD]: '{"lifecycle":"PAUSD","generation":3}', blue: entryText('PAUSED', 3) };
    await reconciler.reconcile();
    await reconciler.reconcile();
    assert.deepEqual(consumer.commands(), [], 'a malformed pod key is not replaced by the colour key');
    const warnings = logs.lines.filter((line) => line['msg'] === 'ignoring a malformed desired-state entry');
    assert.equal(warnings.length, 1);
    assert.equal(warnings[0]?.['key'], POD);
    assert.match(String(warnings[0]?.['error']), /lifecycle must be/);
  });

  it('after a restart ignores everything older than the persisted generation', async () => {
    const { consumer, file, reconciler } = await setup(10);
    consumer.lifecycle = 'ACTIVE';
    file.data = { [POD]: entryText('PAUSED', 9) };
    const status = await reconciler.reconcile();
    assert.deepEqual(consumer.commands(), []);
    assert.equal(status.desired, undefined);
    assert.match(status.lastError ?? '', /older than generation 10/);
  });

  it('persists every higher generation it sees', async () => {
    const { file, api, generations, reconciler } = await setup();
    api.data = { [POD]: entryText('PAUSED', 3) };
    await reconciler.seedFromApi();
    assert.equal(generations.value, 3);
    file.data = { [POD]: entryText('PAUSED', 4) };
    await reconciler.reconcile();
    assert.equal(generations.value, 4);
    await reconciler.acceptPush({ lifecycle: 'PAUSED', generation: 5 });
    assert.equal(generations.value, 5);
  });
});

describe('sidecar reconciler: resumes', () => {
  it('resumes from a push at once when the API server confirms it, and checks again after', async () => {
    const { api, reconciler } = await setup();
    api.data = { [POD]: entryText('ACTIVE', 2) };
    const outcome = await reconciler.acceptPush({ lifecycle: 'ACTIVE', generation: 2 });
    assert.ok(outcome.accepted);
    assert.equal(outcome.status.actual, 'ACTIVE');
    assert.equal(api.reads, 2, 'one read before the resume, one after');
  });

  it('does not resume on a pushed ACTIVE that the API server does not confirm (model-1)', async () => {
    // `inject-fault --clear` wrote and pushed blue-0's entry (still ACTIVE, generation 5); a switch
    // then wrote every pod PAUSED at 6 and paused blue-0 directly (L1). The push lands after that,
    // on a sidecar that has not seen generation 6: it is accepted, but must not resume blue-0. (The
    // consumer has no fault, so there is no fault correction that would read the API server first.)
    const { consumer, api, reconciler } = await setup();
    api.data = { [POD]: entryText('PAUSED', 6, CLEAR) };
    const outcome = await reconciler.acceptPush({ lifecycle: 'ACTIVE', generation: 5, fault: CLEAR });
    assert.ok(outcome.accepted);
    assert.equal(consumer.lifecycle, 'PAUSED');
    assert.match(outcome.status.lastError ?? '', /resume not confirmed.*PAUSED/);
    const next = await reconciler.reconcile();
    assert.equal(next.desired?.lifecycle, 'PAUSED', 'the newer entry read from the API server wins');
    assert.equal(next.generation, 6);
    assert.ok(!consumer.commands().includes('resume'), 'never resumed');
    assert.equal(consumer.lifecycle, 'PAUSED');
  });

  it('does not resume on a pushed ACTIVE while the API server cannot be read, and resumes once it confirms', async () => {
    const { consumer, api, reconciler } = await setup();
    api.unreachable = true;
    const outcome = await reconciler.acceptPush({ lifecycle: 'ACTIVE', generation: 2 });
    assert.ok(outcome.accepted);
    assert.equal(outcome.status.actual, 'PAUSED');
    assert.match(outcome.status.lastError ?? '', /resume not confirmed.*could not be read/);
    assert.deepEqual(consumer.commands(), []);

    api.unreachable = false;
    api.data = { [POD]: entryText('ACTIVE', 2) };
    assert.equal((await reconciler.reconcile()).actual, 'ACTIVE');
  });

  it('resumes from the file only when the API server confirms ACTIVE at that generation or newer', async () => {
    const { consumer, file, api, reconciler } = await setup();
    file.data = { [POD]: entryText('ACTIVE', 5) };

    api.unreachable = true;
    let status = await reconciler.reconcile();
    assert.equal(consumer.lifecycle, 'PAUSED');
    assert.match(status.lastError ?? '', /resume not confirmed.*could not be read/);

    api.unreachable = false;
    api.data = { [POD]: entryText('ACTIVE', 4) };
    status = await reconciler.reconcile();
    assert.equal(consumer.lifecycle, 'PAUSED', 'an older API entry does not confirm');
    assert.match(status.lastError ?? '', /ACTIVE at generation 4/);

    api.data = { [POD]: entryText('PAUSED', 5) };
    await reconciler.reconcile();
    assert.equal(consumer.lifecycle, 'PAUSED', 'the API server says PAUSED');

    // The CLI's next change carries a new generation; file and API server both reach it.
    file.data = { [POD]: entryText('ACTIVE', 6) };
    api.data = { [POD]: entryText('ACTIVE', 6) };
    status = await reconciler.reconcile();
    assert.equal(consumer.lifecycle, 'ACTIVE');
    assert.equal(status.lastError, undefined);
  });

  it('adopts a newer PAUSED entry learnt while confirming, and stops asking', async () => {
    const { consumer, file, api, reconciler } = await setup();
    file.data = { [POD]: entryText('ACTIVE', 5) };
    api.data = { [POD]: entryText('PAUSED', 6) };
    await reconciler.reconcile();
    const status = await reconciler.reconcile();
    assert.equal(status.desiredSource, 'api');
    assert.equal(status.desired?.lifecycle, 'PAUSED');
    assert.equal(api.reads, 1);
    assert.deepEqual(consumer.commands(), []);
  });

  it('pauses again when the API server withdraws the resume while it is being applied', async () => {
    const { consumer, file, api, reconciler } = await setup();
    file.data = { [POD]: entryText('ACTIVE', 5) };
    api.data = { [POD]: entryText('ACTIVE', 5) };
    api.afterRead = () => {
      api.data = { [POD]: entryText('PAUSED', 6) };
    };
    await reconciler.reconcile();
    assert.deepEqual(consumer.commands(), ['resume', 'pause']);
    assert.equal(consumer.lifecycle, 'PAUSED');
  });

  it('resumes a restarted consumer (PAUSED again) on the active side, confirmed by the API server', async () => {
    const { consumer, api, reconciler } = await setup();
    api.data = { [POD]: entryText('ACTIVE', 3) };
    await reconciler.acceptPush({ lifecycle: 'ACTIVE', generation: 3 });
    assert.equal(consumer.lifecycle, 'ACTIVE');

    consumer.lifecycle = 'PAUSED'; // the consumer restarted
    api.unreachable = true;
    await reconciler.reconcile();
    assert.equal(consumer.lifecycle, 'PAUSED', 'no resume while the API server cannot confirm it');

    api.unreachable = false;
    await reconciler.reconcile();
    assert.equal(consumer.lifecycle, 'ACTIVE');
  });

  it('does not resume on a repeated push after the consumer was paused for a newer switch', async () => {
    const { consumer, api, reconciler } = await setup();
    api.data = { [POD]: entryText('ACTIVE', 4) };
    await reconciler.acceptPush({ lifecycle: 'ACTIVE', generation: 4 });
    consumer.lifecycle = 'PAUSED'; // paused by the CLI's L1 while a newer switch is under way
    api.data = { [POD]: entryText('PAUSED', 5) };
    const replay = await reconciler.acceptPush({ lifecycle: 'ACTIVE', generation: 4 });
    assert.ok(replay.accepted);
    assert.equal(consumer.lifecycle, 'PAUSED');
    assert.deepEqual(consumer.commands(), ['resume']);
  });

  it('does not resume a DRAINING consumer (someone is pausing it) and keeps pausing when PAUSED is desired', async () => {
    const { consumer, api, reconciler } = await setup();
    api.data = { [POD]: entryText('ACTIVE', 1) };
    await reconciler.acceptPush({ lifecycle: 'ACTIVE', generation: 1 });
    consumer.lifecycle = 'DRAINING';
    await reconciler.reconcile();
    assert.deepEqual(consumer.commands(), ['resume']);
    await reconciler.acceptPush({ lifecycle: 'PAUSED', generation: 2 });
    assert.deepEqual(consumer.commands(), ['resume', 'pause']);
  });

  it('reports an unreachable consumer and acts once it is back', async () => {
    const { consumer, file, reconciler } = await setup();
    file.data = { [POD]: entryText('PAUSED', 1) };
    consumer.lifecycle = 'ACTIVE';
    consumer.down = true;
    const status = await reconciler.reconcile();
    assert.equal(status.actual, undefined);
    assert.match(status.lastError ?? '', /cannot read the consumer's state/);
    consumer.down = false;
    assert.equal((await reconciler.reconcile()).actual, 'PAUSED');
  });
});

describe('sidecar reconciler: faults and serialisation', () => {
  it('never undoes a newer fault the CLI set directly: an older entry is checked against the API server first', async () => {
    const { consumer, file, api, reconciler } = await setup();
    file.data = { [POD]: entryText('PAUSED', 4, CLEAR) };
    api.data = { [POD]: entryText('PAUSED', 4, CLEAR) };
    await reconciler.reconcile();
    consumer.fault = { ...SLOW };
    api.data = { [POD]: entryText('PAUSED', 5, SLOW) };
    const status = await reconciler.reconcile();
    assert.deepEqual(consumer.fault, SLOW, 'the newer fault stays');
    assert.deepEqual(consumer.commands(), []);
    assert.equal(status.generation, 5);
  });

  it('applies a fault, clears it with zeros, and leaves faults alone when the entry has none', async () => {
    const { consumer, reconciler } = await setup();
    await reconciler.acceptPush({ lifecycle: 'PAUSED', generation: 1, fault: SLOW });
    assert.deepEqual(consumer.fault, SLOW);
    await reconciler.reconcile();
    assert.equal(consumer.commands().filter((call) => call === 'setFault').length, 1, 'an equal fault is not re-applied');

    await reconciler.acceptPush({ lifecycle: 'PAUSED', generation: 2, fault: CLEAR });
    assert.deepEqual(consumer.fault, CLEAR);

    consumer.fault = { ...SLOW, errorRatePercent: 10 };
    await reconciler.acceptPush({ lifecycle: 'PAUSED', generation: 3 });
    assert.deepEqual(consumer.fault, { ...SLOW, errorRatePercent: 10 });
  });

  it('acts once on an entry that arrives twice (push and watch event) or with other keys; a changed entry, a drift or a problem is acted on', async () => {
    const { consumer, api, reconciler } = await setup();
    consumer.lifecycle = 'ACTIVE';
    api.data = { [POD]: entryText('PAUSED', 2) };
    await reconciler.acceptPush({ lifecycle: 'PAUSED', generation: 2 });
    assert.deepEqual(consumer.calls, ['state', 'pause'], 'the push is applied at once');
    const reads = api.reads;

    let status = await reconciler.apiChanged(watched({ [POD]: entryText('PAUSED', 2) }));
    await reconciler.apiChanged(watched({ [POD]: entryText('PAUSED', 2), 'consumer-green-0': entryText('ACTIVE', 3) }));
    assert.deepEqual(consumer.calls, ['state', 'pause'], 'the same entry again: no consumer call');
    assert.equal(api.reads, reads, 'and no API read');
    assert.equal(status.desired?.generation, 2);
    assert.equal(status.actual, 'PAUSED');

    consumer.lifecycle = 'ACTIVE';
    await reconciler.reconcile();
    assert.deepEqual(consumer.commands(), ['pause', 'pause'], 'the tick finds the drift and pauses again');

    consumer.down = true;
    assert.match((await reconciler.reconcile()).lastError ?? '', /cannot read the consumer's state/);
    consumer.down = false;
    consumer.calls.length = 0;
    status = await reconciler.apiChanged(watched({ [POD]: entryText('PAUSED', 2) }));
    assert.deepEqual(consumer.calls, ['state'], 'after a problem the same entry is reconciled again');
    assert.equal(status.lastError, undefined);

    api.data = { [POD]: entryText('ACTIVE', 4) };
    consumer.calls.length = 0;
    status = await reconciler.apiChanged(watched({ [POD]: entryText('ACTIVE', 4) }));
    assert.deepEqual(consumer.commands(), ['resume'], 'a new entry is acted on at once');
    assert.equal(status.actual, 'ACTIVE');
  });

  it('while a CLI operation is in progress, adopts pushes and watch events and leaves the consumer to the CLI and the tick; at once again after it', async () => {
    const { consumer, api, logs, reconciler } = await setup();
    consumer.lifecycle = 'ACTIVE';
    api.data = { [POD]: entryText('ACTIVE', 1) };
    await reconciler.apiChanged(watched({ [POD]: entryText('ACTIVE', 1) }));
    assert.deepEqual(consumer.calls, ['state'], 'without an operation record a watch event is reconciled at once');

    // A switch to green: its first write (every pod PAUSED, the operation record) reaches the watch.
    api.data = { [POD]: entryText('PAUSED', 2) };
    consumer.calls.length = 0;
    let status = await reconciler.apiChanged(watched({ [POD]: entryText('PAUSED', 2) }, OPERATION));
    assert.deepEqual(consumer.calls, [], 'no consumer call: the CLI pauses this pod itself');
    assert.equal(api.reads, 0, 'and no API read');
    assert.deepEqual(status.desired, { lifecycle: 'PAUSED', generation: 2 }, 'the entry is adopted at once');
    assert.equal(status.cliOperation, true);
    assert.ok(
      logs.lines.some((line) => line.msg === 'a CLI operation is in progress: pushes and watch events wait for the next tick'),
      logs.text(),
    );
    assert.deepEqual(await reconciler.acceptPush({ lifecycle: 'ACTIVE', generation: 1 }), { accepted: false, highestGeneration: 2 });

    consumer.lifecycle = 'PAUSED'; // the CLI's own pause call
    const pushed = await reconciler.acceptPush({ lifecycle: 'PAUSED', generation: 2 });
    assert.ok(pushed.accepted);
    assert.equal(pushed.status.desiredSource, 'push');
    assert.deepEqual(consumer.calls, [], 'its push is adopted, not reconciled');
    await reconciler.reconcile();
    assert.deepEqual(consumer.calls, ['state'], 'the tick checks, and finds nothing to do');

    // It rolls back (blue ACTIVE again) and its resume call never reaches this pod: the tick resumes it.
    api.data = { [POD]: entryText('ACTIVE', 3) };
    consumer.calls.length = 0;
    await reconciler.apiChanged(watched({ [POD]: entryText('ACTIVE', 3) }, OPERATION));
    assert.deepEqual(consumer.calls, []);
    status = await reconciler.reconcile();
    assert.deepEqual(consumer.commands(), ['resume'], 'resumed at the tick');
    assert.equal(api.reads, 2, 'confirmed by the API server before and after, as every resume');
    assert.equal(status.actual, 'ACTIVE');

    // The record write that ends it: the entry is in effect, nothing to do; a later hand-written change is acted on at once.
    consumer.calls.length = 0;
    status = await reconciler.apiChanged(watched({ [POD]: entryText('ACTIVE', 3) }));
    assert.equal(status.cliOperation, undefined);
    assert.ok(
      logs.lines.some((line) => line.msg === 'the CLI operation ended: pushes and watch events are acted on at once again'),
      logs.text(),
    );
    assert.deepEqual(consumer.calls, []);
    api.data = { [POD]: entryText('PAUSED', 4) };
    await reconciler.apiChanged(watched({ [POD]: entryText('PAUSED', 4) }));
    assert.deepEqual(consumer.commands(), ['pause']);
  });

  it('never runs a push and a tick concurrently', async () => {
    const { consumer, file, api, reconciler } = await setup();
    let release!: () => void;
    consumer.resumeGate = new Promise((resolve) => (release = resolve));
    file.data = { [POD]: entryText('ACTIVE', 1) };
    api.data = { [POD]: entryText('ACTIVE', 1) };
    const tick = reconciler.reconcile();
    const pushed = reconciler.acceptPush({ lifecycle: 'PAUSED', generation: 2 });
    const nextTick = reconciler.reconcile();
    release();
    await Promise.all([tick, pushed, nextTick]);
    assert.equal(consumer.maxConcurrent, 1);
    assert.deepEqual(consumer.commands(), ['resume', 'pause']);
    assert.equal(consumer.lifecycle, 'PAUSED');
  });
});

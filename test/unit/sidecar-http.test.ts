/**
 * The sidecar over real HTTP on loopback, against the reference consumer: signed pushes and their
 * refusals, the mounted file in kubelet's `..data` layout, API confirmation of resumes, faults,
 * generation persistence across restarts, the HTTP probes and metrics, and graceful shutdown.
 * The API server is the sidecar's own StateDataSource interface in memory (the real client is
 * covered by the lab tests).
 */
import assert from 'node:assert/strict';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { connect } from 'node:net';
import { join } from 'node:path';
import { after, afterEach, describe, it } from 'node:test';
import { startConsumer, type ConsumerHandle } from '../../consumer/server.js';
import { systemClock } from '../../src/shared/clock.js';
import type { Clock } from '../../src/shared/clock.js';
import { MAX_CLOCK_SKEW_MS, SIGNATURE_HEADER } from '../../src/shared/push-signature.js';
import type { SidecarConfig } from '../../sidecar/config.js';
import { startSidecar, stuckAfterMs, type RunningSidecar, type SidecarDeps } from '../../sidecar/daemon.js';
import {
  MemoryConsumer,
  MemoryStateData,
  captureLog,
  entryText,
  httpCall,
  loopbackSidecarConfig,
  projectConfigMap,
  push,
  tempDir,
  waitFor,
  type CapturedLog,
} from './sidecar-fixtures.js';

const POD = 'consumer-blue-0';
const KEY_TEXT = 'test-push-key-0123456789abcdef';
const KEY = Buffer.from(KEY_TEXT);

interface Harness {
  sidecar: RunningSidecar;
  consumer: ConsumerHandle;
  api: MemoryStateData;
  logs: CapturedLog;
  config: SidecarConfig;
  /** Starts another sidecar process-equivalent on the same directories (a container restart). */
  restartSidecar(): Promise<RunningSidecar>;
  consumerState(): Promise<string>;
}

const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

function startTestConsumer(port = 0): Promise<ConsumerHandle> {
  return startConsumer({ port, host: '127.0.0.1', podName: POD, color: 'blue', writeLog: () => {} });
}

interface HarnessOptions {
  writeKey?: boolean;
  consumer?: SidecarDeps['consumer'];
  clock?: Clock;
  /** Holds the startup API read (and so the first reconcile) until released. */
  apiReadGate?: Promise<void>;
}

async function harness(options: HarnessOptions = {}): Promise<Harness> {
  const dir = await tempDir('sidecar');
  cleanups.push(dir.remove);
  const consumer = await startTestConsumer();
  cleanups.push(() => consumer.close());
  const config: SidecarConfig = loopbackSidecarConfig(dir.path, POD, consumer.url);
  await mkdir(config.stateDir);
  await mkdir(join(dir.path, 'push-key'));
  if (options.writeKey !== false) await writeFile(config.pushKeyFile, `${KEY_TEXT}\n`);
  const api = new MemoryStateData();
  api.readGate = options.apiReadGate;
  const logs = captureLog();
  const launch = async (): Promise<RunningSidecar> => {
    const deps: SidecarDeps = { api, log: logs.log };
    if (options.consumer) deps.consumer = options.consumer;
    if (options.clock) deps.clock = options.clock;
    const sidecar = await startSidecar(config, deps);
    cleanups.push(() => sidecar.shutdown());
    return sidecar;
  };
  const sidecar = await launch();
  if (!options.apiReadGate) await waitFor('sidecar ready', async () => (await httpCall(`${sidecar.url}/readyz`)).status === 200);
  return {
    sidecar,
    consumer,
    api,
    logs,
    config,
    restartSidecar: launch,
    consumerState: async () => String((await httpCall(`${consumer.url}/lifecycle/status`)).body['state']),
  };
}

/** Waits until `count` more reconciles have finished, so at least one started after the caller's last change. */
async function ticksFinished(sidecar: RunningSidecar, count: number): Promise<void> {
  const seen = new Set([sidecar.reconciler.status().lastReconcileAt]);
  await waitFor(`${count} more reconciles`, () => {
    seen.add(sidecar.reconciler.status().lastReconcileAt);
    return seen.size > count;
  });
}

function connectionRefused(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect(port, '127.0.0.1');
    socket.once('connect', () => {
      socket.destroy();
      resolve(false);
    });
    socket.once('error', (error: NodeJS.ErrnoException) => resolve(error.code === 'ECONNREFUSED'));
  });
}

function desired(lifecycle: 'ACTIVE' | 'PAUSED', generation: number, extra: Record<string, unknown> = {}): Record<string, unknown> {
  return { pod: POD, generation, lifecycle, ...extra };
}

describe('sidecar push endpoint (L2)', () => {
  it('accepts a correctly signed push, resumes at once (confirmed by the API server) and answers the resulting status', async () => {
    const { sidecar, api, consumerState } = await harness();
    api.data = { [POD]: entryText('ACTIVE', 1) }; // what the CLI writes before it pushes
    const answer = await push(sidecar.url, desired('ACTIVE', 1), { key: KEY });
    assert.equal(answer.status, 200);
    assert.equal(answer.body['actual'], 'ACTIVE');
    assert.equal(answer.body['desiredSource'], 'push');
    assert.equal(answer.body['generation'], 1);
    assert.equal(await consumerState(), 'ACTIVE');
  });

  it('refuses unsigned, wrongly signed, tampered, stale and future pushes with 401 and changes nothing', async () => {
    const { sidecar, consumerState, logs } = await harness();
    const body = desired('ACTIVE', 1);
    const variants: [string, Promise<{ status: number }>][] = [
      ['no signature', push(sidecar.url, body)],
      ['wrong key', push(sidecar.url, body, { key: Buffer.from('another-key') })],
      [
        'tampered body',
        push(sidecar.url, body, { key: KEY, sendBody: JSON.stringify(desired('ACTIVE', 1, { fault: { errorRatePercent: 100 } })) }),
      ],
      ['tampered pod', push(sidecar.url, body, { key: KEY, sendBody: JSON.stringify({ ...body, pod: 'consumer-blue-1' }) })],
      ['old timestamp', push(sidecar.url, body, { key: KEY, nowMs: Date.now() - MAX_CLOCK_SKEW_MS - 5000 })],
      ['future timestamp', push(sidecar.url, body, { key: KEY, nowMs: Date.now() + MAX_CLOCK_SKEW_MS + 5000 })],
      ['garbage signature', push(sidecar.url, body, { key: KEY, headers: { [SIGNATURE_HEADER]: 'v1=zz' } })],
    ];
    for (const [name, answer] of variants) assert.equal((await answer).status, 401, name);
    assert.equal(await consumerState(), 'PAUSED');
    assert.equal(sidecar.reconciler.status().generation, 0);
    const logged = logs.text();
    assert.ok(!logged.includes(KEY_TEXT), 'the key is never logged');
    assert.ok(!/[0-9a-f]{64}/.test(logged), 'no signature is logged');
  });

  it('refuses with 403 a correctly signed push for another pod', async () => {
    const { sidecar, consumerState } = await harness();
    const answer = await push(sidecar.url, { ...desired('ACTIVE', 1), pod: 'consumer-green-0' }, { key: KEY });
    assert.equal(answer.status, 403);
    assert.match(String(answer.body['error']), /consumer-green-0.*consumer-blue-0/);
    assert.equal(await consumerState(), 'PAUSED');
  });

  it('answers 409 for an older generation, accepts an equal one, 400 for malformed bodies, 413 for oversized ones', async () => {
    const { sidecar } = await harness();
    assert.equal((await push(sidecar.url, desired('PAUSED', 5), { key: KEY })).status, 200);
    const stale = await push(sidecar.url, desired('ACTIVE', 4), { key: KEY });
    assert.equal(stale.status, 409);
    assert.equal(stale.body['highestGeneration'], 5);
    assert.equal((await push(sidecar.url, desired('PAUSED', 5), { key: KEY })).status, 200);

    const malformed: [string, Record<string, unknown>][] = [
      ['bad lifecycle', desired('DRAINING' as 'PAUSED', 6)],
      ['unknown field', desired('PAUSED', 6, { color: 'blue' })],
      ['bad fault', desired('PAUSED', 6, { fault: { errorRatePercent: 101 } })],
      ['negative generation', desired('PAUSED', -1)],
    ];
    for (const [name, body] of malformed) assert.equal((await push(sidecar.url, body, { key: KEY })).status, 400, name);
    assert.equal((await push(sidecar.url, {}, { key: KEY, sendBody: 'not json' })).status, 400);
    const huge = await push(sidecar.url, desired('PAUSED', 6, { padding: 'x'.repeat(5000) }), { key: KEY });
    assert.equal(huge.status, 413);
    assert.equal(sidecar.reconciler.status().generation, 5);
  });

  it('refuses every push with 401 and a clear log line while the key file is missing, and picks up a key created later', async () => {
    const { sidecar, config, logs } = await harness({ writeKey: false });
    const refused = await push(sidecar.url, desired('ACTIVE', 1), { key: KEY });
    assert.equal(refused.status, 401);
    const line = logs.lines.find((entry) => entry['level'] === 'error' && String(entry['msg']).includes('push key'));
    assert.ok(line, 'a log line names the missing push key');
    assert.equal(line['keyFile'], config.pushKeyFile);

    await writeFile(config.pushKeyFile, KEY_TEXT);
    assert.equal((await push(sidecar.url, desired('ACTIVE', 1), { key: KEY })).status, 200);
  });
});

describe('sidecar mounted file (L4) and reconcile loop (L3)', () => {
  it('pauses from the file, ignores a stale file after a higher push, and follows a higher file generation', async () => {
    const { sidecar, config, api, consumerState } = await harness();
    api.data = { [POD]: entryText('ACTIVE', 3) }; // what the CLI writes before it pushes
    assert.equal((await push(sidecar.url, desired('ACTIVE', 3), { key: KEY })).status, 200);
    await projectConfigMap(config.stateDir, { [POD]: entryText('PAUSED', 2) });
    await ticksFinished(sidecar, 2);
    assert.equal(await consumerState(), 'ACTIVE', 'the stale file (generation 2) must not pause');

    await projectConfigMap(config.stateDir, { [POD]: entryText('PAUSED', 4) });
    await waitFor('consumer PAUSED from the file', async () => (await consumerState()) === 'PAUSED');
    assert.equal(sidecar.reconciler.status().desiredSource, 'file');
  });

  it('ignores a malformed file entry and logs it', async () => {
    const { sidecar, config, api, consumerState, logs } = await harness();
    api.data = { [POD]: entryText('ACTIVE', 1) }; // what the CLI writes before it pushes
    await push(sidecar.url, desired('ACTIVE', 1), { key: KEY });
    await projectConfigMap(config.stateDir, { [POD]: '{"lifecycle":"PAUSED","generation":"9"}' });
    await waitFor('malformed entry logged', () => logs.lines.some((line) => line['msg'] === 'ignoring a malformed desired-state entry'));
    assert.equal(await consumerState(), 'ACTIVE');
    assert.equal(sidecar.reconciler.status().generation, 1);
  });

  it('resumes from the file only after the API server confirms it', async () => {
    const { sidecar, config, api, consumerState } = await harness();
    await projectConfigMap(config.stateDir, { [POD]: entryText('ACTIVE', 1) });

    api.unreachable = true;
    await waitFor('refused for an unreachable API server', () => /could not be read/.test(sidecar.reconciler.status().lastError ?? ''));
    assert.equal(await consumerState(), 'PAUSED');

    api.unreachable = false;
    api.data = { [POD]: entryText('PAUSED', 1) };
    await waitFor('refused for an API server saying PAUSED', () => sidecar.reconciler.status().desiredSource === 'api');
    assert.equal(await consumerState(), 'PAUSED');

    api.data = { [POD]: entryText('ACTIVE', 2) };
    await projectConfigMap(config.stateDir, { [POD]: entryText('ACTIVE', 2) });
    await waitFor('resumed after confirmation', async () => (await consumerState()) === 'ACTIVE');
  });

  it('resumes a restarted consumer (which starts PAUSED) on the active side', async () => {
    const { sidecar, consumer, api, consumerState } = await harness();
    api.data = { [POD]: entryText('ACTIVE', 1) };
    await push(sidecar.url, desired('ACTIVE', 1), { key: KEY });
    assert.equal(await consumerState(), 'ACTIVE');

    await consumer.close();
    await waitFor('sidecar sees the consumer gone', () => sidecar.reconciler.status().actual === undefined);
    const restarted = await startTestConsumer(consumer.port);
    cleanups.push(() => restarted.close());
    await waitFor('restarted consumer resumed', async () => (await consumerState()) === 'ACTIVE');
  });

  it('applies faults and really clears them with zeros', async () => {
    const { sidecar, consumer } = await harness();
    const fault = { processingDelayMs: 200, errorRatePercent: 50, commitDelayMs: 100, pollTimeoutExceed: true };
    assert.equal((await push(sidecar.url, desired('PAUSED', 1, { fault }), { key: KEY })).status, 200);
    assert.deepEqual((await httpCall(`${consumer.url}/fault`)).body, fault);
    const cleared = { processingDelayMs: 0, errorRatePercent: 0, commitDelayMs: 0, pollTimeoutExceed: false };
    assert.equal((await push(sidecar.url, desired('PAUSED', 2, { fault: cleared }), { key: KEY })).status, 200);
    assert.deepEqual((await httpCall(`${consumer.url}/fault`)).body, cleared);
  });

  it('keeps the highest generation across a sidecar restart', async () => {
    const { sidecar, config, restartSidecar } = await harness();
    assert.equal((await push(sidecar.url, desired('PAUSED', 7), { key: KEY })).status, 200);
    assert.equal((await readFile(config.generationFile, 'utf8')).trim(), '7');
    await sidecar.shutdown();

    const again = await restartSidecar();
    assert.equal(again.reconciler.status().generation, 7);
    assert.equal((await push(again.url, desired('ACTIVE', 6), { key: KEY })).status, 409);
  });
});

describe('sidecar probes, metrics and shutdown', () => {
  it('serves /status, /healthz and the Prometheus metrics', async () => {
    const { sidecar, api } = await harness();
    api.data = { [POD]: entryText('ACTIVE', 1) }; // what the CLI writes before it pushes
    await push(sidecar.url, desired('ACTIVE', 1), { key: KEY });
    const status = await httpCall(`${sidecar.url}/status`);
    assert.equal(status.status, 200);
    assert.deepEqual(
      { pod: status.body['pod'], color: status.body['color'], generation: status.body['generation'], actual: status.body['actual'] },
      { pod: POD, color: 'blue', generation: 1, actual: 'ACTIVE' },
    );
    assert.equal(typeof status.body['lastReconcileAt'], 'string');
    assert.equal((await httpCall(`${sidecar.url}/healthz`)).status, 200);

    await push(sidecar.url, desired('ACTIVE', 0), { key: KEY });
    const metrics = String((await httpCall(`${sidecar.url}/metrics`)).body['text']);
    assert.match(metrics, /bg_sidecar_lifecycle_commands_total\{command="resume"\} 1/);
    assert.match(metrics, /bg_sidecar_lifecycle_errors_total\{command="pause"\} 0/);
    assert.match(metrics, /bg_sidecar_state_updates_applied_total\{source="push"\} 1/);
    assert.match(metrics, /bg_sidecar_current_state\{state="ACTIVE"\} 1/);
    assert.match(metrics, /bg_sidecar_current_state\{state="PAUSED"\} 0/);
    assert.match(metrics, /bg_sidecar_desired_generation 1/);
    assert.match(metrics, /bg_sidecar_push_rejections_total\{reason="stale_generation"\} 1/);
  });

  it('is not ready before the first reconcile (startup API read still running), then ready', async () => {
    let release!: () => void;
    const { sidecar, api } = await harness({ apiReadGate: new Promise((resolve) => (release = resolve)) });
    await waitFor('startup API read begun', () => api.reads === 1);
    const early = await httpCall(`${sidecar.url}/readyz`);
    assert.equal(early.status, 503);
    assert.match(String(early.body['reason']), /first reconcile/);
    release();
    await waitFor('ready', async () => (await httpCall(`${sidecar.url}/readyz`)).status === 200);
  });

  it('fails /healthz while a reconcile is stuck and recovers when it finishes', async () => {
    const consumer = new MemoryConsumer();
    let release!: () => void;
    consumer.resumeGate = new Promise((resolve) => (release = resolve));
    let offsetMs = 0;
    const clock: Clock = { now: () => Date.now() + offsetMs, sleep: systemClock.sleep };
    const { sidecar, api } = await harness({ consumer, clock });
    api.data = { [POD]: entryText('ACTIVE', 1) }; // what the CLI writes before it pushes
    const inFlight = push(sidecar.url, desired('ACTIVE', 1), { key: KEY });
    await waitFor('resume in flight', () => consumer.calls.includes('resume'));
    assert.equal((await httpCall(`${sidecar.url}/healthz`)).status, 200);

    offsetMs = stuckAfterMs(20) + 1000;
    const stuck = await httpCall(`${sidecar.url}/healthz`);
    assert.equal(stuck.status, 503);
    assert.match(String(stuck.body['reason']), /no reconcile finished/);

    release();
    assert.equal((await inFlight).status, 200);
    await waitFor('healthy again', async () => (await httpCall(`${sidecar.url}/healthz`)).status === 200);
  });

  it('on shutdown: readiness off, in-flight push finished, loop stopped, server closed, consumer left alone', async () => {
    const consumer = new MemoryConsumer();
    let release!: () => void;
    consumer.resumeGate = new Promise((resolve) => (release = resolve));
    const { sidecar, api, logs } = await harness({ consumer });
    api.data = { [POD]: entryText('ACTIVE', 1) }; // what the CLI writes before it pushes

    const inFlight = push(sidecar.url, desired('ACTIVE', 1), { key: KEY });
    await waitFor('resume in flight', () => consumer.calls.includes('resume'));
    let stopped = false;
    const stopping = sidecar.shutdown().then(() => (stopped = true));

    assert.equal((await httpCall(`${sidecar.url}/readyz`)).status, 503);
    assert.equal((await push(sidecar.url, desired('PAUSED', 2), { key: KEY })).status, 503);
    assert.equal(stopped, false, 'shutdown waits for the in-flight push');

    release();
    assert.equal((await inFlight).status, 200);
    await stopping;
    const callsAtStop = consumer.calls.length;
    assert.equal(await connectionRefused(sidecar.port), true, 'the server is closed');
    assert.deepEqual(consumer.commands(), ['resume'], 'shutdown neither pauses nor resumes');
    assert.equal(consumer.calls.length, callsAtStop, 'no reconcile after shutdown');
    const order = logs.lines.map((line) => line['msg']).filter((msg) => /shutting down|push accepted|shutdown complete/.test(String(msg)));
    assert.deepEqual(order, ['shutting down: readiness off, finishing in-flight work', 'push accepted', 'shutdown complete']);
  });
});

after(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

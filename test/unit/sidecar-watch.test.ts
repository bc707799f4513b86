/**
 * The sidecar's watch of its state ConfigMap, through our own API client (sidecar/kube-api.ts)
 * against a small HTTP server on loopback that speaks the API server's list / get / watch protocol:
 * resuming from the last resourceVersion, 410 Gone -> list again, backoff with jitter, every change
 * reconciled at once, and, with the watch down, the file still applied but no resume without a
 * fresh read. What the real API server does is covered by test/e2e/no-cli.test.ts.
 */
import assert from 'node:assert/strict';
import { writeFile } from 'node:fs/promises';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, describe, it } from 'node:test';
import { systemClock } from '../../src/shared/clock.js';
import { OPERATION_ANNOTATION } from '../../src/shared/desired-state.js';
import type { Clock } from '../../src/shared/clock.js';
import { ConfigMapWatcher, type WatchTiming } from '../../sidecar/config-watch.js';
import { startSidecar, type RunningSidecar } from '../../sidecar/daemon.js';
import { ConfigMapApi } from '../../sidecar/kube-api.js';
import { MemoryConsumer, captureLog, entryText, loopbackSidecarConfig, projectConfigMap, tempDir, waitFor } from './sidecar-fixtures.js';

const NAMESPACE = 'kafka-bg-test';
const NAME = 'kafka-consumer-state';
const POD = 'consumer-blue-0';
const FAST: WatchTiming = { initialBackoffMs: 10, maxBackoffMs: 40, minWatchSeconds: 300, minWatchLifetimeMs: 0 };

type WatchAnswer = 'stream' | 'gone-event' | 'gone-status' | 'error-500';

/** The API server's ConfigMap endpoints for one ConfigMap, as the sidecar uses them. */
class LoopbackApiServer {
  readonly server: Server;
  data: Record<string, string> | undefined = {};
  annotations: Record<string, string> = {};
  resourceVersion = 100;
  watchAnswer: WatchAnswer = 'stream';
  /** Every request is cut off (connection reset), as when the API server is unreachable. */
  down = false;
  /** Requests are accepted and never answered (a frozen API server). */
  hang = false;
  readonly requests: Array<{ kind: 'get' | 'list' | 'watch'; resourceVersion?: string; timeoutSeconds?: string; authorization?: string }> =
    [];
  private readonly streams = new Set<ServerResponse>();

  constructor() {
    this.server = createServer((req, res) => this.handle(req, res));
  }

  async listen(): Promise<string> {
    await new Promise<void>((resolve) => this.server.listen(0, '127.0.0.1', resolve));
    return `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
  }

  count(kind: 'get' | 'list' | 'watch'): number {
    return this.requests.filter((request) => request.kind === kind).length;
  }

  /** A write by anyone: a new resourceVersion, and a MODIFIED event to every open watch. */
  write(data: Record<string, string>, annotations: Record<string, string> = {}): void {
    this.resourceVersion++;
    this.data = data;
    this.annotations = annotations;
    for (const stream of this.streams) this.send(stream, 'MODIFIED');
  }

  bookmark(resourceVersion: number): void {
    this.resourceVersion = resourceVersion;
    for (const stream of this.streams)
      stream.write(
        `${JSON.stringify({ type: 'BOOKMARK', object: { kind: 'ConfigMap', metadata: { resourceVersion: String(resourceVersion) } } })}\n`,
      );
  }

  /** The server ends every open watch (as at its timeoutSeconds). */
  endWatches(): void {
    for (const stream of this.streams) stream.end();
    this.streams.clear();
  }

  goDown(): void {
    this.down = true;
    for (const stream of this.streams) stream.destroy();
    this.streams.clear();
  }

  async close(): Promise<void> {
    this.goDown();
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  private send(stream: ServerResponse, type: 'ADDED' | 'MODIFIED'): void {
    stream.write(`${JSON.stringify({ type, object: this.object() })}\n`);
  }

  private object() {
    return {
      kind: 'ConfigMap',
      metadata: { name: NAME, namespace: NAMESPACE, resourceVersion: String(this.resourceVersion), annotations: this.annotations },
      data: this.data,
    };
  }

  private handle(req: IncomingMessage, res: ServerResponse): void {
    const url = new URL(req.url ?? '/', 'http://api');
    const params = url.searchParams;
    const authorization = req.headers.authorization;
    if (this.down) {
      req.socket.destroy();
      return;
    }
    if (this.hang) return;
    const json = (status: number, body: unknown) => {
      res.writeHead(status, { 'content-type': 'application/json' });
      res.end(JSON.stringify(body));
    };
    if (url.pathname === `/api/v1/namespaces/${NAMESPACE}/configmaps/${NAME}`) {
      this.requests.push({ kind: 'get', ...(authorization ? { authorization } : {}) });
      if (this.data === undefined) return json(404, { kind: 'Status', code: 404, message: 'not found' });
      return json(200, this.object());
    }
    assert.equal(url.pathname, `/api/v1/namespaces/${NAMESPACE}/configmaps`);
    assert.equal(params.get('fieldSelector'), `metadata.name=${NAME}`);
    if (params.get('watch') !== '1') {
      this.requests.push({ kind: 'list', ...(authorization ? { authorization } : {}) });
      return json(200, {
        kind: 'ConfigMapList',
        metadata: { resourceVersion: String(this.resourceVersion) },
        items: this.data ? [this.object()] : [],
      });
    }
    assert.equal(params.get('allowWatchBookmarks'), 'true');
    const resourceVersion = params.get('resourceVersion') ?? '';
    this.requests.push({
      kind: 'watch',
      resourceVersion,
      timeoutSeconds: params.get('timeoutSeconds') ?? '',
      ...(authorization ? { authorization } : {}),
    });
    if (this.watchAnswer === 'error-500') return json(500, { kind: 'Status', code: 500, message: 'etcd is sulking' });
    if (this.watchAnswer === 'gone-status') return json(410, { kind: 'Status', code: 410, message: 'too old resource version' });
    res.writeHead(200, { 'content-type': 'application/json' });
    if (this.watchAnswer === 'gone-event') {
      res.end(
        `${JSON.stringify({ type: 'ERROR', object: { kind: 'Status', code: 410, message: `too old resource version: ${resourceVersion}` } })}\n`,
      );
      return;
    }
    res.flushHeaders();
    this.streams.add(res);
    res.on('close', () => this.streams.delete(res));
    // A watch from an older resourceVersion first replays what changed since.
    if (Number(resourceVersion) < this.resourceVersion) this.send(res, 'MODIFIED');
  }
}

const cleanups: Array<() => Promise<void>> = [];
after(async () => {
  for (const cleanup of cleanups.reverse()) await cleanup();
});

async function apiServer(): Promise<{ fake: LoopbackApiServer; url: string }> {
  const fake = new LoopbackApiServer();
  const url = await fake.listen();
  cleanups.push(() => fake.close());
  return { fake, url };
}

/** A clock whose sleeps are recorded and last 1 ms, so backoff is observable without waiting. */
function recordingClock(): Clock & { sleeps: number[] } {
  const sleeps: number[] = [];
  return {
    sleeps,
    now: () => Date.now(),
    sleep: (ms, signal) => {
      sleeps.push(ms);
      return systemClock.sleep(1, signal);
    },
  };
}

function watcherOn(url: string, options: { clock?: Clock; random?: () => number; tokenFile?: string } = {}) {
  const api = new ConfigMapApi({ baseUrl: url, ...(options.tokenFile ? { tokenFile: options.tokenFile } : {}) }, NAMESPACE, NAME, 1000);
  const seen: Array<Record<string, string>> = [];
  const logs = captureLog();
  const watcher = new ConfigMapWatcher({
    api,
    onChange: async ({ data }) => void seen.push(data),
    clock: options.clock ?? systemClock,
    log: logs.log,
    timing: FAST,
    random: options.random ?? (() => 0.5),
  });
  cleanups.push(async () => {
    await watcher.stop();
    api.close();
  });
  return { watcher, seen, logs };
}

describe('sidecar watch: the protocol', () => {
  it('gives up on a read the API server never answers, at the API timeout, naming it', async () => {
    const { fake, url } = await apiServer();
    fake.hang = true;
    const api = new ConfigMapApi({ baseUrl: url }, NAMESPACE, NAME, 200);
    cleanups.push(async () => api.close());
    await assert.rejects(api.read(), /reading ConfigMap kafka-bg-test\/kafka-consumer-state: no whole answer within 200 ms/);
  });

  it('lists once, then resumes every watch from the last resourceVersion it saw (events and bookmarks)', async () => {
    const { fake, url } = await apiServer();
    fake.data = { [POD]: entryText('PAUSED', 1) };
    const { watcher, seen } = watcherOn(url);
    watcher.start();
    await waitFor('the first watch', () => fake.count('watch') === 1);
    assert.deepEqual(seen, [{ [POD]: entryText('PAUSED', 1) }], 'the list was handed over');
    assert.equal(fake.requests.find((r) => r.kind === 'watch')?.resourceVersion, '100', 'watched from the list');
    const seconds = Number(fake.requests.find((r) => r.kind === 'watch')?.timeoutSeconds);
    assert.ok(seconds >= 300 && seconds <= 600, `the server is asked to end the watch after 5-10 min, got ${seconds}`);

    fake.write({ [POD]: entryText('ACTIVE', 2) });
    await waitFor('the change to arrive', () => seen.length === 2);
    assert.deepEqual(seen[1], { [POD]: entryText('ACTIVE', 2) });
    fake.bookmark(150);
    await waitFor('the watch to be healthy', () => watcher.status().resourceVersion === '150');
    fake.endWatches();
    await waitFor('the next watch', () => fake.count('watch') === 2);
    assert.equal(fake.requests.filter((r) => r.kind === 'watch')[1]?.resourceVersion, '150', 'resumed from the bookmark');
    assert.equal(fake.count('list'), 1, 'no second list');
    assert.equal(seen.length, 2, 'a bookmark is not a change');
    assert.equal(watcher.status().health, 'watching');
  });

  for (const answer of ['gone-event', 'gone-status'] as const) {
    it(`lists again on 410 Gone (${answer === 'gone-event' ? 'an ERROR event in the stream' : 'an HTTP 410 answer'}) and watches from the new list`, async () => {
      const { fake, url } = await apiServer();
      fake.data = { [POD]: entryText('PAUSED', 1) };
      const { watcher, seen, logs } = watcherOn(url);
      watcher.start();
      await waitFor('the first watch', () => fake.count('watch') === 1);
      fake.watchAnswer = answer;
      fake.write({ [POD]: entryText('ACTIVE', 2) });
      // Set before the 410 is served: a list after it answers 500, so a watch from 500 proves the re-list
      // (setting it later raced with a prompt re-list on a loaded machine).
      fake.resourceVersion = 500;
      fake.endWatches();
      await waitFor('a watch after a 410', () => fake.count('watch') >= 2);
      fake.watchAnswer = 'stream';
      await waitFor('a second list', () => fake.count('list') >= 2);
      await waitFor('a watch from the new list', () => fake.requests.some((r) => r.kind === 'watch' && r.resourceVersion === '500'));
      assert.deepEqual(seen.at(-1), { [POD]: entryText('ACTIVE', 2) }, 'the re-list handed over the current data');
      assert.match(logs.text(), /410 Gone/);
    });
  }

  it('backs off exponentially with jitter while the watch fails, and starts again from the first delay after a success', async () => {
    const { fake, url } = await apiServer();
    const clock = recordingClock();
    let draws = 0;
    // Alternate the jitter between its extremes: delays must fall in [c/2, c] of a doubling ceiling.
    const { watcher, logs } = watcherOn(url, { clock, random: () => (draws++ % 2 === 0 ? 0 : 0.999) });
    fake.watchAnswer = 'error-500';
    watcher.start();
    await waitFor('five failed watches', () => fake.count('watch') >= 5);
    assert.equal(watcher.status().health, 'down');
    // Each loop draws once for the watch's timeoutSeconds, then once for the delay.
    const ceilings = [10, 20, 40, 40];
    clock.sleeps.slice(0, 4).forEach((ms, i) => {
      assert.ok(ms >= ceilings[i]! / 2 && ms <= ceilings[i]!, `delay ${i + 1}: ${ms} ms within [${ceilings[i]! / 2}, ${ceilings[i]}]`);
    });
    assert.equal(
      logs.lines.filter((line) => String(line['msg']).startsWith('watch failed')).length,
      1,
      'one warning per outage, not one per retry',
    );
    fake.watchAnswer = 'stream';
    await waitFor('the watch to recover', () => watcher.status().health === 'watching');
    assert.match(logs.text(), /watch healthy again/);
    const before = clock.sleeps.length;
    fake.watchAnswer = 'error-500';
    fake.endWatches();
    await waitFor('another failure', () => clock.sleeps.length > before);
    assert.ok(clock.sleeps[before]! <= 10, `after a success the backoff starts again from the first delay, got ${clock.sleeps[before]} ms`);
  });

  it('sends the service-account token, read again when the file is rotated', async () => {
    const { fake, url } = await apiServer();
    const dir = await tempDir('sidecar-token');
    cleanups.push(dir.remove);
    const tokenFile = `${dir.path}/token`;
    await writeFile(tokenFile, 'first-token\n');
    const { watcher } = watcherOn(url, { tokenFile });
    watcher.start();
    await waitFor('the first watch', () => fake.count('watch') === 1);
    await writeFile(tokenFile, 'rotated-token\n');
    fake.endWatches();
    await waitFor('the next watch', () => fake.count('watch') === 2);
    assert.deepEqual(
      fake.requests.map((r) => r.authorization),
      ['Bearer first-token', 'Bearer first-token', 'Bearer rotated-token'],
    );
  });
});

async function sidecarWithWatch(fake: LoopbackApiServer, url: string, fileData: Record<string, string>) {
  const dir = await tempDir('sidecar-watch');
  cleanups.push(dir.remove);
  await projectConfigMap(`${dir.path}/state`, fileData);
  const consumer = new MemoryConsumer();
  const logs = captureLog();
  const api = new ConfigMapApi({ baseUrl: url }, NAMESPACE, NAME, 500);
  // Ticks an hour apart: anything that happens within the test was caused by the watch (or a push).
  const config = { ...loopbackSidecarConfig(dir.path, POD, 'http://127.0.0.1:1'), reconcileIntervalMs: 3_600_000 };
  const sidecar: RunningSidecar = await startSidecar(config, { api, watch: api, watchTiming: FAST, consumer, log: logs.log });
  cleanups.push(() => sidecar.shutdown());
  await waitFor('the first list', () => fake.count('list') >= 1 && fake.count('watch') >= 1);
  return { sidecar, consumer, logs, dir };
}

describe('sidecar watch: reconciling', () => {
  it('resumes at once when the ConfigMap says ACTIVE at a newer generation, after a fresh GET confirms it', async () => {
    const { fake, url } = await apiServer();
    fake.data = { [POD]: entryText('PAUSED', 1) };
    const { sidecar, consumer } = await sidecarWithWatch(fake, url, { [POD]: entryText('PAUSED', 1) });
    await waitFor('the first reconcile', () => consumer.calls.includes('state'));
    assert.deepEqual(consumer.commands(), []);
    const getsBefore = fake.count('get');

    fake.write({ [POD]: entryText('ACTIVE', 2) });
    await waitFor('the consumer to be resumed', () => consumer.lifecycle === 'ACTIVE');
    assert.deepEqual(consumer.commands(), ['resume']);
    assert.ok(fake.count('get') >= getsBefore + 1, 'the resume was confirmed by a GET, not by the watch event alone');
    const status = sidecar.reconciler.status();
    assert.equal(status.desiredSource, 'api');
    assert.equal(status.generation, 2);
    assert.equal(status.apiWatch, 'watching');

    fake.write({ [POD]: entryText('PAUSED', 3) });
    await waitFor('the consumer to be paused', () => consumer.lifecycle === 'PAUSED');
    assert.deepEqual(consumer.commands(), ['resume', 'pause']);
  });

  it("leaves a watch event to the tick while the ConfigMap carries a CLI's operation record, and acts at once again when it is gone", async () => {
    const { fake, url } = await apiServer();
    fake.data = { [POD]: entryText('PAUSED', 1) };
    fake.annotations = { [OPERATION_ANNOTATION]: '{"id":"op-1","kind":"switch"}' };
    const { sidecar, consumer, logs } = await sidecarWithWatch(fake, url, { [POD]: entryText('PAUSED', 1) });
    await waitFor('the first reconcile', () => consumer.calls.includes('state'));
    await waitFor('the operation record to be seen', () => sidecar.reconciler.status().cliOperation === true);

    fake.write({ [POD]: entryText('ACTIVE', 2) }, fake.annotations);
    await waitFor('the event to be adopted', () => sidecar.reconciler.status().desired?.generation === 2);
    await sidecar.reconciler.idle();
    assert.deepEqual(consumer.commands(), [], 'not resumed by the event: the CLI resumes it, or the tick');
    await sidecar.reconciler.reconcile();
    assert.deepEqual(consumer.commands(), ['resume'], 'the tick resumes it');

    fake.write({ [POD]: entryText('PAUSED', 3) });
    await waitFor('the consumer to be paused at once', () => consumer.lifecycle === 'PAUSED');
    assert.equal(sidecar.reconciler.status().cliOperation, undefined);
    assert.ok(
      logs.lines.some((line) => line.msg === 'the CLI operation ended: pushes and watch events are acted on at once again'),
      logs.text(),
    );
  });

  it('never resumes on a watch event that a fresh read contradicts (the event lags a newer write)', async () => {
    const { fake, url } = await apiServer();
    fake.data = { [POD]: entryText('PAUSED', 1) };
    const { consumer } = await sidecarWithWatch(fake, url, { [POD]: entryText('PAUSED', 1) });
    await waitFor('the first reconcile', () => consumer.calls.includes('state'));
    // The stream carries ACTIVE at 2 while the API server already has PAUSED at 3 (a switch back).
    const stale = { [POD]: entryText('ACTIVE', 2) };
    fake.resourceVersion++;
    fake.data = { [POD]: entryText('PAUSED', 3) };
    for (const stream of (fake as unknown as { streams: Set<ServerResponse> }).streams) {
      stream.write(
        `${JSON.stringify({ type: 'MODIFIED', object: { kind: 'ConfigMap', metadata: { resourceVersion: '101' }, data: stale } })}\n`,
      );
    }
    const getsBefore = fake.count('get');
    await waitFor('the confirmation read', () => fake.count('get') > getsBefore);
    await waitFor('the reconcile to finish', () => consumer.calls.filter((call) => call === 'state').length >= 2);
    assert.deepEqual(consumer.commands(), [], 'no resume');
    assert.equal(consumer.lifecycle, 'PAUSED');
  });

  it('with the API server down: the file still pauses, but nothing resumes without a fresh read', async () => {
    const { fake, url } = await apiServer();
    fake.data = { [POD]: entryText('ACTIVE', 2) };
    const { sidecar, consumer, dir } = await sidecarWithWatch(fake, url, { [POD]: entryText('ACTIVE', 2) });
    await waitFor('the consumer to be resumed (confirmed)', () => consumer.lifecycle === 'ACTIVE');

    fake.goDown();
    await waitFor('the watch to be down', () => sidecar.reconciler.status().apiWatch === 'down');
    // The consumer restarts (PAUSED); the watch's last event and the file both say ACTIVE at 2.
    consumer.lifecycle = 'PAUSED';
    let status = await sidecar.reconciler.reconcile();
    assert.equal(consumer.lifecycle, 'PAUSED', 'no resume without a fresh read');
    assert.match(status.lastError ?? '', /resume not confirmed, staying PAUSED: the API server could not be read/);

    // The file (the fallback) says PAUSED at a newer generation: applied at once.
    consumer.lifecycle = 'ACTIVE';
    await projectConfigMap(`${dir.path}/state`, { [POD]: entryText('PAUSED', 3) });
    status = await sidecar.reconciler.reconcile();
    assert.equal(consumer.lifecycle, 'PAUSED');
    assert.equal(status.desiredSource, 'file');
    assert.equal(status.apiWatch, 'down');

    // Back up: the watch re-lists, and a newer ACTIVE resumes again (confirmed).
    fake.down = false;
    fake.write({ [POD]: entryText('ACTIVE', 4) });
    await waitFor('the watch to be back and the consumer resumed', () => consumer.lifecycle === 'ACTIVE', 5000);
    assert.equal(sidecar.reconciler.status().apiWatch, 'watching');
  });
});

/**
 * Stored JSON that a human or a broken tool left malformed never crashes a command: what is readable
 * is shown, what is not is named. `bgswitch history` runs end to end against a small local HTTP
 * server standing in for the API server (it serves one ConfigMap); `status` runs over the in-memory
 * cluster.
 */
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { HISTORY_KEY, readHistory, type HistoryEntry } from '../../src/core/history.js';
import { readStatus } from '../../src/core/status.js';
import { OPERATION_ANNOTATION } from '../../src/shared/desired-state.js';
import { runCli } from '../support/capture-io.js';
import { createWorld, NAMES } from '../support/switch-world.js';

const good: HistoryEntry = {
  id: 'mh2k1-a1b2c3',
  kind: 'switch',
  from: 'blue',
  to: 'green',
  outcome: 'switched',
  actor: 'dana@ops-laptop',
  startedAt: '2026-11-26T08:00:00.000Z',
  finishedAt: '2026-11-26T08:00:04.000Z',
  durationMs: 4000,
  generation: 7,
  phases: [{ name: 'pause', ok: true, durationMs: 1200 }],
};
/** The case: the right colours, malformed phases. */
const badPhases = { ...good, id: 'bad-phases', phases: [{ name: 'pause', ok: 'yes', durationMs: '1s' }] };

describe('readHistory', () => {
  it('keeps every readable entry in order and names each unreadable one by position and id', () => {
    const raw = JSON.stringify([
      good,
      badPhases,
      { ...good, id: 'no-outcome', outcome: undefined },
      42,
      { ...good, id: 'second', phases: 'pause' },
    ]);
    const read = readHistory(raw);
    assert.deepEqual(read.entries, [good]);
    assert.deepEqual(read.unreadable, [
      'entry 2 (id bad-phases): phases[0].ok must be true or false',
      'entry 3 (id no-outcome): outcome is missing',
      'entry 4: not a JSON object',
      'entry 5 (id second): phases must be an array',
    ]);
  });

  it('a whole value that is not a JSON array is named, and nothing is invented', () => {
    assert.deepEqual(readHistory('{"from":'), { entries: [], unreadable: ['the history is not JSON'] });
    assert.deepEqual(readHistory('{"from":"blue"}'), { entries: [], unreadable: ['the history is not a JSON array'] });
    assert.deepEqual(readHistory(undefined), { entries: [], unreadable: [] });
  });

  it('numbers that are not durations or generations are refused', () => {
    for (const broken of [
      { durationMs: -1 },
      { durationMs: null },
      { generation: 1.5 },
      { generation: '7' },
      { reason: 3 },
      { kind: 'deploy' },
    ]) {
      assert.equal(readHistory(JSON.stringify([{ ...good, ...broken }])).entries.length, 0, JSON.stringify(broken));
    }
  });
});

describe('bgswitch history with malformed entries', () => {
  const dir = mkdtempSync(join(tmpdir(), 'bgswitch-stored-json-'));
  let server: Server;
  let kubeconfig = '';
  let history = '';

  before(async () => {
    server = createServer((req, res) => {
      const found = req.url?.startsWith('/api/v1/namespaces/kafka-bg-test/configmaps/kafka-consumer-active-version');
      res.writeHead(found ? 200 : 404, { 'content-type': 'application/json' });
      res.end(
        JSON.stringify(
          found
            ? {
                apiVersion: 'v1',
                kind: 'ConfigMap',
                metadata: { name: 'kafka-consumer-active-version', namespace: 'kafka-bg-test', resourceVersion: '1' },
                data: { active: 'green', [HISTORY_KEY]: history },
              }
            : { kind: 'Status', apiVersion: 'v1', status: 'Failure', reason: 'NotFound', code: 404 },
        ),
      );
    });
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    kubeconfig = join(dir, 'kubeconfig');
    const { port } = server.address() as AddressInfo;
    writeFileSync(
      kubeconfig,
      [
        'apiVersion: v1',
        'kind: Config',
        `clusters: [{name: stand-in, cluster: {server: "http://127.0.0.1:${port}", insecure-skip-tls-verify: true}}]`,
        'users: [{name: operator, user: {token: t}}]',
        'contexts: [{name: stand-in, context: {cluster: stand-in, user: operator, namespace: kafka-bg-test}}]',
        'current-context: stand-in',
      ].join('\n'),
    );
  });

  after(async () => {
    server.closeAllConnections();
    server.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('shows the readable entries, names the unreadable one on stderr, exits 0', async () => {
    history = JSON.stringify([badPhases, good]);
    const result = await runCli(['history', '--kubeconfig', kubeconfig]);
    assert.equal(result.code, 0, result.stderr);
    assert.match(result.stdout, /dana@ops-laptop │ blue -> green │ switched │ 4\.0s +│ pause 1\.2s/);
    assert.equal(result.stdout.split('\n').filter((line) => line.includes('blue -> green')).length, 1, 'only the readable entry is shown');
    assert.match(
      result.stderr,
      /warning: unreadable history in ConfigMap kafka-consumer-active-version \(not shown\): entry 1 \(id bad-phases\): phases\[0\]\.ok must be true or false/,
    );
    assert.doesNotMatch(result.stderr, /unexpected/);
  });

  it('-o json carries only readable entries; a history that is not JSON leaves an empty list and a warning', async () => {
    history = JSON.stringify([badPhases, good]);
    const json = await runCli(['history', '--kubeconfig', kubeconfig, '-o', 'json']);
    assert.equal(json.code, 0, json.stderr);
    assert.deepEqual(JSON.parse(json.stdout), [good]);
    history = '[{"from":"blue",';
    const broken = await runCli(['history', '--kubeconfig', kubeconfig]);
    assert.equal(broken.code, 0, broken.stderr);
    assert.match(broken.stdout, /No switches recorded yet/);
    assert.match(broken.stderr, /the history is not JSON/);
  });
});

describe('status names unreadable stored values', () => {
  it('the active value, history entries and the switch-in-progress record: problems of kind malformed', async (t) => {
    const world = createWorld(t, { pods: 1 });
    const active = world.cluster.peekConfigMap(NAMES.activeConfigMap)!;
    world.cluster.seedConfigMap(
      NAMES.activeConfigMap,
      { ...active.data, active: 'purple', [HISTORY_KEY]: JSON.stringify([badPhases, good]) },
      active.annotations,
    );
    const state = world.cluster.peekConfigMap(NAMES.stateConfigMap)!;
    world.cluster.seedConfigMap(NAMES.stateConfigMap, state.data, {
      ...state.annotations,
      [OPERATION_ANNOTATION]: '{"kind":"switch","from":"blue"',
    });

    const view = await readStatus({ cluster: world.cluster, pods: world.fleet, names: NAMES, clock: world.clock });

    assert.deepEqual(
      view.problems.filter((p) => p.kind === 'malformed').map((p) => p.message),
      [
        'ConfigMap kafka-consumer-active-version declares active="purple", which is neither blue nor green',
        'unreadable switch history in ConfigMap kafka-consumer-active-version: entry 1 (id bad-phases): phases[0].ok must be true or false',
        'the switch-in-progress record (annotation bgswitch.io/operation on kafka-consumer-state) is unreadable',
      ],
    );
    assert.deepEqual(view.lastSwitch, good, 'the last readable switch is still shown');
  });
});

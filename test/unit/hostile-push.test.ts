/**
 * Hostile pushes to the sidecar over real HTTP on loopback, against the reference consumer: the
 * cases test/unit/sidecar-http.test.ts does not cover (a captured push replayed after a newer one,
 * an expired replay, a missing timestamp, wrong content that is correctly signed, huge numbers, a
 * chunked body over the limit, the wrong method), each rejected with the right status AND the
 * consumer untouched: lifecycle state and faults unchanged and not one pause, resume or fault call
 * made. Also: the push key and signatures never appear in the sidecar's logs (accepted and rejected
 * pushes alike) nor in the CLI's PushRejectedError messages.
 */
import assert from 'node:assert/strict';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { Readable } from 'node:stream';
import { request } from 'undici';
import { KubeConfig } from '@kubernetes/client-node';
import { startConsumer, type ConsumerHandle } from '../../consumer/server.js';
import { systemClock } from '../../src/shared/clock.js';
import type { PodInfo } from '../../src/core/ports.js';
import { createPodAgent, PushRejectedError } from '../../src/pods/agent.js';
import type { Fault } from '../../src/shared/model.js';
import { MAX_CLOCK_SKEW_MS, MAX_PUSH_BODY_BYTES, SIGNATURE_HEADER, TIMESTAMP_HEADER, signPush } from '../../src/shared/push-signature.js';
import { HttpConsumerClient } from '../../sidecar/consumer-client.js';
import { startSidecar, type RunningSidecar } from '../../sidecar/daemon.js';
import type { ConsumerPort } from '../../sidecar/reconciler.js';
import {
  MemoryStateData,
  captureLog,
  entryText,
  httpCall,
  loopbackSidecarConfig,
  tempDir,
  waitFor,
  type CapturedLog,
} from './sidecar-fixtures.js';

const POD = 'consumer-blue-0';
const KEY_TEXT = 'hostile-test-key-5f1c2a9e7d3b';
const KEY = Buffer.from(KEY_TEXT);
const FAULT: Fault = { processingDelayMs: 120, errorRatePercent: 7, commitDelayMs: 30, pollTimeoutExceed: false };

let consumer: ConsumerHandle;
let sidecar: RunningSidecar;
let logs: CapturedLog;
let removeDir: () => Promise<void>;
const commands: string[] = [];
/** A push accepted earlier (generation 4), captured byte for byte for the replay cases. */
let captured: { body: string; headers: Record<string, string> };

/** Counts the commands the sidecar sends to the consumer; reads pass through uncounted. */
function counting(port: ConsumerPort & { close(): Promise<void> }): ConsumerPort & { close(): Promise<void> } {
  return {
    state: () => port.state(),
    getFault: () => port.getFault(),
    pause: () => {
      commands.push('pause');
      return port.pause();
    },
    resume: () => {
      commands.push('resume');
      return port.resume();
    },
    setFault: (fault) => {
      commands.push('setFault');
      return port.setFault(fault);
    },
    close: () => port.close(),
  };
}

function signed(body: Record<string, unknown>, nowMs = Date.now()): { body: string; headers: Record<string, string> } {
  const raw = JSON.stringify(body);
  return { body: raw, headers: signPush(KEY, String(body['pod']), Number(body['generation']), raw, nowMs) };
}

async function send(body: string, headers: Record<string, string>, method: 'POST' | 'GET' = 'POST') {
  return httpCall(`${sidecar.url}/desired-state`, method, method === 'GET' ? undefined : body, headers);
}

before(async () => {
  const dir = await tempDir('hostile-push');
  removeDir = dir.remove;
  consumer = await startConsumer({ port: 0, host: '127.0.0.1', podName: POD, color: 'blue', writeLog: () => {} });
  await mkdir(join(dir.path, 'state'));
  await mkdir(join(dir.path, 'push-key'));
  await writeFile(join(dir.path, 'push-key', 'key'), `${KEY_TEXT}\n`);
  const api = new MemoryStateData();
  logs = captureLog();
  sidecar = await startSidecar(loopbackSidecarConfig(dir.path, POD, consumer.url), {
    api,
    log: logs.log,
    consumer: counting(new HttpConsumerClient(consumer.url, POD, 1000)),
  });
  // The scene: an accepted PAUSED push at generation 4 (captured), then ACTIVE with a fault at 5.
  captured = signed({ pod: POD, generation: 4, lifecycle: 'PAUSED' });
  assert.equal((await send(captured.body, captured.headers)).status, 200);
  // The CLI writes the state ConfigMap before it pushes; the sidecar confirms the resume there.
  api.data = { [POD]: entryText('ACTIVE', 5, FAULT) };
  const current = signed({ pod: POD, generation: 5, lifecycle: 'ACTIVE', fault: FAULT });
  assert.equal((await send(current.body, current.headers)).status, 200);
  assert.equal(await consumerState(), 'ACTIVE');
  assert.deepEqual((await httpCall(`${consumer.url}/fault`)).body, FAULT);
});

after(async () => {
  await sidecar?.shutdown();
  await consumer?.close();
  await removeDir?.();
});

async function consumerState(): Promise<string> {
  return String((await httpCall(`${consumer.url}/lifecycle/status`)).body['state']);
}

/** Each case tries to pause the consumer or change its faults; none may get through. */
const hostile: Array<[string, number, () => Promise<{ status: number }>]> = [
  ['a captured older push replayed after a newer one', 409, () => send(captured.body, captured.headers)],
  [
    'a replay re-signed too late (expired timestamp)',
    401,
    () => {
      const late = signed({ pod: POD, generation: 6, lifecycle: 'PAUSED' }, Date.now() - MAX_CLOCK_SKEW_MS - 1000);
      return send(late.body, late.headers);
    },
  ],
  [
    'a signature without its timestamp header',
    401,
    () => {
      const push = signed({ pod: POD, generation: 6, lifecycle: 'PAUSED' });
      return send(push.body, { 'content-type': 'application/json', [SIGNATURE_HEADER]: push.headers[SIGNATURE_HEADER]! });
    },
  ],
  [
    'a timestamp that is not a number',
    401,
    () => {
      const push = signed({ pod: POD, generation: 6, lifecycle: 'PAUSED' });
      return send(push.body, { ...push.headers, [TIMESTAMP_HEADER]: 'yesterday' });
    },
  ],
  ...(
    [
      ['a JSON array', '[1,2]'],
      ['a JSON string', '"PAUSED"'],
      ['JSON null', 'null'],
      ['an empty body', ''],
      ['pod as a number', JSON.stringify({ pod: 7, generation: 6, lifecycle: 'PAUSED' })],
      ['generation as a string', JSON.stringify({ pod: POD, generation: '6', lifecycle: 'PAUSED' })],
      ['a huge generation (1e300)', `{"pod":"${POD}","generation":1e300,"lifecycle":"PAUSED"}`],
      ['an unsafe generation (2^53 + 2)', `{"pod":"${POD}","generation":9007199254740994,"lifecycle":"PAUSED"}`],
      ['a fractional generation', `{"pod":"${POD}","generation":6.5,"lifecycle":"PAUSED"}`],
      ['lower-case lifecycle', JSON.stringify({ pod: POD, generation: 6, lifecycle: 'paused' })],
      ['lifecycle DRAINING', JSON.stringify({ pod: POD, generation: 6, lifecycle: 'DRAINING' })],
      [
        'a fault with an unknown field',
        JSON.stringify({ pod: POD, generation: 6, lifecycle: 'ACTIVE', fault: { ...FAULT, dropAll: true } }),
      ],
      ['an infinite fault delay (1e309)', `{"pod":"${POD}","generation":6,"lifecycle":"ACTIVE","fault":{"processingDelayMs":1e309}}`],
      ['a fault that is a string', JSON.stringify({ pod: POD, generation: 6, lifecycle: 'ACTIVE', fault: 'none' })],
    ] as const
  ).map(([name, raw]): [string, number, () => Promise<{ status: number }>] => [
    `correctly signed, wrong content: ${name}`,
    400,
    () => send(raw, signPush(KEY, POD, 6, raw, Date.now())),
  ]),
  [
    'a chunked body over the limit (no content-length)',
    413,
    async () => {
      const big = JSON.stringify({ pod: POD, generation: 6, lifecycle: 'PAUSED', pad: 'x'.repeat(MAX_PUSH_BODY_BYTES) });
      async function* chunks() {
        for (let i = 0; i < big.length; i += 512) yield Buffer.from(big.slice(i, i + 512));
      }
      const response = await request(`${sidecar.url}/desired-state`, {
        method: 'POST',
        body: Readable.from(chunks()),
        headers: signPush(KEY, POD, 6, big, Date.now()),
        signal: AbortSignal.timeout(3000),
      });
      await response.body.dump();
      return { status: response.statusCode };
    },
  ],
  ['GET instead of POST', 405, () => send('', {}, 'GET')],
];

describe('hostile pushes: rejected with the right status, consumer untouched', () => {
  for (const [name, status, attempt] of hostile) {
    it(name, async () => {
      const before = commands.length;
      assert.equal((await attempt()).status, status);
      assert.equal(await consumerState(), 'ACTIVE');
      assert.deepEqual((await httpCall(`${consumer.url}/fault`)).body, FAULT);
      assert.deepEqual(commands.slice(before), [], 'no pause, resume or fault call reached the consumer');
      assert.equal(sidecar.reconciler.status().generation, 5);
      assert.equal(sidecar.reconciler.status().desiredSource, 'push');
    });
  }

  it('nothing slipped through later either: two more reconciles leave the consumer alone', async () => {
    const before = commands.length;
    const seen = new Set([sidecar.reconciler.status().lastReconcileAt]);
    await waitFor('two more reconciles', () => seen.add(sidecar.reconciler.status().lastReconcileAt).size > 2);
    assert.deepEqual(commands.slice(before), []);
    assert.equal(await consumerState(), 'ACTIVE');
  });
});

describe('the push key never leaks', () => {
  it('is in no sidecar log line, across accepted and rejected pushes, and no signature is logged', async () => {
    const again = signed({ pod: POD, generation: 5, lifecycle: 'ACTIVE', fault: FAULT });
    assert.equal((await send(again.body, again.headers)).status, 200, 'an accepted repeat, logged too');
    const text = logs.text();
    assert.ok(
      logs.lines.some((l) => l['msg'] === 'push accepted') && logs.lines.some((l) => l['msg'] === 'push refused'),
      'both kinds were logged',
    );
    assert.ok(!text.includes(KEY_TEXT), 'the key is never logged');
    assert.ok(!text.includes(KEY.toString('base64')) && !text.includes(KEY.toString('hex')), 'nor any encoding of it');
    assert.doesNotMatch(text, /[0-9a-f]{64}/, 'no signature is logged');
  });

  it('is in no PushRejectedError message of the CLI pod client (401 wrong key, 409 stale generation)', async () => {
    const target: PodInfo = { name: POD, color: 'blue', phase: 'Running', ready: true, ip: '127.0.0.1', restarts: 0, terminating: false };
    const agentWith = (key: Buffer) =>
      createPodAgent({
        via: 'direct',
        kubeConfig: new KubeConfig(),
        namespace: 'kafka-bg-test',
        sidecarPort: sidecar.port,
        lifecyclePort: consumer.port,
        pushKey: async () => key,
        clock: systemClock,
        timeoutMs: 2000,
      });
    const wrongKeyText = 'a-wrong-but-secret-key-77aa';
    const cases: Array<[string, Buffer, number, number]> = [
      ['wrong key', Buffer.from(wrongKeyText), 6, 401],
      ['stale generation', KEY, 3, 409],
    ];
    for (const [name, key, generation, status] of cases) {
      const agent = agentWith(key);
      try {
        const error = await agent.push(target, { lifecycle: 'PAUSED', generation }).then(
          () => undefined,
          (e: unknown) => e,
        );
        assert.ok(error instanceof PushRejectedError, `${name}: ${String(error)}`);
        assert.equal(error.status, status, name);
        const text = `${error.message} ${error.hint ?? ''} ${error.stack ?? ''}`;
        for (const secret of [KEY_TEXT, wrongKeyText]) assert.ok(!text.includes(secret), `${name}: the key appears in the error`);
        assert.doesNotMatch(text, /[0-9a-f]{64}/, `${name}: a signature appears in the error`);
      } finally {
        await agent.close();
      }
    }
    assert.equal(await consumerState(), 'ACTIVE', 'neither rejected push paused the consumer');
  });
});

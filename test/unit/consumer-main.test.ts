import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { UsageError } from '../../src/shared/errors.js';
import { systemClock } from '../../src/shared/clock.js';
import { pollUntil } from '../../src/core/poll.js';
import { parseConsumerEnv } from '../../consumer/config.js';
import { parseTransitionLog } from '../../consumer/transitions.js';

const repoRoot = fileURLToPath(new URL('../../', import.meta.url));

describe('parseConsumerEnv', () => {
  it('applies the defaults', () => {
    assert.deepEqual(parseConsumerEnv({ MY_COLOR: 'blue' }, 'host-1'), {
      port: 8080,
      host: '0.0.0.0',
      podName: 'host-1',
      color: 'blue',
      messageIntervalMs: 20,
      batchSize: 10,
    });
  });

  it('reads every variable; PORT wins over LIFECYCLE_PORT; empty counts as unset', () => {
    const env = {
      PORT: '9000',
      LIFECYCLE_PORT: '9001',
      HOST: '127.0.0.1',
      MY_POD_NAME: 'consumer-green-2',
      MY_COLOR: 'green',
      MESSAGE_INTERVAL_MS: '5',
      BATCH_SIZE: '50',
      TRANSITION_LOG_PATH: '/tmp/x.log',
    };
    assert.deepEqual(parseConsumerEnv(env, 'ignored'), {
      port: 9000,
      host: '127.0.0.1',
      podName: 'consumer-green-2',
      color: 'green',
      messageIntervalMs: 5,
      batchSize: 50,
      transitionLogPath: '/tmp/x.log',
    });
    assert.equal(parseConsumerEnv({ MY_COLOR: 'green', PORT: '', LIFECYCLE_PORT: '8181' }, 'h').port, 8181);
  });

  it('reports every problem at once', () => {
    assert.throws(
      () => parseConsumerEnv({ MY_COLOR: 'red', PORT: '80x', MESSAGE_INTERVAL_MS: '0', BATCH_SIZE: '-3' }, 'h'),
      (error: unknown) =>
        error instanceof UsageError &&
        /MY_COLOR must be "blue" or "green", got "red"/.test(error.message) &&
        /PORT must be a whole number from 0 to 65535, got "80x"/.test(error.message) &&
        /MESSAGE_INTERVAL_MS/.test(error.message) &&
        /BATCH_SIZE/.test(error.message),
    );
    assert.throws(() => parseConsumerEnv({}, 'h'), /MY_COLOR is required/);
    assert.throws(() => parseConsumerEnv({ MY_COLOR: 'blue', LIFECYCLE_PORT: '70000' }, 'h'), /LIFECYCLE_PORT/);
  });
});

interface Running {
  child: ChildProcess;
  stdout: () => string;
  stderr: () => string;
  exited: Promise<number | null>;
}

function runMain(env: Record<string, string>): Running {
  const child = spawn(process.execPath, ['--import', 'tsx', 'consumer/main.ts'], {
    cwd: repoRoot,
    env: { PATH: process.env.PATH ?? '', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  let err = '';
  child.stdout?.on('data', (chunk: Buffer) => (out += chunk.toString()));
  child.stderr?.on('data', (chunk: Buffer) => (err += chunk.toString()));
  const exited = new Promise<number | null>((resolve) => child.on('close', (code) => resolve(code)));
  return { child, stdout: () => out, stderr: () => err, exited };
}

async function waitFor<T>(what: string, probe: () => Promise<T | undefined> | T | undefined): Promise<T> {
  const outcome = await pollUntil(
    async () => {
      const value = await probe();
      return { done: value !== undefined, value };
    },
    { clock: systemClock, timeoutMs: 10_000, initialIntervalMs: 5, maxIntervalMs: 50 },
  );
  assert.ok(outcome.done && outcome.value !== undefined, `timed out waiting for ${what}`);
  return outcome.value;
}

describe('consumer main', () => {
  it('exits 2 with one clear stderr line on an invalid environment', async () => {
    const run = runMain({ MY_COLOR: 'purple', BATCH_SIZE: 'ten' });
    assert.equal(await run.exited, 2);
    const lines = run.stderr().trim().split('\n');
    assert.equal(lines.length, 1, run.stderr());
    assert.match(lines[0] ?? '', /^reference-consumer: invalid consumer environment: .*MY_COLOR.*BATCH_SIZE/);
    assert.equal(run.stdout(), '');
  });

  it('exits 2 when TRANSITION_LOG_PATH cannot be opened for appending', async () => {
    const run = runMain({ MY_COLOR: 'green', PORT: '0', HOST: '127.0.0.1', TRANSITION_LOG_PATH: '/nonexistent-dir/transitions.log' });
    assert.equal(await run.exited, 2);
    assert.match(run.stderr(), /^reference-consumer: cannot open TRANSITION_LOG_PATH "\/nonexistent-dir\/transitions.log" for appending: .*ENOENT.*\n$/);
  });

  it('on SIGTERM drains the in-flight batch, logs the exit to stdout and the file, and exits 0', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'consumer-main-'));
    const logPath = join(dir, 'transitions.log');
    const run = runMain({
      PORT: '0',
      HOST: '127.0.0.1',
      MY_POD_NAME: 'consumer-blue-0',
      MY_COLOR: 'blue',
      MESSAGE_INTERVAL_MS: '2',
      BATCH_SIZE: '3',
      TRANSITION_LOG_PATH: logPath,
    });
    try {
      const url = await waitFor('the listening line', () => {
        const match = /"event":"listening".*"url":"([^"]+)"/.exec(run.stdout());
        return match?.[1];
      });
      const put = await fetch(`${url}/fault/processing-delay`, { method: 'PUT', body: '{"delayMs":100}' });
      assert.equal(put.status, 200);
      assert.equal((await fetch(`${url}/lifecycle/resume`, { method: 'POST' })).status, 200);
      await waitFor('a processed message', async () => {
        const status = (await (await fetch(`${url}/lifecycle/status`)).json()) as { totalMessagesReceived: number };
        return status.totalMessagesReceived > 0 ? status : undefined;
      });
      run.child.kill('SIGTERM');
      assert.equal(await run.exited, 0, run.stderr());

      const expected = ['start PAUSED', 'PAUSED->ACTIVE', 'ACTIVE->DRAINING', 'DRAINING->PAUSED', 'exit PAUSED'];
      const summarize = (text: string): string[] =>
        parseTransitionLog(text).map((record) =>
          record.event === 'transition' ? `${record.from}->${record.to}` : `${record.event} ${record.state ?? ''}`,
        );
      assert.deepEqual(summarize(run.stdout()), expected);
      const fileText = await readFile(logPath, 'utf8');
      assert.deepEqual(summarize(fileText), expected);
      assert.deepEqual(
        fileText.trim().split('\n'),
        run.stdout().trim().split('\n').filter((line) => !line.includes('"listening"')),
        'the file holds the same lines as stdout',
      );
      const times = parseTransitionLog(fileText).map((record) => record.at);
      assert.deepEqual(times, [...times].sort((a, b) => a - b));
    } finally {
      run.child.kill('SIGKILL');
      await run.exited;
      await rm(dir, { recursive: true, force: true });
    }
  });
});

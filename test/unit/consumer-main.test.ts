import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { UsageError } from '../../src/shared/errors.js';
import { systemClock } from '../../src/shared/clock.js';
import { pollUntil } from '../../src/core/poll.js';
import { parseConsumerEnv } from '../../consumer/config.js';
import { parseTransitionLog } from '../../consumer/transitions.js';
import { listeningUrl, spawnConsumer, type ConsumerRun } from '../support/consumer-process.js';

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

describe('parseConsumerEnv: Kafka', () => {
  it('consumes Kafka only with KAFKA_BOOTSTRAP_SERVERS, with the shared defaults', () => {
    assert.equal(parseConsumerEnv({ MY_COLOR: 'blue', KAFKA_GROUP: 'ignored-without-bootstrap' }, 'h').kafka, undefined);
    assert.deepEqual(parseConsumerEnv({ MY_COLOR: 'blue', KAFKA_BOOTSTRAP_SERVERS: '10.77.0.1:19092' }, 'h').kafka, {
      bootstrapServers: ['10.77.0.1:19092'],
      group: 'bg-consumer',
      inputTopic: 'bg-events',
      outputTopic: 'bg-processed',
      leaveGroupOnPause: true,
    });
  });

  it('reads every Kafka variable', () => {
    const env = {
      MY_COLOR: 'green',
      KAFKA_BOOTSTRAP_SERVERS: 'broker-1:9092, broker-2:9093',
      KAFKA_GROUP: 'g1',
      KAFKA_INPUT_TOPIC: 'in.topic',
      KAFKA_OUTPUT_TOPIC: 'out_topic',
      LEAVE_GROUP_ON_PAUSE: 'false',
      BATCH_SIZE: '25',
    };
    const config = parseConsumerEnv(env, 'h');
    assert.deepEqual(config.kafka, {
      bootstrapServers: ['broker-1:9092', 'broker-2:9093'],
      group: 'g1',
      inputTopic: 'in.topic',
      outputTopic: 'out_topic',
      leaveGroupOnPause: false,
    });
    assert.equal(config.batchSize, 25);
  });

  it('reports every Kafka problem at once, with the others', () => {
    assert.throws(
      () =>
        parseConsumerEnv(
          {
            MY_COLOR: 'blue',
            BATCH_SIZE: '0',
            KAFKA_BOOTSTRAP_SERVERS: 'broker,b:99999',
            KAFKA_INPUT_TOPIC: 'bad topic',
            LEAVE_GROUP_ON_PAUSE: 'no',
          },
          'h',
        ),
      (error: unknown) =>
        error instanceof UsageError &&
        /BATCH_SIZE/.test(error.message) &&
        /KAFKA_BOOTSTRAP_SERVERS must be a comma-separated list of host:port, got "broker"/.test(error.message) &&
        /got "b:99999"/.test(error.message) &&
        /KAFKA_INPUT_TOPIC must be/.test(error.message) &&
        /LEAVE_GROUP_ON_PAUSE must be "true" or "false", got "no"/.test(error.message),
    );
  });
});

function runMain(env: Record<string, string>): ConsumerRun {
  return spawnConsumer(['--import', 'tsx', 'consumer/main.ts'], env);
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
    assert.match(
      run.stderr(),
      /^reference-consumer: cannot open TRANSITION_LOG_PATH "\/nonexistent-dir\/transitions.log" for appending: .*ENOENT.*\n$/,
    );
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
      const url = await waitFor('the listening line', () => listeningUrl(run));
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
        run
          .stdout()
          .trim()
          .split('\n')
          .filter((line) => !line.includes('"listening"')),
        'the file holds the same lines as stdout',
      );
      const times = parseTransitionLog(fileText).map((record) => record.at);
      assert.deepEqual(
        times,
        [...times].sort((a, b) => a - b),
      );
    } finally {
      run.child.kill('SIGKILL');
      await run.exited;
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('on Kafka with an unreachable broker: ready while PAUSED, DOWN while ACTIVE, pause still reaches PAUSED, SIGTERM exits 0', async () => {
    // Port 1 on loopback refuses connections: the broker is down, no broker is needed.
    const run = runMain({
      PORT: '0',
      HOST: '127.0.0.1',
      MY_POD_NAME: 'consumer-blue-0',
      MY_COLOR: 'blue',
      KAFKA_BOOTSTRAP_SERVERS: '127.0.0.1:1',
    });
    try {
      const url = await waitFor('the listening line', () => listeningUrl(run));
      const readiness = async (): Promise<number> => (await fetch(`${url}/actuator/health/readiness`)).status;
      assert.equal(await readiness(), 200, 'PAUSED needs no broker');
      assert.equal((await fetch(`${url}/lifecycle/resume`, { method: 'POST' })).status, 200);
      await waitFor('readiness DOWN', async () => ((await readiness()) === 503 ? true : undefined));
      assert.equal((await fetch(`${url}/lifecycle/pause`, { method: 'POST' })).status, 200);
      await waitFor('PAUSED', async () => {
        const status = (await (await fetch(`${url}/lifecycle/status`)).json()) as { state: string };
        return status.state === 'PAUSED' ? true : undefined;
      });
      assert.equal(await readiness(), 200);
      run.child.kill('SIGTERM');
      assert.equal(await run.exited, 0, run.stderr());
    } finally {
      run.child.kill('SIGKILL');
      await run.exited;
    }
  });
});

/**
 * Entry point of the reference consumer (image bgswitch/reference-consumer). Reads the environment,
 * serves the lifecycle API and writes the transition log to stdout (and TRANSITION_LOG_PATH). With
 * KAFKA_BOOTSTRAP_SERVERS it consumes Kafka (the Kafka client is loaded only then); without it, its
 * simulated stream.
 *
 * Both sinks are written synchronously at the instant of each state change: the file through a
 * file descriptor opened for appending, stdout through process.stdout, which Node writes
 * synchronously for files, pipes and terminals on Linux. On SIGTERM / SIGINT it refuses further
 * resumes, pauses (drains the in-flight batch; on Kafka also commits and leaves the group) and
 * exits 0 once PAUSED; if that cannot finish
 * before the pod's grace period would run out, it exits 1 with that batch uncommitted.
 * Exit codes: 0 graceful, 1 failed to start or to drain, 2 invalid environment.
 */
import { openSync, writeSync } from 'node:fs';
import { hostname } from 'node:os';
import { UsageError } from '../src/shared/errors.js';
import { parseConsumerEnv, type ConsumerConfig } from './config.js';
import type { LifecycleEngine } from './lifecycle-engine.js';
import { startConsumer } from './server.js';

/** Below the manifests' terminationGracePeriodSeconds (30), so the exit is logged before a SIGKILL. */
const DRAIN_ON_EXIT_TIMEOUT_MS = 25_000;

function fail(message: string, exitCode: number): never {
  process.stderr.write(`reference-consumer: ${message}\n`);
  process.exit(exitCode);
}

function openTransitionLog(path: string): number {
  try {
    return openSync(path, 'a');
  } catch (error) {
    fail(`cannot open TRANSITION_LOG_PATH "${path}" for appending: ${(error as Error).message}`, 2);
  }
}

async function kafkaEngine(config: ConsumerConfig, writeLog: (line: string) => void): Promise<LifecycleEngine> {
  const kafka = config.kafka as NonNullable<ConsumerConfig['kafka']>;
  const [{ KafkaEngine }, { KafkaGroup }] = await Promise.all([import('./kafka-engine.js'), import('./kafka-group.js')]);
  return new KafkaEngine({
    podName: config.podName,
    color: config.color,
    batchSize: config.batchSize,
    leaveGroupOnPause: kafka.leaveGroupOnPause,
    writeLog,
    connect: (listener) =>
      new KafkaGroup(
        {
          bootstrapServers: kafka.bootstrapServers,
          clientId: config.podName,
          groupId: kafka.group,
          inputTopic: kafka.inputTopic,
          outputTopic: kafka.outputTopic,
        },
        listener,
      ),
  });
}

async function main(): Promise<void> {
  let config: ConsumerConfig;
  try {
    config = parseConsumerEnv(process.env, hostname());
  } catch (error) {
    if (error instanceof UsageError) fail(error.message, 2);
    throw error;
  }
  const logFd = config.transitionLogPath === undefined ? undefined : openTransitionLog(config.transitionLogPath);
  const writeLog = (line: string): void => {
    process.stdout.write(`${line}\n`);
    if (logFd !== undefined) writeSync(logFd, `${line}\n`);
  };

  const engine = config.kafka === undefined ? undefined : await kafkaEngine(config, writeLog);
  const consumer = await startConsumer({ ...config, writeLog, ...(engine ? { engine } : {}) }).catch((error: unknown) =>
    fail(`cannot listen on ${config.host}:${config.port}: ${(error as Error).message}`, 1),
  );
  process.stdout.write(`${JSON.stringify({ event: 'listening', pod: config.podName, color: config.color, url: consumer.url })}\n`);

  let shuttingDown = false;
  const shutdown = async (): Promise<void> => {
    if (shuttingDown) return;
    shuttingDown = true;
    const finalState = await consumer.engine.beginShutdown(DRAIN_ON_EXIT_TIMEOUT_MS);
    await consumer.close();
    if (finalState !== 'PAUSED') {
      fail(
        `the drain (in-flight batch, commit, leaving the group) did not finish within ${DRAIN_ON_EXIT_TIMEOUT_MS} ms; exiting ${finalState}`,
        1,
      );
    }
    process.exit(0);
  };
  process.on('SIGTERM', () => void shutdown());
  process.on('SIGINT', () => void shutdown());
}

await main();

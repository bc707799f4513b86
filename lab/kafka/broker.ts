/**
 * The lab's Kafka broker: Apache Kafka from its Maven Central jars (lab/kafka/pom.xml), one KRaft node
 * acting as broker and controller. Listens on every interface at :19092 and advertises the host's
 * bridge address, so the host and the pods reach it at the same address; the controller listener is
 * loopback only. Formatted once per data directory with a cluster id kept in the lab directory.
 * Every setting is on the command line (`--override`), so a changed setting replaces the running broker
 * like any other lab component.
 */
import { execFile, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import {
  appendFileSync,
  closeSync,
  existsSync,
  mkdirSync,
  openSync,
  readFileSync,
  readdirSync,
  renameSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { dirname, join } from 'node:path';
import { promisify } from 'node:util';
import { OperationError } from '../../src/shared/errors.js';
import { DEFAULT_CONSUMER_GROUP, DEFAULT_INPUT_TOPIC, DEFAULT_OUTPUT_TOPIC } from '../../src/shared/kafka-records.js';
import type { LabComponent } from '../control-plane/components.js';
import { describeError, waitFor } from '../control-plane/wait.js';
import { KAFKA_VERSION, LAB_KAFKA_BOOTSTRAP, LAB_NETWORK, kafkaLibsDir, type LabPaths } from '../paths.js';
import { trackProgress, type ProgressSink } from '../progress.js';

const execFileAsync = promisify(execFile);

/** The topics `lab up` makes, with their partition counts. */
export const LAB_TOPICS: ReadonlyArray<{ name: string; partitions: number }> = [
  { name: DEFAULT_INPUT_TOPIC, partitions: 6 },
  { name: DEFAULT_OUTPUT_TOPIC, partitions: 6 },
];

const NODE_ID = 1;

function brokerSettings(paths: LabPaths): Array<[string, string]> {
  return [
    ['process.roles', 'broker,controller'],
    ['node.id', String(NODE_ID)],
    ['controller.quorum.voters', `${NODE_ID}@127.0.0.1:${LAB_NETWORK.kafkaControllerPort}`],
    ['listeners', `PLAINTEXT://0.0.0.0:${LAB_NETWORK.kafkaBrokerPort},CONTROLLER://127.0.0.1:${LAB_NETWORK.kafkaControllerPort}`],
    ['advertised.listeners', `PLAINTEXT://${LAB_KAFKA_BOOTSTRAP}`],
    ['controller.listener.names', 'CONTROLLER'],
    ['listener.security.protocol.map', 'PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT'],
    ['log.dirs', paths.kafkaDataDir],
    ['offsets.topic.replication.factor', '1'],
    ['transaction.state.log.replication.factor', '1'],
    ['transaction.state.log.min.isr', '1'],
    ['share.coordinator.state.topic.replication.factor', '1'],
    ['share.coordinator.state.topic.min.isr', '1'],
    // A group's first member starts consuming at once instead of waiting 3 s for others to join.
    ['group.initial.rebalance.delay.ms', '0'],
    ['num.partitions', '6'],
    ['auto.create.topics.enable', 'false'],
  ];
}

function javaArgs(paths: LabPaths, mainClass: string): string[] {
  return [
    // A modest heap: the lab broker carries a few topics and a few thousand messages a second.
    '-Xms128m',
    '-Xmx512m',
    '-XX:+UseSerialGC',
    `-Dlog4j2.configurationFile=${join(paths.kafkaConfigDir, 'log4j2.properties')}`,
    '-cp',
    `${kafkaLibsDir()}/*`,
    mainClass,
  ];
}

const serverProperties = (paths: LabPaths): string => join(paths.kafkaConfigDir, 'server.properties');

const LOG4J2_PROPERTIES = [
  '# The lab broker logs to stdout, which the lab writes to .lab/logs/kafka.log.',
  'appender.stdout.type = Console',
  'appender.stdout.name = STDOUT',
  'appender.stdout.layout.type = PatternLayout',
  'appender.stdout.layout.pattern = [%d] %p %m (%c)%n',
  'rootLogger.level = INFO',
  'rootLogger.appenderRef.stdout.ref = STDOUT',
  '',
].join('\n');

/**
 * The cluster id, made once and kept with the broker's settings (a Kafka cluster id: 16 random bytes,
 * base64url). Like Kafka's own Uuid.randomUuid, never one starting with "-", which a command line
 * would read as an option.
 */
function clusterId(paths: LabPaths): string {
  const file = join(paths.kafkaConfigDir, 'cluster-id');
  if (!existsSync(file)) {
    let id: string;
    do id = randomBytes(16).toString('base64url');
    while (id.startsWith('-'));
    writeFileSync(file, `${id}\n`);
  }
  return readFileSync(file, 'utf8').trim();
}

/** Writes the settings files and formats the data directory when it is not formatted yet. */
async function prepareBroker(paths: LabPaths, javaBinary: string): Promise<void> {
  mkdirSync(paths.kafkaConfigDir, { recursive: true });
  writeFileSync(join(paths.kafkaConfigDir, 'log4j2.properties'), LOG4J2_PROPERTIES);
  writeFileSync(
    serverProperties(paths),
    `${brokerSettings(paths)
      .map(([key, value]) => `${key}=${value}`)
      .join('\n')}\n`,
  );
  if (existsSync(join(paths.kafkaDataDir, 'meta.properties'))) return;
  const logFile = paths.logFile('kafka');
  mkdirSync(dirname(logFile), { recursive: true });
  appendFileSync(logFile, `\n--- ${new Date().toISOString()} formatting ${paths.kafkaDataDir}\n`);
  try {
    const { stdout, stderr } = await execFileAsync(
      javaBinary,
      [
        ...javaArgs(paths, 'kafka.tools.StorageTool'),
        'format',
        `--cluster-id=${clusterId(paths)}`,
        '--config',
        serverProperties(paths),
        '--ignore-formatted',
      ],
      { timeout: 60_000, maxBuffer: 16 * 1024 * 1024 },
    );
    appendFileSync(logFile, stdout + stderr);
  } catch (error) {
    const { stdout = '', stderr = '' } = error as { stdout?: string; stderr?: string };
    appendFileSync(logFile, stdout + stderr);
    throw new OperationError(`formatting the Kafka data directory failed: ${describeError(error)}`, `see ${logFile}`);
  }
}

/** Lazily loaded: the Kafka client is only needed once the broker is started. */
async function withAdmin<T>(bootstrap: string, work: (admin: import('@platformatic/kafka').Admin) => Promise<T>): Promise<T> {
  const { Admin } = await import('@platformatic/kafka');
  const admin = new Admin({ clientId: 'bgswitch-lab', bootstrapBrokers: [bootstrap], timeout: 5000, retries: 0 });
  try {
    return await work(admin);
  } finally {
    await admin.close();
  }
}

export function kafkaComponent(paths: LabPaths, javaBinary: string): LabComponent {
  return {
    component: 'kafka',
    process: {
      name: 'kafka',
      command: javaBinary,
      args: [
        ...javaArgs(paths, 'kafka.Kafka'),
        serverProperties(paths),
        ...brokerSettings(paths).flatMap(([key, value]) => ['--override', `${key}=${value}`]),
      ],
      pidFile: paths.pidFile('kafka'),
      logFile: paths.logFile('kafka'),
      labMarker: paths.labDir,
      cwd: paths.repoRoot,
    },
    prepare: () => prepareBroker(paths, javaBinary),
    // Ready when a client at the advertised address gets the cluster's metadata with this broker in it.
    ready: async () => {
      try {
        const metadata = await withAdmin(LAB_KAFKA_BOOTSTRAP, (admin) => admin.metadata({ topics: [] }));
        return metadata.brokers.has(NODE_ID)
          ? { done: true, value: undefined }
          : { done: false, reason: 'the broker is not registered yet' };
      } catch (error) {
        return { done: false, reason: describeError(error) };
      }
    },
    readyTimeoutMs: 90_000,
    // A controlled shutdown of one node takes a few seconds.
    stopGraceMs: 30_000,
  };
}

/** Creates whichever of `topics` are missing; names the ones found with another partition count. */
export async function ensureTopics(bootstrap: string, topics: ReadonlyArray<{ name: string; partitions: number }>): Promise<string> {
  return withAdmin(bootstrap, async (admin) => {
    const existing = new Set(await admin.listTopics());
    const missing = topics.filter((topic) => !existing.has(topic.name));
    for (const topic of missing) await admin.createTopics({ topics: [topic.name], partitions: topic.partitions, replicas: 1 });
    // A topic just created shows in the metadata a moment later.
    const metadata = await waitFor(
      'the lab topics to show in the metadata',
      async () => {
        try {
          return { done: true, value: await admin.metadata({ topics: topics.map((topic) => topic.name), forceUpdate: true }) };
        } catch (error) {
          return { done: false, reason: describeError(error) };
        }
      },
      { timeoutMs: 30_000 },
    );
    const mismatched = topics.filter((topic) => metadata.topics.get(topic.name)?.partitionsCount !== topic.partitions);
    if (mismatched.length > 0) {
      const found = mismatched.map(
        (topic) => `${topic.name} has ${metadata.topics.get(topic.name)?.partitionsCount ?? 0} partitions, not ${topic.partitions}`,
      );
      throw new OperationError(
        `lab topics: ${found.join('; ')}`,
        'npm run lab -- down removes the broker data; then lab up makes them afresh',
      );
    }
    // The first group request makes the broker create and load __consumer_offsets; until then group
    // calls answer "not the coordinator". Done here, so the lab's first switch never meets it.
    await waitFor(
      'the group coordinator to be ready',
      async () => {
        try {
          await admin.describeGroups({ groups: [DEFAULT_CONSUMER_GROUP] });
          return { done: true, value: undefined };
        } catch (error) {
          return { done: false, reason: describeError(error) };
        }
      },
      { timeoutMs: 60_000 },
    );
    const made = missing.map((topic) => topic.name);
    return made.length > 0 ? `created ${made.join(', ')}` : `present (${topics.map((topic) => topic.name).join(', ')})`;
  });
}

export const kafkaLibsCached = (): boolean => existsSync(kafkaLibsDir());

/**
 * Resolves the broker's runtime classpath with Maven into the user cache (a no-op when present).
 * Maven writes into a scratch directory renamed into place at the end, so an interrupted run
 * never leaves a half classpath that looks cached.
 */
export async function resolveKafkaLibs(repoRoot: string, logsDir: string, progress: ProgressSink): Promise<string> {
  const libs = kafkaLibsDir();
  if (existsSync(libs)) return `cached in ${libs}`;
  mkdirSync(logsDir, { recursive: true });
  const logFile = join(logsDir, `mvn-kafka-${KAFKA_VERSION}.log`);
  const scratch = `${libs}.partial-${process.pid}`;
  rmSync(scratch, { recursive: true, force: true });
  mkdirSync(dirname(libs), { recursive: true });
  const log = openSync(logFile, 'a');
  try {
    const maven = spawn(
      'mvn',
      [
        '-B',
        '-f',
        join(repoRoot, 'lab', 'kafka', 'pom.xml'),
        'dependency:copy-dependencies',
        '-DincludeScope=runtime',
        `-DoutputDirectory=${scratch}`,
      ],
      { stdio: ['ignore', log, log], cwd: dirname(libs) },
    );
    const exited = new Promise<number | null>((resolve, reject) => {
      maven.once('error', reject);
      maven.once('exit', resolve);
    });
    const jars = (): number => (existsSync(scratch) ? readdirSync(scratch).filter((name) => name.endsWith('.jar')).length : 0);
    const code = await trackProgress(
      progress,
      `resolving Kafka ${KAFKA_VERSION} with Maven`,
      () => `${jars()} jars copied (log ${logFile})`,
      exited,
    );
    if (code !== 0) throw new OperationError(`resolving Kafka ${KAFKA_VERSION} with Maven failed (exit ${code})`, `see ${logFile}`);
    renameSync(scratch, libs);
  } finally {
    closeSync(log);
    rmSync(scratch, { recursive: true, force: true });
  }
  return `resolved ${readdirSync(libs).length} jars into ${libs}`;
}

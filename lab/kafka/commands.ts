/**
 * `npm run lab -- produce` and `npm run lab -- verify`: flag checking (bad input exits 2 before
 * anything connects), running, and printing. The work itself is in load.ts, read.ts and verdict.ts.
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseDuration } from '../../src/cli/durations.js';
import { OperationError, UsageError } from '../../src/shared/errors.js';
import { DEFAULT_INPUT_TOPIC, DEFAULT_OUTPUT_TOPIC } from '../../src/shared/kafka-records.js';
import { describeError, waitFor } from '../control-plane/wait.js';
import { inspectProcess, startProcess, stopProcess, type ProcessSpec } from '../control-plane/process.js';
import { LAB_KAFKA_BOOTSTRAP, type LabPaths } from '../paths.js';
import { StatusWriter, formatElapsed } from '../progress.js';
import type { ProductionOptions, ProductionSummary } from './load.js';
import type { Verdict } from './verdict.js';

/** The flags as commander hands them over: strings, unchecked. */
export interface RawProduceFlags {
  rate?: string;
  count?: string;
  duration?: string;
  topic?: string;
  bootstrap?: string;
  background?: boolean;
  stop?: boolean;
}

export type ProduceRequest = { action: 'stop' } | { action: 'run'; background: boolean; production: ProductionOptions };

export const DEFAULT_RATE = 100;
const MAX_RATE = 100_000;

function positiveNumber(raw: string, flag: string, options: { integer: boolean; max: number }): number {
  const value = Number(raw.trim());
  const what = options.integer ? 'a positive whole number' : 'a positive number';
  if (raw.trim() === '' || !Number.isFinite(value) || value <= 0 || (options.integer && !Number.isInteger(value))) {
    throw new UsageError(`${flag} ${JSON.stringify(raw)}: must be ${what}`);
  }
  if (value > options.max) throw new UsageError(`${flag} ${raw}: at most ${options.max}`);
  return value;
}

function bootstrapOf(raw: string | undefined): string {
  const bootstrap = raw ?? LAB_KAFKA_BOOTSTRAP;
  if (!bootstrap.split(',').every((address) => /^[A-Za-z0-9.-]+:\d{1,5}$/.test(address.trim()))) {
    throw new UsageError(`--bootstrap ${JSON.stringify(bootstrap)}: expected host:port[,host:port...]`);
  }
  return bootstrap;
}

function topicOf(raw: string | undefined, flag: string, fallback: string): string {
  const topic = raw ?? fallback;
  if (!/^[A-Za-z0-9._-]{1,249}$/.test(topic))
    throw new UsageError(`${flag} ${JSON.stringify(topic)}: not a Kafka topic name (letters, digits, . _ -)`);
  return topic;
}

export function parseProduceFlags(flags: RawProduceFlags): ProduceRequest {
  if (flags.stop) {
    const others = Object.entries(flags).filter(([name, value]) => name !== 'stop' && value !== undefined && value !== false);
    if (others.length > 0) throw new UsageError(`--stop takes no other flags (got --${others.map(([name]) => name).join(', --')})`);
    return { action: 'stop' };
  }
  const rate = flags.rate === undefined ? DEFAULT_RATE : positiveNumber(flags.rate, '--rate', { integer: false, max: MAX_RATE });
  const count =
    flags.count === undefined ? undefined : positiveNumber(flags.count, '--count', { integer: true, max: Number.MAX_SAFE_INTEGER });
  const durationMs = flags.duration === undefined ? undefined : parseDuration(flags.duration, '--duration');
  if (durationMs === 0) throw new UsageError('--duration must be longer than 0');
  return {
    action: 'run',
    background: flags.background === true,
    production: {
      rate,
      ...(count === undefined ? {} : { count }),
      ...(durationMs === undefined ? {} : { durationMs }),
      topic: topicOf(flags.topic, '--topic', DEFAULT_INPUT_TOPIC),
      bootstrap: bootstrapOf(flags.bootstrap),
    },
  };
}

export interface RawVerifyFlags {
  output?: string;
  settle?: string;
  runId?: string;
  bootstrap?: string;
  inputTopic?: string;
  outputTopic?: string;
}

export interface VerifyRequest {
  json: boolean;
  settleMs: number;
  runId?: string;
  bootstrap: string;
  inputTopic: string;
  outputTopic: string;
}

export function parseVerifyFlags(flags: RawVerifyFlags): VerifyRequest {
  const output = flags.output ?? 'text';
  if (output !== 'text' && output !== 'json') throw new UsageError(`-o ${JSON.stringify(output)}: expected text or json`);
  if (flags.runId !== undefined && flags.runId.trim() === '') throw new UsageError('--run-id must not be empty');
  return {
    json: output === 'json',
    settleMs: flags.settle === undefined ? 0 : parseDuration(flags.settle, '--settle'),
    ...(flags.runId === undefined ? {} : { runId: flags.runId.trim() }),
    bootstrap: bootstrapOf(flags.bootstrap),
    inputTopic: topicOf(flags.inputTopic, '--input-topic', DEFAULT_INPUT_TOPIC),
    outputTopic: topicOf(flags.outputTopic, '--output-topic', DEFAULT_OUTPUT_TOPIC),
  };
}

/** A Kafka client's failure as the lab's error (exit 1 with a hint), not a stack trace. */
async function talkingToKafka<T>(what: string, bootstrap: string, work: () => Promise<T>): Promise<T> {
  try {
    return await work();
  } catch (error) {
    if (error instanceof OperationError) throw error;
    throw new OperationError(`${what} at ${bootstrap} failed: ${describeError(error)}`, 'is the lab up? npm run lab -- status');
  }
}

interface Streams {
  stdout: NodeJS.WriteStream;
  stderr: NodeJS.WriteStream;
}

const summaryLine = (summary: ProductionSummary): string =>
  `produced ${summary.produced} messages to ${summary.topic} in ${(summary.elapsedMs / 1000).toFixed(1)}s (${summary.achievedRate.toFixed(0)}/s)${summary.stoppedEarly ? ', stopped early' : ''}; run ${summary.runId}`;

/** Foreground production: a progress line on stderr, Ctrl-C or SIGTERM ends it cleanly with the summary. */
export async function produceForeground(options: ProductionOptions, io: Streams): Promise<ProductionSummary> {
  const { startProduction } = await import('./load.js');
  const bootstrap = options.bootstrap ?? LAB_KAFKA_BOOTSTRAP;
  const production = await talkingToKafka('producing', bootstrap, () => startProduction(options));
  io.stdout.write(
    `run ${production.runId}: producing to ${production.topic} at ${options.rate}/s${options.count ? `, ${options.count} messages` : ''}${options.durationMs ? ` for ${formatElapsed(options.durationMs)}` : ''}\n`,
  );
  const status = new StatusWriter(io.stderr, 5000);
  const started = performance.now();
  const timer = setInterval(() => {
    const elapsed = performance.now() - started;
    status.status(
      `produced ${production.produced()}${options.count ? ` of ${options.count}` : ''} (${((production.produced() * 1000) / Math.max(elapsed, 1)).toFixed(0)}/s), ${formatElapsed(elapsed)}`,
    );
  }, 250);
  const stop = (): void => void production.stop();
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
  try {
    const summary = await talkingToKafka('producing', bootstrap, () => production.finished);
    status.clear();
    io.stdout.write(`${summaryLine(summary)}\n`);
    return summary;
  } finally {
    clearInterval(timer);
    process.off('SIGINT', stop);
    process.off('SIGTERM', stop);
  }
}

/** The background producer: `node dist/lab/main.js --lab-dir <dir> produce <flags>`, detached, pid and log in the lab directory. */
function backgroundSpec(paths: LabPaths, produceArgs: string[]): ProcessSpec {
  return {
    name: 'lab produce',
    command: process.execPath,
    script: join(paths.repoRoot, 'dist', 'lab', 'main.js'),
    args: ['--lab-dir', paths.labDir, 'produce', ...produceArgs],
    pidFile: paths.pidFile('produce'),
    logFile: paths.logFile('produce'),
    labMarker: paths.labDir,
    cwd: paths.repoRoot,
  };
}

/** Stops a background producer, if any; its log ends with the run's summary. */
export async function stopBackgroundProduction(paths: LabPaths): Promise<string> {
  const spec = backgroundSpec(paths, []);
  const outcome = await stopProcess(spec, 15_000);
  if (outcome === 'not running') return 'no background producer running';
  const summary = readFileSync(spec.logFile, 'utf8')
    .trimEnd()
    .split('\n')
    .findLast((line) => line.startsWith('produced '));
  return `background producer ${outcome}${summary ? `: ${summary}` : ''} (log ${spec.logFile})`;
}

/** Starts production detached; returns once it announced its run id. */
export async function produceInBackground(paths: LabPaths, produceArgs: string[]): Promise<string> {
  const spec = backgroundSpec(paths, produceArgs);
  const running = inspectProcess(spec);
  if (running.state !== 'down') {
    throw new UsageError(`a background producer is already running (pid ${running.pid})`, 'npm run lab -- produce --stop ends it');
  }
  const logStart = existsSync(spec.logFile) ? readFileSync(spec.logFile, 'utf8').length : 0;
  const pid = await startProcess(spec);
  const runId = await waitFor(
    'the background producer to start',
    async () => {
      const announced = /^run (\S+): producing/m.exec(existsSync(spec.logFile) ? readFileSync(spec.logFile, 'utf8').slice(logStart) : '');
      if (announced) return { done: true, value: announced[1] as string };
      if (inspectProcess(spec).state === 'down') throw new OperationError(`the background producer exited at once; see ${spec.logFile}`);
      return { done: false, reason: 'no run id in its log yet' };
    },
    { timeoutMs: 30_000, hint: `see ${spec.logFile}` },
  );
  return `producing in the background: run ${runId}, pid ${pid}, log ${spec.logFile}; stop with: npm run lab -- produce --stop`;
}

async function readVerdict(request: VerifyRequest): Promise<Verdict> {
  const [{ readTopic, toVerdictInput }, { judge }] = await Promise.all([import('./read.js'), import('./verdict.js')]);
  const [inputs, outputs] = await talkingToKafka(`reading ${request.inputTopic} and ${request.outputTopic}`, request.bootstrap, () =>
    Promise.all([readTopic(request.bootstrap, request.inputTopic), readTopic(request.bootstrap, request.outputTopic)]),
  );
  return judge(toVerdictInput(inputs, outputs, request.runId));
}

/** Reads and judges; with `settleMs`, first waits (polling) until nothing produced is still unprocessed. */
export async function verify(request: VerifyRequest, io: Streams): Promise<Verdict> {
  const status = new StatusWriter(io.stderr, 5000);
  const started = performance.now();
  let verdict = await readVerdict(request);
  while (verdict.lost > 0 && performance.now() - started < request.settleMs) {
    status.status(
      `settling: ${verdict.lost} of ${verdict.produced} not processed yet, ${formatElapsed(performance.now() - started)} of ${formatElapsed(request.settleMs)}`,
    );
    await new Promise((resolve) => setTimeout(resolve, 1000));
    try {
      verdict = await readVerdict(request);
    } catch (error) {
      status.status(`settling: reading failed (${describeError(error)}); retrying`);
    }
  }
  status.clear();
  return verdict;
}

const time = (ms: number): string => new Date(ms).toISOString().slice(11, 23);

export function formatVerdict(verdict: Verdict): string {
  const lines: Array<[string, string]> = [];
  lines.push(['runs', verdict.runIds.length === 0 ? '-' : verdict.runIds.join(', ')]);
  lines.push(['produced', String(verdict.produced)]);
  lines.push(['processed', `${verdict.processed}${verdict.failed > 0 ? ` (${verdict.failed} failed and dead-lettered)` : ''}`]);
  lines.push(['lost', String(verdict.lost)]);
  lines.push([
    'duplicated',
    `${verdict.duplicated} (${verdict.crashExplainedDuplicates} explained by a crash, ${verdict.unexplainedDuplicates} unexplained)`,
  ]);
  const colors = Object.entries(verdict.byColor);
  lines.push(['by colour', colors.length === 0 ? '-' : colors.map(([color, count]) => `${color} ${count}`).join(', ')]);
  const worst = verdict.overlap.worst;
  lines.push([
    'overlap',
    worst === undefined
      ? 'none'
      : `${verdict.overlap.count}; worst: partition ${worst.partition}, ${worst.first.color} ${worst.first.pod} offsets ${worst.first.fromOffset}-${worst.first.toOffset} and ${worst.second.color} ${worst.second.pod} offsets ${worst.second.fromOffset}-${worst.second.toOffset}, ${worst.overlapMs} ms at once`,
  ]);
  const { p50, p99, max } = verdict.latencyMs;
  lines.push(['latency', p50 === undefined ? '-' : `p50 ${p50} ms, p99 ${p99} ms, max ${max} ms (processedAt - producedAt)`]);
  lines.push([
    'hand-offs',
    verdict.handOffCount === 0 ? 'none' : `${verdict.handOffCount}, longest pause ${verdict.longestHandOffPauseMs} ms`,
  ]);
  for (const handOff of verdict.handOffs.slice(0, 20)) {
    lines.push(['', `${handOff.from} -> ${handOff.to} at ${time(handOff.firstNewAt)}: ${handOff.pauseMs} ms without processing`]);
  }
  if (verdict.unreadableOutputs > 0 || verdict.unmatchedProcessed > 0 || verdict.foreignInputs > 0) {
    lines.push([
      'other',
      `${verdict.unreadableOutputs} unreadable output records, ${verdict.unmatchedProcessed} processed records of inputs not judged, ${verdict.foreignInputs} inputs not from lab produce`,
    ]);
  }
  lines.push([
    'verdict',
    verdict.ok
      ? `OK: ${verdict.produced} produced, ${verdict.processed} processed, 0 lost, ${verdict.unexplainedDuplicates} unexplained duplicates`
      : 'FAILED',
  ]);
  for (const reason of verdict.reasons) lines.push(['', reason]);
  return lines.map(([label, text]) => `${label.padEnd(11)} ${text}`.trimEnd()).join('\n');
}

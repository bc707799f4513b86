/**
 * `bgswitch switch <colour>` (and, through runSwitchFlow, `bgswitch rollback`): parses and checks
 * every flag, asks for confirmation, runs the protocol with live progress, prints the report.
 */
import { BgswitchError, ExitCode, UsageError } from '../shared/errors.js';
import type { OperationKind } from '../core/operation.js';
import type { KafkaGroup } from '../core/ports.js';
import { runSwitch, type SwitchReport, type SwitchRequest } from '../core/switch.js';
import { switchWording } from '../render/switch-wording.js';
import type { CliIO } from '../render/io.js';
import { createProgress } from '../render/progress.js';
import { createStyle } from '../render/style.js';
import { writeDocument } from '../render/format.js';
import { renderSwitchReport } from '../render/switch-report.js';
import type { Color } from '../shared/model.js';
import { parseColor } from './color.js';
import { confirm } from './confirm.js';
import { onFirstStopSignal } from './signals.js';
import { parseDuration } from './durations.js';
import { parseKafkaFlags, withKafka, type KafkaChoice, type KafkaFlags } from './kafka.js';
import { durationFrom, resolveClusterSettings, type ClusterFlags, type ClusterSettings } from './options.js';
import { withRuntime, type Runtime } from './runtime.js';

export interface SwitchFlags extends ClusterFlags, KafkaFlags {
  maxLag?: string;
  dryRun?: boolean;
  yes?: boolean;
  force?: boolean;
  drainTimeout?: string;
  verifyTimeout?: string;
  soak?: string;
  pollInterval?: string;
  leaseDuration?: string;
  pushgateway?: string;
  metricsFile?: string;
}

const EXIT_BY_OUTCOME: Record<SwitchReport['outcome'], number> = {
  switched: ExitCode.ok,
  noop: ExitCode.ok,
  'dry-run': ExitCode.ok,
  'rolled-back': ExitCode.rolledBack,
  'rollback-failed': ExitCode.rollbackFailed,
  failed: ExitCode.failure,
};

export interface ParsedSwitch {
  settings: ClusterSettings;
  request: Omit<SwitchRequest, 'target' | 'kind'>;
  kafka: KafkaChoice;
  pushgateway?: string;
  metricsFile?: string;
}

/** Validates every flag before anything talks to the cluster. */
export function parseSwitchFlags(flags: SwitchFlags, io: CliIO): ParsedSwitch {
  const settings = resolveClusterSettings(flags, io.env);
  const drainTimeoutMs = durationFrom(
    flags.drainTimeout,
    '--drain-timeout',
    io.env.DRAIN_TIMEOUT_SECONDS,
    'DRAIN_TIMEOUT_SECONDS',
    's',
    '10s',
  );
  const maxPollMs = durationFrom(
    flags.pollInterval,
    '--poll-interval',
    io.env.HEALTH_CHECK_INTERVAL_MS,
    'HEALTH_CHECK_INTERVAL_MS',
    'ms',
    '500ms',
  );
  const leaseDurationMs = parseDuration(flags.leaseDuration ?? '15s', '--lease-duration');
  if (drainTimeoutMs <= 0) throw new UsageError('--drain-timeout must be longer than 0', 'e.g. --drain-timeout 10s');
  if (maxPollMs <= 0) throw new UsageError('--poll-interval must be longer than 0', 'e.g. --poll-interval 500ms');
  if (leaseDurationMs < 5000) throw new UsageError('--lease-duration must be at least 5s', 'the lock is renewed every third of it');
  const soakMs = parseDuration(flags.soak ?? '0s', '--soak');
  const kafka = parseKafkaFlags(flags, io.env);
  const maxLag = parseMaxLag(flags.maxLag, soakMs, kafka);
  if (flags.pushgateway !== undefined) {
    let url: URL | undefined;
    try {
      url = new URL(flags.pushgateway);
    } catch {
      url = undefined;
    }
    if (!url || (url.protocol !== 'http:' && url.protocol !== 'https:')) {
      throw new UsageError(
        `--pushgateway ${JSON.stringify(flags.pushgateway)} is not an http(s) URL`,
        'e.g. --pushgateway http://pushgateway.monitoring:9091',
      );
    }
  }
  return {
    settings,
    request: {
      force: flags.force === true,
      dryRun: flags.dryRun === true,
      drainTimeoutMs,
      verifyTimeoutMs: parseDuration(flags.verifyTimeout ?? '30s', '--verify-timeout'),
      soakMs,
      pollIntervalMs: maxPollMs,
      leaseDurationMs,
      ...(maxLag !== undefined ? { maxLag } : {}),
    },
    kafka,
    ...(flags.pushgateway !== undefined ? { pushgateway: flags.pushgateway } : {}),
    ...(flags.metricsFile !== undefined ? { metricsFile: flags.metricsFile } : {}),
  };
}

/** `--max-lag <n>`: a whole number of messages; it acts during the soak, on the consumer group. */
function parseMaxLag(raw: string | undefined, soakMs: number, kafka: KafkaChoice): number | undefined {
  if (raw === undefined) return undefined;
  if (!/^\d+$/.test(raw.trim()))
    throw new UsageError(`--max-lag ${JSON.stringify(raw)} is not a whole number of messages`, 'e.g. --max-lag 1000');
  if (soakMs <= 0) throw new UsageError('--max-lag acts during the soak: it needs --soak', 'e.g. --soak 1m --max-lag 1000');
  if (kafka.off) throw new UsageError('--max-lag watches the consumer group: it cannot be used with --no-kafka');
  return Number(raw);
}

export async function switchCommand(color: string, flags: SwitchFlags, io: CliIO): Promise<number> {
  const target = parseColor(color);
  const parsed = parseSwitchFlags(flags, io);
  return withRuntime(parsed.settings, io, (runtime) => runSwitchFlow(runtime, parsed, target, 'switch', flags.yes === true, io));
}

export async function runSwitchFlow(
  runtime: Runtime,
  parsed: ParsedSwitch,
  target: Color,
  kind: OperationKind,
  yes: boolean,
  io: CliIO,
): Promise<number> {
  const { access } = runtime;
  const from = target === 'blue' ? 'green' : 'blue';
  if (!parsed.request.dryRun && !yes) {
    const question = `${kind === 'rollback' ? 'Roll back' : 'Switch'} consumers ${from} -> ${target} in context ${access.contextName}, namespace ${access.namespace}?`;
    if (!(await confirm(io, question))) {
      io.stderr.write('Aborted; nothing was changed.\n');
      return ExitCode.failure;
    }
  }
  return withKafka(parsed.kafka, runtime, parsed.settings.requestTimeoutMs, (kafka) =>
    switchWithGroup(runtime, parsed, target, kind, io, kafka),
  );
}

async function switchWithGroup(
  runtime: Runtime,
  parsed: ParsedSwitch,
  target: Color,
  kind: OperationKind,
  io: CliIO,
  kafka: KafkaGroup | undefined,
): Promise<number> {
  const { access } = runtime;
  const errStyle = createStyle(io.stderr, io.env);
  const progress = await createProgress(io.stderr, errStyle);
  const aborter = new AbortController();
  // First Ctrl-C or SIGTERM: stop and roll back safely. A second one gets the default behaviour.
  const stopListening = onFirstStopSignal((signal) => {
    io.stderr.write(
      `\n${signal === 'SIGINT' ? 'Interrupted' : 'SIGTERM received'}: stopping and rolling back (a second Ctrl-C or SIGTERM abandons; the lock then expires by itself)\n`,
    );
    aborter.abort(new BgswitchError(`interrupted by the operator (${signal})`, ExitCode.failure));
  });
  let report: SwitchReport;
  try {
    report = await runSwitch(
      {
        cluster: runtime.cluster,
        pods: runtime.pods,
        clock: runtime.clock,
        names: runtime.names,
        holder: runtime.holder,
        actor: runtime.actor,
        newId: () => `${Date.now().toString(36)}-${runtime.holder.slice(-6)}`,
        emit: progress.sink,
        wording: switchWording,
        signal: aborter.signal,
        kafka,
      },
      { ...parsed.request, target, kind },
    );
  } finally {
    stopListening();
    progress.stop();
  }

  if (parsed.settings.output === 'text') io.stdout.write(renderSwitchReport(report, createStyle(io.stdout, io.env)));
  else await writeDocument(io.stdout, parsed.settings.output, report);

  if (parsed.pushgateway || parsed.metricsFile) {
    const { switchRegistry, exportMetrics } = await import('../metrics/switch-metrics.js');
    try {
      const target = {
        ...(parsed.pushgateway ? { pushgateway: parsed.pushgateway } : {}),
        ...(parsed.metricsFile ? { file: parsed.metricsFile } : {}),
      };
      for (const line of await exportMetrics(switchRegistry(report, access.namespace), target, access.namespace))
        io.stderr.write(`${line}\n`);
    } catch (error) {
      // The switch's outcome stands; a metrics failure is reported, not turned into a failed switch.
      io.stderr.write(errStyle.yellow(`warning: ${(error as Error).message}\n`));
    }
  }
  return EXIT_BY_OUTCOME[report.outcome];
}

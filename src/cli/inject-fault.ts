/** `bgswitch inject-fault <pod|colour> key=value... | --clear` */
import { ExitCode, UsageError } from '../shared/errors.js';
import { injectFault } from '../core/faults.js';
import { renderFaultReport } from '../render/fault-view.js';
import { writeDocument } from '../render/format.js';
import type { CliIO } from '../render/io.js';
import { createStyle } from '../render/style.js';
import { parseDuration } from './durations.js';
import { parseFaultSettings } from './fault-settings.js';
import { resolveClusterSettings, type ClusterFlags } from './options.js';

const TARGET = /^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$/;

export async function injectFaultCommand(
  target: string,
  settings: string[],
  flags: ClusterFlags & { clear?: boolean; timeout?: string; dryRun?: boolean },
  io: CliIO,
): Promise<number> {
  if (!TARGET.test(target) || target.length > 253)
    throw new UsageError(`${JSON.stringify(target)} is not a pod name or colour`, 'e.g. consumer-green-0, or green for every green pod');
  if (flags.clear && settings.length > 0) throw new UsageError('--clear takes no settings', 'either --clear, or key=value settings');
  if (!flags.clear && settings.length === 0) throw new UsageError('no fault given', 'e.g. delay=200, or --clear to reset every fault');
  const change = flags.clear ? ('clear' as const) : parseFaultSettings(settings);
  const timeoutMs = parseDuration(flags.timeout ?? '10s', '--timeout');
  const clusterSettings = resolveClusterSettings(flags, io.env);
  const { withRuntime } = await import('./runtime.js');
  const report = await withRuntime(clusterSettings, io, (runtime) =>
    injectFault(
      { cluster: runtime.cluster, pods: runtime.pods, clock: runtime.clock, names: runtime.names },
      { target, change, timeoutMs, pollIntervalMs: 50, dryRun: flags.dryRun === true },
    ),
  );
  if (clusterSettings.output === 'text') io.stdout.write(renderFaultReport(report, createStyle(io.stdout, io.env)));
  else await writeDocument(io.stdout, clusterSettings.output, report);
  const unconfirmed = report.pods.filter((p) => !report.dryRun && !p.confirmed);
  if (unconfirmed.length > 0) {
    io.stderr.write(
      `error: ${unconfirmed.map((p) => p.pod).join(', ')} did not confirm the fault; it stays in the desired state and the sidecar keeps applying it\n`,
    );
    return ExitCode.failure;
  }
  return ExitCode.ok;
}

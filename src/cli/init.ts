/** `bgswitch init` */
import { initialize } from '../core/init.js';
import { writeDocument } from '../render/format.js';
import { renderInitReport } from '../render/init-view.js';
import type { CliIO } from '../render/io.js';
import { createStyle } from '../render/style.js';
import { kafkaSettingsToStore, type KafkaFlags } from './kafka.js';
import { resolveClusterSettings, type ClusterFlags } from './options.js';
import { UsageError } from '../shared/errors.js';
import type { StateKeyMode } from '../core/state-keys.js';

type KeyFlags = { colorKeys?: boolean; colourKeys?: boolean; podKeys?: boolean };

export async function initCommand(flags: ClusterFlags & KafkaFlags & KeyFlags & { dryRun?: boolean }, io: CliIO): Promise<number> {
  const settings = resolveClusterSettings(flags, io.env);
  const kafka = kafkaSettingsToStore(flags);
  const keyMode = keyModeFlag(flags);
  const { withRuntime } = await import('./runtime.js');
  const report = await withRuntime(settings, io, (runtime) =>
    initialize(
      { cluster: runtime.cluster, keys: runtime.cluster, names: runtime.names, clock: runtime.clock },
      { dryRun: flags.dryRun === true, kafka, keyMode },
    ),
  );
  if (settings.output === 'text') io.stdout.write(renderInitReport(report, createStyle(io.stdout, io.env)));
  else await writeDocument(io.stdout, settings.output, report);
  return 0;
}

/** `--color-keys` (or `--colour-keys`) or `--pod-keys`; undefined keeps what is stored (or detected). */
function keyModeFlag(flags: KeyFlags): StateKeyMode | undefined {
  const color = flags.colorKeys === true || flags.colourKeys === true;
  if (color && flags.podKeys) throw new UsageError('--color-keys and --pod-keys exclude each other', 'choose one');
  return color ? 'color' : flags.podKeys ? 'pod' : undefined;
}

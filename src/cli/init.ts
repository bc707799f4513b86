/** `bgswitch init` */
import { initialize } from '../core/init.js';
import { writeDocument } from '../render/format.js';
import { renderInitReport } from '../render/init-view.js';
import type { CliIO } from '../render/io.js';
import { createStyle } from '../render/style.js';
import { kafkaSettingsToStore, type KafkaFlags } from './kafka.js';
import { resolveClusterSettings, type ClusterFlags } from './options.js';

export async function initCommand(flags: ClusterFlags & KafkaFlags & { dryRun?: boolean }, io: CliIO): Promise<number> {
  const settings = resolveClusterSettings(flags, io.env);
  const kafka = kafkaSettingsToStore(flags);
  const { withRuntime } = await import('./runtime.js');
  const report = await withRuntime(settings, io, (runtime) =>
    initialize(
      { cluster: runtime.cluster, keys: runtime.cluster, names: runtime.names, clock: runtime.clock },
      { dryRun: flags.dryRun === true, kafka },
    ),
  );
  if (settings.output === 'text') io.stdout.write(renderInitReport(report, createStyle(io.stdout, io.env)));
  else await writeDocument(io.stdout, settings.output, report);
  return 0;
}

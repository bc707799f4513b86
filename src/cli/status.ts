/** `bgswitch status [--watch] [--check]` */
import { ExitCode } from '../shared/errors.js';
import { hasProblems, readStatus, type StatusView } from '../core/status.js';
import type { CliIO } from '../render/io.js';
import { renderStatus } from '../render/status-view.js';
import { createStyle } from '../render/style.js';
import { formatDocument } from '../render/format.js';
import { parseDuration } from './durations.js';
import { parseKafkaFlags, withKafka, type KafkaFlags } from './kafka.js';
import { resolveClusterSettings, type ClusterFlags } from './options.js';
import { onFirstStopSignal } from './signals.js';

export async function statusCommand(
  flags: ClusterFlags & KafkaFlags & { watch?: boolean; interval?: string; check?: boolean },
  io: CliIO,
): Promise<number> {
  const settings = resolveClusterSettings(flags, io.env);
  const intervalMs = parseDuration(flags.interval ?? '2s', '--interval');
  const kafkaChoice = parseKafkaFlags(flags, io.env);
  const style = createStyle(io.stdout, io.env);
  const { withRuntime } = await import('./runtime.js');
  const lastView = await withRuntime(settings, io, (runtime) =>
    withKafka(kafkaChoice, runtime, settings.requestTimeoutMs, async (kafka) => {
      const header = { context: runtime.access.contextName, server: runtime.access.server };
      const read = () => readStatus({ cluster: runtime.cluster, pods: runtime.pods, names: runtime.names, clock: runtime.clock, kafka });
      const show = (view: StatusView) =>
        settings.output === 'text'
          ? Promise.resolve(renderStatus(view, header, style))
          : formatDocument(settings.output, { context: header.context, ...view });
      if (!flags.watch) {
        const view = await read();
        io.stdout.write(await show(view));
        return view;
      }
      // --watch: redraw only when the picture changed; stop on Ctrl-C, SIGTERM or a closed stdout.
      const stop = new AbortController();
      const stopListening = onFirstStopSignal(() => stop.abort());
      let shown = '';
      let view: StatusView | undefined;
      try {
        while (!stop.signal.aborted && !io.stdout.destroyed) {
          view = await read();
          const text = await show(view);
          if (text !== shown) {
            io.stdout.write(io.stdout.isTTY ? `\x1b[2J\x1b[H${text}` : `--- ${new Date().toISOString()}\n${text}`);
            shown = text;
          }
          await runtime.clock.sleep(intervalMs, stop.signal).catch(() => undefined);
        }
      } finally {
        stopListening();
      }
      return view;
    }),
  );
  return flags.check && lastView && hasProblems(lastView) ? ExitCode.refused : ExitCode.ok;
}

/** `bgswitch status [--watch] [--check]` */
import { ExitCode } from '../core/errors.js';
import { hasProblems, readStatus, type StatusView } from '../core/status.js';
import { writeDocument } from '../render/format.js';
import type { CliIO } from '../render/io.js';
import { renderStatus } from '../render/status-view.js';
import { createStyle } from '../render/style.js';
import { parseDuration } from './durations.js';
import { resolveClusterSettings, type ClusterFlags } from './options.js';

export async function statusCommand(flags: ClusterFlags & { watch?: boolean; interval?: string; check?: boolean }, io: CliIO): Promise<number> {
  const settings = resolveClusterSettings(flags, io.env);
  const intervalMs = parseDuration(flags.interval ?? '2s', '--interval');
  const { createRuntime } = await import('./runtime.js');
  const runtime = createRuntime(settings, io);
  const style = createStyle(io.stdout, io.env);
  const header = { context: runtime.access.contextName, server: runtime.access.server };
  const read = () => readStatus({ cluster: runtime.cluster, pods: runtime.pods, names: runtime.names, clock: runtime.clock });
  const show = async (view: StatusView) => {
    if (settings.output === 'text') return renderStatus(view, header, style);
    if (settings.output === 'json') return `${JSON.stringify({ context: header.context, ...view }, null, 2)}\n`;
    const { stringify } = await import('yaml');
    return stringify({ context: header.context, ...view });
  };

  if (!flags.watch) {
    const view = await read();
    if (settings.output === 'text') io.stdout.write(await show(view));
    else await writeDocument(io.stdout, settings.output, { context: header.context, ...view });
    return flags.check && hasProblems(view) ? ExitCode.refused : ExitCode.ok;
  }

  // --watch: redraw only when the picture changed; stop on Ctrl-C.
  const stop = new AbortController();
  const onInterrupt = () => stop.abort();
  process.once('SIGINT', onInterrupt);
  let last = '';
  let lastView: StatusView | undefined;
  try {
    while (!stop.signal.aborted) {
      lastView = await read();
      const text = await show(lastView);
      if (text !== last) {
        if (io.stdout.isTTY) io.stdout.write('\x1b[2J\x1b[H');
        io.stdout.write(settings.output === 'text' && !io.stdout.isTTY ? `--- ${new Date().toISOString()}\n${text}` : text);
        last = text;
      }
      await runtime.clock.sleep(intervalMs, stop.signal).catch(() => undefined);
    }
  } finally {
    process.removeListener('SIGINT', onInterrupt);
  }
  return flags.check && lastView && hasProblems(lastView) ? ExitCode.refused : ExitCode.ok;
}

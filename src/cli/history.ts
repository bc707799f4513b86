/** `bgswitch history` */
import { UsageError } from '../shared/errors.js';
import { HISTORY_KEY, HISTORY_LIMIT, readHistory } from '../core/history.js';
import { writeDocument } from '../render/format.js';
import { renderHistory } from '../render/history-view.js';
import type { CliIO } from '../render/io.js';
import { createStyle } from '../render/style.js';
import { resolveClusterSettings, type ClusterFlags } from './options.js';

export async function historyCommand(flags: ClusterFlags & { limit?: string }, io: CliIO): Promise<number> {
  const limit = flags.limit === undefined ? 10 : Number(flags.limit);
  if (!/^\d+$/.test(flags.limit ?? '10') || limit < 1 || limit > HISTORY_LIMIT) {
    throw new UsageError(
      `--limit ${JSON.stringify(flags.limit)} is not a whole number from 1 to ${HISTORY_LIMIT}`,
      `bgswitch keeps the last ${HISTORY_LIMIT} switches`,
    );
  }
  const settings = resolveClusterSettings(flags, io.env);
  const { withRuntime } = await import('./runtime.js');
  const active = await withRuntime(settings, io, (runtime) => runtime.cluster.getConfigMap(runtime.names.activeConfigMap));
  const history = readHistory(active?.data[HISTORY_KEY]);
  const entries = history.entries.slice(0, limit);
  if (settings.output === 'text') io.stdout.write(renderHistory(entries, createStyle(io.stdout, io.env)));
  else await writeDocument(io.stdout, settings.output, entries);
  // What cannot be read is named, not fatal: the next switch rewrites the history without it.
  const warn = createStyle(io.stderr, io.env).yellow;
  for (const problem of history.unreadable)
    io.stderr.write(warn(`warning: unreadable history in ConfigMap ${active?.name ?? ''} (not shown): ${problem}\n`));
  return 0;
}

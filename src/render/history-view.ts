import type { HistoryEntry } from '../core/history.js';
import type { Style } from './style.js';
import { formatDuration, table } from './text.js';

export function renderHistory(entries: HistoryEntry[], style: Style): string {
  if (entries.length === 0) return 'No switches recorded yet.\n';
  const rows = entries.map((e) => [
    e.finishedAt,
    e.actor,
    `${e.from} -> ${e.to}${e.kind === 'rollback' ? ' (rollback)' : ''}`,
    e.outcome === 'switched' ? style.green(e.outcome) : style.red(e.outcome),
    formatDuration(e.durationMs),
    e.phases.map((p) => `${p.name} ${formatDuration(p.durationMs)}${p.ok ? '' : ' ✗'}`).join(', '),
  ]);
  return `${table(['WHEN', 'WHO', 'FROM -> TO', 'OUTCOME', 'DURATION', 'PHASES'], rows, style)}\n`;
}

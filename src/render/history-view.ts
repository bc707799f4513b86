import type { HistoryEntry } from '../core/history.js';
import type { Style } from './style.js';
import { formatDuration, table } from './text.js';

export function renderHistory(entries: HistoryEntry[], style: Style): string {
  if (entries.length === 0) return 'No switches recorded yet.\n';
  const withKafka = entries.some((e) => e.kafka);
  const rows = entries.map((e) => [
    e.finishedAt,
    e.actor,
    `${e.from} -> ${e.to}${e.kind === 'rollback' ? ' (rollback)' : ''}`,
    e.outcome === 'switched' ? style.green(e.outcome) : style.red(e.outcome),
    formatDuration(e.durationMs),
    e.phases.map((p) => `${p.name} ${formatDuration(p.durationMs)}${p.ok ? '' : ' ✗'}`).join(', '),
    ...(withKafka
      ? [
          e.kafka
            ? `hand-off ${e.kafka.handoffWaitMs === undefined ? '?' : formatDuration(e.kafka.handoffWaitMs)}, lag ${e.kafka.lagBefore ?? '?'} -> ${e.kafka.lagAfter ?? '?'}`
            : '-',
        ]
      : []),
  ]);
  return `${table(['WHEN', 'WHO', 'FROM -> TO', 'OUTCOME', 'DURATION', 'PHASES', ...(withKafka ? ['KAFKA'] : [])], rows, style)}\n`;
}

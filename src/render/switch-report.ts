/** The end of `switch` / `rollback`: outcome, pods before and after, phase timings. */
import type { KafkaHandoff } from '../core/history.js';
import type { SwitchReport } from '../core/switch.js';
import type { Style } from './style.js';
import { formatDuration, paintState, table } from './text.js';

export function renderSwitchReport(report: SwitchReport, style: Style): string {
  const lines: string[] = [];
  const verb = report.kind === 'rollback' ? 'rollback' : 'switch';
  switch (report.outcome) {
    case 'noop':
      lines.push(style.green(`${report.to} is already active and consistent; nothing was changed.`));
      break;
    case 'dry-run':
      lines.push(style.bold(`Dry run: ${verb} ${report.from} -> ${report.to} would:`));
      for (const [i, step] of (report.plan ?? []).entries()) lines.push(`  ${i + 1}. ${step}`);
      lines.push('Nothing was written.');
      break;
    case 'switched':
      lines.push(
        style.green.bold(
          `Switched ${report.from} -> ${report.to} in ${formatDuration(report.durationMs)} (generation ${report.generation}).`,
        ),
      );
      break;
    case 'rolled-back':
      lines.push(style.yellow.bold(`Switch ${report.from} -> ${report.to} FAILED and was rolled back: ${report.from} is active again.`));
      break;
    case 'rollback-failed':
      lines.push(style.red.bold(`Switch ${report.from} -> ${report.to} FAILED and the ROLLBACK FAILED too.`));
      break;
    case 'failed':
      lines.push(style.red.bold(`Switch ${report.from} -> ${report.to} FAILED.`));
      break;
  }
  if (report.reason) lines.push(`Reason: ${report.reason}`);
  for (const leftover of report.leftovers ?? []) lines.push(style.red(`  ${leftover}`));

  const before = new Map(report.podsBefore.map((p) => [p.name, p]));
  const names = [...new Set([...report.podsBefore.map((p) => p.name), ...report.podsAfter.map((p) => p.name)])];
  const after = new Map(report.podsAfter.map((p) => [p.name, p]));
  lines.push(
    table(
      ['POD', 'COLOUR', 'BEFORE', 'AFTER', 'DESIRED', 'READY'],
      names.map((name) => {
        const b = before.get(name);
        const a = after.get(name);
        return [
          name,
          (a ?? b)!.color,
          b ? paintState(b.state, style) : '-',
          a ? paintState(a.state, style) : '-',
          a?.desired ?? b?.desired ?? '-',
          a?.ready === undefined ? '-' : a.ready ? 'yes' : style.red('no'),
        ];
      }),
      style,
    ),
  );
  if (report.kafka) lines.push(...describeHandoff(report.kafka));
  if (report.phases.length > 0) {
    lines.push(
      table(
        ['PHASE', 'RESULT', 'DURATION'],
        report.phases.map((p) => [p.name, p.ok ? style.green('ok') : style.red('failed'), formatDuration(p.durationMs)]),
        style,
      ),
    );
  }
  return `${lines.join('\n')}\n`;
}

/** The consumer group's part of a switch: lag before and after, the hand-off wait and offsets. */
export function describeHandoff(kafka: KafkaHandoff): string[] {
  const lag = (value: number | undefined) => (value === undefined ? '?' : String(value));
  const lines = [
    `Kafka group ${kafka.groupId}: lag ${lag(kafka.lagBefore)} before, ${lag(kafka.lagAfter)} after; hand-off wait ${kafka.handoffWaitMs === undefined ? 'not measured' : formatDuration(kafka.handoffWaitMs)} (old colour PAUSED -> every partition on the new colour)`,
  ];
  if (kafka.handoffOffsets && kafka.handoffOffsets.length > 0) {
    const byTopic = new Map<string, string[]>();
    for (const o of kafka.handoffOffsets) byTopic.set(o.topic, [...(byTopic.get(o.topic) ?? []), `${o.partition}:${o.offset}`]);
    lines.push(
      `Hand-off offsets (partition:committed): ${[...byTopic].map(([topic, offsets]) => `${topic} ${offsets.join(' ')}`).join('; ')}`,
    );
  }
  return lines;
}

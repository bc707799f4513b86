import type { FaultReport } from '../core/faults.js';
import { describeFault } from './status-view.js';
import type { Style } from './style.js';
import { table } from './text.js';

export function renderFaultReport(report: FaultReport, style: Style): string {
  const head = report.dryRun
    ? style.bold(`Dry run: would set faults (nothing written):`)
    : style.bold(`Faults written at generation ${report.generation}:`);
  const rows = report.pods.map((p) => [
    p.pod,
    p.color,
    describeFault(p.desired),
    report.dryRun ? '-' : describeFault(p.actual),
    report.dryRun ? '-' : p.confirmed ? style.green('confirmed') : style.red(`NOT confirmed${p.error ? `: ${p.error}` : ''}`),
  ]);
  return `${head}\n${table(['POD', 'COLOUR', 'DESIRED FAULT', 'CONSUMER REPORTS', 'RESULT'], rows, style)}\n`;
}

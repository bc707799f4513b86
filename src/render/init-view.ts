import type { InitReport } from '../core/init.js';
import type { Style } from './style.js';
import { table } from './text.js';

export function renderInitReport(report: InitReport, style: Style): string {
  const rows = report.steps.map((s) => [s.object, s.action === 'unchanged' ? style.dim(s.action) : style.green(s.action), s.detail]);
  const tail = report.dryRun ? 'Dry run: nothing was written.' : 'Next: `bgswitch status`; while no colour is active, `bgswitch switch <blue|green>` starts consumption.';
  return `${table(['OBJECT', 'ACTION', 'DETAIL'], rows, style)}\n${tail}\n`;
}

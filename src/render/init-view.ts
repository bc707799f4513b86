import type { InitReport } from '../core/init.js';
import type { Style } from './style.js';
import { table } from './text.js';

export function renderInitReport(report: InitReport, style: Style): string {
  const rows = report.steps.map((s) => [s.object, s.action === 'unchanged' ? style.dim(s.action) : style.green(s.action), s.detail]);
  const tail = report.dryRun
    ? 'Dry run: nothing was written.'
    : 'Next: `bgswitch status`; while no colour is active, `bgswitch switch <blue|green>` starts consumption.';
  const keyCreated = report.steps.some((s) => s.object.startsWith('Secret/') && s.action === 'created');
  // The kubelet refreshes mounted Secrets on its sync loop (about a minute by default), not at once.
  const keyNote = keyCreated
    ? 'The push key reaches the running sidecars when the kubelet refreshes the mounted Secret, usually within a minute; until then they refuse pushes, the lifecycle calls carry a switch, and `bgswitch status` shows their SIDECAR as "no key".\n'
    : '';
  return `${table(['OBJECT', 'ACTION', 'DETAIL'], rows, style)}\n${keyNote}${tail}\n`;
}

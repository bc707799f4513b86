/** Small text helpers shared by the human renderers. */
import Table from 'cli-table3';
import type { Style } from './style.js';

export function formatDuration(ms: number): string {
  if (ms < 1000) return `${Math.round(ms)}ms`;
  if (ms < 60_000) return `${(ms / 1000).toFixed(1)}s`;
  const minutes = Math.floor(ms / 60_000);
  return `${minutes}m${Math.round((ms % 60_000) / 1000)}s`;
}

/** A cli-table3 table without its own colours (ours come from Style, so NO_COLOR holds). */
export function table(head: string[], rows: string[][], style: Style): string {
  const t = new Table({ head: head.map((h) => style.bold(h)), style: { head: [], border: [] } });
  t.push(...rows);
  return t.toString();
}

export function paintState(state: string, style: Style): string {
  switch (state) {
    case 'ACTIVE':
      return style.green(state);
    case 'PAUSED':
      return style.cyan(state);
    case 'DRAINING':
      return style.yellow(state);
    case 'unreachable':
    case 'malformed':
    case 'missing':
      return style.red(state);
    default:
      return state;
  }
}

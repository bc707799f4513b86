/**
 * `bgswitch rollback`: back to the colour before the last switch (or `--to`), through exactly the
 * same protocol as `switch`. After an interrupted switch that is the colour it was leaving (undo),
 * after an interrupted rollback the colour it was going back to (retry).
 */
import { RefusedError } from '../core/errors.js';
import { HISTORY_KEY, parseHistory, type HistoryEntry } from '../core/history.js';
import { parseOperation, type OperationRecord } from '../core/operation.js';
import { OPERATION_ANNOTATION } from '../shared/desired-state.js';
import type { CliIO } from '../render/io.js';
import { isColor, otherColor, type Color } from '../shared/model.js';
import { parseColor } from './color.js';
import { withRuntime, type Runtime } from './runtime.js';
import { parseSwitchFlags, runSwitchFlow, type SwitchFlags } from './switch.js';

export async function rollbackCommand(flags: SwitchFlags & { to?: string }, io: CliIO): Promise<number> {
  const explicit = flags.to === undefined ? undefined : parseColor(flags.to, '--to colour');
  const parsed = parseSwitchFlags(flags, io);
  return withRuntime(parsed.settings, io, async (runtime) => {
    const target = explicit ?? (await previousColor(runtime));
    return runSwitchFlow(runtime, parsed, target, 'rollback', flags.yes === true, io);
  });
}

async function previousColor(runtime: Runtime): Promise<Color> {
  const [active, state] = await Promise.all([
    runtime.cluster.getConfigMap(runtime.names.activeConfigMap),
    runtime.cluster.getConfigMap(runtime.names.stateConfigMap),
  ]);
  return rollbackTarget(
    active?.data.active,
    parseHistory(active?.data[HISTORY_KEY]),
    parseOperation(state?.annotations[OPERATION_ANNOTATION]),
  );
}

/**
 * The colour `rollback` goes to. An unfinished operation comes first: the history does not know
 * about it, so an interrupted blue -> green would otherwise be "rolled back" to green, finishing
 * what the operator wanted undone. Else the colour before the last completed switch, else the other
 * one than declared.
 */
export function rollbackTarget(declared: string | undefined, history: HistoryEntry[], interrupted: OperationRecord | undefined): Color {
  if (interrupted) return interrupted.kind === 'rollback' ? interrupted.to : interrupted.from;
  const last = history.find((entry) => entry.outcome === 'switched');
  if (last && last.to === declared) return last.from;
  if (isColor(declared)) return otherColor(declared);
  throw new RefusedError('nothing to roll back: no colour is active and no switch is recorded', 'name the colour with --to blue|green');
}

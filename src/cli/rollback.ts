/**
 * `bgswitch rollback`: back to the colour before the last switch (or `--to`), through exactly the
 * same protocol as `switch`.
 */
import { RefusedError } from '../core/errors.js';
import { HISTORY_KEY, parseHistory } from '../core/history.js';
import type { CliIO } from '../render/io.js';
import { isColor, otherColor, type Color } from '../shared/model.js';
import { parseColour } from './colour.js';
import { withRuntime, type Runtime } from './runtime.js';
import { parseSwitchFlags, runSwitchFlow, type SwitchFlags } from './switch.js';

export async function rollbackCommand(flags: SwitchFlags & { to?: string }, io: CliIO): Promise<number> {
  const explicit = flags.to === undefined ? undefined : parseColour(flags.to, '--to colour');
  const parsed = parseSwitchFlags(flags, io);
  return withRuntime(parsed.settings, io, async (runtime) => {
    const target = explicit ?? (await previousColour(runtime));
    return runSwitchFlow(runtime, parsed, target, 'rollback', flags.yes === true, io);
  });
}

/** The colour that was active before the last completed switch; else the other one than declared. */
async function previousColour(runtime: Runtime): Promise<Color> {
  const active = await runtime.cluster.getConfigMap(runtime.names.activeConfigMap);
  const declared = active?.data.active;
  const last = parseHistory(active?.data[HISTORY_KEY]).find((entry) => entry.outcome === 'switched');
  if (last && last.to === declared) return last.from;
  if (isColor(declared)) return otherColor(declared);
  throw new RefusedError('nothing to roll back: no colour is active and no switch is recorded', 'name the colour with --to blue|green');
}

/**
 * Step 9 of the switch (./switch.ts): the outcome written where operators look (the active-version
 * ConfigMap and its history, the operation record, a Kubernetes Event) and the Lease handed back.
 */
import type { Color } from '../shared/model.js';
import { errorMessage, OperationError } from '../shared/errors.js';
import { appendHistory, HISTORY_KEY, type HistoryEntry, type SwitchOutcome } from './history.js';
import type { AuditEvent } from './ports.js';
import { retryOnConflict } from './state-store.js';
import type { SwitchSession } from './switch-session.js';

export async function record(
  session: SwitchSession,
  outcome: SwitchOutcome,
  active: Color | undefined,
  reason: string | undefined,
): Promise<void> {
  await session.phase('record', false, 'Record: active-version, history, Event', async () => {
    const { context, request, from, to } = session;
    const entry: HistoryEntry = {
      id: session.id,
      kind: request.kind,
      from,
      to,
      outcome,
      actor: context.actor,
      startedAt: new Date(session.startedAt).toISOString(),
      finishedAt: new Date(session.now()).toISOString(),
      durationMs: session.now() - session.startedAt,
      generation: session.generation,
      phases: [...session.phases],
      ...(reason ? { reason } : {}),
      ...(session.kafka ? { kafka: session.kafka } : {}),
    };
    const event = () =>
      context.cluster.recordEvent(auditEvent(outcome, context.actor, from, to, entry.durationMs, entry.generation, reason));
    // After losing the lock another switch may own the ConfigMaps: leave them (and our operation
    // record, for `status` and the next run) alone; only the Event is written.
    if (!session.holdsLock()) {
      await event();
      return 'the switch lock was lost: ConfigMaps left as they are';
    }
    await recordActiveVersion(session, active, entry);
    // The Event goes out with the second write: it names the switch's generation, not that write's.
    const [cleared, posted] = await Promise.allSettled([clearOperation(session, outcome), event()]);
    for (const settled of [cleared, posted]) if (settled.status === 'rejected') throw settled.reason;
    return active ? `active: ${active}` : 'active colour unchanged';
  });
}

/**
 * active-version (+ history) in one write, then (clearOperation) the operation record removed (or
 * marked failed): a run killed between the two leaves the operation for `status` and the next run.
 * Both write over what this run last saw (preflight, the last desired-state write) without reading
 * again; a 409 re-reads.
 */
async function recordActiveVersion(session: SwitchSession, active: Color | undefined, entry: HistoryEntry): Promise<void> {
  const { cluster, names } = session.context;
  let unread = session.activeConfigMap;
  await retryOnConflict(names.activeConfigMap, async () => {
    const current = unread ?? (await cluster.getConfigMap(names.activeConfigMap));
    unread = undefined;
    if (!current) throw new OperationError(`ConfigMap ${names.activeConfigMap} disappeared`);
    const data: Record<string, string> = { ...current.data, [HISTORY_KEY]: appendHistory(current.data[HISTORY_KEY], entry) };
    if (active) data.active = active;
    await cluster.writeConfigMap({
      name: names.activeConfigMap,
      data,
      annotations: current.annotations,
      resourceVersion: current.resourceVersion,
    });
  });
}

async function clearOperation(session: SwitchSession, outcome: SwitchOutcome): Promise<void> {
  const operation = outcome === 'rollback-failed' ? session.operationRecord('rollback-failed') : null;
  const written = await session.store.update((current) => {
    session.fenceWrite(current, 0);
    return { operation };
  }, session.state);
  session.state = written;
  session.generation = written.generation;
}

/** At rest the Lease names the active colour; with none known, renewal stops and it expires by itself. */
export async function releaseLock(session: SwitchSession, active: Color | undefined): Promise<void> {
  try {
    if (active) await session.lock.release(active);
    else await session.lock.stopRenewing();
  } catch (error) {
    session.emit({ type: 'warning', message: `could not hand the Lease back (it expires by itself): ${errorMessage(error)}` });
    await session.lock.stopRenewing();
  }
}

function auditEvent(
  outcome: SwitchOutcome,
  actor: string,
  from: Color,
  to: Color,
  durationMs: number,
  generation: number,
  reason: string | undefined,
): AuditEvent {
  const seconds = (durationMs / 1000).toFixed(1);
  switch (outcome) {
    case 'switched':
      return {
        reason: 'SwitchSucceeded',
        type: 'Normal',
        actor,
        message: `${actor} switched consumers ${from} -> ${to} in ${seconds}s (generation ${generation})`,
      };
    case 'rolled-back':
      return {
        reason: 'SwitchRolledBack',
        type: 'Warning',
        actor,
        message: `${actor}'s switch ${from} -> ${to} was rolled back to ${from} after ${seconds}s: ${reason}`,
      };
    case 'rollback-failed':
      return {
        reason: 'SwitchRollbackFailed',
        type: 'Warning',
        actor,
        message: `${actor}'s switch ${from} -> ${to} failed and could not be rolled back: ${reason}`,
      };
    case 'failed':
      return { reason: 'SwitchFailed', type: 'Warning', actor, message: `${actor}'s switch ${from} -> ${to} failed: ${reason}` };
  }
}

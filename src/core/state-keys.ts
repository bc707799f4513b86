/**
 * Which keys of the state ConfigMap carry the desired state: one key per pod (StatefulSets, whose
 * pod names are stable) or one key per colour (Deployments and Argo Rollouts, whose pod names are
 * random, so a pod key would be written for a pod that is gone and never for the pod that replaces it).
 *
 * The mode: `data.stateKeys` of the active-version ConfigMap (`bgswitch init --color-keys` or
 * `--pod-keys`), else detected: colour keys when any pod of the fleet is owned by a ReplicaSet.
 *
 * Rules of colour-key mode (docs/architecture.md, "Colour keys"). The sidecar resolves a pod key
 * over its colour key, so a pod key left behind would override what the switch writes:
 *  C1 every desired-state write of a switch removes every key that is not a colour (pod keys,
 *     malformed keys), in the same update that sets the colour keys: after it, each pod's desired
 *     state is its colour's key, and a pod key set ACTIVE on an old-colour pod (by an earlier
 *     pod-key switch, `inject-fault`, or by hand) is gone before anything is resumed;
 *  C2 the switch never writes a pod key: step 3 writes `blue` and `green` PAUSED, step 6 the new
 *     colour's key ACTIVE;
 *  C3 a pod created at any time (ReplicaSet replacement, scale-up) follows its colour's key at once:
 *     it starts PAUSED and its sidecar resumes it only when the API server says its colour is ACTIVE.
 * S1 then rests on the same argument as with pod keys: every write states every pod's desired state,
 * and the new colour is written ACTIVE only after every old pod was seen PAUSED.
 */
import { COLORS, isColor, type Color, type DesiredEntry, type DesiredLifecycle } from '../shared/model.js';
import { RefusedError } from './errors.js';
import type { ConfigMapSnapshot, PodInfo } from './ports.js';
import type { DesiredState, DesiredStateChange } from './state-store.js';

export type StateKeyMode = 'pod' | 'color';

/** The key of the active-version ConfigMap that stores the mode (`init --color-keys` / `--pod-keys`). */
export const STATE_KEYS_SETTING = 'stateKeys';

export interface ResolvedKeyMode {
  mode: StateKeyMode;
  /** `stored`: set by init; `detected`: from the pods' owners; `default`: neither. */
  origin: 'stored' | 'detected' | 'default';
}

/** The mode set by init, if any; a value that is neither is refused rather than guessed. */
export function storedKeyMode(activeConfigMap: ConfigMapSnapshot | undefined): StateKeyMode | undefined {
  const raw = activeConfigMap?.data[STATE_KEYS_SETTING];
  if (raw === undefined) return undefined;
  if (raw === 'pod' || raw === 'color') return raw;
  throw new RefusedError(
    `ConfigMap ${activeConfigMap!.name} says ${STATE_KEYS_SETTING}: ${JSON.stringify(raw)}, which is neither "pod" nor "color"`,
    'run `bgswitch init --color-keys` (Deployments, Argo Rollouts) or `bgswitch init --pod-keys` (StatefulSets)',
  );
}

/** Stored mode first; else colour keys when any pod is owned by a ReplicaSet (a Deployment or a Rollout). */
export function resolveKeyMode(stored: StateKeyMode | undefined, pods: readonly PodInfo[]): ResolvedKeyMode {
  if (stored) return { mode: stored, origin: 'stored' };
  if (pods.some((pod) => pod.controllerKind === 'ReplicaSet')) return { mode: 'color', origin: 'detected' };
  return { mode: 'pod', origin: 'default' };
}

type EntryChanges = Map<string, Omit<DesiredEntry, 'generation'>>;

/**
 * Step 3: every colour key and every pod PAUSED, faults kept. With pod keys, the key of a pod that no
 * longer exists (scaled down) is removed: if the pod comes back it follows its colour's key, which a
 * later switch makes ACTIVE, instead of an old entry of its own that no switch writes any more. In
 * colour mode every pod key goes (C1).
 */
export function pausedEverywhere(current: DesiredState, pods: readonly PodInfo[], mode: StateKeyMode): DesiredStateChange {
  const entries: EntryChanges = new Map();
  if (mode === 'color') {
    for (const color of COLORS) entries.set(color, withLifecycle(current.entries.get(color), 'PAUSED'));
    return { entries, removed: podKeys(current) };
  }
  const existing = new Set(pods.map((p) => p.name));
  const known = [...current.entries.keys(), ...current.malformed.keys()];
  for (const key of new Set([...known.filter((key) => isColor(key) || existing.has(key)), ...existing]))
    entries.set(key, withLifecycle(current.entries.get(key), 'PAUSED'));
  return { entries, removed: known.filter((key) => !isColor(key) && !existing.has(key)) };
}

/** Step 6: the new colour ACTIVE, faults kept: its pods' keys (and its colour key, if present), or in colour mode its colour key alone (C1, C2). */
export function activeColor(current: DesiredState, pods: readonly PodInfo[], color: Color, mode: StateKeyMode): DesiredStateChange {
  const entries: EntryChanges = new Map();
  if (mode === 'color' || current.entries.has(color)) entries.set(color, withLifecycle(current.entries.get(color), 'ACTIVE'));
  if (mode === 'color') return { entries, removed: podKeys(current) };
  for (const pod of pods) entries.set(pod.name, withLifecycle(current.entries.get(pod.name), 'ACTIVE'));
  return { entries };
}

/** Every stored key that is not a colour: a pod key, or a malformed one. */
function podKeys(current: DesiredState): string[] {
  return [...current.entries.keys(), ...current.malformed.keys()].filter((key) => !isColor(key));
}

function withLifecycle(existing: DesiredEntry | undefined, lifecycle: DesiredLifecycle): Omit<DesiredEntry, 'generation'> {
  return existing?.fault ? { lifecycle, fault: existing.fault } : { lifecycle };
}

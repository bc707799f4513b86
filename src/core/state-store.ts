/**
 * Read-modify-write of the state ConfigMap with optimistic concurrency.
 *
 * Guarantees: every successful update carries a generation strictly greater than any generation
 * written before (the `bgswitch.io/generation` annotation and the generation of every entry it
 * touches); a lost race (409) is retried by re-reading, so a concurrent `inject-fault` is never
 * overwritten; entries the mutation does not touch are kept byte for byte.
 * Does not guarantee: that sidecars have seen the update (pushes and the kubelet's file refresh do that).
 */
import { GENERATION_ANNOTATION, OPERATION_ANNOTATION, encodeEntry, parseEntry, parseGeneration } from '../shared/desired-state.js';
import type { DesiredEntry } from '../shared/model.js';
import { ConflictError, RefusedError } from './errors.js';
import { OperationError } from '../shared/errors.js';
import { encodeOperation, parseOperation, type OperationRecord } from './operation.js';
import type { Cluster, ConfigMapSnapshot } from './ports.js';

const MAX_CONFLICT_RETRIES = 8;

export interface DesiredState {
  snapshot: ConfigMapSnapshot;
  generation: number;
  operation: OperationRecord | undefined;
  /** Valid entries by key (pod names and colour names). */
  entries: Map<string, DesiredEntry>;
  /** Keys whose value is malformed, with the reason. */
  malformed: Map<string, string>;
}

/** What an update may change. Entries it returns replace or add keys; all others are kept. */
export interface DesiredStateChange {
  entries?: Map<string, Omit<DesiredEntry, 'generation'>>;
  /** Keys to delete (pods that no longer exist; in colour-key mode every pod key: ./state-keys.ts). */
  removed?: string[];
  /** `null` removes the operation record; undefined keeps it. */
  operation?: OperationRecord | null;
}

export function decodeDesiredState(snapshot: ConfigMapSnapshot): DesiredState {
  const entries = new Map<string, DesiredEntry>();
  const malformed = new Map<string, string>();
  for (const [key, raw] of Object.entries(snapshot.data)) {
    const parsed = parseEntry(raw);
    if (parsed.ok) entries.set(key, parsed.value);
    else malformed.set(key, parsed.error);
  }
  return {
    snapshot,
    generation: parseGeneration(snapshot.annotations[GENERATION_ANNOTATION]),
    operation: parseOperation(snapshot.annotations[OPERATION_ANNOTATION]),
    entries,
    malformed,
  };
}

export class DesiredStateStore {
  constructor(
    private readonly cluster: Cluster,
    private readonly name: string,
  ) {}

  async read(): Promise<DesiredState> {
    const snapshot = await this.cluster.getConfigMap(this.name);
    if (!snapshot) {
      throw new RefusedError(
        `ConfigMap ${this.name} does not exist`,
        'apply the manifests (kubectl apply -k k8s/overlays/production) and run `bgswitch init`',
      );
    }
    return decodeDesiredState(snapshot);
  }

  /**
   * Applies `change(current)` under a new generation. Returns the state as written. `known` (the
   * state this caller last read or wrote) saves the read on the first attempt: the write carries its
   * resourceVersion, so if anyone wrote since, the API server refuses it (409) and the update
   * re-reads as usual.
   */
  async update(change: (current: DesiredState) => DesiredStateChange, known?: DesiredState): Promise<DesiredState> {
    let unread = known;
    return retryOnConflict(this.name, async () => {
      const current = unread ?? (await this.read());
      unread = undefined;
      const generation = Math.max(current.generation, ...[...current.entries.values()].map((entry) => entry.generation)) + 1;
      const { entries = new Map(), removed = [], operation } = change(current);
      const data = { ...current.snapshot.data };
      for (const key of removed) delete data[key];
      for (const [key, entry] of entries) data[key] = encodeEntry({ ...entry, generation });
      const annotations: Record<string, string> = { ...current.snapshot.annotations, [GENERATION_ANNOTATION]: String(generation) };
      if (operation === null) delete annotations[OPERATION_ANNOTATION];
      else if (operation) annotations[OPERATION_ANNOTATION] = encodeOperation(operation);
      const written = await this.cluster.writeConfigMap({
        name: this.name,
        data,
        annotations,
        resourceVersion: current.snapshot.resourceVersion,
      });
      return decodeDesiredState(written);
    });
  }
}

/**
 * Runs one read-modify-write of ConfigMap `name` until it does not lose the race (409), re-reading
 * each time; gives up after MAX_CONFLICT_RETRIES attempts. Any other error is thrown at once.
 */
export async function retryOnConflict<T>(name: string, readModifyWrite: () => Promise<T>): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await readModifyWrite();
    } catch (error) {
      if (!(error instanceof ConflictError)) throw error;
      if (attempt >= MAX_CONFLICT_RETRIES) {
        throw new OperationError(
          `ConfigMap ${name} kept changing under us (${attempt} conflicting writes)`,
          'retry; if it persists, look for another writer',
          { cause: error },
        );
      }
    }
  }
}

/**
 * An in-memory `Cluster` (src/core/ports.ts) with the API server's optimistic concurrency, for unit
 * tests and the model explorer.
 *
 * Guarantees:
 *  - Every stored object carries a resourceVersion from one global counter. A write without
 *    resourceVersion creates (an existing object -> ConflictError, like AlreadyExists); a write with
 *    one replaces only that exact version (a stale one -> ConflictError, like 409; a missing object
 *    -> OperationError, like 404).
 *  - Reads and writes return deep copies: nobody can change a stored object behind its back.
 *  - Values are validated as the API server would (strings in ConfigMaps, integer lease durations).
 *  - Every call yields once before it is served, so concurrent callers interleave as over a network.
 *  - Every call is journalled (source 'cluster'), failed ones too.
 * Fault injection: `unreachable` (every call throws ClusterUnreachableError), failNextWrites(name, n,
 * 'conflict' | 'error'), beforeNextWrite(name, action) (another writer acts just before a write).
 * The seed*() / drop*() methods set the scene without journalling, like a manifest applied beforehand.
 */
import { ClusterUnreachableError, ConflictError } from '../../src/core/errors.js';
import { OperationError } from '../../src/shared/errors.js';
import type { AuditEvent, Cluster, ConfigMapSnapshot, ConfigMapWrite, LeaseSnapshot, LeaseWrite, PodInfo } from '../../src/core/ports.js';
import type { Clock } from '../../src/shared/clock.js';
import type { Color } from '../../src/shared/model.js';
import type { Journal } from './journal.js';

export type WriteFault = 'conflict' | 'error';

export interface RecordedEvent extends AuditEvent {
  at: number;
}

export class MemoryCluster implements Cluster {
  /** While true, every call throws ClusterUnreachableError (the API server is down). */
  unreachable = false;
  readonly events: RecordedEvent[] = [];
  private revision = 0;
  private readonly configMaps = new Map<string, ConfigMapSnapshot>();
  private readonly leases = new Map<string, LeaseSnapshot>();
  private readonly pods = new Map<string, PodInfo>();
  private readonly writeFaults = new Map<string, WriteFault[]>();
  private readonly writeHooks = new Map<string, (() => Promise<void>)[]>();

  constructor(
    private readonly clock: Clock,
    readonly journal: Journal,
  ) {}

  // The Cluster port ---------------------------------------------------------------------------
  getConfigMap(name: string): Promise<ConfigMapSnapshot | undefined> {
    return this.serve('get-configmap', name, () => structuredClone(this.configMaps.get(name)));
  }

  async writeConfigMap(write: ConfigMapWrite): Promise<ConfigMapSnapshot> {
    await this.runWriteHook(write.name);
    return this.serve(
      'write-configmap',
      write.name,
      () => {
        this.injectWriteFault(write.name);
        for (const [field, map] of [
          ['data', write.data],
          ['annotations', write.annotations],
        ] as const) {
          for (const [key, value] of Object.entries(map)) {
            if (typeof value !== 'string') throw new OperationError(`ConfigMap ${write.name} is invalid: ${field}.${key} must be a string`);
          }
        }
        checkVersion('ConfigMap', write.name, this.configMaps.get(write.name), write.resourceVersion);
        const stored: ConfigMapSnapshot = {
          name: write.name,
          data: { ...write.data },
          annotations: { ...write.annotations },
          resourceVersion: this.nextRevision(),
        };
        this.configMaps.set(write.name, stored);
        return structuredClone(stored);
      },
      structuredClone(write),
    );
  }

  getLease(name: string): Promise<LeaseSnapshot | undefined> {
    return this.serve('get-lease', name, () => structuredClone(this.leases.get(name)));
  }

  async writeLease(write: LeaseWrite): Promise<LeaseSnapshot> {
    await this.runWriteHook(write.name);
    return this.serve(
      'write-lease',
      write.name,
      () => {
        this.injectWriteFault(write.name);
        if (!write.holderIdentity) throw new OperationError(`Lease ${write.name} is invalid: holderIdentity is empty`);
        if (!Number.isInteger(write.leaseDurationSeconds) || write.leaseDurationSeconds <= 0) {
          throw new OperationError(`Lease ${write.name} is invalid: leaseDurationSeconds must be a positive integer`);
        }
        if (Number.isNaN(write.acquireTime.getTime()) || Number.isNaN(write.renewTime.getTime())) {
          throw new OperationError(`Lease ${write.name} is invalid: acquireTime and renewTime must be valid times`);
        }
        checkVersion('Lease', write.name, this.leases.get(write.name), write.resourceVersion);
        const { resourceVersion: _ignored, ...fields } = write;
        const stored: LeaseSnapshot = { ...structuredClone(fields), resourceVersion: this.nextRevision() };
        this.leases.set(write.name, stored);
        return structuredClone(stored);
      },
      structuredClone(write),
    );
  }

  listPods(color: Color): Promise<PodInfo[]> {
    return this.serve('list-pods', color, () =>
      [...this.pods.values()].filter((pod) => pod.color === color).map((pod) => structuredClone(pod)),
    );
  }

  recordEvent(event: AuditEvent): Promise<void> {
    return this.serve('event', event.reason, () => void this.events.push({ ...event, at: this.clock.now() }), structuredClone(event));
  }

  // Fault injection ----------------------------------------------------------------------------
  /** The next `count` writes of object `name` fail with ConflictError or a plain OperationError. */
  failNextWrites(name: string, count: number, fault: WriteFault): void {
    this.writeFaults.set(name, [...(this.writeFaults.get(name) ?? []), ...Array<WriteFault>(count).fill(fault)]);
  }

  /** Forgets every write fault not yet used (the infrastructure healed). */
  clearWriteFaults(): void {
    this.writeFaults.clear();
  }

  /** `action` runs once, just before the next write of `name` is served (e.g. another writer's update). */
  beforeNextWrite(name: string, action: () => Promise<void>): void {
    this.writeHooks.set(name, [...(this.writeHooks.get(name) ?? []), action]);
  }

  // Setting the scene and looking at it (not journalled) ---------------------------------------
  seedConfigMap(name: string, data: Record<string, string>, annotations: Record<string, string> = {}): void {
    this.configMaps.set(name, { name, data: { ...data }, annotations: { ...annotations }, resourceVersion: this.nextRevision() });
  }

  dropConfigMap(name: string): void {
    this.configMaps.delete(name);
  }

  seedLease(lease: Omit<LeaseSnapshot, 'resourceVersion'>): void {
    this.leases.set(lease.name, { ...structuredClone(lease), resourceVersion: this.nextRevision() });
  }

  seedPod(pod: PodInfo): void {
    this.pods.set(pod.name, structuredClone(pod));
  }

  /** The pod is gone (deleted, or replaced by its ReplicaSet). */
  dropPod(name: string): void {
    this.pods.delete(name);
  }

  peekConfigMap(name: string): ConfigMapSnapshot | undefined {
    return structuredClone(this.configMaps.get(name));
  }

  peekLease(name: string): LeaseSnapshot | undefined {
    return structuredClone(this.leases.get(name));
  }

  // Internals ----------------------------------------------------------------------------------
  private async serve<T>(op: string, name: string, work: () => T, detail?: unknown): Promise<T> {
    await Promise.resolve();
    try {
      if (this.unreachable) throw new ClusterUnreachableError('connect ECONNREFUSED: the API server is down (simulated)');
      const value = work();
      this.journal.add({ source: 'cluster', op, name, ok: true, ...(detail === undefined ? {} : { detail }) });
      return value;
    } catch (error) {
      const message = error instanceof Error ? error.message : String(error);
      this.journal.add({ source: 'cluster', op, name, ok: false, error: message, ...(detail === undefined ? {} : { detail }) });
      throw error;
    }
  }

  private async runWriteHook(name: string): Promise<void> {
    const action = this.writeHooks.get(name)?.shift();
    if (action) await action();
  }

  private injectWriteFault(name: string): void {
    const fault = this.writeFaults.get(name)?.shift();
    if (fault === 'conflict') throw new ConflictError(`${name}: the object has been modified (simulated conflict)`);
    if (fault === 'error') throw new OperationError(`${name}: internal error (simulated)`);
  }

  private nextRevision(): string {
    this.revision += 1;
    return String(this.revision);
  }
}

function checkVersion(
  kind: string,
  name: string,
  existing: { resourceVersion: string } | undefined,
  resourceVersion: string | undefined,
): void {
  if (resourceVersion === undefined) {
    if (existing) throw new ConflictError(`${kind} ${name} already exists`);
    return;
  }
  if (!existing) throw new OperationError(`${kind} ${name} not found`);
  if (existing.resourceVersion !== resourceVersion) {
    throw new ConflictError(
      `${kind} ${name} has been modified (resourceVersion ${resourceVersion} is stale, current ${existing.resourceVersion})`,
    );
  }
}

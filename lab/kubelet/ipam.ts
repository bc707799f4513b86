/**
 * Pod IP allocation on the lab subnet: 10.77.0.10 - 10.77.0.250, one address per pod uid, persisted
 * in a JSON file (written atomically) so a restarted kubelet hands a still-existing pod its old IP.
 *
 * Guarantees: no address is given to two uids; the same uid always gets its current address back.
 * Not guaranteed: safety against two kubelets sharing one file (the lab runs one).
 */
import { mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { OperationError } from '../../src/shared/errors.js';

const SUBNET_BASE = '10.77.0.';
export const FIRST_POD_HOST = 10;
export const LAST_POD_HOST = 250;

interface IpamFile {
  allocations: Record<string, string>;
}

export class PodIpAllocator {
  private readonly allocations: Map<string, string>;

  constructor(private readonly file: string) {
    this.allocations = new Map(Object.entries(readAllocations(file)));
  }

  /**
   * The uid's address; if it has none, `preferred` when that is a free pod address (the IP the pod
   * object already shows), else the lowest free one.
   */
  allocate(podUid: string, preferred?: string): string {
    const existing = this.allocations.get(podUid);
    if (existing !== undefined) return existing;
    const used = new Set(this.allocations.values());
    if (preferred !== undefined && isPodAddress(preferred) && !used.has(preferred)) {
      this.allocations.set(podUid, preferred);
      this.persist();
      return preferred;
    }
    for (let host = FIRST_POD_HOST; host <= LAST_POD_HOST; host++) {
      const candidate = `${SUBNET_BASE}${host}`;
      if (!used.has(candidate)) {
        this.allocations.set(podUid, candidate);
        this.persist();
        return candidate;
      }
    }
    throw new OperationError(`no free pod IP left in ${SUBNET_BASE}${FIRST_POD_HOST}-${LAST_POD_HOST}`, 'delete pods or restart the lab');
  }

  release(podUid: string): void {
    if (this.allocations.delete(podUid)) this.persist();
  }

  /** Drops every allocation whose uid is not in `liveUids` (pods deleted while no kubelet ran). */
  retainOnly(liveUids: ReadonlySet<string>): void {
    let changed = false;
    for (const uid of [...this.allocations.keys()]) {
      if (!liveUids.has(uid)) {
        this.allocations.delete(uid);
        changed = true;
      }
    }
    if (changed) this.persist();
  }

  private persist(): void {
    const content: IpamFile = { allocations: Object.fromEntries(this.allocations) };
    mkdirSync(dirname(this.file), { recursive: true });
    const temp = `${this.file}.tmp`;
    writeFileSync(temp, `${JSON.stringify(content, null, 2)}\n`);
    renameSync(temp, this.file);
  }
}

function isPodAddress(address: string): boolean {
  if (!address.startsWith(SUBNET_BASE)) return false;
  const host = Number(address.slice(SUBNET_BASE.length));
  return Number.isInteger(host) && host >= FIRST_POD_HOST && host <= LAST_POD_HOST;
}

function readAllocations(file: string): Record<string, string> {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return {};
    throw error;
  }
  const parsed = JSON.parse(text) as Partial<IpamFile>;
  return parsed.allocations ?? {};
}

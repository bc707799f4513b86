/**
 * L4: the state ConfigMap as the kubelet mounts it. `<dir>/..data` is a symlink to a timestamped
 * directory that the kubelet swaps atomically; every key is a file. Both keys this pod needs are
 * read from the same `..data` target, and the read is retried if the kubelet swapped it meanwhile,
 * so the result is always one consistent projection. A missing directory or key reads as absent.
 * Parsing is not done here (the reconciler resolves and validates the entries).
 */
import { readFile, readlink } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { OperationError } from '../src/shared/errors.js';
import type { StateDataSource } from './reconciler.js';

const DATA_LINK = '..data';
const MAX_ATTEMPTS = 3;

function errorCode(error: unknown): string | undefined {
  return (error as NodeJS.ErrnoException | undefined)?.code;
}

async function dataTarget(dir: string): Promise<string | undefined> {
  try {
    return await readlink(join(dir, DATA_LINK));
  } catch (error) {
    // ENOENT: no projection (yet); EINVAL: a plain directory, read the keys directly.
    if (errorCode(error) === 'ENOENT' || errorCode(error) === 'EINVAL') return undefined;
    throw error;
  }
}

export class MountedStateFiles implements StateDataSource {
  constructor(
    private readonly dir: string,
    /** The keys to read, e.g. the pod name and the colour. */
    private readonly keys: readonly string[],
  ) {}

  async read(): Promise<Record<string, string>> {
    for (let attempt = 0; attempt < MAX_ATTEMPTS; attempt++) {
      const before = await dataTarget(this.dir);
      const base = before === undefined ? this.dir : resolve(this.dir, before);
      const data: Record<string, string> = {};
      for (const key of this.keys) {
        try {
          data[key] = await readFile(join(base, key), 'utf8');
        } catch (error) {
          if (errorCode(error) !== 'ENOENT') throw error;
        }
      }
      if ((await dataTarget(this.dir)) === before) return data;
    }
    throw new OperationError(`the mounted state directory ${this.dir} kept changing while it was read`);
  }
}

/**
 * Persists the highest generation seen, so a restarted sidecar container still ignores anything
 * older (the file lives on an emptyDir, which survives container restarts, not pod deletion).
 * Writes are atomic (temp file + rename): a crash leaves the old or the new value, never half.
 */
import { randomUUID } from 'node:crypto';
import { mkdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { dirname } from 'node:path';
import { OperationError } from '../src/shared/errors.js';
import type { GenerationStore } from './reconciler.js';

export class FileGenerationStore implements GenerationStore {
  constructor(private readonly path: string) {}

  async load(): Promise<number> {
    let text: string;
    try {
      text = await readFile(this.path, 'utf8');
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return 0;
      throw error;
    }
    const value = Number(text.trim());
    if (!/^\d+$/.test(text.trim()) || !Number.isSafeInteger(value)) {
      throw new OperationError(`generation file ${this.path} does not hold a generation: ${JSON.stringify(text.slice(0, 40))}`);
    }
    return value;
  }

  async save(generation: number): Promise<void> {
    await mkdir(dirname(this.path), { recursive: true });
    const temp = `${this.path}.${randomUUID()}.tmp`;
    try {
      await writeFile(temp, `${generation}\n`);
      await rename(temp, this.path);
    } catch (error) {
      await rm(temp, { force: true });
      throw error;
    }
  }
}

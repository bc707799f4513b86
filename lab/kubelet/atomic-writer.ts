/**
 * The kubelet's AtomicWriter layout for ConfigMap, Secret, downwardAPI and projected volumes:
 *
 *   <dir>/..2024_05_01_10_00_00.123456789/<path>   the current payload (one timestamped directory)
 *   <dir>/..data -> ..2024_05_01_10_00_00.123456789
 *   <dir>/<top-level name> -> ..data/<top-level name>
 *
 * A new payload is written into a fresh timestamped directory, then `..data` is swapped to it with
 * one rename of a temporary symlink, so a reader that resolves `..data` sees the old or the new
 * payload, never a mix. The old directory is removed afterwards.
 *
 * Guarantees: an unchanged payload changes nothing on disk; paths escaping the directory are
 * rejected. Not guaranteed: readers that opened files before the swap see the new content.
 */
import { chmod, mkdtemp, mkdir, readdir, readFile, readlink, rename, rm, symlink, unlink, writeFile, lstat } from 'node:fs/promises';
import { dirname, join, posix } from 'node:path';
import { ContainerConfigError } from './field-ref.js';

export interface PayloadFile {
  data: Buffer;
  /** File permission bits, e.g. 0o644. */
  mode: number;
}

/** Relative path -> content. */
export type Payload = Map<string, PayloadFile>;

const DATA_DIR_LINK = '..data';
const DATA_DIR_TEMP_LINK = '..data_tmp';

/** Writes `payload` into `dir` with the AtomicWriter layout; returns whether anything changed. */
export async function writeAtomically(dir: string, payload: Payload): Promise<boolean> {
  for (const path of payload.keys()) validatePayloadPath(path);
  await mkdir(dir, { recursive: true });
  const oldTimestampDir = await readlinkIfPresent(join(dir, DATA_DIR_LINK));
  if (oldTimestampDir !== undefined && (await directoryHolds(join(dir, oldTimestampDir), payload))) {
    return false;
  }

  const newTimestampDir = await mkdtemp(join(dir, timestampPrefix(new Date())));
  await chmod(newTimestampDir, 0o755);
  for (const [path, file] of payload) {
    const target = join(newTimestampDir, path);
    await mkdir(dirname(target), { recursive: true });
    await writeFile(target, file.data);
    await chmod(target, file.mode); // explicit: the umask must not change the requested mode
  }
  const tempLink = join(dir, DATA_DIR_TEMP_LINK);
  await rm(tempLink, { force: true });
  await symlink(posix.basename(newTimestampDir), tempLink);
  await rename(tempLink, join(dir, DATA_DIR_LINK));

  const visible = new Set([...payload.keys()].map(topLevelName));
  for (const name of visible) {
    if ((await readlinkIfPresent(join(dir, name))) === undefined) {
      await symlink(posix.join(DATA_DIR_LINK, name), join(dir, name));
    }
  }
  for (const entry of await readdir(dir)) {
    if (!entry.startsWith('..') && !visible.has(entry)) await unlink(join(dir, entry));
  }
  if (oldTimestampDir !== undefined) await rm(join(dir, oldTimestampDir), { recursive: true, force: true });
  return true;
}

/** The kubelet's timestamped directory prefix: `..2006_01_02_15_04_05.` in UTC (mkdtemp adds the rest). */
function timestampPrefix(now: Date): string {
  const pad = (value: number) => String(value).padStart(2, '0');
  return (
    `..${now.getUTCFullYear()}_${pad(now.getUTCMonth() + 1)}_${pad(now.getUTCDate())}_` +
    `${pad(now.getUTCHours())}_${pad(now.getUTCMinutes())}_${pad(now.getUTCSeconds())}.`
  );
}

function topLevelName(path: string): string {
  return path.split('/')[0] ?? path;
}

function validatePayloadPath(path: string): void {
  const parts = path.split('/');
  if (path === '' || path.startsWith('/') || parts.includes('..') || path.startsWith('..')) {
    throw new ContainerConfigError(`invalid volume item path '${path}': must be relative and must not contain '..'`);
  }
}

async function readlinkIfPresent(path: string): Promise<string | undefined> {
  try {
    return await readlink(path);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw error;
  }
}

/** Whether `dir` holds exactly the payload's files with the same bytes and modes. */
async function directoryHolds(dir: string, payload: Payload): Promise<boolean> {
  const present = await listFiles(dir);
  if (present.length !== payload.size) return false;
  for (const path of present) {
    const expected = payload.get(path);
    if (expected === undefined) return false;
    const full = join(dir, path);
    const [bytes, stats] = await Promise.all([readFile(full), lstat(full)]);
    if (!bytes.equals(expected.data) || (stats.mode & 0o777) !== expected.mode) return false;
  }
  return true;
}

async function listFiles(dir: string, prefix = ''): Promise<string[]> {
  const files: string[] = [];
  for (const entry of await readdir(dir, { withFileTypes: true })) {
    const relative = prefix === '' ? entry.name : `${prefix}/${entry.name}`;
    if (entry.isDirectory()) files.push(...(await listFiles(join(dir, entry.name), relative)));
    else files.push(relative);
  }
  return files;
}

/**
 * Requires a CommonJS file with the code V8 compiled for it kept between runs, for Node versions
 * without `module.enableCompileCache` (Node 20; the CLI's launcher, ./bgswitch.js). The cache is
 * written after a run, so it holds every function that run compiled (a command runs most of what
 * it loads lazily), one per `variant` (the command): measured, `status` starts ~35 ms sooner
 * (docs/performance.md). v8-compile-cache keeps only what V8 compiles up front: 6 ms.
 *
 * Guarantees: a cache is only given to V8 for the exact file and content it was made from (the cache's
 * name is their hash: V8 itself checks little more than the length), and only from a directory that
 * is this user's alone (a cache is code this process would run). Whatever goes wrong with a cache
 * (unreadable, refused by V8, not writable) costs only the time it would have saved. Caches of other
 * builds are removed once they are STALE_AFTER_MS old, so upgrades do not pile them up (and two
 * installed versions do not keep evicting each other's).
 */
import { hash } from 'node:crypto';
import { lstatSync, mkdirSync, readdirSync, readFileSync, renameSync, statSync, unlinkSync, writeFileSync } from 'node:fs';
import Module, { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { basename, dirname, join } from 'node:path';
import { Script } from 'node:vm';

const STALE_AFTER_MS = 30 * 24 * 3600 * 1000;
/** A cache's file name starts with this many hex digits of the content's hash. */
const HASH_CHARS = 32;

/** Returns the file's exports, and `save()` to call once the run is done (writes the cache if it had none that fitted). */
export function requireWithCodeCache(file, variant) {
  const source = readFileSync(file, 'utf8');
  const cacheFile = cachePath(file, source, variant);
  const cached = cacheFile === undefined ? undefined : readOrNothing(cacheFile);
  const script = new Script(Module.wrap(source), { filename: file, ...(cached ? { cachedData: cached } : {}) });
  const module = { exports: {} };
  script.runInThisContext()(module.exports, createRequire(file), module, file, dirname(file));
  const fromCache = cached !== undefined && !script.cachedDataRejected;
  return {
    exports: module.exports,
    /** True when V8 took the cache. */
    fromCache,
    save() {
      if (cacheFile === undefined || fromCache) return;
      try {
        const partial = `${cacheFile}.${process.pid}`;
        writeFileSync(partial, script.createCachedData(), { mode: 0o600 });
        renameSync(partial, cacheFile);
        removeStale(dirname(cacheFile), basename(cacheFile).slice(0, HASH_CHARS));
      } catch {
        // A read-only or full temp directory: the next run compiles again.
      }
    },
  };
}

/**
 * Keyed by the file's path as well as its content: a script compiled from a cache keeps the name it
 * was compiled under, so a copy of the same build elsewhere would name the other file in its stack
 * traces.
 */
function cachePath(file, source, variant) {
  if (typeof process.getuid !== 'function') return undefined;
  const dir = join(tmpdir(), `bgswitch-code-cache-${process.getuid()}`);
  try {
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    const stat = lstatSync(dir);
    if (!stat.isDirectory() || stat.uid !== process.getuid() || (stat.mode & 0o077) !== 0) return undefined;
  } catch {
    return undefined;
  }
  const name = /^[a-z-]{1,32}$/.test(variant) ? variant : 'other';
  return join(dir, `${hash('sha256', `${file}\0${source}`).slice(0, HASH_CHARS)}-${process.versions.v8}-${process.arch}-${name}.v8`);
}

/** Removes the caches of other builds that are older than STALE_AFTER_MS. */
function removeStale(dir, current) {
  const now = Date.now();
  for (const name of readdirSync(dir)) {
    if (name.startsWith(current)) continue;
    const file = join(dir, name);
    if (now - statSync(file).mtimeMs > STALE_AFTER_MS) unlinkSync(file);
  }
}

function readOrNothing(file) {
  try {
    return readFileSync(file);
  } catch {
    return undefined;
  }
}

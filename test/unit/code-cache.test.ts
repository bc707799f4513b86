/**
 * The launcher's code cache on Node 20 (bin/code-cache.js): a cache is written after the first run
 * and taken by the next; it is never given to V8 for other content, even of the same length (V8
 * checks little more than the length); a corrupted cache costs only a compile; a temp directory
 * that others can write is not used (a cache is code the CLI would run). Each run is its own
 * process, as each CLI run is (within one process V8 would reuse what it compiled before).
 */
import assert from 'node:assert/strict';
import { chmodSync, copyFileSync, mkdirSync, mkdtempSync, readdirSync, rmSync, statSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, dirname, join } from 'node:path';
import { after, beforeEach, describe, it } from 'node:test';
import { execFileSync } from 'node:child_process';
import { pathToFileURL } from 'node:url';

const codeCache = pathToFileURL(join(import.meta.dirname, '..', '..', 'bin', 'code-cache.js')).href;

const work = mkdtempSync(join(tmpdir(), 'bgswitch-code-cache-test-'));
let temp = '';
let cacheDir = '';
let moduleFile = '';
let sequence = 0;

beforeEach(() => {
  temp = join(work, `tmp-${++sequence}`);
  cacheDir = join(temp, `bgswitch-code-cache-${process.getuid!()}`);
  moduleFile = join(work, `module-${sequence}.cjs`);
  writeModule(2);
});
after(() => rmSync(work, { recursive: true, force: true }));

/** A module whose source has the same length whatever `factor` (one digit). */
function writeModule(factor: number): void {
  writeFileSync(
    moduleFile,
    `'use strict';\nmodule.exports = { scale: (x) => x * ${factor}, file: __filename, where: () => new Error().stack.split('\\n')[1] };\n`,
  );
}

/** One run: loads `file` through the cache, calls it, saves the cache; `where` is the first frame of a stack trace it makes. */
function execute(variant: string, file: string): { fromCache: boolean; scaled: number; file: string; where: string } {
  const script = `const { requireWithCodeCache } = await import(${JSON.stringify(codeCache)});
const loaded = requireWithCodeCache(${JSON.stringify(file)}, ${JSON.stringify(variant)});
loaded.save();
const { scale, file, where } = loaded.exports;
console.log(JSON.stringify({ fromCache: loaded.fromCache, scaled: scale(21), file, where: where() }));`;
  const output = execFileSync(process.execPath, ['--input-type=module', '-e', script], {
    env: { PATH: process.env.PATH ?? '', TMPDIR: temp },
    encoding: 'utf8',
  });
  return JSON.parse(output) as { fromCache: boolean; scaled: number; file: string; where: string };
}

function run(variant = 'status'): { fromCache: boolean; scaled: number; file: string } {
  const { fromCache, scaled, file } = execute(variant, moduleFile);
  return { fromCache, scaled, file };
}

/** A stack frame's "(file:" part, as a pattern. */
function framePattern(file: string): RegExp {
  return new RegExp(`\\(${file.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}:`);
}

describe('the launcher code cache (Node 20)', () => {
  it('is written after the first run, in a directory of this user alone, and taken by the next', () => {
    const first = run();
    assert.deepEqual(first, { fromCache: false, scaled: 42, file: moduleFile }, 'a CommonJS module: __filename is its file');
    assert.equal(statSync(cacheDir).mode & 0o777, 0o700);
    const [cache, ...others] = readdirSync(cacheDir);
    assert.deepEqual(others, []);
    assert.equal(statSync(join(cacheDir, cache!)).mode & 0o777, 0o600);

    assert.deepEqual(run(), { fromCache: true, scaled: 42, file: moduleFile });
    assert.equal(run('switch').fromCache, false, 'one cache per command');
  });

  it('is not shared with a copy of the same build elsewhere, whose stack traces name its own file', () => {
    run();
    assert.equal(run().fromCache, true);
    const copy = join(work, `copy-${sequence}`, 'module.cjs');
    mkdirSync(dirname(copy));
    copyFileSync(moduleFile, copy);
    const fromCopy = execute('status', copy);
    assert.equal(fromCopy.fromCache, false);
    assert.match(fromCopy.where, framePattern(copy), 'the copy names its own file');
    assert.equal(execute('status', copy).fromCache, true, 'and has a cache of its own');
    const fromOriginal = execute('status', moduleFile);
    assert.equal(fromOriginal.fromCache, true);
    assert.match(fromOriginal.where, framePattern(moduleFile));
  });

  it('is never given to V8 for other content of the same length', () => {
    run();
    assert.equal(run().fromCache, true);
    writeModule(3);
    assert.deepEqual(run(), { fromCache: false, scaled: 63, file: moduleFile }, 'the new code runs');
  });

  it('a corrupted cache costs a compile and is written again', () => {
    run();
    const [cache] = readdirSync(cacheDir);
    writeFileSync(join(cacheDir, cache!), 'not V8 code');
    assert.deepEqual(run(), { fromCache: false, scaled: 42, file: moduleFile });
    assert.equal(run().fromCache, true);
  });

  it('a cache directory that others can write is neither read nor written', () => {
    run();
    chmodSync(cacheDir, 0o777);
    assert.deepEqual(run(), { fromCache: false, scaled: 42, file: moduleFile });
    assert.equal(readdirSync(cacheDir).length, 1, 'nothing written there');
  });

  it('removes the caches of other builds once they are 30 days old, and keeps recent ones', () => {
    run();
    const old = join(cacheDir, `${'0'.repeat(32)}-other-build-status.v8`);
    const recent = join(cacheDir, `${'1'.repeat(32)}-other-build-status.v8`);
    writeFileSync(old, 'cache of an old build');
    writeFileSync(recent, 'cache of another installed build');
    const monthAgo = new Date(Date.now() - 31 * 24 * 3600 * 1000);
    utimesSync(old, monthAgo, monthAgo);
    writeModule(3);
    run();
    const left = readdirSync(cacheDir);
    assert.ok(!left.includes(basename(old)), "the old build's cache is gone");
    assert.ok(left.includes(basename(recent)), 'a recent one stays');
    assert.equal(left.length, 3, `this build's, the first run's (made moments ago) and the recent one: ${left.join(', ')}`);
  });
});

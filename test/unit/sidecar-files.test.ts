/**
 * The sidecar's configuration and file handling: env validation (and exit code 2 from main),
 * reading the kubelet `..data` layout, and the persisted generation.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { readdir, readFile, symlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { promisify } from 'node:util';
import { UsageError } from '../../src/shared/errors.js';
import { DEFAULTS, loadConfig } from '../../sidecar/config.js';
import { FileGenerationStore } from '../../sidecar/generation-store.js';
import { MountedStateFiles } from '../../sidecar/state-file.js';
import { entryText, projectConfigMap, tempDir } from './sidecar-fixtures.js';

const POD = 'consumer-green-1';
const BASE_ENV = { MY_COLOR: 'green', MY_POD_NAME: POD, MY_NAMESPACE: 'kafka-bg-test' };

describe('sidecar config', () => {
  it('applies the documented defaults', () => {
    const config = loadConfig(BASE_ENV);
    assert.equal(config.color, 'green');
    assert.equal(config.podName, POD);
    assert.equal(config.consumerUrl, 'http://localhost:8080');
    assert.equal(config.stateDir, '/etc/consumer-state');
    assert.equal(config.configMapName, 'kafka-consumer-state');
    assert.equal(config.pushKeyFile, '/etc/bgswitch-push-key/key');
    assert.equal(config.generationFile, '/var/run/bgswitch/generation');
    assert.equal(config.port, 8082);
    assert.equal(config.reconcileIntervalMs, DEFAULTS.reconcileIntervalMs);
  });

  it('reports every invalid variable in one usage error', () => {
    const env = {
      MY_COLOR: 'red',
      MY_NAMESPACE: 'Bad_NS',
      SIDECAR_PORT: '99999',
      RECONCILE_INTERVAL_MS: 'soon',
      CONSUMER_LIFECYCLE_URL: 'localhost:8080',
    };
    assert.throws(
      () => loadConfig(env),
      (error: unknown) => {
        assert.ok(error instanceof UsageError);
        assert.equal(error.exitCode, 2);
        for (const name of ['MY_COLOR', 'MY_POD_NAME', 'MY_NAMESPACE', 'SIDECAR_PORT', 'RECONCILE_INTERVAL_MS', 'CONSUMER_LIFECYCLE_URL']) {
          assert.match(error.message, new RegExp(name));
        }
        return true;
      },
    );
  });

  it('main exits with code 2 and a JSON error line on an invalid environment', async () => {
    const run = promisify(execFile)(process.execPath, ['--import', 'tsx', 'sidecar/main.ts'], {
      env: { PATH: process.env['PATH'], MY_COLOR: 'purple' },
      timeout: 15_000,
    });
    await assert.rejects(run, (error: { code?: number; stdout?: string }) => {
      assert.equal(error.code, 2);
      const line = JSON.parse(String(error.stdout).trim().split('\n')[0] ?? '') as Record<string, unknown>;
      assert.equal(line['level'], 'error');
      assert.match(String(line['msg']), /MY_COLOR must be "blue" or "green"/);
      return true;
    });
  });
});

describe('sidecar mounted state files', () => {
  it('reads the pod and colour keys through the ..data symlink, following each kubelet swap', async () => {
    const dir = await tempDir('state');
    try {
      const files = new MountedStateFiles(dir.path, [POD, 'green']);
      assert.deepEqual(await files.read(), {}, 'no projection yet reads as absent');
      await projectConfigMap(dir.path, { [POD]: entryText('PAUSED', 1), 'consumer-blue-0': entryText('ACTIVE', 1) });
      assert.deepEqual(await files.read(), { [POD]: entryText('PAUSED', 1) });
      await projectConfigMap(dir.path, { green: entryText('ACTIVE', 2) });
      assert.deepEqual(await files.read(), { green: entryText('ACTIVE', 2) });
      const timestamped = (await readdir(dir.path)).filter((name) => /^\.\.\d{4}_/.test(name));
      assert.equal(timestamped.length, 1, 'the helper leaves exactly one projection, like the kubelet');
    } finally {
      await dir.remove();
    }
  });

  it('reads a plain directory (no ..data link) directly', async () => {
    const dir = await tempDir('state');
    try {
      await writeFile(join(dir.path, 'target'), entryText('PAUSED', 3));
      await symlink('target', join(dir.path, POD));
      assert.deepEqual(await new MountedStateFiles(dir.path, [POD]).read(), { [POD]: entryText('PAUSED', 3) });
    } finally {
      await dir.remove();
    }
  });
});

describe('sidecar generation store', () => {
  it('starts at 0, persists atomically and survives a new instance', async () => {
    const dir = await tempDir('gen');
    try {
      const path = join(dir.path, 'nested', 'generation');
      assert.equal(await new FileGenerationStore(path).load(), 0);
      await new FileGenerationStore(path).save(41);
      await new FileGenerationStore(path).save(42);
      assert.equal(await new FileGenerationStore(path).load(), 42);
      assert.deepEqual(await readdir(join(dir.path, 'nested')), ['generation'], 'no temp file is left behind');
      assert.equal(await readFile(path, 'utf8'), '42\n');
    } finally {
      await dir.remove();
    }
  });

  it('refuses a corrupt file instead of guessing', async () => {
    const dir = await tempDir('gen');
    try {
      const path = join(dir.path, 'generation');
      await writeFile(path, 'forty');
      await assert.rejects(new FileGenerationStore(path).load(), /does not hold a generation/);
    } finally {
      await dir.remove();
    }
  });
});

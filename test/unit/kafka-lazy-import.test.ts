/**
 * The Kafka client is loaded only when a command reads the consumer group with Kafka configured:
 * `--help`, `--no-kafka` runs and commands that never touch Kafka must not load it, nor
 * client-node (exec plugins only) or undici (proxies only). The built CLI (the bundle in dist/cli/,
 * as shipped) runs in a child process with a hook that records every module the bundle requires:
 * Node's own modules, and each dependency left to node_modules.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { closedClusterKubeconfig } from '../support/capture-io.js';

const repo = join(import.meta.dirname, '..', '..');
const KAFKA_ENV = { KAFKA_BOOTSTRAP_SERVERS: '127.0.0.1:1', KAFKA_GROUP: 'bg-consumer' };

let dir: string;
let recorder: string;
let kubeconfig: string;
let removeKubeconfig: () => void;

before(() => {
  assert.ok(existsSync(join(repo, 'dist', 'cli', 'main.cjs')), 'build first: npm run build');
  dir = mkdtempSync(join(tmpdir(), 'bgswitch-imports-'));
  recorder = join(dir, 'record-requires.cjs');
  writeFileSync(
    recorder,
    `const Module = require('node:module');
const { appendFileSync } = require('node:fs');
const load = Module._load;
Module._load = function (request, ...rest) {
  appendFileSync(process.env.IMPORT_LOG, request + '\\n');
  return load.call(this, request, ...rest);
};\n`,
  );
  ({ kubeconfig, remove: removeKubeconfig } = closedClusterKubeconfig('bgswitch-imports-kube-'));
});
after(() => {
  rmSync(dir, { recursive: true, force: true });
  removeKubeconfig();
});

/** Runs the built CLI; returns its exit code and every module the bundle required. */
function runRecorded(
  name: string,
  args: string[],
  env: Record<string, string> = {},
): Promise<{ code: number; modules: string[]; stderr: string }> {
  const log = join(dir, `${name}.log`);
  writeFileSync(log, '');
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      ['--require', recorder, join(repo, 'bin', 'bgswitch.js'), ...args],
      { env: { PATH: process.env.PATH ?? '', HOME: dir, NO_COLOR: '1', IMPORT_LOG: log, ...env }, timeout: 60_000 },
      (error, _stdout, stderr) => {
        const code = error ? (typeof error.code === 'number' ? error.code : -1) : 0;
        resolve({ code, stderr, modules: readFileSync(log, 'utf8').split('\n').filter(Boolean) });
      },
    );
  });
}

const isPackage = (name: string) => (request: string) => request === name || request.startsWith(`${name}/`);
const kafkaClient = (modules: string[]) => modules.filter(isPackage('@platformatic/kafka'));
const otherHeavyClients = (modules: string[]) =>
  modules.filter((request) => isPackage('@kubernetes/client-node')(request) || isPackage('undici')(request));

describe('the Kafka client is imported lazily', () => {
  const notLoaded: Array<[string, string[], Record<string, string>, number]> = [
    ['--help', ['--help'], KAFKA_ENV, 0],
    ['switch --help', ['switch', '--help'], KAFKA_ENV, 0],
    ['status --no-kafka (Kafka configured in the environment)', ['status', '--no-kafka'], KAFKA_ENV, 3],
    ['switch --no-kafka', ['switch', 'green', '--yes', '--no-kafka'], KAFKA_ENV, 3],
    ['history, which never reads the group', ['history'], KAFKA_ENV, 3],
    ['inject-fault, which never reads the group', ['inject-fault', 'consumer-green-0', 'delay=5'], KAFKA_ENV, 3],
    ['status with no Kafka configured anywhere we can read', ['status'], {}, 3],
  ];
  for (const [name, args, env, code] of notLoaded) {
    it(`not loaded: ${name}`, async () => {
      const withCluster = args.includes('--help') ? args : [...args, '--kubeconfig', kubeconfig];
      const run = await runRecorded(name.replace(/\W+/g, '-'), withCluster, env);
      assert.equal(run.code, code, run.stderr);
      assert.ok(run.modules.includes('node:url'), 'the hook recorded the modules the CLI loaded');
      assert.deepEqual(kafkaClient(run.modules), []);
      assert.deepEqual(otherHeavyClients(run.modules), []);
    });
  }

  it('loaded when status reads the group (the hook would see it)', async () => {
    const run = await runRecorded('status-with-kafka', ['status', '--kubeconfig', kubeconfig], KAFKA_ENV);
    assert.equal(run.code, 3, run.stderr);
    assert.deepEqual(kafkaClient(run.modules), ['@platformatic/kafka'], 'status with Kafka configured loads the client');
  });
});

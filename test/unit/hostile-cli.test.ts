/**
 * A fuzz run over the CLI's argument grammar: random subcommands from the real set, random known
 * and unknown flags, values (unicode, empty, huge and negative numbers, key=value soup), calling
 * the real CLI in-process with captured streams. The kubeconfig points at a closed loopback port, so
 * no run can reach a cluster: every run must end with a clean exit code in {1, 2, 3} (never 0 —
 * nothing can succeed without a cluster; help and --version are left out of the fuzz), a message on
 * stderr, no stack trace and never the "unexpected" hint of the generic error handler.
 * Left out on purpose: --watch (it redraws until interrupted) and values for --pushgateway and
 * --metrics-file other than a closed loopback URL / a path in a temporary directory (the fuzz must
 * not reach any other address or write outside its directory).
 */
import assert from 'node:assert/strict';
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import fc from 'fast-check';
import { closedClusterKubeconfig, runCli } from '../support/capture-io.js';

let dir: string;
let kubeconfig: string;
let remove: () => void;

before(() => {
  ({ dir, kubeconfig, remove } = closedClusterKubeconfig('bgswitch-fuzz-'));
});
after(() => remove());

const COMMANDS = ['switch', 'rollback', 'status', 'inject-fault', 'history', 'init'];
const BOOLEAN_FLAGS = ['--dry-run', '-y', '--yes', '--force', '--check', '--clear'];
const VALUE_FLAGS = [
  '--drain-timeout',
  '--verify-timeout',
  '--soak',
  '--poll-interval',
  '--lease-duration',
  '--to',
  '--interval',
  '--timeout',
  '--limit',
  '-o',
  '--output',
  '-n',
  '--namespace',
  '--context',
  '--via',
  '--active-configmap',
  '--state-configmap',
  '--lease',
  '--blue-service',
  '--green-service',
  '--push-key-secret',
  '--lifecycle-port',
  '--sidecar-port',
  '--request-timeout',
];
const UNKNOWN_FLAGS = ['--frobnicate', '-x', '--colour', '--yes=no', '---', '--', '-', '--drain-timeout=', '--namespace=Ω'];

const value = fc.oneof(
  fc.constantFrom(
    'blue',
    'green',
    'purple',
    '',
    ' ',
    '0',
    '-1',
    '-5s',
    '10s',
    '1ms',
    '9999h',
    '1e309',
    'NaN',
    'Infinity',
    '0x10',
    '99999999999999999999',
    '3.5',
    'json',
    'yaml',
    'xml',
    'proxy',
    'direct',
    'kafka-bg-test',
    'Not_A_Name',
  ),
  fc.integer({ min: -1e12, max: 1e12 }).map(String),
  fc.string({ maxLength: 12 }),
  fc.string({ unit: 'grapheme', maxLength: 8 }),
  fc
    .tuple(fc.constantFrom('delay', 'error-rate', 'commit-delay', 'poll-timeout', 'latency', '', '=='), fc.string({ maxLength: 6 }))
    .map(([k, v]) => `${k}=${v}`),
);

const argument = fc.oneof(
  { weight: 3, arbitrary: value },
  { weight: 2, arbitrary: fc.constantFrom(...BOOLEAN_FLAGS) },
  { weight: 3, arbitrary: fc.tuple(fc.constantFrom(...VALUE_FLAGS), value).map(([flag, v]) => [flag, v]) },
  { weight: 1, arbitrary: fc.constantFrom(...UNKNOWN_FLAGS) },
  {
    weight: 1,
    arbitrary: fc.constantFrom(
      ['--metrics-file', 'METRICS'],
      ['--pushgateway', 'http://127.0.0.1:1'],
      ['--pushgateway', 'ftp://x'],
      ['--kubeconfig', 'MISSING'],
    ),
  },
);

const argv = fc
  .tuple(fc.constantFrom(...COMMANDS), fc.array(argument, { maxLength: 8 }))
  .map(([command, args]) => [
    command,
    ...args.flat().map((a) => (a === 'METRICS' ? join(dir, 'metrics.prom') : a === 'MISSING' ? join(dir, 'missing') : a)),
  ]);

test('fuzzed arguments: always a clean exit code and message, never a stack trace, never success without a cluster', async (t) => {
  const runs = Number(process.env.BGSWITCH_FUZZ_RUNS ?? 1000);
  const seed = Number(process.env.BGSWITCH_FUZZ_SEED ?? 424242);
  const codes = new Map<number, number>();
  await fc.assert(
    fc.asyncProperty(argv, async (args) => {
      // Our kubeconfig and a short timeout last, so they win over any fuzzed value.
      const result = await runCli([...args, '--kubeconfig', kubeconfig, '--request-timeout', '2s'], { KUBECONFIG: kubeconfig });
      codes.set(result.code, (codes.get(result.code) ?? 0) + 1);
      const where = `bgswitch ${JSON.stringify(args)} -> ${result.code}\n${result.stderr}`;
      assert.ok([1, 2, 3].includes(result.code), `exit code: ${where}`);
      assert.notEqual(result.stderr.trim(), '', `no message: ${where}`);
      assert.doesNotMatch(result.stderr, /\n\s+at /, `stack trace: ${where}`);
      assert.doesNotMatch(result.stderr, /this is unexpected/, `unexpected error: ${where}`);
    }),
    { numRuns: runs, seed },
  );
  assert.deepEqual(readdirSync(dir).sort(), ['kubeconfig'], 'nothing was written (no metrics file either)');
  t.diagnostic(`${runs} fuzzed command lines (seed ${seed}): exit codes ${JSON.stringify(Object.fromEntries([...codes].sort()))}`);
});

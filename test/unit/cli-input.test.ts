/**
 * Bad input never reaches the cluster: each case gets a one-line message naming the problem and
 * the fix, exit 2, and nothing on stdout. The kubeconfig given points at a closed loopback port, so
 * any attempt to talk to a cluster would turn into a different error (exit 3), not exit 2.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { closedClusterKubeconfig, runCli } from '../support/capture-io.js';

let dir: string;
let kubeconfig: string;
let remove: () => void;

before(() => {
  ({ dir, kubeconfig, remove } = closedClusterKubeconfig('bgswitch-cli-'));
});
after(() => remove());

const usageCases: Array<[string, string[], RegExp]> = [
  ['unknown colour', ['switch', 'purple', '--yes'], /unknown colour "purple".*\n.*hint: use blue or green/],
  ['negative drain timeout', ['switch', 'green', '--yes', '--drain-timeout', '-5s'], /--drain-timeout "-5s": durations cannot be negative/],
  ['non-numeric verify timeout', ['switch', 'green', '--yes', '--verify-timeout', 'soon'], /--verify-timeout "soon": not a duration/],
  ['zero drain timeout', ['switch', 'green', '--yes', '--drain-timeout', '0s'], /--drain-timeout must be longer than 0/],
  ['absurd soak', ['switch', 'green', '--yes', '--soak', '9999h'], /--soak "9999h": longer than 24h/],
  ['bad pushgateway', ['switch', 'green', '--yes', '--pushgateway', 'ftp://x'], /--pushgateway "ftp:\/\/x" is not an http\(s\) URL/],
  ['bad port', ['status', '--lifecycle-port', '70000'], /--lifecycle-port "70000" is not a port/],
  ['bad namespace', ['status', '-n', 'Not_A_Name'], /--namespace "Not_A_Name" is not a valid Kubernetes name/],
  ['unknown --to colour', ['rollback', '--to', 'red', '--yes'], /unknown --to colour "red"/],
  ['malformed fault setting', ['inject-fault', 'consumer-green-0', 'delay'], /malformed setting "delay": expected key=value/],
  ['unknown fault', ['inject-fault', 'consumer-green-0', 'latency=5'], /unknown fault "latency"/],
  ['negative fault value', ['inject-fault', 'consumer-green-0', 'delay=-1'], /delay="-1": expected a whole number from 0 to 600000/],
  ['error rate over 100', ['inject-fault', 'green', 'error-rate=150'], /error-rate="150": expected a whole number from 0 to 100/],
  ['boolean fault not boolean', ['inject-fault', 'green', 'poll-timeout=yes'], /poll-timeout="yes": expected true or false/],
  ['fault given twice', ['inject-fault', 'green', 'delay=1', 'delay=2'], /fault delay given twice/],
  ['clear with settings', ['inject-fault', 'green', 'delay=1', '--clear'], /--clear takes no settings/],
  ['no fault at all', ['inject-fault', 'green'], /no fault given/],
  ['bad target', ['inject-fault', 'Consumer_0', 'delay=1'], /"Consumer_0" is not a pod name or colour/],
  ['history limit', ['history', '--limit', 'all'], /--limit "all" is not a whole number from 1 to 20/],
  ['bad env drain', ['switch', 'green', '--yes'], /DRAIN_TIMEOUT_SECONDS="ten" is not a whole number/],
  ['unknown option', ['switch', 'green', '--frobnicate'], /unknown option '--frobnicate'/],
  ['missing colour', ['switch'], /missing required argument 'colour'/],
  ['bad output format', ['status', '-o', 'xml'], /argument 'xml' is invalid/],
  ['unknown command', ['swtich', 'green'], /unknown command 'swtich'/],
];

describe('bad input exits 2 and names the problem', () => {
  for (const [name, args, message] of usageCases) {
    it(name, async () => {
      const env = name === 'bad env drain' ? { DRAIN_TIMEOUT_SECONDS: 'ten' } : {};
      const result = await runCli([...args, '--kubeconfig', kubeconfig], env);
      assert.equal(result.code, 2, `exit code; stderr: ${result.stderr}`);
      assert.match(result.stderr, message);
      assert.equal(result.stdout, '', 'nothing on stdout');
      assert.doesNotMatch(result.stderr, /\n\s+at .*\(/, 'no stack trace');
    });
  }

  it('refuses to switch without a TTY and without --yes', async () => {
    const result = await runCli(['switch', 'green', '--kubeconfig', kubeconfig]);
    assert.equal(result.code, 2);
    assert.match(result.stderr, /refusing to change the fleet without confirmation: stdin is not a terminal/);
    assert.match(result.stderr, /hint: pass --yes/);
  });

  it('on a terminal, asks with context, namespace and from -> to; "no" changes nothing', async () => {
    const result = await runCli(['switch', 'green', '--kubeconfig', kubeconfig], {}, { stdinTTY: true, input: 'n\n' });
    assert.equal(result.code, 1);
    assert.match(result.stderr, /Switch consumers blue -> green in context closed, namespace kafka-bg-test\? \[y\/N\]/);
    assert.match(result.stderr, /Aborted; nothing was changed\./);
    assert.equal(result.stdout, '');
  });

  it('on a terminal, "yes" goes ahead (here into the unreachable cluster: exit 3)', async () => {
    const result = await runCli(
      ['rollback', '--to', 'blue', '--kubeconfig', kubeconfig, '--request-timeout', '2s'],
      {},
      { stdinTTY: true, input: 'yes\n' },
    );
    assert.match(result.stderr, /Roll back consumers green -> blue/);
    assert.equal(result.code, 3, result.stderr);
    assert.match(result.stderr, /127\.0\.0\.1:1/);
  });

  it('names a missing kubeconfig file', async () => {
    const result = await runCli(['status', '--kubeconfig', join(dir, 'missing')]);
    assert.equal(result.code, 2);
    assert.match(result.stderr, /kubeconfig .*missing does not exist or cannot be read/);
  });

  it('names an unknown context and lists the known ones', async () => {
    const result = await runCli(['status', '--kubeconfig', kubeconfig, '--context', 'prod']);
    assert.equal(result.code, 2);
    assert.match(result.stderr, /prod/);
    assert.match(result.stderr, /closed/);
  });
});

describe('an unreachable cluster', () => {
  it('is refused with exit 3, naming the server and the flags to check', async () => {
    const result = await runCli(['status', '--kubeconfig', kubeconfig, '--request-timeout', '2s']);
    assert.equal(result.code, 3, result.stderr);
    assert.match(result.stderr, /127\.0\.0\.1:1/);
    assert.match(result.stderr, /--kubeconfig|--context/);
    assert.equal(result.stdout, '');
  });

  it('honours KUBECONFIG when no flag is given', async () => {
    const result = await runCli(['history', '--request-timeout', '2s'], { KUBECONFIG: kubeconfig });
    assert.equal(result.code, 3, result.stderr);
    assert.match(result.stderr, /127\.0\.0\.1:1/);
  });
});

describe('help and version', () => {
  it('--version prints the package version', async () => {
    const result = await runCli(['--version']);
    const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string };
    assert.equal(result.code, 0);
    assert.equal(result.stdout.trim(), pkg.version);
  });

  for (const command of ['switch', 'rollback', 'status', 'inject-fault', 'history', 'init']) {
    it(`${command} --help shows options and examples`, async () => {
      const result = await runCli([command, '--help']);
      assert.equal(result.code, 0);
      assert.match(result.stdout, /--kubeconfig/);
      assert.match(result.stdout, /-n, --namespace/);
      assert.match(result.stdout, /Examples:\n {2}(kubectl apply -k k8s\/overlays\/production && )?bgswitch /);
    });
  }

  it('the top-level help lists every command and the exit codes', async () => {
    const result = await runCli(['--help']);
    assert.equal(result.code, 0);
    for (const command of ['switch', 'rollback', 'status', 'inject-fault', 'history', 'init'])
      assert.match(result.stdout, new RegExp(`\\n  ${command}`));
    assert.match(result.stdout, /3 refused by preflight, 4 failed and rolled back, 5 rollback failed/);
  });
});

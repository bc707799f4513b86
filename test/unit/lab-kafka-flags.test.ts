/**
 * `lab produce` and `lab verify` refuse bad flags with exit 2 and a clear message before connecting
 * to anything, and name an unreachable broker (nothing listens at the address below).
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { parseProduceFlags, parseVerifyFlags } from '../../lab/kafka/commands.js';
import { UsageError } from '../../src/shared/errors.js';
import { repoRoot } from '../support/lab.js';

const NOWHERE = '127.0.0.1:1';

function lab(args: string[]) {
  const result = spawnSync(process.execPath, [join(repoRoot, 'dist', 'lab', 'main.js'), ...args], { encoding: 'utf8', timeout: 20_000 });
  return { code: result.status, stderr: result.stderr, stdout: result.stdout };
}

describe('lab produce flags', () => {
  const refused: Array<[string[], RegExp]> = [
    [['--rate', 'fast'], /--rate "fast": must be a positive number/],
    [['--rate', '0'], /--rate "0": must be a positive number/],
    [['--rate', '1e9'], /--rate 1e9: at most 100000/],
    [['--count', '2.5'], /--count "2.5": must be a positive whole number/],
    [['--count', '-4'], /--count "-4": must be a positive whole number/],
    [['--duration', 'soon'], /--duration "soon": not a duration/],
    [['--duration', '0s'], /--duration must be longer than 0/],
    [['--topic', 'no spaces'], /--topic "no spaces": not a Kafka topic name/],
    [['--bootstrap', 'localhost'], /--bootstrap "localhost": expected host:port/],
    [['--stop', '--count', '5'], /--stop takes no other flags \(got --count\)/],
    [['--frobnicate'], /unknown option '--frobnicate'/],
  ];
  for (const [args, message] of refused) {
    it(`refuses ${args.join(' ')} with exit 2`, () => {
      const result = lab([
        'produce',
        ...args,
        ...(args.includes('--bootstrap') || args.includes('--stop') ? [] : ['--bootstrap', NOWHERE]),
      ]);
      assert.equal(result.code, 2, result.stderr);
      assert.match(result.stderr, message);
      assert.equal(result.stdout, '');
    });
  }

  it('reads good flags into a production request, with defaults', () => {
    assert.deepEqual(parseProduceFlags({ rate: '500', duration: '60s' }), {
      action: 'run',
      background: false,
      production: { rate: 500, durationMs: 60_000, topic: 'bg-events', bootstrap: '10.77.0.1:19092' },
    });
    assert.deepEqual(parseProduceFlags({ count: '10', topic: 't1', bootstrap: 'a:1,b:2', background: true }), {
      action: 'run',
      background: true,
      production: { rate: 100, count: 10, topic: 't1', bootstrap: 'a:1,b:2' },
    });
    assert.deepEqual(parseProduceFlags({ stop: true }), { action: 'stop' });
  });
});

describe('lab produce and verify without a broker', () => {
  for (const args of [['produce', '--count', '3'], ['verify']]) {
    it(`${args[0]} fails with exit 1 and a hint, not a stack trace`, () => {
      const result = lab([...args, '--bootstrap', NOWHERE]);
      assert.equal(result.code, 1, result.stderr);
      assert.match(result.stderr, /at 127\.0\.0\.1:1 failed: .*\nhint: is the lab up\? npm run lab -- status/);
      assert.doesNotMatch(result.stderr, /\s{4}at /);
    });
  }
});

describe('lab verify flags', () => {
  const refused: Array<[string[], RegExp]> = [
    [['-o', 'yaml'], /-o "yaml": expected text or json/],
    [['--settle', 'a while'], /--settle "a while": not a duration/],
    [['--settle', '-1s'], /--settle "-1s": durations cannot be negative/],
    [['--run-id', ' '], /--run-id must not be empty/],
    [['--input-topic', 'a/b'], /--input-topic "a\/b": not a Kafka topic name/],
  ];
  for (const [args, message] of refused) {
    it(`refuses ${args.join(' ')} with exit 2`, () => {
      const result = lab(['verify', ...args, '--bootstrap', NOWHERE]);
      assert.equal(result.code, 2, result.stderr);
      assert.match(result.stderr, message);
    });
  }

  it('reads good flags into a verify request', () => {
    assert.deepEqual(parseVerifyFlags({ output: 'json', settle: '30s', runId: 'r1' }), {
      json: true,
      settleMs: 30_000,
      runId: 'r1',
      bootstrap: '10.77.0.1:19092',
      inputTopic: 'bg-events',
      outputTopic: 'bg-processed',
    });
    assert.throws(() => parseVerifyFlags({ output: 'xml' }), UsageError);
  });
});

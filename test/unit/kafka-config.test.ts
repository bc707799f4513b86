/**
 * Where the CLI finds the broker: flag > environment > the active-version ConfigMap (stored by
 * `bgswitch init --kafka-bootstrap ... --kafka-group ...`) > off; addresses validated up front
 * (exit 2, before the cluster is touched); `--no-kafka` ignores every source.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it, test } from 'node:test';
import { ExitCode, UsageError } from '../../src/shared/errors.js';
import { initialize } from '../../src/core/init.js';
import { KAFKA_BOOTSTRAP_KEY, KAFKA_GROUP_KEY, parseBootstrap, resolveKafkaSettings } from '../../src/core/kafka-settings.js';
import { parseKafkaFlags, resolveKafka } from '../../src/cli/kafka.js';
import { closedClusterKubeconfig, runCli } from '../support/capture-io.js';
import { createWorld, NAMES } from '../support/switch-world.js';

const CM = NAMES.activeConfigMap;

describe('precedence: flag > environment > ConfigMap > off', () => {
  const stored = { bootstrap: 'stored:9092', group: 'stored-group' };
  const cases: Array<[string, Parameters<typeof resolveKafkaSettings>[0], { brokers: string[]; groupId: string } | undefined]> = [
    ['nothing anywhere: off', { flag: {}, env: {}, stored: {} }, undefined],
    ['only the ConfigMap', { flag: {}, env: {}, stored }, { brokers: ['stored:9092'], groupId: 'stored-group' }],
    [
      'environment over ConfigMap',
      { flag: {}, env: { bootstrap: 'env:9092', group: 'env-group' }, stored },
      { brokers: ['env:9092'], groupId: 'env-group' },
    ],
    [
      'flag over environment',
      { flag: { bootstrap: 'a:1,b:2' }, env: { bootstrap: 'env:9092' }, stored },
      { brokers: ['a:1', 'b:2'], groupId: 'stored-group' },
    ],
    [
      'each setting on its own: flag group, env broker',
      { flag: { group: 'flag-group' }, env: { bootstrap: 'env:9092' }, stored: {} },
      { brokers: ['env:9092'], groupId: 'flag-group' },
    ],
    ['a stored group alone does not turn Kafka on', { flag: {}, env: {}, stored: { group: 'stored-group' } }, undefined],
  ];
  for (const [name, sources, expected] of cases) {
    it(name, () => assert.deepEqual(resolveKafkaSettings(sources, CM), expected));
  }

  it('a broker without any group, or a group given without any broker, is a usage error naming the fix', () => {
    assert.throws(
      () => resolveKafkaSettings({ flag: { bootstrap: 'k:9092' }, env: {}, stored: {} }, CM),
      (e: unknown) =>
        e instanceof UsageError &&
        /--kafka-bootstrap names a broker but no consumer group is set/.test(e.message) &&
        /--kafka-group/.test(e.hint ?? ''),
    );
    assert.throws(() => resolveKafkaSettings({ flag: {}, env: { group: 'g' }, stored: {} }, CM), /KAFKA_GROUP is set but no broker is/);
  });
});

test('broker addresses: host names, IPv4 and [IPv6] with ports; anything else is named', () => {
  assert.deepEqual(parseBootstrap('kafka-0.kafka.svc:9092, 10.77.0.1:19092,[::1]:9092', '--kafka-bootstrap'), [
    'kafka-0.kafka.svc:9092',
    '10.77.0.1:19092',
    '[::1]:9092',
  ]);
  for (const bad of ['kafka', 'kafka:', ':9092', 'kafka:0', 'kafka:65536', 'kafka:90x', 'a:1,,b:2', 'ka fka:1', 'http://kafka:9092']) {
    assert.throws(
      () => parseBootstrap(bad, '--kafka-bootstrap'),
      (e: unknown) => e instanceof UsageError && e.exitCode === ExitCode.usage,
      bad,
    );
  }
});

describe('the CLI validates Kafka settings before touching the cluster', () => {
  let kubeconfig: string;
  let remove: () => void;
  before(() => ({ kubeconfig, remove } = closedClusterKubeconfig('bgswitch-kafka-')));
  after(() => remove());

  const usage: Array<[string, string[], Record<string, string>, RegExp]> = [
    [
      'bad flag address',
      ['status', '--kafka-bootstrap', 'kafka:port'],
      {},
      /--kafka-bootstrap: "kafka:port" is not a broker address \(host:port\)/,
    ],
    [
      'bad environment address',
      ['switch', 'green', '--yes'],
      { KAFKA_BOOTSTRAP_SERVERS: 'kafka' },
      /KAFKA_BOOTSTRAP_SERVERS: "kafka" is not a broker address/,
    ],
    ['blank group', ['status', '--kafka-bootstrap', 'k:9092', '--kafka-group', ' '], {}, /--kafka-group " " is not a consumer group id/],
    [
      '--max-lag not a number',
      ['switch', 'green', '--yes', '--soak', '1m', '--max-lag', 'lots'],
      {},
      /--max-lag "lots" is not a whole number of messages/,
    ],
    ['--max-lag without a soak', ['switch', 'green', '--yes', '--max-lag', '100'], {}, /--max-lag acts during the soak: it needs --soak/],
    [
      '--max-lag with --no-kafka',
      ['rollback', '--yes', '--soak', '1m', '--max-lag', '100', '--no-kafka'],
      {},
      /--max-lag watches the consumer group/,
    ],
    ['init with a group and no broker', ['init', '--kafka-group', 'bg-consumer'], {}, /--kafka-group is set but no broker is/],
    ['init with a bad broker', ['init', '--kafka-bootstrap', 'k:1:2:x', '--kafka-group', 'g'], {}, /not a broker address/],
  ];
  for (const [name, args, env, message] of usage) {
    it(`${name}: exit 2`, async () => {
      const result = await runCli([...args, '--kubeconfig', kubeconfig], env);
      assert.equal(result.code, ExitCode.usage, result.stderr);
      assert.match(result.stderr, message);
      assert.equal(result.stdout, '');
    });
  }

  it('--no-kafka ignores the environment (the bad address is never parsed: the closed cluster answers, exit 3)', async () => {
    const result = await runCli(['status', '--no-kafka', '--kubeconfig', kubeconfig], { KAFKA_BOOTSTRAP_SERVERS: 'kafka' });
    assert.equal(result.code, ExitCode.refused, result.stderr);
    assert.doesNotMatch(result.stderr, /broker address/);
  });
});

test('the CLI reads the stored settings only when flag and environment leave something open', async (t) => {
  const world = createWorld(t);
  world.cluster.seedConfigMap(CM, { active: 'blue', [KAFKA_BOOTSTRAP_KEY]: '10.77.0.1:19092', [KAFKA_GROUP_KEY]: 'bg-consumer' });
  const reads = () => world.journal.filter((e) => e.op === 'get-configmap' && e.name === CM).length;
  const resolve = (flags: Parameters<typeof parseKafkaFlags>[0], env: Record<string, string> = {}) =>
    resolveKafka(parseKafkaFlags(flags, env), world.cluster, CM);

  assert.deepEqual(await resolve({}), { brokers: ['10.77.0.1:19092'], groupId: 'bg-consumer' });
  assert.equal(reads(), 1);
  assert.deepEqual(
    await resolve({ kafkaGroup: 'mine' }),
    { brokers: ['10.77.0.1:19092'], groupId: 'mine' },
    'the flag wins for the group; the broker still comes from the ConfigMap',
  );
  assert.equal(reads(), 2);
  assert.deepEqual(await resolve({ kafkaBootstrap: 'k:9092' }, { KAFKA_GROUP: 'env-group' }), {
    brokers: ['k:9092'],
    groupId: 'env-group',
  });
  assert.equal(reads(), 2, 'flag and environment settle both: the ConfigMap is not read');
  assert.equal(await resolve({ kafka: false }), undefined, '--no-kafka');
  assert.equal(reads(), 2);
});

describe('init stores the settings in the active-version ConfigMap', () => {
  const keys = { hasPushKey: async () => true, ensurePushKey: async () => 'existing' as const };
  const stored = (world: ReturnType<typeof createWorld>) => {
    const data = world.cluster.peekConfigMap(CM)?.data ?? {};
    return [data[KAFKA_BOOTSTRAP_KEY], data[KAFKA_GROUP_KEY]];
  };

  it('writes them, keeps what else is there, is idempotent, updates other values, and a dry run writes nothing', async (t) => {
    const world = createWorld(t);
    const init = (kafka: { brokers: string[]; groupId: string } | undefined, dryRun = false) =>
      initialize({ cluster: world.cluster, keys, names: NAMES, clock: world.clock }, { dryRun, kafka });
    const kafkaStep = (report: Awaited<ReturnType<typeof init>>) => report.steps.filter((s) => s.detail.startsWith('Kafka '));

    assert.deepEqual(
      kafkaStep(await init({ brokers: ['10.77.0.1:19092'], groupId: 'bg-consumer' })).map((s) => [s.object, s.action]),
      [[`ConfigMap/${CM}`, 'updated']],
    );
    assert.deepEqual(stored(world), ['10.77.0.1:19092', 'bg-consumer']);
    assert.equal(world.cluster.peekConfigMap(CM)?.data.active, 'blue', 'the active colour is kept');

    assert.deepEqual(
      kafkaStep(await init({ brokers: ['10.77.0.1:19092'], groupId: 'bg-consumer' })).map((s) => s.action),
      ['unchanged'],
    );

    const dry = kafkaStep(await init({ brokers: ['k-0:9092', 'k-1:9092'], groupId: 'other' }, true));
    assert.deepEqual(
      dry.map((s) => [s.action, s.detail]),
      [['would update', 'Kafka k-0:9092,k-1:9092, group other']],
    );
    assert.deepEqual(stored(world), ['10.77.0.1:19092', 'bg-consumer'], 'the dry run wrote nothing');

    await init({ brokers: ['k-0:9092', 'k-1:9092'], groupId: 'other' });
    assert.deepEqual(stored(world), ['k-0:9092,k-1:9092', 'other']);

    assert.deepEqual(kafkaStep(await init(undefined)), [], 'init without the flags leaves the settings alone');
    assert.deepEqual(stored(world), ['k-0:9092,k-1:9092', 'other']);
  });
});

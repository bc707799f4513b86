/**
 * `status` with the consumer group: members matched to pods (by client id, else by host = pod IP,
 * else unknown), partitions, committed offsets and lag per colour, the stranded-partitions problem
 * (what `--check` exits 3 on), an unanswered broker as a problem, and the text / JSON renderings.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { hasProblems, readStatus } from '../../src/core/status.js';
import { renderStatus } from '../../src/render/status-view.js';
import { createStyle } from '../../src/render/style.js';
import { MemoryKafkaGroup } from '../support/memory-kafka.js';
import { createWorld, NAMES, type Lifetime } from '../support/switch-world.js';

function statusWorld(t: Lifetime) {
  const world = createWorld(t);
  const group = new MemoryKafkaGroup(world.clock, world.fleet);
  const read = () => readStatus({ cluster: world.cluster, pods: world.fleet, names: NAMES, clock: world.clock, kafka: group });
  return { world, group, read };
}

const plain = createStyle(Object.assign(process.stdout, {}), { NO_COLOR: '1' });
const HEADER = { context: 'lab', server: 'https://10.77.0.1:6443' };

test('a healthy group: blue members with their partitions, lag per colour, no problem', async (t) => {
  const { group, read } = statusWorld(t);
  group.committed.splice(0, 6, 100, 100, 97, 100, 100, 90);

  const view = await read();

  assert.ok(view.kafka && !('error' in view.kafka));
  assert.equal(view.kafka.state, 'STABLE');
  assert.deepEqual(
    view.kafka.members.map((m) => [m.pod, m.color, m.podState, m.assignments]),
    [
      ['consumer-blue-0', 'blue', 'ACTIVE', [{ topic: 'bg-events', partitions: [0, 3] }]],
      ['consumer-blue-1', 'blue', 'ACTIVE', [{ topic: 'bg-events', partitions: [1, 4] }]],
      ['consumer-blue-2', 'blue', 'ACTIVE', [{ topic: 'bg-events', partitions: [2, 5] }]],
    ],
  );
  assert.deepEqual(view.kafka.lag, { total: 13, blue: 13, green: 0, unassigned: 0, unknown: 0 });
  assert.deepEqual(view.problems, []);
  assert.equal(hasProblems(view), false);

  const text = renderStatus(view, HEADER, plain);
  assert.match(text, /Kafka group: bg-consumer at 10\.77\.0\.1:19092: STABLE, 3 members, lag 13 \(blue 13, green 0\)/);
  assert.match(text, /consumer-blue-1 .* blue .* ACTIVE .* consumer-blue-1 .* bg-events 1, 4/);
  assert.match(text, /bg-events .* 5 .* consumer-blue-2 \(blue\) .* 90 .* 100 .* 10 /);
});

test('a paused pod that keeps its partitions is a problem in words, and --check fails on it', async (t) => {
  const { group, read } = statusWorld(t);
  group.keepPartitionsWhenPaused.add('consumer-green-1');

  const view = await read();

  const stranded = view.problems.filter((p) => p.kind === 'stranded-partitions');
  assert.deepEqual(
    stranded.map((p) => p.message),
    ['partition 3 of bg-events is assigned to paused consumer-green-1 and is not being consumed'],
  );
  assert.match(stranded[0]!.hint ?? '', /leave group bg-consumer when paused/);
  assert.equal(hasProblems(view), true, '`status --check` exits 3');
  assert.match(renderStatus(view, HEADER, plain), /✗ partition 3 of bg-events is assigned to paused consumer-green-1/);
});

test('members are matched by host when the client id is not the pod name; strangers are unknown members', async (t) => {
  const { world, group, read } = statusWorld(t);
  group.hostOf.set('consumer-blue-0', '10.77.0.10');
  group.strangers.push({ clientId: 'rogue', host: '10.1.2.3' });

  const view = await read();

  assert.ok(view.kafka && !('error' in view.kafka));
  const byClient = new Map(view.kafka.members.map((m) => [m.clientId, m]));
  assert.equal((await world.cluster.listPods('blue'))[0]?.ip, '10.77.0.10', 'the IP the member connects from');
  const matchedByHost = view.kafka.members.find((m) => m.host === '10.77.0.10');
  assert.equal(matchedByHost?.pod, 'consumer-blue-0');
  assert.notEqual(matchedByHost?.clientId, 'consumer-blue-0');
  assert.equal(byClient.get('rogue')?.pod, undefined);
  const rogue = view.kafka.partitions.filter((p) => p.owner === 'rogue-member');
  assert.ok(rogue.length > 0 && rogue.every((p) => p.pod === undefined && p.color === undefined));
  assert.equal(
    view.kafka.lag.unknown,
    rogue.reduce((sum, p) => sum + p.lag, 0),
  );
  assert.match(renderStatus(view, HEADER, plain), /unknown .* rogue .* 10\.1\.2\.3/);
});

test('an unanswered broker is a problem (not a crash); the rest of status is still shown', async (t) => {
  const { read, group } = statusWorld(t);
  group.unreachable = true;

  const view = await read();

  assert.equal(view.pods.length, 6);
  assert.deepEqual(view.kafka, {
    groupId: 'bg-consumer',
    bootstrap: '10.77.0.1:19092',
    error: 'Kafka at 10.77.0.1:19092: describe group failed: Connection to 10.77.0.1:19092 failed',
  });
  assert.deepEqual(
    view.problems.map((p) => p.kind),
    ['kafka-unreachable'],
  );
  assert.match(renderStatus(view, HEADER, plain), /Kafka group: bg-consumer at 10\.77\.0\.1:19092: unreachable/);
});

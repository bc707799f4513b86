/**
 * The gap (no colour consuming) is only as long as the protocol needs: a hung push to one of the
 * new colour's sidecars while the old colour pauses (it only fences that sidecar against a stale
 * file) must not hold back the resume, and pushes to one pod still go out in generation order.
 * Virtual time, so the figures are exact.
 */
import assert from 'node:assert/strict';
import { test, type TestContext } from 'node:test';
import type { ProgressSink } from '../../src/core/events.js';
import type { PodAgent } from '../../src/core/ports.js';
import { runSwitch } from '../../src/core/switch.js';
import { assertSettledOn, createWorld, type SwitchWorld } from '../support/switch-world.js';

const HUNG_PUSH_MS = 5_000;

function gapOf(world: SwitchWorld): number {
  const lastBluePaused = Math.max(...world.fleet.transitions.filter((x) => x.color === 'blue' && x.to === 'PAUSED').map((x) => x.at));
  const firstGreenActive = Math.min(
    ...world.fleet.transitions.filter((x) => x.color === 'green' && x.to === 'ACTIVE' && x.at >= lastBluePaused).map((x) => x.at),
  );
  return firstGreenActive - lastBluePaused;
}

type Hang = (pod: Parameters<PodAgent['push']>[0], entry: Parameters<PodAgent['push']>[1]) => boolean;

async function switchGap(t: TestContext, hang: Hang): Promise<number> {
  const world = createWorld(t);
  const pods = new Proxy(world.fleet, {
    get(target, property, receiver) {
      if (property === 'push') {
        return async (...args: Parameters<PodAgent['push']>) => {
          if (hang(args[0], args[1])) await world.clock.sleep(HUNG_PUSH_MS);
          return target.push(...args);
        };
      }
      const value = Reflect.get(target, property, receiver) as unknown;
      return typeof value === 'function' ? value.bind(target) : value;
    },
  });
  const report = await runSwitch(world.context({ pods }), world.request());
  assert.equal(report.outcome, 'switched', report.reason);
  assertSettledOn(world, 'green'); // includes: no push went out older than one already delivered
  return gapOf(world);
}

const cases: Array<[string, Hang]> = [
  [
    'a new-colour sidecar (its fencing push while the old colour pauses)',
    (pod, entry) => pod.color === 'green' && entry.lifecycle === 'PAUSED',
  ],
  ['an old-colour sidecar (its PAUSED push)', (pod) => pod.color === 'blue'],
  ['one sidecar of each colour, every push', (pod) => pod.name.endsWith('-0')],
];

for (const [who, hang] of cases) {
  test(`a hung push to ${who} does not lengthen the gap`, async (t) => {
    const baseline = await switchGap(t, () => false);
    const hung = await switchGap(t, hang);
    t.diagnostic(`gap ${baseline} ms normally, ${hung} ms with pushes hung for ${HUNG_PUSH_MS} ms (virtual time)`);
    assert.equal(hung, baseline);
  });
}

test('step 5 takes an old pod’s PAUSED answer to its pause call as seen, and asks every other old pod', async (t) => {
  const world = createWorld(t, { drainMs: 0 });
  world.fleet.setDrainMs('consumer-blue-2', 2_000);
  let phase = '';
  const askedInStep5: string[] = [];
  world.fleet.onCall((call) => {
    if (phase === 'verify-paused' && call.op === 'status' && call.pod.startsWith('consumer-blue')) askedInStep5.push(call.pod);
  });
  const emit: ProgressSink = (event) => {
    if (event.type !== 'phase-start') return;
    phase = event.phase.name;
    if (phase !== 'verify-paused') return;
    // Between the pause calls and the first poll: blue-1 is replaced at a new address, blue-3 is added.
    world.cluster.seedPod({
      name: 'consumer-blue-1',
      color: 'blue',
      phase: 'Running',
      ready: true,
      ip: '10.77.0.98',
      restarts: 0,
      terminating: false,
    });
    world.cluster.seedPod({
      name: 'consumer-blue-3',
      color: 'blue',
      phase: 'Running',
      ready: true,
      ip: '10.77.0.99',
      restarts: 0,
      terminating: false,
    });
    world.fleet.addConsumer('consumer-blue-3', 'blue', { state: 'PAUSED' });
  };
  const report = await runSwitch(world.context({ emit }), world.request());

  assert.equal(report.outcome, 'switched', report.reason);
  assert.ok(!askedInStep5.includes('consumer-blue-0'), 'blue-0 answered PAUSED at the address it is listed with');
  for (const pod of ['consumer-blue-1', 'consumer-blue-2', 'consumer-blue-3']) {
    assert.ok(askedInStep5.includes(pod), `${pod} (replaced, draining, added) is asked: ${askedInStep5.join(', ')}`);
  }
  assertSettledOn(world, 'green');
});

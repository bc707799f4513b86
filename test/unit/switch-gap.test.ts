/**
 * The gap (no colour consuming) is only as long as the protocol needs: a hung push to one of the
 * new colour's sidecars while the old colour pauses (it only fences that sidecar against a stale
 * file) must not hold back the resume, and pushes to one pod still go out in generation order.
 * Virtual time, so the figures are exact.
 */
import assert from 'node:assert/strict';
import { test, type TestContext } from 'node:test';
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

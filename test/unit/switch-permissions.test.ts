/**
 * Preflight asks the API server (SelfSubjectAccessReview) for every permission the switch will use,
 * so credentials that could read but not write are refused before anything changes, instead of
 * failing half-way. The in-memory cluster answers like the API server would for a Role that lacks
 * the named rules.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { RefusedError } from '../../src/core/errors.js';
import type { PermissionCheck } from '../../src/core/ports.js';
import { runSwitch } from '../../src/core/switch.js';
import { createWorld } from '../support/switch-world.js';

function denying(denied: (check: PermissionCheck) => boolean) {
  const asked: PermissionCheck[] = [];
  return {
    asked,
    missingPermissions: async (checks: PermissionCheck[]) => {
      asked.push(...checks);
      return checks.filter(denied);
    },
  };
}

test('credentials without update on the state ConfigMap are refused up front, naming the permission; nothing is written', async (t) => {
  const world = createWorld(t);
  const { missingPermissions } = denying((c) => c.verb === 'update' && c.resource === 'configmaps' && c.name === 'kafka-consumer-state');
  const cluster = Object.assign(world.cluster, { missingPermissions });
  await assert.rejects(
    runSwitch(world.context({ cluster }), world.request()),
    (error: unknown) => error instanceof RefusedError && /lack 'update' on configmaps\/kafka-consumer-state/.test(error.message),
  );
  assert.deepEqual(world.stateWrites(), []);
  assert.equal(world.cluster.peekLease('bg-consumer-active-lease')?.holderIdentity, 'blue', 'the lock was not taken');
});

test('the pod agent adds what reaching pods needs (pods/proxy verbs) to the checks', async (t) => {
  const world = createWorld(t);
  const { asked, missingPermissions } = denying((c) => c.resource === 'pods/proxy' && c.verb === 'create');
  const cluster = Object.assign(world.cluster, { missingPermissions });
  const pods = Object.assign(world.fleet, {
    permissions: [
      { verb: 'get', resource: 'pods/proxy' },
      { verb: 'create', resource: 'pods/proxy' },
    ],
  });
  await assert.rejects(runSwitch(world.context({ cluster, pods }), world.request()), /lack 'create' on pods\/proxy/);
  assert.ok(
    asked.some((c) => c.resource === 'leases' && c.group === 'coordination.k8s.io' && c.verb === 'update'),
    'the Lease is checked',
  );
  assert.ok(
    asked.some((c) => c.resource === 'events' && c.verb === 'create'),
    'the Event is checked',
  );
  assert.deepEqual(world.stateWrites(), []);
});

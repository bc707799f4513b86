/**
 * The operator Role (k8s/base/rbac-operator.yaml) against the real API server: the operator kubeconfig
 * has every permission the CLI uses and is denied the rest (the denied list is printed and kept in
 * docs/operations.md). Asked through the product's own permission preflight (one SelfSubjectRulesReview).
 */
import assert from 'node:assert/strict';
import { before, it } from 'node:test';
import { KubeConfig } from '@kubernetes/client-node';
import { DEFAULT_NAMES } from '../../src/core/names.js';
import { describePermission, faultPermissions, switchPermissions } from '../../src/core/permissions.js';
import type { PermissionCheck } from '../../src/core/ports.js';
import { KubeCluster } from '../../src/kube/cluster.js';
import { ensureLab, paths } from '../support/lab.js';

let operator: KubeCluster;

before(async () => {
  await ensureLab();
  const config = new KubeConfig();
  config.loadFromFile(paths.operatorKubeconfig);
  operator = new KubeCluster(config, DEFAULT_NAMES);
});

const NEEDED: PermissionCheck[] = [
  ...switchPermissions(DEFAULT_NAMES),
  ...faultPermissions(DEFAULT_NAMES),
  ...['get', 'create', 'update'].map((verb) => ({ verb, resource: 'pods/proxy' })),
  // init
  { verb: 'create', resource: 'configmaps' },
  { verb: 'create', resource: 'leases', group: 'coordination.k8s.io' },
  { verb: 'create', resource: 'secrets' },
];

const DENIED: PermissionCheck[] = [
  { verb: 'delete', resource: 'configmaps', name: DEFAULT_NAMES.stateConfigMap },
  { verb: 'update', resource: 'configmaps', name: 'some-other-configmap' },
  { verb: 'list', resource: 'configmaps' },
  { verb: 'delete', resource: 'leases', group: 'coordination.k8s.io', name: DEFAULT_NAMES.lease },
  { verb: 'update', resource: 'leases', group: 'coordination.k8s.io', name: 'some-other-lease' },
  { verb: 'get', resource: 'secrets', name: 'some-other-secret' },
  { verb: 'list', resource: 'secrets' },
  { verb: 'update', resource: 'secrets', name: DEFAULT_NAMES.pushKeySecret },
  { verb: 'delete', resource: 'pods' },
  { verb: 'create', resource: 'pods/exec' },
  { verb: 'get', resource: 'pods/log' },
  { verb: 'update', resource: 'services', name: DEFAULT_NAMES.services.blue },
  { verb: 'update', resource: 'statefulsets', group: 'apps' },
  { verb: 'delete', resource: 'events' },
  { verb: 'create', resource: 'roles', group: 'rbac.authorization.k8s.io' },
];

it('the operator kubeconfig has every permission the CLI uses', async () => {
  assert.deepEqual((await operator.missingPermissions(NEEDED)).map(describePermission), []);
});

it('and is denied everything else that matters', async (t) => {
  const missing = await operator.missingPermissions(DENIED);
  assert.deepEqual(missing.map(describePermission), DENIED.map(describePermission), 'each of these must be denied');
  t.diagnostic(`denied: ${DENIED.map(describePermission).join('; ')}`);
});

/**
 * The operator Role of k8s/ is exactly enough: every other e2e test runs the CLI with the operator
 * kubeconfig. Here, credentials without `pods/proxy` are refused up front with the missing
 * permission named, exit 3, and nothing written.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, it } from 'node:test';
import { KubeConfig, RbacAuthorizationV1Api, type V1PolicyRule } from '@kubernetes/client-node';
import { adminConfig, bgswitch, coordinationApi, coreApi, ensureLab, namespace, paths, resetFleet } from '../support/lab.js';

const NAME = 'bgswitch-test-no-proxy';
let dir: string;
let kubeconfig: string;

async function upsert(create: () => Promise<unknown>, replace: () => Promise<unknown>): Promise<void> {
  try {
    await create();
  } catch {
    await replace();
  }
}

before(async () => {
  await ensureLab();
  await resetFleet();
  const rbac = adminConfig().makeApiClient(RbacAuthorizationV1Api);
  const core = coreApi();
  const operator = await rbac.readNamespacedRole({ name: 'bgswitch-operator', namespace });
  const rules: V1PolicyRule[] = (operator.rules ?? []).filter((rule) => !rule.resources?.includes('pods/proxy'));
  assert.ok(rules.length < (operator.rules ?? []).length, 'the operator Role grants pods/proxy');
  const role = { metadata: { name: NAME, namespace }, rules };
  await upsert(
    () => rbac.createNamespacedRole({ namespace, body: role }),
    () => rbac.replaceNamespacedRole({ name: NAME, namespace, body: role }),
  );
  const account = { metadata: { name: NAME, namespace } };
  await upsert(
    () => core.createNamespacedServiceAccount({ namespace, body: account }),
    async () => undefined,
  );
  const binding = {
    metadata: { name: NAME, namespace },
    roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'Role', name: NAME },
    subjects: [{ kind: 'ServiceAccount', name: NAME, namespace }],
  };
  await upsert(
    () => rbac.createNamespacedRoleBinding({ namespace, body: binding }),
    () => rbac.replaceNamespacedRoleBinding({ name: NAME, namespace, body: binding }),
  );
  const token = await core.createNamespacedServiceAccountToken({
    name: NAME,
    namespace,
    body: { spec: { audiences: [], expirationSeconds: 3600 } },
  });

  const operatorConfig = new KubeConfig();
  operatorConfig.loadFromFile(paths.operatorKubeconfig);
  const cluster = operatorConfig.getCurrentCluster()!;
  const limited = new KubeConfig();
  limited.loadFromOptions({
    clusters: [cluster],
    users: [{ name: NAME, token: token.status?.token ?? '' }],
    contexts: [{ name: NAME, cluster: cluster.name, user: NAME, namespace }],
    currentContext: NAME,
  });
  dir = mkdtempSync(join(tmpdir(), 'bgswitch-rbac-'));
  kubeconfig = join(dir, 'kubeconfig');
  writeFileSync(kubeconfig, limited.exportConfig());
});

after(() => {
  if (dir) rmSync(dir, { recursive: true, force: true });
});

it('status names the missing pods/proxy permission and exits 3', async () => {
  const result = await bgswitch(['status'], { kubeconfig });
  assert.equal(result.code, 3, result.stdout + result.stderr);
  assert.match(result.stderr, /pods\/proxy/);
  assert.match(result.stderr, /hint: .*pods\/proxy/);
});

it('switch is refused before anything is written', async () => {
  const state = await coreApi().readNamespacedConfigMap({ name: 'kafka-consumer-state', namespace });
  const lease = await coordinationApi().readNamespacedLease({ name: 'bg-consumer-active-lease', namespace });
  const result = await bgswitch(['switch', 'green', '--yes'], { kubeconfig });
  assert.equal(result.code, 3, result.stdout + result.stderr);
  assert.match(result.stderr, /forbidden.*pods\/proxy/i);
  const stateAfter = await coreApi().readNamespacedConfigMap({ name: 'kafka-consumer-state', namespace });
  const leaseAfter = await coordinationApi().readNamespacedLease({ name: 'bg-consumer-active-lease', namespace });
  assert.equal(stateAfter.metadata?.resourceVersion, state.metadata?.resourceVersion);
  assert.equal(leaseAfter.metadata?.resourceVersion, lease.metadata?.resourceVersion);
});

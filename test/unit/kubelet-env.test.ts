import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { V1Container, V1Pod } from '@kubernetes/client-node';
import { expandReferences, resolveContainerEnv } from '../../lab/kubelet/env.js';
import { ContainerConfigError } from '../../lab/kubelet/field-ref.js';
import { MemoryObjects } from './kubelet-fixtures.js';

const pod: V1Pod = {
  metadata: {
    name: 'consumer-green-1',
    namespace: 'kafka-bg-test',
    uid: '6f1c-uid',
    labels: { color: 'green', app: 'bg-consumer' },
    annotations: { team: 'payments' },
  },
  spec: { nodeName: 'lab-node', serviceAccountName: 'bgswitch-sidecar', containers: [] },
};
const facts = { podIp: '10.77.0.42', hostIp: '10.77.0.1' };
const fieldRef = (fieldPath: string) => ({ valueFrom: { fieldRef: { fieldPath } } });

describe('resolveContainerEnv', () => {
  it('resolves every supported fieldRef the way the kubelet does', async () => {
    const container: V1Container = {
      name: 'switch-sidecar',
      env: [
        { name: 'NAME', ...fieldRef('metadata.name') },
        { name: 'NS', ...fieldRef('metadata.namespace') },
        { name: 'UID', ...fieldRef('metadata.uid') },
        { name: 'COLOR', ...fieldRef("metadata.labels['color']") },
        { name: 'TEAM', ...fieldRef("metadata.annotations['team']") },
        { name: 'NODE', ...fieldRef('spec.nodeName') },
        { name: 'SA', ...fieldRef('spec.serviceAccountName') },
        { name: 'POD_IP', ...fieldRef('status.podIP') },
        { name: 'HOST_IP', ...fieldRef('status.hostIP') },
      ],
    };
    const env = await resolveContainerEnv(pod, container, facts, new MemoryObjects());
    assert.deepEqual(
      {
        NAME: env.NAME,
        NS: env.NS,
        UID: env.UID,
        COLOR: env.COLOR,
        TEAM: env.TEAM,
        NODE: env.NODE,
        SA: env.SA,
        POD_IP: env.POD_IP,
        HOST_IP: env.HOST_IP,
      },
      {
        NAME: 'consumer-green-1',
        NS: 'kafka-bg-test',
        UID: '6f1c-uid',
        COLOR: 'green',
        TEAM: 'payments',
        NODE: 'lab-node',
        SA: 'bgswitch-sidecar',
        POD_IP: '10.77.0.42',
        HOST_IP: '10.77.0.1',
      },
    );
  });

  it('points in-cluster clients at the reachable API server and leaks nothing of the parent environment', async () => {
    process.env.BGS_KUBELET_TEST_SECRET = 'must-not-leak';
    try {
      const env = await resolveContainerEnv(
        pod,
        { name: 'consumer', env: [{ name: 'MY_COLOR', value: 'green' }] },
        facts,
        new MemoryObjects(),
      );
      assert.equal(env.KUBERNETES_SERVICE_HOST, '10.77.0.1');
      assert.equal(env.KUBERNETES_SERVICE_PORT, '16443');
      assert.equal(env.MY_COLOR, 'green');
      assert.equal(env.HOSTNAME, 'consumer-green-1');
      assert.equal(env.BGS_KUBELET_TEST_SECRET, undefined);
      assert.equal(env.NODE_V8_COVERAGE, process.env.NODE_V8_COVERAGE);
    } finally {
      delete process.env.BGS_KUBELET_TEST_SECRET;
    }
  });

  it('reads configMapKeyRef and secretKeyRef, skipping optional missing ones', async () => {
    const objects = new MemoryObjects();
    objects.configMaps.set('kafka-bg-test/settings', { data: { interval: '500' } });
    objects.secrets.set('kafka-bg-test/creds', { data: { password: Buffer.from('hunter2').toString('base64') } });
    const container: V1Container = {
      name: 'consumer',
      env: [
        { name: 'INTERVAL', valueFrom: { configMapKeyRef: { name: 'settings', key: 'interval' } } },
        { name: 'PASSWORD', valueFrom: { secretKeyRef: { name: 'creds', key: 'password' } } },
        { name: 'MAYBE', valueFrom: { configMapKeyRef: { name: 'absent', key: 'x', optional: true } } },
        { name: 'MAYBE_KEY', valueFrom: { secretKeyRef: { name: 'creds', key: 'absent', optional: true } } },
      ],
    };
    const env = await resolveContainerEnv(pod, container, facts, objects);
    assert.equal(env.INTERVAL, '500');
    assert.equal(env.PASSWORD, 'hunter2');
    assert.equal('MAYBE' in env, false);
    assert.equal('MAYBE_KEY' in env, false);
  });

  it('a missing required ConfigMap or key is a ContainerConfigError naming it', async () => {
    const objects = new MemoryObjects();
    objects.configMaps.set('kafka-bg-test/settings', { data: {} });
    const missingMap: V1Container = { name: 'c', env: [{ name: 'X', valueFrom: { configMapKeyRef: { name: 'absent', key: 'x' } } }] };
    const missingKey: V1Container = { name: 'c', env: [{ name: 'X', valueFrom: { configMapKeyRef: { name: 'settings', key: 'x' } } }] };
    await assert.rejects(
      resolveContainerEnv(pod, missingMap, facts, objects),
      (error: unknown) => error instanceof ContainerConfigError && /configmap "absent" not found/.test(error.message),
    );
    await assert.rejects(
      resolveContainerEnv(pod, missingKey, facts, objects),
      (error: unknown) => error instanceof ContainerConfigError && /key x in configmap kafka-bg-test\/settings/.test(error.message),
    );
  });

  it('rejects an unsupported fieldPath instead of passing an empty value', async () => {
    const container: V1Container = { name: 'c', env: [{ name: 'X', ...fieldRef('spec.bogus') }] };
    await assert.rejects(resolveContainerEnv(pod, container, facts, new MemoryObjects()), ContainerConfigError);
  });
});

describe('expandReferences', () => {
  it('expands $(VAR) of defined names, keeps unknown ones and unescapes $$', () => {
    assert.equal(expandReferences('http://$(HOST):$(PORT)/$(NOPE) $$(HOST)', { HOST: 'a', PORT: '1' }), 'http://a:1/$(NOPE) $(HOST)');
  });
});

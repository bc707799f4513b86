/**
 * Pure mappings between API objects and the port types, including what goes on the wire for Lease
 * and Event times (the API server wants 6 fractional digits).
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { V1Lease, V1Pod } from '@kubernetes/client-node';
import { auditEventBody, labelSelectorString, leaseSnapshot, leaseSpec, podInfoFromPod, timeFromApi } from '../../src/kube/mapping.js';
import { byPodName } from '../../src/core/fleet.js';

const MICRO_TIME = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{6}Z$/;

describe('pod -> PodInfo', () => {
  it('maps phase, Ready condition, IP, summed restarts and termination', () => {
    const pod: V1Pod = {
      metadata: { name: 'consumer-blue-1', deletionTimestamp: new Date('2024-05-01T00:00:00Z') },
      status: {
        phase: 'Running',
        podIP: '10.77.0.12',
        conditions: [
          { type: 'PodScheduled', status: 'True' },
          { type: 'Ready', status: 'True' },
        ],
        containerStatuses: [
          { name: 'consumer', restartCount: 2, image: 'x', imageID: '', ready: true },
          { name: 'switch-sidecar', restartCount: 3, image: 'y', imageID: '', ready: true },
        ],
      },
    };
    assert.deepEqual(podInfoFromPod(pod, 'blue'), {
      name: 'consumer-blue-1',
      color: 'blue',
      phase: 'Running',
      ready: true,
      ip: '10.77.0.12',
      restarts: 5,
      terminating: true,
    });
  });

  it('a fresh pod with no status is Unknown, not ready, without IP', () => {
    assert.deepEqual(podInfoFromPod({ metadata: { name: 'consumer-green-0' } }, 'green'), {
      name: 'consumer-green-0',
      color: 'green',
      phase: 'Unknown',
      ready: false,
      restarts: 0,
      terminating: false,
    });
  });

  it('Ready=False is not ready', () => {
    const pod: V1Pod = { metadata: { name: 'p' }, status: { phase: 'Running', conditions: [{ type: 'Ready', status: 'False' }] } };
    assert.equal(podInfoFromPod(pod, 'blue').ready, false);
  });

  it('sorts pods in StatefulSet ordinal order', () => {
    const names = ['consumer-blue-10', 'consumer-blue-2', 'consumer-blue-0'];
    const sorted = names.map((name) => podInfoFromPod({ metadata: { name } }, 'blue')).sort(byPodName);
    assert.deepEqual(
      sorted.map((pod) => pod.name),
      ['consumer-blue-0', 'consumer-blue-2', 'consumer-blue-10'],
    );
  });

  it('builds a deterministic label selector', () => {
    assert.equal(labelSelectorString({ color: 'blue', app: 'bg-consumer' }), 'app=bg-consumer,color=blue');
  });
});

describe('Lease times', () => {
  const write = {
    name: 'bg-consumer-active-lease',
    holderIdentity: 'alice@host/42/abcd',
    leaseDurationSeconds: 30,
    acquireTime: new Date('2024-01-02T03:04:05.123Z'),
    renewTime: new Date('2024-01-02T03:04:06.5Z'),
    leaseTransitions: 4,
  };

  it('go on the wire as RFC 3339 with microseconds', () => {
    const wire = JSON.parse(JSON.stringify({ spec: leaseSpec(write) })) as { spec: Record<string, unknown> };
    assert.equal(wire.spec['acquireTime'], '2024-01-02T03:04:05.123000Z');
    assert.equal(wire.spec['renewTime'], '2024-01-02T03:04:06.500000Z');
    assert.match(String(wire.spec['renewTime']), MICRO_TIME);
    assert.equal(wire.spec['holderIdentity'], 'alice@host/42/abcd');
    assert.equal(wire.spec['leaseTransitions'], 4);
  });

  it('come back as Dates from the strings the API server sends', () => {
    const fromServer = {
      metadata: { name: 'bg-consumer-active-lease', resourceVersion: '77' },
      spec: { holderIdentity: 'green', leaseDurationSeconds: 30, renewTime: '2024-01-02T03:04:06.654321Z' },
    };
    const lease = fromServer as unknown as V1Lease;
    assert.deepEqual(leaseSnapshot(lease, 'bg-consumer-active-lease'), {
      name: 'bg-consumer-active-lease',
      resourceVersion: '77',
      holderIdentity: 'green',
      leaseDurationSeconds: 30,
      renewTime: new Date('2024-01-02T03:04:06.654Z'),
    });
  });

  it('ignores unparseable times instead of inventing them', () => {
    assert.equal(timeFromApi('not a time'), undefined);
    assert.equal(timeFromApi(undefined), undefined);
  });
});

describe('audit Event', () => {
  const now = new Date('2024-03-04T05:06:07.890Z');

  it('targets the active-version ConfigMap and carries the fields the API server requires', () => {
    const event = auditEventBody(
      { reason: 'SwitchSucceeded', message: 'blue -> green by alice@laptop', type: 'Normal', actor: 'alice@laptop' },
      { namespace: 'kafka-bg-test', configMapName: 'kafka-consumer-active-version', configMapUid: 'uid-1' },
      now,
      '0123456789abcdef',
    );
    assert.equal(event.metadata.name, 'kafka-consumer-active-version.0123456789abcdef');
    assert.equal(event.metadata.namespace, 'kafka-bg-test');
    assert.deepEqual(event.involvedObject, {
      apiVersion: 'v1',
      kind: 'ConfigMap',
      name: 'kafka-consumer-active-version',
      namespace: 'kafka-bg-test',
      uid: 'uid-1',
    });
    assert.equal(event.source?.component, 'bgswitch');
    assert.equal(event.reportingComponent, 'bgswitch');
    assert.equal(event.reportingInstance, 'alice@laptop');
    assert.equal(event.action, 'SwitchSucceeded');
    assert.equal(event.count, 1);
    const wire = JSON.parse(JSON.stringify(event)) as Record<string, unknown>;
    assert.equal(wire['eventTime'], '2024-03-04T05:06:07.890000Z');
    assert.equal(wire['firstTimestamp'], '2024-03-04T05:06:07.890Z');
  });

  it('clips fields to the API server limits', () => {
    const event = auditEventBody(
      { reason: 'R'.repeat(300), message: 'm'.repeat(5000), type: 'Warning', actor: 'a'.repeat(200) },
      { namespace: 'ns', configMapName: 'cm' },
      now,
      'ff',
    );
    assert.equal(event.reason?.length, 128);
    assert.equal(event.message?.length, 1024);
    assert.equal(event.reportingInstance?.length, 128);
    assert.equal(event.involvedObject.uid, undefined);
  });
});

/**
 * The lab control plane is a real, RBAC-enforcing Kubernetes API server: the identities the lab
 * hands out get exactly the rights k8s/ grants them. Needs root; brings the control plane up with
 * labUp (seconds when already running; the first run may build Kubernetes for ~15 minutes).
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { request } from 'node:https';
import { after, before, describe, it } from 'node:test';
import {
  ApiException,
  AuthorizationV1Api,
  CoordinationV1Api,
  CoreV1Api,
  KubeConfig,
  V1MicroTime,
  VersionApi,
} from '@kubernetes/client-node';
import { adminRequest, kubeConfigFrom } from '../../lab/control-plane/clients.js';
import { labUp, type LabInfo } from '../../lab/control.js';
import { DEFAULT_K8S_VERSION, LAB_NETWORK } from '../../lab/paths.js';
import { pkiFiles, type LabPki } from '../../lab/pki.js';

const NAMESPACE = 'kafka-bg-test';
const STATE_CONFIGMAP = 'kafka-consumer-state';
const ACTIVE_VERSION_CONFIGMAP = 'kafka-consumer-active-version';

async function statusOf(call: Promise<unknown>): Promise<number> {
  try {
    await call;
    return 200;
  } catch (error) {
    if (error instanceof ApiException) return error.code;
    throw error;
  }
}

function tokenKubeConfig(server: string, caFile: string, token: string): KubeConfig {
  const config = new KubeConfig();
  config.loadFromOptions({
    clusters: [{ name: 'lab', server, caFile }],
    users: [{ name: 'sidecar', token }],
    contexts: [{ name: 'lab', cluster: 'lab', user: 'sidecar' }],
    currentContext: 'lab',
  });
  return config;
}

describe('lab control plane', { timeout: 30 * 60_000 }, () => {
  let lab: LabInfo;
  let pki: LabPki;
  let admin: KubeConfig;
  let operator: KubeConfig;
  const leaseName = `lab-test-${randomBytes(4).toString('hex')}`;

  before(async () => {
    lab = await labUp({ scope: 'control-plane' });
    pki = pkiFiles(lab.paths.pkiDir);
    admin = kubeConfigFrom(lab.paths.adminKubeconfig);
    operator = kubeConfigFrom(lab.paths.operatorKubeconfig);
  });

  after(async () => {
    if (!admin) return;
    const leases = admin.makeApiClient(CoordinationV1Api);
    for (const name of [leaseName, `${leaseName}-ms`]) {
      const status = await statusOf(leases.deleteNamespacedLease({ name, namespace: NAMESPACE }));
      assert.ok(status === 200 || status === 404, `cleanup of lease ${name} answered ${status}`);
    }
  });

  it('answers as the requested Kubernetes version, from the host and on the pods’ bridge address', async () => {
    const version = await admin.makeApiClient(VersionApi).getCode();
    assert.equal(version.gitVersion, DEFAULT_K8S_VERSION);

    const viaBridge = kubeConfigFrom(lab.paths.adminKubeconfig);
    const cluster = viaBridge.getCurrentCluster();
    assert.ok(cluster);
    (cluster as { server: string }).server = `https://${LAB_NETWORK.bridgeAddress}:${LAB_NETWORK.apiServerPort}`;
    assert.equal((await viaBridge.makeApiClient(VersionApi).getCode()).gitVersion, DEFAULT_K8S_VERSION);
  });

  it('lets the admin do everything', async () => {
    const review = await admin.makeApiClient(AuthorizationV1Api).createSelfSubjectAccessReview({
      body: { spec: { resourceAttributes: { verb: '*', group: '*', resource: '*' } } },
    });
    assert.equal(review.status?.allowed, true);
    assert.equal(await statusOf(admin.makeApiClient(CoreV1Api).listSecretForAllNamespaces()), 200);
  });

  it('refuses anonymous requests', async () => {
    const status = await new Promise<number>((resolve, reject) => {
      const call = request(`${lab.apiServerUrl}/api`, { ca: readFileSync(pki.caCert), timeout: 3000 }, (response) => {
        response.resume();
        resolve(response.statusCode ?? 0);
      });
      call.on('timeout', () => call.destroy(new Error('no answer within 3s')));
      call.on('error', reject);
      call.end();
    });
    assert.equal(status, 401);
  });

  it('gives the operator exactly the rights of k8s/base/rbac-operator.yaml', async () => {
    const core = operator.makeApiClient(CoreV1Api);
    const state = await core.readNamespacedConfigMap({ name: STATE_CONFIGMAP, namespace: NAMESPACE });
    assert.equal(state.metadata?.name, STATE_CONFIGMAP);
    // dryRun: were RBAC wrong, nothing would be deleted; authorisation still runs first.
    assert.equal(await statusOf(core.deleteNamespacedConfigMap({ name: STATE_CONFIGMAP, namespace: NAMESPACE, dryRun: 'All' })), 403);
    assert.equal(await statusOf(core.listNamespacedSecret({ namespace: NAMESPACE })), 403);
  });

  it('gives the sidecar service account read access to its one ConfigMap and nothing else', async () => {
    const token = await admin.makeApiClient(CoreV1Api).createNamespacedServiceAccountToken({
      name: 'bgswitch-sidecar',
      namespace: NAMESPACE,
      body: { spec: { audiences: [], expirationSeconds: 600 } },
    });
    assert.ok(token.status?.token);
    const sidecar = tokenKubeConfig(lab.apiServerUrl, pki.caCert, token.status.token).makeApiClient(CoreV1Api);
    const state = await sidecar.readNamespacedConfigMap({ name: STATE_CONFIGMAP, namespace: NAMESPACE });
    assert.equal(state.metadata?.name, STATE_CONFIGMAP);
    assert.equal(await statusOf(sidecar.readNamespacedConfigMap({ name: ACTIVE_VERSION_CONFIGMAP, namespace: NAMESPACE })), 403);
    assert.equal(await statusOf(sidecar.listNamespacedPod({ namespace: NAMESPACE })), 403);
  });

  it('stores Lease times with microseconds and rejects times without them', async () => {
    const renewTime = new V1MicroTime('2030-01-02T03:04:05.678Z');
    await admin.makeApiClient(CoordinationV1Api).createNamespacedLease({
      namespace: NAMESPACE,
      body: {
        metadata: { name: leaseName },
        spec: { holderIdentity: 'blue', leaseDurationSeconds: 15, acquireTime: renewTime, renewTime },
      },
    });
    const stored = await adminRequest(pki, 'GET', `/apis/coordination.k8s.io/v1/namespaces/${NAMESPACE}/leases/${leaseName}`);
    assert.equal(stored.status, 200);
    assert.equal((JSON.parse(stored.body) as { spec: { renewTime: string } }).spec.renewTime, '2030-01-02T03:04:05.678000Z');

    const millisecondsOnly = await adminRequest(pki, 'POST', `/apis/coordination.k8s.io/v1/namespaces/${NAMESPACE}/leases`, {
      apiVersion: 'coordination.k8s.io/v1',
      kind: 'Lease',
      metadata: { name: `${leaseName}-ms` },
      spec: { holderIdentity: 'blue', renewTime: '2030-01-02T03:04:06.123Z' },
    });
    assert.equal(millisecondsOnly.status, 400, millisecondsOnly.body);
    assert.match(millisecondsOnly.body, /cannot parse .*\.123Z.* as .*\.000000/);
  });
});

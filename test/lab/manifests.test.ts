/**
 * The lab overlay as `lab up` applies it (`kubectl kustomize k8s/overlays/lab`), against the real
 * API server: the namespace enforces the restricted Pod Security Standard, the fleet's pods were
 * admitted under it and are Ready, a pod that breaks it is refused, every workload and pod carries
 * the app.kubernetes.io labels, and each colour has a PodDisruptionBudget that the real disruption
 * controller evaluates.
 */
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { before, describe, it } from 'node:test';
import { AppsV1Api, CoreV1Api, PolicyV1Api, type V1Pod } from '@kubernetes/client-node';
import { kustomizeBuild } from '../../lab/apply.js';
import { isApiStatus } from '../../lab/control-plane/clients.js';
import { binaryCacheDir, DEFAULT_K8S_VERSION } from '../../lab/paths.js';
import { adminConfig, ensureLab, namespace, paths, waitFor } from '../support/lab.js';

const COLORS = ['blue', 'green'] as const;
const RECOMMENDED_LABELS = ['name', 'instance', 'component', 'part-of', 'version'].map((key) => `app.kubernetes.io/${key}`);

const isReady = (pod: V1Pod): boolean =>
  pod.status?.conditions?.some((condition) => condition.type === 'Ready' && condition.status === 'True') ?? false;
const missingLabels = (labels: Record<string, string> | undefined): string[] => RECOMMENDED_LABELS.filter((key) => !labels?.[key]);

/** A bare pod made from the lab overlay's own consumer-blue pod template, so only `change` differs. */
async function podFromBuiltTemplate(name: string, change: (pod: V1Pod) => void): Promise<V1Pod> {
  const built = await kustomizeBuild(join(binaryCacheDir(DEFAULT_K8S_VERSION), 'kubectl'), paths.manifestsDir);
  const statefulSet = built.find((object) => object.kind === 'StatefulSet' && object.metadata.name === 'consumer-blue') as unknown as {
    spec: { template: V1Pod };
  };
  const pod: V1Pod = {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name, namespace, labels: { test: 'pod-security' } },
    spec: structuredClone(statefulSet.spec.template.spec),
  };
  change(pod);
  return pod;
}

describe('the lab overlay in the real API server', () => {
  let core: CoreV1Api;

  before(async () => {
    await ensureLab();
    core = adminConfig().makeApiClient(CoreV1Api);
  });

  it('the namespace enforces the restricted Pod Security Standard', async () => {
    const labels = (await core.readNamespace({ name: namespace })).metadata?.labels ?? {};
    assert.equal(labels['pod-security.kubernetes.io/enforce'], 'restricted');
  });

  it("the fleet's pods were admitted under it and are Ready, carrying the recommended labels", async () => {
    const pods = (await core.listNamespacedPod({ namespace, labelSelector: 'app=bg-consumer' })).items;
    assert.deepEqual(
      pods.map((pod) => pod.metadata?.name).sort(),
      COLORS.flatMap((color) => [0, 1, 2].map((index) => `consumer-${color}-${index}`)),
    );
    for (const pod of pods) {
      assert.ok(isReady(pod), `${pod.metadata?.name} is Ready`);
      assert.deepEqual(missingLabels(pod.metadata?.labels), [], `${pod.metadata?.name} labels`);
      assert.equal(pod.spec?.securityContext?.runAsNonRoot, true);
    }
  });

  it('every workload carries the recommended labels', async () => {
    const statefulSets = (await adminConfig().makeApiClient(AppsV1Api).listNamespacedStatefulSet({ namespace })).items;
    assert.deepEqual(statefulSets.map((statefulSet) => statefulSet.metadata?.name).sort(), ['consumer-blue', 'consumer-green']);
    for (const statefulSet of statefulSets) {
      assert.deepEqual(missingLabels(statefulSet.metadata?.labels), [], `${statefulSet.metadata?.name} labels`);
      assert.deepEqual(missingLabels(statefulSet.spec?.template.metadata?.labels), [], `${statefulSet.metadata?.name} template labels`);
    }
  });

  it('a pod from the same template passes admission; without its security settings it is refused', async () => {
    const compliant = await podFromBuiltTemplate('pod-security-compliant', () => {});
    await core.createNamespacedPod({ namespace, body: compliant, dryRun: 'All' });

    const nonCompliant = await podFromBuiltTemplate('pod-security-violation', (pod) => {
      const spec = pod.spec as NonNullable<V1Pod['spec']>;
      delete spec.securityContext;
      for (const container of spec.containers) delete container.securityContext;
    });
    const refusal = await core.createNamespacedPod({ namespace, body: nonCompliant }).then(
      async () => {
        await core.deleteNamespacedPod({ namespace, name: 'pod-security-violation', gracePeriodSeconds: 0 });
        return undefined;
      },
      (error: unknown) => error,
    );
    assert.ok(refusal !== undefined, 'the API server admitted a pod that breaks the restricted profile');
    assert.ok(isApiStatus(refusal, 403), `refused with 403 Forbidden, got ${String(refusal)}`);
    const { message } = JSON.parse(String((refusal as { body?: unknown }).body)) as { message: string };
    process.stderr.write(`refused as it should be: ${message}\n`);
    for (const expected of [
      'violates PodSecurity "restricted:latest"',
      'allowPrivilegeEscalation != false',
      'runAsNonRoot != true',
      'seccompProfile',
    ]) {
      assert.ok(message.includes(expected), `the refusal names ${expected}: ${message}`);
    }
  });

  it('each colour has a PodDisruptionBudget over its three pods', async () => {
    const policy = adminConfig().makeApiClient(PolicyV1Api);
    for (const color of COLORS) {
      const budget = await waitFor(`the disruption controller to count consumer-${color}'s pods`, async () => {
        const read = await policy.readNamespacedPodDisruptionBudget({ namespace, name: `consumer-${color}` });
        return read.status?.expectedPods === 3 ? read : undefined;
      });
      assert.deepEqual(budget.spec?.selector?.matchLabels, { app: 'bg-consumer', color });
      assert.equal(budget.spec?.maxUnavailable, 1);
      assert.deepEqual(missingLabels(budget.metadata?.labels), []);
    }
  });
});

/**
 * The kustomize tree under k8s/ builds with the real kustomize (the lab's kubectl build, made by
 * `npm run lab -- build`) into what each overlay promises. The lab test
 * test/lab/manifests.test.ts checks the built lab overlay against a real API server.
 */
import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { kustomizeBuild, type ManifestObject } from '../../lab/apply.js';
import { binaryCacheDir, DEFAULT_K8S_VERSION } from '../../lab/paths.js';

const repoRoot = fileURLToPath(new URL('../../', import.meta.url));
const kubectl = join(binaryCacheDir(DEFAULT_K8S_VERSION), 'kubectl');
const COLORS = ['blue', 'green'] as const;
const RECOMMENDED_LABELS = ['name', 'instance', 'component', 'part-of', 'version'].map((key) => `app.kubernetes.io/${key}`);

interface PodTemplate {
  metadata: { labels: Record<string, string> };
  spec: {
    securityContext?: Record<string, unknown>;
    containers: Array<{
      name: string;
      image: string;
      securityContext?: Record<string, unknown>;
      envFrom?: Array<{ configMapRef?: { name: string } }>;
    }>;
  };
}
interface Workload extends ManifestObject {
  spec: { selector: { matchLabels: Record<string, string> }; template: PodTemplate; serviceName?: string };
}

const overlays: Record<string, ManifestObject[]> = {};

function build(name: string): ManifestObject[] {
  const objects = overlays[name];
  assert.ok(objects, `overlay ${name} was not built`);
  return objects;
}

const ofKind = <T extends ManifestObject = ManifestObject>(objects: ManifestObject[], kind: string): T[] =>
  objects.filter((object) => object.kind === kind) as T[];

function kafkaSettings(objects: ManifestObject[], workload: Workload): Record<string, string> {
  const refs =
    workload.spec.template.spec.containers
      .find((container) => container.name === 'consumer')
      ?.envFrom?.map((source) => source.configMapRef?.name) ?? [];
  assert.equal(refs.length, 1, 'the consumer takes its Kafka settings from one ConfigMap');
  const configMap = ofKind<ManifestObject & { data?: Record<string, string> }>(objects, 'ConfigMap').find(
    (object) => object.metadata.name === refs[0],
  );
  assert.ok(configMap, `the consumer's ConfigMap ${refs[0]} is part of the build`);
  return configMap.data ?? {};
}

describe('k8s/ built with kustomize', () => {
  before(async () => {
    assert.ok(existsSync(kubectl), `${kubectl} is missing: run npm run build && npm run lab -- build`);
    for (const name of ['base', 'overlays/production', 'overlays/lab', 'overlays/deployment', 'overlays/lab-deployment']) {
      overlays[name] = await kustomizeBuild(kubectl, join(repoRoot, 'k8s', name));
    }
  });

  for (const [overlay, kind] of [
    ['overlays/production', 'StatefulSet'],
    ['overlays/lab', 'StatefulSet'],
    ['overlays/deployment', 'Deployment'],
    ['overlays/lab-deployment', 'Deployment'],
  ] as const) {
    it(`${overlay}: one ${kind} and one PodDisruptionBudget per colour, selected by app and color, in one namespace`, () => {
      const objects = build(overlay);
      assert.equal(objects[0]?.kind, 'Namespace', 'the Namespace is applied first');
      assert.deepEqual(
        objects
          .filter((object) => object.kind !== 'Namespace' && object.metadata.namespace !== 'kafka-bg-test')
          .map((object) => object.metadata.name),
        [],
      );
      const workloads = ofKind<Workload>(objects, kind);
      assert.deepEqual(workloads.map((workload) => workload.metadata.name).sort(), ['consumer-blue', 'consumer-green']);
      assert.deepEqual(ofKind(objects, kind === 'Deployment' ? 'StatefulSet' : 'Deployment'), []);
      for (const color of COLORS) {
        const workload = workloads.find((candidate) => candidate.metadata.name === `consumer-${color}`) as Workload;
        assert.deepEqual(workload.spec.selector.matchLabels, { app: 'bg-consumer', color });
        if (kind === 'StatefulSet') assert.equal(workload.spec.serviceName, `consumer-${color}-svc`);
        for (const labels of [workload.metadata.labels ?? {}, workload.spec.template.metadata.labels]) {
          assert.deepEqual(
            RECOMMENDED_LABELS.filter((key) => !labels[key]),
            [],
            `${workload.metadata.name} lacks recommended labels`,
          );
          assert.equal(labels['app.kubernetes.io/instance'], `consumer-${color}`);
        }
        const budgets = ofKind<ManifestObject & { spec: { selector: { matchLabels: Record<string, string> } } }>(
          objects,
          'PodDisruptionBudget',
        );
        assert.equal(
          budgets.filter((budget) => JSON.stringify(budget.spec.selector.matchLabels) === JSON.stringify({ app: 'bg-consumer', color }))
            .length,
          1,
        );
      }
      const services = ofKind<ManifestObject & { spec: { selector: Record<string, string> } }>(objects, 'Service');
      assert.deepEqual(
        services.map((service) => [service.metadata.name, service.spec.selector]),
        COLORS.map((color) => [`consumer-${color}-svc`, { app: 'bg-consumer', color }]),
      );
    });
  }

  it('every pod template meets the restricted Pod Security Standard, and the namespace enforces it', () => {
    for (const overlay of ['overlays/production', 'overlays/lab', 'overlays/deployment', 'overlays/lab-deployment']) {
      const objects = build(overlay);
      assert.equal(ofKind(objects, 'Namespace')[0]?.metadata.labels?.['pod-security.kubernetes.io/enforce'], 'restricted');
      for (const workload of [...ofKind<Workload>(objects, 'StatefulSet'), ...ofKind<Workload>(objects, 'Deployment')]) {
        const { securityContext, containers } = workload.spec.template.spec;
        assert.equal(securityContext?.['runAsNonRoot'], true);
        assert.ok(Number(securityContext?.['runAsUser']) > 0, 'a numeric non-root uid');
        assert.deepEqual(securityContext?.['seccompProfile'], { type: 'RuntimeDefault' });
        for (const container of containers) {
          assert.deepEqual(
            container.securityContext,
            { allowPrivilegeEscalation: false, readOnlyRootFilesystem: true, capabilities: { drop: ['ALL'] } },
            container.name,
          );
        }
      }
    }
  });

  it('the sidecar may only get, list and watch its one ConfigMap', () => {
    const role = ofKind<ManifestObject & { rules: unknown[] }>(build('overlays/lab'), 'Role').find(
      (object) => object.metadata.name === 'bgswitch-sidecar',
    );
    assert.deepEqual(role?.rules, [
      { apiGroups: [''], resources: ['configmaps'], resourceNames: ['kafka-consumer-state'], verbs: ['get', 'list', 'watch'] },
    ]);
  });

  it('the lab overlay points the consumers at the lab broker and group; production at the operator-set kafka.env', () => {
    for (const workload of ofKind<Workload>(build('overlays/lab'), 'StatefulSet')) {
      assert.deepEqual(kafkaSettings(build('overlays/lab'), workload), {
        KAFKA_BOOTSTRAP_SERVERS: '10.77.0.1:19092',
        KAFKA_GROUP: 'bg-consumer',
      });
    }
    const productionEnv = readFileSync(join(repoRoot, 'k8s/overlays/production/kafka.env'), 'utf8');
    const bootstrap = /^KAFKA_BOOTSTRAP_SERVERS=(.+)$/m.exec(productionEnv)?.[1];
    for (const overlay of ['overlays/production', 'overlays/deployment']) {
      for (const workload of [...ofKind<Workload>(build(overlay), 'StatefulSet'), ...ofKind<Workload>(build(overlay), 'Deployment')]) {
        assert.equal(kafkaSettings(build(overlay), workload)['KAFKA_BOOTSTRAP_SERVERS'], bootstrap);
      }
    }
  });

  it('the base names no Kafka cluster: its Kafka ConfigMap is empty and no base file holds an address', () => {
    const base = build('base');
    const workload = ofKind<Workload>(base, 'StatefulSet')[0] as Workload;
    assert.deepEqual(kafkaSettings(base, workload), {});
    const files = (dir: string): string[] =>
      readdirSync(dir).flatMap((entry) => (statSync(join(dir, entry)).isDirectory() ? files(join(dir, entry)) : [join(dir, entry)]));
    const baseFiles = files(join(repoRoot, 'k8s/base'));
    assert.ok(baseFiles.length > 5, 'the base files are found');
    for (const file of baseFiles) {
      const text = readFileSync(file, 'utf8');
      assert.doesNotMatch(text, /KAFKA_BOOTSTRAP_SERVERS\s*[:=]|\b[\w.-]+:(9092|19092|39092)\b|\b\d+\.\d+\.\d+\.\d+\b/, file);
    }
  });

  it('images are set once, by kustomize images:, with the same tag in every overlay', () => {
    for (const overlay of ['overlays/production', 'overlays/lab', 'overlays/deployment', 'overlays/lab-deployment']) {
      const images = [...ofKind<Workload>(build(overlay), 'StatefulSet'), ...ofKind<Workload>(build(overlay), 'Deployment')].flatMap(
        (workload) => workload.spec.template.spec.containers.map((container) => container.image),
      );
      assert.deepEqual([...new Set(images)].sort(), ['bgswitch/reference-consumer:0.1.0', 'bgswitch/switch-sidecar:0.1.0']);
    }
  });
});

/**
 * `init`: creates, idempotently, what the protocol needs and the manifests do not carry. It never
 * changes what already exists and never makes anything consume: new entries are PAUSED, and the
 * first `bgswitch switch <colour>` starts consumption.
 *
 *  1. the state ConfigMap (created if missing): a PAUSED entry for each colour key and each existing
 *     pod that has none;
 *  2. the active-version ConfigMap (created if missing, no `active` until the first switch), and the
 *     Kafka settings when given (`kafkaBootstrapServers`, `kafkaGroup`: every operator's CLI reads
 *     them from there; given again with other values, they are updated);
 *  3. the Lease (created if missing, no holder);
 *  4. the push-key Secret (random key, created if missing; never printed).
 */
import { encodeEntry, GENERATION_ANNOTATION, parseGeneration } from '../shared/desired-state.js';
import { COLORS } from '../shared/model.js';
import { ConflictError } from './errors.js';
import { listFleet } from './fleet.js';
import { KAFKA_BOOTSTRAP_KEY, KAFKA_GROUP_KEY, type KafkaSettings } from './kafka-settings.js';
import type { Clock } from '../shared/clock.js';
import type { Cluster, ObjectNames } from './ports.js';
import { retryOnConflict } from './state-store.js';

/** Creating the push key is not part of the protocol's Cluster port: the kube adapter provides it. */
export interface PushKeyStore {
  hasPushKey(): Promise<boolean>;
  /** Creates the key when missing. */
  ensurePushKey(): Promise<'created' | 'existing'>;
}

export interface InitStep {
  object: string;
  action: 'created' | 'updated' | 'unchanged' | 'would create' | 'would update';
  detail: string;
}

export interface InitReport {
  dryRun: boolean;
  steps: InitStep[];
}

export async function initialize(
  context: { cluster: Cluster; keys: PushKeyStore; names: ObjectNames; clock: Clock },
  options: { dryRun: boolean; kafka?: KafkaSettings | undefined },
): Promise<InitReport> {
  const { cluster, names, dryRun } = { ...context, ...options };
  const steps: InitStep[] = [];
  const act = (changed: boolean, create: boolean): InitStep['action'] =>
    !changed ? 'unchanged' : dryRun ? (create ? 'would create' : 'would update') : create ? 'created' : 'updated';

  // 1. state ConfigMap
  const fleet = await listFleet(cluster);
  const state = await cluster.getConfigMap(names.stateConfigMap);
  const data = { ...(state?.data ?? {}) };
  const generation = parseGeneration(state?.annotations[GENERATION_ANNOTATION]);
  const added = [...COLORS, ...fleet.blue.map((p) => p.name), ...fleet.green.map((p) => p.name)].filter((key) => data[key] === undefined);
  for (const key of added) data[key] = encodeEntry({ lifecycle: 'PAUSED', generation });
  if (added.length > 0 && !dryRun) {
    await cluster.writeConfigMap({
      name: names.stateConfigMap,
      data,
      annotations: { ...(state?.annotations ?? {}), [GENERATION_ANNOTATION]: String(generation) },
      ...(state ? { resourceVersion: state.resourceVersion } : {}),
    });
  }
  steps.push({
    object: `ConfigMap/${names.stateConfigMap}`,
    action: act(added.length > 0, !state),
    detail: added.length > 0 ? `PAUSED entries for ${added.join(', ')}` : 'every pod and colour has an entry',
  });

  // 2. active-version ConfigMap
  const active = await cluster.getConfigMap(names.activeConfigMap);
  if (!active && !dryRun)
    await createIgnoringRace(() => cluster.writeConfigMap({ name: names.activeConfigMap, data: {}, annotations: {} }));
  steps.push({
    object: `ConfigMap/${names.activeConfigMap}`,
    action: act(!active, true),
    detail: active?.data.active ? `active: ${active.data.active}` : 'no active colour yet: the first `bgswitch switch <colour>` sets it',
  });
  if (options.kafka) steps.push(await storeKafkaSettings(cluster, names.activeConfigMap, options.kafka, dryRun, act));

  // 3. Lease
  const lease = await cluster.getLease(names.lease);
  if (!lease && !dryRun) {
    const now = new Date(context.clock.now());
    await createIgnoringRace(() =>
      cluster.writeLease({
        name: names.lease,
        holderIdentity: '',
        leaseDurationSeconds: 15,
        acquireTime: now,
        renewTime: now,
        leaseTransitions: 0,
      }),
    );
  }
  steps.push({
    object: `Lease/${names.lease}`,
    action: act(!lease, true),
    detail: lease ? `holder: ${lease.holderIdentity || 'none'}` : 'switch lock',
  });

  // 4. push key
  const key = dryRun ? ((await context.keys.hasPushKey()) ? 'existing' : 'created') : await context.keys.ensurePushKey();
  steps.push({
    object: `Secret/${names.pushKeySecret}`,
    action: act(key === 'created', true),
    detail: 'signs sidecar pushes (value never shown)',
  });

  return { dryRun, steps };
}

/** The Kafka settings in the active-version ConfigMap (just created, unless dry run), updated when they differ. */
async function storeKafkaSettings(
  cluster: Cluster,
  name: string,
  kafka: KafkaSettings,
  dryRun: boolean,
  act: (changed: boolean, create: boolean) => InitStep['action'],
): Promise<InitStep> {
  const wanted = { [KAFKA_BOOTSTRAP_KEY]: kafka.brokers.join(','), [KAFKA_GROUP_KEY]: kafka.groupId };
  const detail = `Kafka ${wanted[KAFKA_BOOTSTRAP_KEY]}, group ${kafka.groupId}`;
  const changed = await retryOnConflict(name, async () => {
    const current = await cluster.getConfigMap(name);
    const data = current?.data ?? {};
    const differs = Object.entries(wanted).some(([key, value]) => data[key] !== value);
    if (differs && !dryRun && current) {
      await cluster.writeConfigMap({
        name,
        data: { ...data, ...wanted },
        annotations: current.annotations,
        resourceVersion: current.resourceVersion,
      });
    }
    return differs;
  });
  return { object: `ConfigMap/${name}`, action: act(changed, false), detail: changed ? detail : `${detail} (as stored)` };
}

/** Another init racing us created it first: that is the outcome we wanted. */
async function createIgnoringRace(create: () => Promise<unknown>): Promise<void> {
  try {
    await create();
  } catch (error) {
    if (!(error instanceof ConflictError)) throw error;
  }
}

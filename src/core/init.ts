/**
 * `init`: creates, idempotently, what the protocol needs and the manifests do not carry. It never
 * changes what already exists and never makes anything consume: new entries are PAUSED, and the
 * first `bgswitch switch <colour>` starts consumption.
 *
 *  1. the state ConfigMap (created if missing): a PAUSED entry for each colour key and, with pod keys,
 *     each existing pod that has none (with colour keys no pod key is written: ./state-keys.ts);
 *  2. the active-version ConfigMap (created if missing, no `active` until the first switch), and the
 *     settings when given: Kafka (`kafkaBootstrapServers`, `kafkaGroup`) and the state keys
 *     (`stateKeys`: `color` or `pod`). Every operator's CLI reads them from there; given again with
 *     other values, they are updated;
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
import { resolveKeyMode, STATE_KEYS_SETTING, storedKeyMode, type StateKeyMode } from './state-keys.js';
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
  options: { dryRun: boolean; kafka?: KafkaSettings | undefined; keyMode?: StateKeyMode | undefined },
): Promise<InitReport> {
  const { cluster, names, dryRun } = { ...context, ...options };
  const steps: InitStep[] = [];
  const act = (changed: boolean, create: boolean): InitStep['action'] =>
    !changed ? 'unchanged' : dryRun ? (create ? 'would create' : 'would update') : create ? 'created' : 'updated';

  // 1. state ConfigMap
  const [fleet, state, active] = await Promise.all([
    listFleet(cluster),
    cluster.getConfigMap(names.stateConfigMap),
    cluster.getConfigMap(names.activeConfigMap),
  ]);
  const pods = [...fleet.blue, ...fleet.green];
  const keyMode = options.keyMode ? { mode: options.keyMode, origin: 'given' as const } : resolveKeyMode(storedKeyMode(active), pods);
  const data = { ...(state?.data ?? {}) };
  const generation = parseGeneration(state?.annotations[GENERATION_ANNOTATION]);
  const keys = keyMode.mode === 'color' ? [...COLORS] : [...COLORS, ...pods.map((p) => p.name)];
  const added = keys.filter((key) => data[key] === undefined);
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
    detail: `${added.length > 0 ? `PAUSED entries for ${added.join(', ')}` : keyMode.mode === 'color' ? 'every colour has an entry' : 'every pod and colour has an entry'}; ${describeKeyMode(keyMode)}`,
  });

  // 2. active-version ConfigMap
  if (!active && !dryRun)
    await createIgnoringRace(() => cluster.writeConfigMap({ name: names.activeConfigMap, data: {}, annotations: {} }));
  steps.push({
    object: `ConfigMap/${names.activeConfigMap}`,
    action: act(!active, true),
    detail: active?.data.active ? `active: ${active.data.active}` : 'no active colour yet: the first `bgswitch switch <colour>` sets it',
  });
  if (options.kafka) {
    const { brokers, groupId } = options.kafka;
    const wanted = { [KAFKA_BOOTSTRAP_KEY]: brokers.join(','), [KAFKA_GROUP_KEY]: groupId };
    steps.push(await storeSettings(cluster, names.activeConfigMap, wanted, `Kafka ${brokers.join(',')}, group ${groupId}`, dryRun, act));
  }
  if (options.keyMode) {
    const wanted = { [STATE_KEYS_SETTING]: options.keyMode };
    steps.push(await storeSettings(cluster, names.activeConfigMap, wanted, `state keys: ${options.keyMode}`, dryRun, act));
  }

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

function describeKeyMode(keyMode: { mode: StateKeyMode; origin: string }): string {
  const keys = keyMode.mode === 'color' ? 'colour keys' : 'pod keys';
  if (keyMode.origin === 'detected') return `${keys} (detected: pods owned by a ReplicaSet)`;
  return keys;
}

/** Settings in the active-version ConfigMap (just created, unless dry run), updated when they differ. */
async function storeSettings(
  cluster: Cluster,
  name: string,
  wanted: Record<string, string>,
  detail: string,
  dryRun: boolean,
  act: (changed: boolean, create: boolean) => InitStep['action'],
): Promise<InitStep> {
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

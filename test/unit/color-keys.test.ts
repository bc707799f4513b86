/**
 * Colour-key mode (src/core/state-keys.ts): fleets whose pod names are random (Deployments, Argo
 * Rollouts). The switch writes `blue` / `green` and removes pod keys (C1, C2); a pod the ReplicaSet
 * creates mid-switch follows its colour's key (C3) and never consumes on the wrong side (S1).
 * The sidecars are simulated from the rule they follow: pause when the API server's entry says
 * PAUSED, resume only when it says ACTIVE (pod key over colour key).
 */
import assert from 'node:assert/strict';
import { describe, it, test } from 'node:test';
import { initialize } from '../../src/core/init.js';
import type { PodInfo } from '../../src/core/ports.js';
import { resolveKeyMode, STATE_KEYS_SETTING } from '../../src/core/state-keys.js';
import { readStatus } from '../../src/core/status.js';
import { runSwitch } from '../../src/core/switch.js';
import { encodeEntry, GENERATION_ANNOTATION, parseEntry, resolveEntry } from '../../src/shared/desired-state.js';
import { COLORS, isColor, type Color } from '../../src/shared/model.js';
import { renderStatus } from '../../src/render/status-view.js';
import { createStyle } from '../../src/render/style.js';
import { closedClusterKubeconfig, runCli } from '../support/capture-io.js';
import type { JournalEntry } from '../support/journal.js';
import { assertSafeTimeline, createWorld, NAMES, type SwitchWorld } from '../support/switch-world.js';

/** A pod as a ReplicaSet makes it: a random suffix, owned by the ReplicaSet. */
function replicaSetPod(name: string, color: Color, index: number): PodInfo {
  return {
    name,
    color,
    phase: 'Running',
    ready: true,
    ip: `10.77.1.${index}`,
    restarts: 0,
    terminating: false,
    controllerKind: 'ReplicaSet',
  };
}

/**
 * The switch world turned into a Deployment fleet in colour-key mode: the same consumers, owned by
 * ReplicaSets, and a state ConfigMap with only the colour keys (plus `extraKeys`), as
 * `bgswitch init --color-keys` and a switch to blue leave it.
 */
function deploymentWorld(t: Parameters<typeof createWorld>[0], extraKeys: Record<string, string> = {}, stored = true): SwitchWorld {
  const world = createWorld(t);
  let index = 0;
  for (const color of COLORS) for (const name of world.podNames(color)) world.cluster.seedPod(replicaSetPod(name, color, ++index));
  world.cluster.seedConfigMap(
    NAMES.stateConfigMap,
    {
      blue: encodeEntry({ lifecycle: 'ACTIVE', generation: 1 }),
      green: encodeEntry({ lifecycle: 'PAUSED', generation: 1 }),
      ...extraKeys,
    },
    { [GENERATION_ANNOTATION]: '1' },
  );
  world.cluster.seedConfigMap(NAMES.activeConfigMap, { active: 'blue', ...(stored ? { [STATE_KEYS_SETTING]: 'color' } : {}) });
  return world;
}

/** The simulated sidecars: on every status call, each pod converges on its entry in the stored ConfigMap. */
function simulateSidecars(world: SwitchWorld): void {
  world.fleet.onCall((call) => {
    if (call.op !== 'status') return;
    const pod = findPod(world, call.pod);
    if (!pod) return;
    const data = world.cluster.peekConfigMap(NAMES.stateConfigMap)?.data ?? {};
    const resolved = resolveEntry(data, pod.name, pod.color);
    if (resolved.status !== 'ok') return;
    const actual = world.fleet.stateOf(pod.name);
    if (resolved.entry.lifecycle === 'ACTIVE' && actual === 'PAUSED') world.fleet.setState(pod.name, 'ACTIVE');
    if (resolved.entry.lifecycle === 'PAUSED' && actual === 'ACTIVE') world.fleet.setState(pod.name, 'PAUSED');
  });
}

const livePods = new WeakMap<SwitchWorld, Map<string, PodInfo>>();
function findPod(world: SwitchWorld, name: string): PodInfo | undefined {
  return livePods.get(world)?.get(name);
}

/** Tracks the pods that exist, so the simulated sidecars and replacements know them. */
function trackPods(world: SwitchWorld): Map<string, PodInfo> {
  const pods = new Map<string, PodInfo>();
  let index = 0;
  for (const color of COLORS) for (const name of world.podNames(color)) pods.set(name, replicaSetPod(name, color, ++index));
  livePods.set(world, pods);
  return pods;
}

/** The ReplicaSet replaces `old` by `replacement`: the old pod stops, the new one starts PAUSED (the consumer contract). */
function replacePod(world: SwitchWorld, pods: Map<string, PodInfo>, old: string, replacement: string): void {
  const color = pods.get(old)!.color;
  world.cluster.dropPod(old);
  world.fleet.removeConsumer(old);
  pods.delete(old);
  const pod = replicaSetPod(replacement, color, 100 + pods.size);
  world.cluster.seedPod(pod);
  world.fleet.addConsumer(replacement, color);
  pods.set(replacement, pod);
}

function writtenData(write: JournalEntry): Record<string, string> {
  return (write.detail as { data: Record<string, string> }).data;
}

function lifecycleOf(data: Record<string, string>, key: string): string | undefined {
  const parsed = parseEntry(data[key] ?? '');
  return parsed.ok ? parsed.value.lifecycle : undefined;
}

describe('the key mode', () => {
  it('is the stored setting when init stored one, else colour keys when a ReplicaSet owns a pod, else pod keys', () => {
    const statefulPod = { ...replicaSetPod('consumer-blue-0', 'blue', 1), controllerKind: 'StatefulSet' };
    const rsPod = replicaSetPod('consumer-blue-7d9f8-x2k4q', 'blue', 2);
    assert.deepEqual(resolveKeyMode('pod', [rsPod]), { mode: 'pod', origin: 'stored' });
    assert.deepEqual(resolveKeyMode('color', [statefulPod]), { mode: 'color', origin: 'stored' });
    assert.deepEqual(resolveKeyMode(undefined, [statefulPod, rsPod]), { mode: 'color', origin: 'detected' });
    assert.deepEqual(resolveKeyMode(undefined, [statefulPod]), { mode: 'pod', origin: 'default' });
  });
});

describe('switch in colour-key mode', () => {
  test('writes only the colour keys, removes every pod key (a stale ACTIVE one on an old pod included) before anything resumes', async (t) => {
    const stale = 'consumer-blue-1';
    const world = deploymentWorld(t, {
      [stale]: encodeEntry({ lifecycle: 'ACTIVE', generation: 1 }),
      'consumer-green-0': encodeEntry({ lifecycle: 'PAUSED', generation: 1 }),
      'consumer-gone-abcde': '{"lifecycle":"ACT',
    });
    trackPods(world);
    simulateSidecars(world);

    const report = await runSwitch(world.context(), world.request({ target: 'green' }));

    assert.equal(report.outcome, 'switched', report.reason);
    const [pausedWrite, activeWrite] = world.stateWrites();
    assert.ok(pausedWrite && activeWrite);
    // C1, C2: step 3 leaves only the colour keys, both PAUSED; step 6 sets green ACTIVE; no pod key is written.
    assert.deepEqual(Object.keys(writtenData(pausedWrite)).sort(), ['blue', 'green']);
    assert.deepEqual(
      COLORS.map((color) => lifecycleOf(writtenData(pausedWrite), color)),
      ['PAUSED', 'PAUSED'],
    );
    assert.deepEqual(Object.keys(writtenData(activeWrite)).sort(), ['blue', 'green']);
    assert.equal(lifecycleOf(writtenData(activeWrite), 'green'), 'ACTIVE');
    assert.equal(lifecycleOf(writtenData(activeWrite), 'blue'), 'PAUSED');
    // Every write from step 3 on resolves every blue pod PAUSED: the stale pod key never wins.
    for (const write of world.stateWrites()) {
      for (const pod of world.podNames('blue')) {
        const resolved = resolveEntry(writtenData(write), pod, 'blue');
        assert.ok(
          resolved.status === 'ok' && resolved.entry.lifecycle === 'PAUSED' && resolved.source.kind === 'color',
          `write #${write.seq}, ${pod}`,
        );
      }
    }
    for (const pod of world.podNames('green')) assert.equal(world.fleet.stateOf(pod), 'ACTIVE', pod);
    for (const pod of world.podNames('blue')) assert.equal(world.fleet.stateOf(pod), 'PAUSED', pod);
    assertSafeTimeline(world);

    // status: every pod driven by its colour key, no problem.
    const view = await readStatus({ cluster: world.cluster, pods: world.fleet, names: NAMES, clock: world.clock });
    assert.deepEqual(view.stateKeys, { mode: 'color', origin: 'stored' });
    assert.deepEqual(
      view.pods.map((p) => [p.name, p.desired, p.desiredKey]),
      view.pods.map((p) => [p.name, p.color === 'green' ? 'ACTIVE' : 'PAUSED', { key: p.color, kind: 'color' }]),
    );
    assert.deepEqual(view.problems, []);
  });

  test('pods replaced by the ReplicaSet mid-switch: the new old-colour pod stays PAUSED, the new new-colour pod is resumed through its colour key', async (t) => {
    const world = deploymentWorld(t, {}, false);
    const pods = trackPods(world);
    simulateSidecars(world);
    const newBlue = 'consumer-blue-5c7d9-q8w2e';
    const newGreen = 'consumer-green-6f4b8-z3x1c';
    let blueReplaced = false;
    let greenReplaced = false;
    world.fleet.onCall((call) => {
      // While verify-paused polls: a blue pod is deleted and replaced.
      if (!blueReplaced && call.op === 'status' && world.commands('pause', 'blue').length === 3) {
        blueReplaced = true;
        replacePod(world, pods, 'consumer-blue-2', newBlue);
      }
      // After the resume calls, while verify-active polls: a green pod is deleted and replaced.
      if (!greenReplaced && call.op === 'status' && world.commands('resume', 'green').length === 3) {
        greenReplaced = true;
        replacePod(world, pods, 'consumer-green-1', newGreen);
      }
    });

    const report = await runSwitch(world.context(), world.request({ target: 'green' }));

    assert.equal(report.outcome, 'switched', report.reason);
    assert.ok(blueReplaced && greenReplaced, 'both replacements happened during the switch');
    assert.equal(world.fleet.stateOf(newGreen), 'ACTIVE', 'the replacement green pod follows the green key');
    assert.equal(
      world.journal.filter((e) => e.source === 'pod' && e.op === 'resume' && e.name === newGreen).length,
      0,
      'no resume call reached it: its (simulated) sidecar resumed it from the colour key',
    );
    assert.deepEqual(
      world.fleet.transitions.filter((tr) => tr.pod === newBlue).map((tr) => tr.to),
      ['PAUSED'],
      'the replacement blue pod was never anything but PAUSED',
    );
    assert.deepEqual(
      report.podsAfter.map((p) => p.name).sort(),
      [...pods.keys()].sort(),
      'the report lists the pods that exist at the end',
    );
    const keys = Object.keys(world.cluster.peekConfigMap(NAMES.stateConfigMap)!.data);
    assert.ok(keys.every(isColor), `only colour keys are stored: ${keys.join(', ')}`);
    assertSafeTimeline(world);
  });

  test('a rollback writes the colour keys too and leaves no pod key', async (t) => {
    const world = deploymentWorld(t);
    trackPods(world);
    simulateSidecars(world);
    // green never becomes ready: verify-active fails and the switch rolls back to blue.
    for (const pod of world.podNames('green')) world.fleet.setReady(pod, false);

    const report = await runSwitch(world.context(), world.request({ target: 'green', verifyTimeoutMs: 2_000 }));

    assert.equal(report.outcome, 'rolled-back');
    for (const write of world.stateWrites().slice(0, 4)) assert.deepEqual(Object.keys(writtenData(write)).sort(), ['blue', 'green']);
    const data = world.cluster.peekConfigMap(NAMES.stateConfigMap)!.data;
    assert.equal(lifecycleOf(data, 'blue'), 'ACTIVE');
    assert.equal(lifecycleOf(data, 'green'), 'PAUSED');
    for (const pod of world.podNames('blue')) assert.equal(world.fleet.stateOf(pod), 'ACTIVE', pod);
    for (const pod of world.podNames('green')) assert.equal(world.fleet.stateOf(pod), 'PAUSED', pod);
    assertSafeTimeline(world);
  });
});

describe('status in colour-key mode', () => {
  it('names a pod key that overrides its colour key, and shows which key drove each pod', async (t) => {
    const world = deploymentWorld(t, { 'consumer-green-2': encodeEntry({ lifecycle: 'ACTIVE', generation: 2 }) });
    const view = await readStatus({ cluster: world.cluster, pods: world.fleet, names: NAMES, clock: world.clock });
    const row = view.pods.find((p) => p.name === 'consumer-green-2')!;
    assert.deepEqual([row.desired, row.desiredKey], ['ACTIVE', { key: 'consumer-green-2', kind: 'pod' }]);
    const overrides = view.problems.filter((p) => p.kind === 'pod-key-override');
    assert.deepEqual(
      overrides.map((p) => p.message),
      ['consumer-green-2: its pod key says ACTIVE, overriding the green key (PAUSED)'],
    );
    const text = renderStatus(view, { context: 'c', server: 's' }, createStyle(process.stdout, { NO_COLOR: '1' }));
    assert.match(text, /State keys: colour keys \(blue, green\), set by `bgswitch init`/);
    assert.match(text, /consumer-green-2 .*│ ACTIVE +│ pod +│/);
    assert.match(text, /consumer-green-1 .*│ PAUSED +│ colour +│/);
  });
});

describe('init in colour-key mode', () => {
  const keys = { hasPushKey: async () => true, ensurePushKey: async () => 'existing' as const };

  it('--color-keys writes the colour keys only, never pod keys, and stores the mode for every operator', async (t) => {
    const world = createWorld(t);
    world.cluster.seedConfigMap(NAMES.stateConfigMap, {});
    world.cluster.seedConfigMap(NAMES.activeConfigMap, {});
    const report = await initialize(
      { cluster: world.cluster, keys, names: NAMES, clock: world.clock },
      { dryRun: false, keyMode: 'color' },
    );
    assert.deepEqual(Object.keys(world.cluster.peekConfigMap(NAMES.stateConfigMap)!.data).sort(), ['blue', 'green']);
    assert.equal(world.cluster.peekConfigMap(NAMES.activeConfigMap)!.data[STATE_KEYS_SETTING], 'color');
    assert.ok(report.steps.some((s) => s.detail === 'state keys: color' && s.action === 'updated'));
  });

  it('detects a ReplicaSet-owned fleet without the flag: colour keys only, nothing stored', async (t) => {
    const world = createWorld(t);
    let index = 0;
    for (const color of COLORS) for (const name of world.podNames(color)) world.cluster.seedPod(replicaSetPod(name, color, ++index));
    world.cluster.seedConfigMap(NAMES.stateConfigMap, {});
    world.cluster.seedConfigMap(NAMES.activeConfigMap, {});
    const report = await initialize({ cluster: world.cluster, keys, names: NAMES, clock: world.clock }, { dryRun: false });
    assert.deepEqual(Object.keys(world.cluster.peekConfigMap(NAMES.stateConfigMap)!.data).sort(), ['blue', 'green']);
    assert.equal(world.cluster.peekConfigMap(NAMES.activeConfigMap)!.data[STATE_KEYS_SETTING], undefined);
    assert.match(report.steps[0]!.detail, /colour keys \(detected: pods owned by a ReplicaSet\)/);
  });
});

describe('bgswitch init key flags', () => {
  it('--color-keys with --pod-keys is refused before anything talks to the cluster (exit 2)', async (t) => {
    const { kubeconfig, remove } = closedClusterKubeconfig('bgswitch-keys-');
    t.after(remove);
    for (const colorFlag of ['--color-keys', '--colour-keys']) {
      const result = await runCli(['init', colorFlag, '--pod-keys', '--kubeconfig', kubeconfig]);
      assert.equal(result.code, 2, result.stderr);
      assert.match(result.stderr, /--color-keys and --pod-keys exclude each other/);
    }
  });
});

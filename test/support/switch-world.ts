/**
 * A whole simulated installation for switch-protocol tests and the model explorer: a virtual clock,
 * the in-memory cluster seeded as `kubectl apply -k k8s/overlays/production` + `bgswitch init` leave it (one colour
 * active, generation 1, Lease at rest naming that colour), and the in-memory fleet in the matching
 * states. Plus the checks every switch test makes on the end state.
 */
import assert from 'node:assert/strict';
import type { ProgressEvent } from '../../src/core/events.js';
import { parseHistory, HISTORY_KEY, type HistoryEntry } from '../../src/core/history.js';
import type { Clock } from '../../src/shared/clock.js';
import type { Cluster, ObjectNames, PodAgent } from '../../src/core/ports.js';
import { decodeDesiredState, type DesiredState } from '../../src/core/state-store.js';
import type { SwitchContext, SwitchRequest } from '../../src/core/switch.js';
import { switchWording } from '../../src/render/switch-wording.js';
import { encodeEntry, GENERATION_ANNOTATION, OPERATION_ANNOTATION } from '../../src/shared/desired-state.js';
import { COLORS, otherColor, type Color, type DesiredEntry, type Fault } from '../../src/shared/model.js';
import { DEFAULT_NAMES } from '../../src/core/names.js';
import { Journal } from './journal.js';
import { ManualClock } from './manual-clock.js';
import { MemoryCluster } from './memory-cluster.js';
import { MemoryFleet } from './memory-fleet.js';

export const NAMES: ObjectNames = DEFAULT_NAMES;
export const ACTOR = 'dana@ops-laptop';
export const HOLDER = `${ACTOR}/4242/k3x9`;

export interface WorldOptions {
  /** Pods per colour (default 3). */
  pods?: number;
  /** The active colour at the start (default blue). */
  active?: Color;
  /** Default drain duration of every consumer (default 2 s). */
  drainMs?: number;
  /** Faults already recorded in the state ConfigMap, by pod name. */
  faults?: Record<string, Fault>;
}

/** Anything with node:test's `after` (a TestContext), so the world is disposed with the test. */
export interface Lifetime {
  after(fn: () => void): void;
}

export class SwitchWorld {
  readonly clock = new ManualClock();
  readonly journal = new Journal(this.clock);
  readonly cluster = new MemoryCluster(this.clock, this.journal);
  readonly fleet: MemoryFleet;
  readonly progress: ProgressEvent[] = [];
  readonly startedAt = this.clock.now();
  private ids = 0;

  constructor(readonly options: Required<Omit<WorldOptions, 'faults'>> & { faults: Record<string, Fault> }) {
    this.fleet = new MemoryFleet(this.clock, this.journal, options.drainMs);
    const { active } = options;
    const entries: Record<string, string> = {};
    COLORS.forEach((color, colorIndex) => {
      this.podNames(color).forEach((name, index) => {
        this.cluster.seedPod({
          name,
          color,
          phase: 'Running',
          ready: true,
          ip: `10.77.0.${10 + colorIndex * 50 + index}`,
          restarts: 0,
          terminating: false,
        });
        this.fleet.addConsumer(name, color, { state: color === active ? 'ACTIVE' : 'PAUSED' });
        const fault = options.faults[name];
        entries[name] = encodeEntry({ lifecycle: color === active ? 'ACTIVE' : 'PAUSED', generation: 1, ...(fault ? { fault } : {}) });
      });
    });
    this.cluster.seedConfigMap(NAMES.stateConfigMap, entries, { [GENERATION_ANNOTATION]: '1' });
    this.cluster.seedConfigMap(NAMES.activeConfigMap, { active });
    this.cluster.seedLease({
      name: NAMES.lease,
      holderIdentity: active,
      leaseDurationSeconds: 15,
      acquireTime: new Date(this.startedAt - 3_600_000),
      renewTime: new Date(this.startedAt - 3_600_000),
      leaseTransitions: 1,
    });
  }

  podNames(color: Color): string[] {
    return Array.from({ length: this.options.pods }, (_, index) => `consumer-${color}-${index}`);
  }

  context(overrides: Partial<SwitchContext> = {}): SwitchContext {
    return {
      cluster: this.cluster,
      pods: this.fleet,
      clock: this.clock,
      names: NAMES,
      holder: HOLDER,
      actor: ACTOR,
      newId: () => `op-${++this.ids}`,
      emit: (event) => this.progress.push(event),
      wording: switchWording,
      ...overrides,
    };
  }

  request(overrides: Partial<SwitchRequest> = {}): SwitchRequest {
    return {
      target: otherColor(this.options.active),
      kind: 'switch',
      force: false,
      dryRun: false,
      drainTimeoutMs: 10_000,
      verifyTimeoutMs: 10_000,
      soakMs: 0,
      pollIntervalMs: 50,
      leaseDurationMs: 15_000,
      ...overrides,
    };
  }

  /** The state ConfigMap as stored now. */
  desiredState(): DesiredState {
    const snapshot = this.cluster.peekConfigMap(NAMES.stateConfigMap);
    assert.ok(snapshot, `ConfigMap ${NAMES.stateConfigMap} is missing`);
    return decodeDesiredState(snapshot);
  }

  desiredEntry(pod: string): DesiredEntry {
    const entry = this.desiredState().entries.get(pod);
    assert.ok(entry, `no desired-state entry for ${pod}`);
    return entry;
  }

  activeVersion(): { active: string | undefined; history: HistoryEntry[] } {
    const data = this.cluster.peekConfigMap(NAMES.activeConfigMap)?.data ?? {};
    return { active: data.active, history: parseHistory(data[HISTORY_KEY]) };
  }

  warnings(): string[] {
    return this.progress.flatMap((event) => (event.type === 'warning' ? [event.message] : []));
  }

  /** The successful writes of the state ConfigMap, in order. */
  stateWrites() {
    return this.journal.filter((e) => e.op === 'write-configmap' && e.name === NAMES.stateConfigMap && e.ok);
  }

  /** Lifecycle calls (pause / resume) that reached a consumer. */
  commands(action: 'pause' | 'resume', color?: Color) {
    return this.journal.filter((e) => e.source === 'pod' && e.op === action && e.ok && (!color || e.name.startsWith(`consumer-${color}-`)));
  }

  dispose(): void {
    this.clock.dispose();
  }
}

export function createWorld(lifetime: Lifetime, options: WorldOptions = {}): SwitchWorld {
  const world = new SwitchWorld({ pods: 3, active: 'blue', drainMs: 2_000, faults: {}, ...options });
  lifetime.after(() => world.dispose());
  return world;
}

/**
 * What an operator checks after a switch or rollback that ended on `color`: its pods ACTIVE and
 * desired ACTIVE, the other colour's PAUSED, no operation left, active-version and Lease naming it,
 * S1 never broken, no push went backwards, and no background loop left running.
 */
export function assertSettledOn(world: SwitchWorld, color: Color): void {
  const state = world.desiredState();
  for (const name of world.podNames(color)) {
    assert.equal(world.fleet.stateOf(name), 'ACTIVE', `${name} should be consuming`);
    assert.equal(state.entries.get(name)?.lifecycle, 'ACTIVE', `${name} should be desired ACTIVE`);
  }
  for (const name of world.podNames(otherColor(color))) {
    assert.equal(world.fleet.stateOf(name), 'PAUSED', `${name} should be paused`);
    assert.equal(state.entries.get(name)?.lifecycle, 'PAUSED', `${name} should be desired PAUSED`);
  }
  assert.equal(state.operation, undefined, 'the operation record should be removed');
  assert.equal(state.snapshot.annotations[OPERATION_ANNOTATION], undefined);
  assert.equal(world.activeVersion().active, color);
  assert.equal(world.cluster.peekLease(NAMES.lease)?.holderIdentity, color, 'the Lease should be at rest, naming the active colour');
  assertSafeTimeline(world);
}

/** S1 over the whole simulated timeline, generations never backwards, no loop left behind. */
export function assertSafeTimeline(world: SwitchWorld): void {
  assert.deepEqual(world.fleet.s1Overlaps(), [], 'a blue and a green pod were both not PAUSED at some instant');
  assert.deepEqual(world.fleet.generationRegressions, []);
  assert.equal(world.clock.pendingSleeps, 0, 'something is still sleeping on the clock (a renewal loop left running?)');
}

/**
 * Wraps a context so the CLI process can be "killed -9" at any point: after kill(), every call it
 * makes to the cluster, the pods or the clock never returns. Calls already answered still complete.
 */
export function killable(context: SwitchContext): { context: SwitchContext; kill: () => void } {
  let dead = false;
  const never = new Promise<never>(() => {});
  const freeze = <T extends object>(target: T): T =>
    new Proxy(target, {
      get(object, property, receiver) {
        const value = Reflect.get(object, property, receiver) as unknown;
        if (typeof value !== 'function') return value;
        return (...args: unknown[]) => (dead ? never : (value as (...a: unknown[]) => unknown).apply(object, args));
      },
    });
  const clock: Clock = { now: () => context.clock.now(), sleep: (ms, signal) => (dead ? never : context.clock.sleep(ms, signal)) };
  return {
    context: {
      ...context,
      cluster: freeze<Cluster>(context.cluster),
      pods: freeze<PodAgent>(context.pods),
      clock,
      emit: (event) => dead || context.emit(event),
    },
    kill: () => {
      dead = true;
    },
  };
}

const EVENT_REASONS = {
  switched: 'SwitchSucceeded',
  'rolled-back': 'SwitchRolledBack',
  'rollback-failed': 'SwitchRollbackFailed',
  failed: 'SwitchFailed',
} as const;

/** The audit trail of one run that ended with `outcome`: one Event naming the actor, and (unless `history: false`) the newest history entry. */
export function assertRecorded(
  world: SwitchWorld,
  outcome: HistoryEntry['outcome'],
  reason: RegExp,
  options: { history?: boolean } = {},
): void {
  assert.deepEqual(
    world.cluster.events.map((e) => [e.reason, e.type, e.actor]),
    [[EVENT_REASONS[outcome], outcome === 'switched' ? 'Normal' : 'Warning', ACTOR]],
  );
  assert.match(world.cluster.events[0]!.message, reason);
  const [latest] = world.activeVersion().history;
  if (options.history === false) {
    assert.equal(latest, undefined, 'no history written');
    return;
  }
  assert.equal(latest?.outcome, outcome);
  assert.match(latest?.reason ?? '', reason);
  assert.equal(latest?.actor, ACTOR);
}

/**
 * Schedules for the model explorer: a generated list of events (deliver, lose or delay messages,
 * advance time, start or kill CLIs, API server down, failing writes, restarts, pod deletion, stale
 * files, sidecar ticks), the executor that plays one over a ModelWorld, and the invariant checks.
 *
 * Every schedule starts with one CLI switching blue -> green on an installation at rest on blue.
 * After every event: S1 on the consumers (no instant where a blue and a green consumer were both not
 * PAUSED, replayed over the whole timeline) and on the desired state (no ConfigMap version with both
 * colours desired ACTIVE), S3 (every version of the state ConfigMap without an operation record is
 * settled on one colour), and no CLI crashed with anything but a bgswitch error.
 * At the end, recovery: every CLI still running is killed, the infrastructure heals, the lease
 * expires, and a fresh CLI runs `switch <recoveryTarget>`. Then S2 (it switched or had nothing to
 * do; every pod of that colour ACTIVE and desired ACTIVE, the other PAUSED; active-version, Lease
 * and sidecars agree and stay put) and S3 (an operation record left behind was shown by `status`
 * and named by the recovery run, which removed it).
 */
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { readStatus } from '../../src/core/status.js';
import type { OperationKind } from '../../src/core/operation.js';
import { OPERATION_ANNOTATION, resolveEntry } from '../../src/shared/desired-state.js';
import { COLORS, otherColor, type Color } from '../../src/shared/model.js';
import { NAMES } from '../support/switch-world.js';
import { LEASE_MS, ModelWorld } from './world.js';

export type Command =
  | { t: 'flush' }
  | { t: 'deliver'; i: number }
  | { t: 'lose'; i: number; applied: boolean }
  | { t: 'advance'; ms: number }
  | { t: 'cli'; target: Color; kind: OperationKind }
  | { t: 'kill'; cli: number }
  | { t: 'api'; up: boolean }
  | { t: 'writeFault'; object: 'state' | 'active' | 'lease'; fault: 'conflict' | 'error'; count: number }
  | { t: 'restartConsumer'; pod: number }
  | { t: 'restartSidecar'; pod: number }
  | { t: 'stopSidecar'; pod: number }
  | { t: 'partition'; pod: number; on: boolean }
  | { t: 'recreatePod'; pod: number }
  | { t: 'refresh'; pod: number; steps: number }
  | { t: 'tick'; pod: number }
  | { t: 'ready'; pod: number; ready: boolean }
  | { t: 'deaf'; pod: number; deaf: boolean };

export interface Schedule {
  drainMs: number;
  podsPerColor: 1 | 2;
  commands: Command[];
  recoveryTarget: Color;
}

const MAX_CLIS = 4;
/** Taken modulo the number of pods of the schedule's world. */
const podIndex = fc.integer({ min: 0, max: 3 });
const color = fc.constantFrom<Color>('blue', 'green');

export const commandArbitrary: fc.Arbitrary<Command> = fc.oneof(
  { weight: 12, arbitrary: fc.constant({ t: 'flush' as const }) },
  { weight: 6, arbitrary: fc.record({ t: fc.constant('advance' as const), ms: fc.constantFrom(50, 250, 500, 1_000, 2_000) }) },
  // Long enough for calls to time out (> 5 s) and the lease to expire (> 15 s).
  { weight: 1, arbitrary: fc.record({ t: fc.constant('advance' as const), ms: fc.constantFrom(4_000, 6_000, 16_000) }) },
  { weight: 4, arbitrary: fc.record({ t: fc.constant('deliver' as const), i: fc.nat(20) }) },
  { weight: 2, arbitrary: fc.record({ t: fc.constant('lose' as const), i: fc.nat(20), applied: fc.boolean() }) },
  { weight: 4, arbitrary: fc.record({ t: fc.constant('tick' as const), pod: podIndex }) },
  { weight: 1, arbitrary: fc.record({ t: fc.constant('cli' as const), target: color, kind: fc.constantFrom<OperationKind>('switch', 'rollback') }) },
  { weight: 1, arbitrary: fc.record({ t: fc.constant('kill' as const), cli: fc.nat(MAX_CLIS - 1) }) },
  { weight: 2, arbitrary: fc.record({ t: fc.constant('api' as const), up: fc.boolean() }) },
  {
    weight: 1,
    arbitrary: fc.record({
      t: fc.constant('writeFault' as const),
      object: fc.constantFrom('state' as const, 'active' as const, 'lease' as const),
      fault: fc.constantFrom('conflict' as const, 'error' as const),
      count: fc.integer({ min: 1, max: 3 }),
    }),
  },
  { weight: 1, arbitrary: fc.record({ t: fc.constant('restartConsumer' as const), pod: podIndex }) },
  { weight: 1, arbitrary: fc.record({ t: fc.constant('restartSidecar' as const), pod: podIndex }) },
  // Down until a restartSidecar (or recovery) brings it back: every push to it fails meanwhile.
  { weight: 1, arbitrary: fc.record({ t: fc.constant('stopSidecar' as const), pod: podIndex }) },
  { weight: 2, arbitrary: fc.record({ t: fc.constant('partition' as const), pod: podIndex, on: fc.boolean() }) },
  { weight: 1, arbitrary: fc.record({ t: fc.constant('recreatePod' as const), pod: podIndex }) },
  { weight: 2, arbitrary: fc.record({ t: fc.constant('refresh' as const), pod: podIndex, steps: fc.integer({ min: 1, max: 4 }) }) },
  // A consumer that is not ready, or answers pause / resume without applying them: forces rollbacks.
  { weight: 1, arbitrary: fc.record({ t: fc.constant('ready' as const), pod: podIndex, ready: fc.boolean() }) },
  { weight: 1, arbitrary: fc.record({ t: fc.constant('deaf' as const), pod: podIndex, deaf: fc.boolean() }) },
);

export const scheduleArbitrary: fc.Arbitrary<Schedule> = fc.record({
  drainMs: fc.constantFrom(0, 500, 3_000),
  podsPerColor: fc.constantFrom<1 | 2>(1, 2),
  commands: fc.array(commandArbitrary, { minLength: 1, maxLength: 80 }),
  recoveryTarget: color,
});

const OBJECTS = { state: NAMES.stateConfigMap, active: NAMES.activeConfigMap, lease: NAMES.lease } as const;

export function describeCommand(world: ModelWorld, command: Command): string {
  const { t, ...rest } = command;
  const args = Object.entries(rest).map(([key, value]) => (key === 'pod' && typeof value === 'number' ? podAt(world, value) : `${key}=${String(value)}`));
  return [t, ...args].join(' ');
}

function podAt(world: ModelWorld, index: number): string {
  return world.allPods[index % world.allPods.length]!;
}

/** Plays one event. */
async function play(world: ModelWorld, command: Command): Promise<void> {
  const pick = (i: number) => world.pending[i % world.pending.length];
  switch (command.t) {
    case 'flush':
      return world.flush();
    case 'deliver': {
      const message = pick(command.i);
      if (message) world.deliver(message);
      return;
    }
    case 'lose': {
      const message = pick(command.i);
      if (message) world.lose(message, command.applied);
      return;
    }
    case 'advance':
      return world.advance(command.ms);
    case 'cli':
      if (world.clis.length < MAX_CLIS) world.startCli(command.target, command.kind);
      return;
    case 'kill':
      world.clis[command.cli]?.kill();
      return;
    case 'api':
      world.cluster.unreachable = !command.up;
      return;
    case 'writeFault':
      world.cluster.failNextWrites(OBJECTS[command.object], command.count, command.fault);
      return;
    case 'restartConsumer':
      return world.restartConsumer(podAt(world, command.pod));
    case 'restartSidecar':
      return world.restartSidecar(podAt(world, command.pod));
    case 'stopSidecar':
      return world.stopSidecar(podAt(world, command.pod));
    case 'partition':
      world.pod(podAt(world, command.pod)).partitioned = command.on;
      return;
    case 'recreatePod':
      return world.recreatePod(podAt(world, command.pod));
    case 'refresh':
      return world.refreshFile(podAt(world, command.pod), command.steps);
    case 'tick':
      return world.tick(podAt(world, command.pod));
    case 'ready':
      return world.fleet.setReady(podAt(world, command.pod), command.ready);
    case 'deaf':
      return world.fleet.setIgnoresCommands(podAt(world, command.pod), command.deaf);
  }
}

/** The colour a desired state is settled on (all its pods ACTIVE, the other's PAUSED), if any. */
function settledOn(world: ModelWorld, data: Record<string, string>): Color | undefined {
  const lifecycleOf = (pod: string, c: Color) => {
    const resolved = resolveEntry(data, pod, c);
    return resolved.status === 'ok' ? resolved.entry.lifecycle : undefined;
  };
  return COLORS.find((c) => world.podNames(c).every((p) => lifecycleOf(p, c) === 'ACTIVE') && world.podNames(otherColor(c)).every((p) => lifecycleOf(p, otherColor(c)) === 'PAUSED'));
}

/** The invariants that must hold after every event. */
function checkAlways(world: ModelWorld, where: string): void {
  const overlaps = world.fleet.s1Overlaps();
  assert.deepEqual(overlaps, [], `S1 broken ${where}: a blue and a green consumer were both not PAUSED`);
  world.stateVersions().forEach((version, index) => {
    const desiredActive = (c: Color) => world.podNames(c).some((p) => {
      const resolved = resolveEntry(version.data, p, c);
      return resolved.status === 'ok' && resolved.entry.lifecycle === 'ACTIVE';
    });
    assert.ok(!(desiredActive('blue') && desiredActive('green')), `S1 broken in the desired state ${where}: version ${index} has both colours ACTIVE`);
    if (version.annotations[OPERATION_ANNOTATION] === undefined) {
      assert.ok(settledOn(world, version.data), `S3 broken ${where}: state version ${index} has no operation record but is not settled on a colour: ${JSON.stringify(version.data)}`);
    }
  });
  assert.deepEqual(world.crashes(), [], `a CLI crashed ${where}`);
}

function currentState(world: ModelWorld) {
  const snapshot = world.cluster.peekConfigMap(NAMES.stateConfigMap);
  assert.ok(snapshot);
  return snapshot;
}

async function tickAll(world: ModelWorld, rounds: number): Promise<void> {
  for (let round = 0; round < rounds; round++) {
    for (const pod of world.allPods) world.tick(pod);
    await world.advance(500);
  }
}

/** What one schedule reached, for the coverage the suite reports. */
export interface ScheduleOutcome {
  /** Phases some CLI started before recovery, e.g. "resume", "rollback:verify-paused". */
  phasesStarted: Set<string>;
  /** Recovery found an operation record left behind (a killed, abandoned or failed switch). */
  interrupted: boolean;
  /** Outcomes of the CLIs that finished before recovery (switched, rolled-back, refused, ...). */
  outcomes: string[];
  recovery: string;
}

function summarize(world: ModelWorld, recovery: { outcome: string; interrupted: boolean }): ScheduleOutcome {
  const phasesStarted = new Set<string>();
  for (const cli of world.clis) {
    for (const event of cli.progress) if (event.type === 'phase-start') phasesStarted.add(`${event.phase.rollback ? 'rollback:' : ''}${event.phase.name}`);
  }
  return {
    phasesStarted,
    interrupted: recovery.interrupted,
    outcomes: world.clis.filter((cli) => cli.done).map((cli) => cli.report?.outcome ?? (cli.error as Error).constructor.name),
    recovery: recovery.outcome,
  };
}

/** Recovery with healthy infrastructure, then S2 and S3. */
async function recover(world: ModelWorld, target: Color, log: string[]): Promise<{ outcome: string; interrupted: boolean }> {
  for (const cli of world.clis) if (!cli.done) cli.kill();
  world.cluster.unreachable = false;
  world.cluster.clearWriteFaults();
  for (const pod of world.allPods) {
    world.fleet.setReady(pod, true);
    world.fleet.setIgnoresCommands(pod, false);
    world.pod(pod).partitioned = false;
    if (world.pod(pod).sidecarDown) await world.restartSidecar(pod);
  }
  world.autoDeliver = true;
  await tickAll(world, Math.ceil((LEASE_MS + 1_000) / 500));
  checkAlways(world, 'while the lease expired');

  const leftOperation = currentState(world).annotations[OPERATION_ANNOTATION];
  if (leftOperation) {
    const view = await readStatus({ cluster: world.cluster, pods: world.fleet, names: NAMES, clock: world.clock });
    assert.ok(view.problems.some((p) => p.kind === 'interrupted'), `S3: status does not show the interrupted switch: ${JSON.stringify(view.problems)}`);
  }
  log.push(`recovery: switch ${target}`);
  const run = world.startCli(target, 'switch');
  for (let step = 0; step < 400 && !run.done; step++) {
    await tickAll(world, 1);
    checkAlways(world, 'during recovery');
  }
  assert.ok(run.done, 'S2: the recovery run did not finish within 200 s of virtual time');
  assert.equal(run.error, undefined, `S2: the recovery run was refused: ${String(run.error)}`);
  const outcome = run.report!.outcome;
  assert.ok(outcome === 'switched' || outcome === 'noop', `S2: the recovery run ended ${outcome}: ${run.report!.reason ?? ''}`);
  if (leftOperation) {
    assert.ok(
      run.progress.some((e) => e.type === 'warning' && e.message.startsWith('an interrupted ')),
      'S3: the recovery run did not name the interrupted switch it finished',
    );
  }

  // The kubelet catches up; sidecars converge and then stay put.
  for (const pod of world.allPods) world.refreshFile(pod, Number.MAX_SAFE_INTEGER);
  await tickAll(world, 3);
  const transitions = world.fleet.transitions.length;
  await tickAll(world, 3);
  checkAlways(world, 'after recovery');
  assert.equal(world.fleet.transitions.length, transitions, 'S2: consumers still change state after convergence');

  const state = currentState(world);
  assert.equal(state.annotations[OPERATION_ANNOTATION], undefined, 'S3: the operation record is still there after recovery');
  assert.equal(settledOn(world, state.data), target, `S2: desired state not settled on ${target}: ${JSON.stringify(state.data)}`);
  assert.equal(world.cluster.peekConfigMap(NAMES.activeConfigMap)?.data.active, target, 'S2: active-version');
  assert.equal(world.cluster.peekLease(NAMES.lease)?.holderIdentity, target, 'S2: Lease at rest');
  for (const color of COLORS) {
    for (const name of world.podNames(color)) {
      const expected = color === target ? 'ACTIVE' : 'PAUSED';
      assert.equal(world.fleet.stateOf(name), expected, `S2: consumer ${name}`);
      const status = world.pod(name).sidecar.status();
      const entry = resolveEntry(state.data, name, color);
      assert.ok(entry.status === 'ok');
      assert.equal(status.desired?.lifecycle, expected, `S2: sidecar of ${name} desires ${status.desired?.lifecycle}`);
      assert.equal(status.desired?.generation, entry.entry.generation, `S2: sidecar of ${name} is at another generation than the ConfigMap`);
      assert.equal(status.actual, expected, `S2: sidecar of ${name} sees ${status.actual}`);
    }
  }
  return { outcome, interrupted: leftOperation !== undefined };
}

/** Plays a schedule and checks every invariant; throws an AssertionError naming the event that broke one. */
export async function runSchedule(schedule: Schedule): Promise<ScheduleOutcome> {
  const world = new ModelWorld(schedule.drainMs, schedule.podsPerColor);
  const log: string[] = [`drainMs=${schedule.drainMs} podsPerColor=${schedule.podsPerColor}`, 'cli target=green kind=switch'];
  try {
    await world.start();
    world.startCli('green', 'switch');
    checkAlways(world, 'at the start');
    for (const command of schedule.commands) {
      log.push(describeCommand(world, command));
      await play(world, command);
      checkAlways(world, `after event ${log.length - 2} (${describeCommand(world, command)})`);
    }
    const clisBefore = world.clis.length;
    const recovery = await recover(world, schedule.recoveryTarget, log);
    world.clis.splice(clisBefore);
    return summarize(world, recovery);
  } catch (error) {
    if (error instanceof Error) error.message += `\n  schedule: ${log.join(' | ')}\n  transitions: ${JSON.stringify(world.fleet.transitions.slice(world.allPods.length).map((t) => `${t.at % 1e6} ${t.pod} ${t.from}->${t.to}`))}`;
    throw error;
  }
}

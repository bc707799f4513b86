/**
 * Schedules for the model explorer: a generated list of events (deliver, lose, stall or delay
 * messages, advance time, let the network behave until a CLI reaches a phase, start CLIs (with
 * --force, --soak, a skewed clock) or kill them, cut one CLI off the API server, run inject-fault,
 * API server down, failing writes, restarts, pod deletion, a colour scaled up, stale files, sidecar ticks), the executor
 * that plays one over a ModelWorld, and the invariant checks.
 *
 * Schedules are weighted towards the deep phases: besides single events, they contain recipes
 * (let the network run until a CLI starts a given phase; make a green pod fail and run until a
 * rollback phase; make the Lease expire under a running CLI and start another; stall a push and
 * deliver it late), so faults land in pause, resume and the rollback steps, not only in preflight.
 *
 * Every schedule starts with one CLI switching blue -> green (with the schedule's --force / --soak)
 * on an installation at rest on blue, with 1 to 4 pods per colour.
 * After every event: S1 on the consumers (no instant where a blue and a green consumer were both not
 * PAUSED, replayed over the whole timeline; the one documented exception is an old-colour pod a
 * --force run could not reach, which it leaves to its sidecar) and on the desired state (no
 * ConfigMap version with both colours desired ACTIVE), S3 (every version of the state ConfigMap
 * without an operation record is settled on one colour), and no CLI or inject-fault crashed with
 * anything but a bgswitch error.
 * At the end, recovery: every CLI still running is killed, the infrastructure heals (stalled pushes
 * still within their signature's age arrive), the lease expires, and a fresh CLI runs `switch
 * <recoveryTarget>` (with --force when `status` shows dual-active, as docs/operations.md says).
 * Then S2 (it switched or had nothing to do; every pod of that colour ACTIVE and desired ACTIVE, the
 * other PAUSED; active-version, Lease and sidecars agree and stay put) and S3 (an operation record
 * left behind was shown by `status` and named by the recovery run, which removed it).
 */
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { leaseBlocks } from '../../src/core/lease.js';
import { readStatus } from '../../src/core/status.js';
import type { OperationKind } from '../../src/core/operation.js';
import { OPERATION_ANNOTATION, resolveEntry } from '../../src/shared/desired-state.js';
import { COLORS, otherColor, type Color, type Fault } from '../../src/shared/model.js';
import type { Overlap } from '../support/memory-fleet.js';
import { NAMES } from '../support/switch-world.js';
import { LEASE_MS, ModelWorld, phaseKey, type PhaseKey } from './world.js';

export type Command =
  | { t: 'flush' }
  | { t: 'deliver'; i: number }
  | { t: 'lose'; i: number; applied: boolean }
  | { t: 'stall'; i: number }
  | { t: 'late'; i: number }
  | { t: 'advance'; ms: number }
  | { t: 'run'; ms: number }
  | { t: 'until'; phase: PhaseKey }
  | { t: 'cli'; target: Color; kind: OperationKind; force?: boolean; soakMs?: number; skewMs?: number }
  | { t: 'kill'; cli: number }
  /** Freeze the CLI (SIGSTOP) now, or the moment it next starts step `at`. */
  | { t: 'freeze'; cli: number; at?: PhaseKey }
  | { t: 'thaw'; cli: number }
  | { t: 'cliApi'; cli: number; up: boolean }
  | { t: 'inject'; target: string; change: Partial<Fault> | 'clear' }
  | { t: 'api'; up: boolean }
  | { t: 'writeFault'; object: 'state' | 'active' | 'lease'; fault: 'conflict' | 'error'; count: number }
  | { t: 'restartConsumer'; pod: number }
  | { t: 'restartSidecar'; pod: number }
  | { t: 'stopSidecar'; pod: number }
  | { t: 'partition'; pod: number; on: boolean }
  | { t: 'cutOff'; pod: number; on: boolean }
  | { t: 'recreatePod'; pod: number }
  | { t: 'scaleUp'; color: Color }
  | { t: 'refresh'; pod: number; steps: number }
  | { t: 'tick'; pod: number }
  | { t: 'watch'; pod: number; steps: number }
  | { t: 'ready'; pod: number; ready: boolean }
  | { t: 'deaf'; pod: number; deaf: boolean };

export interface Schedule {
  drainMs: number;
  podsPerColor: number;
  /** Options of the first CLI (`switch green`); none when absent. */
  first?: { force: boolean; soakMs: number };
  commands: Command[];
  recoveryTarget: Color;
}

const MAX_CLIS = 4;
const MAX_PODS_PER_COLOR = 4;
/** How many pods scaling up may add to a colour. */
const MAX_PODS_ADDED = 2;
/** How long an `until` lets the network run at most: past every timeout of the CLIs (4 s) and the lease (15 s). */
const UNTIL_MAX_MS = 20_000;
const color = fc.constantFrom<Color>('blue', 'green');
const FORWARD_PHASES = ['lease', 'desired-paused', 'pause', 'verify-paused', 'desired-active', 'resume', 'verify-active', 'soak', 'record'];
const ROLLBACK_PHASES = ['desired-paused', 'pause', 'verify-paused', 'desired-active', 'resume', 'verify-active'].map(
  (phase) => `rollback:${phase}`,
);

const until = (phases: string[]) => fc.record({ t: fc.constant('until' as const), phase: fc.constantFrom(...phases) });
const cliCommand = fc.record({
  t: fc.constant('cli' as const),
  target: color,
  kind: fc.constantFrom<OperationKind>('switch', 'rollback'),
  force: fc.boolean(),
  soakMs: fc.constantFrom(0, 0, 2_000, 20_000),
});
/** Ahead by 14 s: it judges a running CLI's 15 s Lease expired 1 s after each renewal. */
const SKEW_AHEAD_MS = 14_000;

export interface ScheduleOptions {
  /**
   * Also start CLIs whose clock runs ahead, so they take over the Lease of a running CLI. The
   * protocol does not claim safety under clock skew (docs/safety.md, "Not covered"); off by default.
   */
  clockSkew: boolean;
}
const faultChange = fc.oneof(
  fc.constant('clear' as const),
  fc.record({ processingDelayMs: fc.constantFrom(0, 100) }),
  fc.record({ errorRatePercent: fc.constantFrom(0, 50), commitDelayMs: fc.constantFrom(0, 2_000) }),
);

/** The events of a world with `podsPerColor` pods per colour (pod index: blue pods first, then green). */
function commandArbitrary(podsPerColor: number, options: ScheduleOptions): fc.Arbitrary<Command> {
  const podIndex = fc.integer({ min: 0, max: 2 * podsPerColor - 1 });
  const podName = podIndex.map((i) => (i < podsPerColor ? `consumer-blue-${i}` : `consumer-green-${i - podsPerColor}`));
  return fc.oneof(
    { weight: 12, arbitrary: fc.constant({ t: 'flush' as const }) },
    { weight: 6, arbitrary: fc.record({ t: fc.constant('advance' as const), ms: fc.constantFrom(50, 250, 500, 1_000, 2_000) }) },
    // Long enough for calls to time out (> 5 s) and the lease to expire (> 15 s).
    { weight: 1, arbitrary: fc.record({ t: fc.constant('advance' as const), ms: fc.constantFrom(4_000, 6_000, 16_000) }) },
    { weight: 2, arbitrary: fc.record({ t: fc.constant('run' as const), ms: fc.constantFrom(1_000, 5_000, 16_000) }) },
    { weight: 4, arbitrary: until(FORWARD_PHASES) },
    { weight: 4, arbitrary: fc.record({ t: fc.constant('deliver' as const), i: fc.nat(20) }) },
    { weight: 2, arbitrary: fc.record({ t: fc.constant('lose' as const), i: fc.nat(20), applied: fc.boolean() }) },
    { weight: 1, arbitrary: fc.record({ t: fc.constant('stall' as const), i: fc.nat(20) }) },
    { weight: 1, arbitrary: fc.record({ t: fc.constant('late' as const), i: fc.nat(5) }) },
    { weight: 4, arbitrary: fc.record({ t: fc.constant('tick' as const), pod: podIndex }) },
    {
      weight: 1,
      arbitrary: options.clockSkew
        ? fc.tuple(cliCommand, fc.constantFrom(0, 0, SKEW_AHEAD_MS)).map(([cli, skewMs]) => ({ ...cli, skewMs }))
        : cliCommand,
    },
    { weight: 1, arbitrary: fc.record({ t: fc.constant('kill' as const), cli: fc.nat(MAX_CLIS - 1) }) },
    { weight: 1, arbitrary: fc.record({ t: fc.constant('freeze' as const), cli: fc.nat(MAX_CLIS - 1) }) },
    { weight: 1, arbitrary: fc.record({ t: fc.constant('thaw' as const), cli: fc.nat(MAX_CLIS - 1) }) },
    { weight: 1, arbitrary: fc.record({ t: fc.constant('cliApi' as const), cli: fc.nat(MAX_CLIS - 1), up: fc.boolean() }) },
    { weight: 1, arbitrary: fc.record({ t: fc.constant('inject' as const), target: fc.oneof(color, podName), change: faultChange }) },
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
    // The CLI reaches neither the pod's consumer nor its sidecar: what --force excuses on the old colour.
    { weight: 1, arbitrary: fc.record({ t: fc.constant('cutOff' as const), pod: podIndex, on: fc.boolean() }) },
    { weight: 1, arbitrary: fc.record({ t: fc.constant('recreatePod' as const), pod: podIndex }) },
    { weight: 1, arbitrary: fc.record({ t: fc.constant('scaleUp' as const), color }) },
    { weight: 2, arbitrary: fc.record({ t: fc.constant('refresh' as const), pod: podIndex, steps: fc.integer({ min: 1, max: 4 }) }) },
    { weight: 3, arbitrary: fc.record({ t: fc.constant('watch' as const), pod: podIndex, steps: fc.integer({ min: 1, max: 3 }) }) },
    // A consumer that is not ready, or answers pause / resume without applying them: forces rollbacks.
    { weight: 1, arbitrary: fc.record({ t: fc.constant('ready' as const), pod: podIndex, ready: fc.boolean() }) },
    { weight: 1, arbitrary: fc.record({ t: fc.constant('deaf' as const), pod: podIndex, deaf: fc.boolean() }) },
  );
}

/**
 * Short sequences that steer a schedule into the deep phases, each ending where faults matter:
 *  - rollback: a green pod goes unready or deaf (and, once green consumes, maybe another is cut off
 *    from the CLI), then the network runs until a rollback phase starts;
 *  - takeover: mid-switch, another CLI takes the lock while the first is still running, either
 *    because its clock runs 14 s ahead (it judges the Lease expired 1 s after a renewal), or because
 *    the running CLI's three renewals (every 5 s) fail, so the Lease really expires before the
 *    other CLI starts (a fourth failure would hit that CLI's own acquire);
 *  - late push: a push on the wire stalls past its sender's timeout and arrives after newer ones;
 *  - frozen: the first CLI is frozen (SIGSTOP) the moment it starts a step (right after the step's
 *    lock check), stays frozen past its Lease's expiry while another CLI takes the lock and runs to
 *    some step, and is then thawed: whatever it was about to do next now comes after the takeover.
 */
function recipeArbitrary(podsPerColor: number, options: ScheduleOptions): fc.Arbitrary<Command[]> {
  const greenPod = fc.integer({ min: podsPerColor, max: 2 * podsPerColor - 1 });
  const sick = fc.oneof(
    greenPod.map((pod): Command => ({ t: 'ready', pod, ready: false })),
    greenPod.map((pod): Command => ({ t: 'deaf', pod, deaf: true })),
  );
  const midSwitch = until(['desired-paused', 'pause', 'verify-paused', 'resume', 'verify-active', 'soak']);
  return fc.oneof(
    fc.tuple(sick, until(ROLLBACK_PHASES)).map((steps): Command[] => steps),
    // Once green consumes, one green pod is cut off from the CLI and another fails: the rollback
    // must see every green pod PAUSED before it resumes blue, --force or not.
    fc
      .tuple(greenPod, sick, until(ROLLBACK_PHASES))
      .map(([cut, fail, rollback]): Command[] => [
        { t: 'until', phase: 'verify-active' },
        { t: 'cutOff', pod: cut, on: true },
        fail,
        rollback,
      ]),
    fc
      .tuple(midSwitch, cliCommand, until(FORWARD_PHASES))
      .map(([mid, cli, next]): Command[] =>
        options.clockSkew
          ? [mid, { ...cli, skewMs: SKEW_AHEAD_MS }, next]
          : [mid, { t: 'writeFault', object: 'lease', fault: 'error', count: 3 }, { t: 'run', ms: 16_000 }, cli, next],
      ),
    // A colour scaled up mid-switch: the new pod must not consume on the wrong side.
    fc.tuple(midSwitch, color).map(([mid, scaled]): Command[] => [mid, { t: 'scaleUp', color: scaled }]),
    fc
      .tuple(until(['pause', 'resume', ...ROLLBACK_PHASES]), fc.nat(3), until([...FORWARD_PHASES, ...ROLLBACK_PHASES]), fc.nat(3))
      .map(([first, stalled, next, late]): Command[] => [first, { t: 'stall', i: stalled }, next, { t: 'late', i: late }]),
    fc
      .tuple(fc.constantFrom(...FORWARD_PHASES.slice(1), ...ROLLBACK_PHASES), cliCommand, until([...FORWARD_PHASES, ...ROLLBACK_PHASES]))
      .map(([at, cli, next]): Command[] => [
        { t: 'freeze', cli: 0, at },
        { t: 'until', phase: at },
        { t: 'run', ms: LEASE_MS + 1_000 },
        cli,
        next,
        { t: 'thaw', cli: 0 },
      ]),
  );
}

// Worlds of 3 and 4 pods per colour cost twice as much to play as 1 or 2: they come up half as often.
const podsPerColorArbitrary = fc.oneof(
  { weight: 2, arbitrary: fc.integer({ min: 1, max: 2 }) },
  { weight: 1, arbitrary: fc.integer({ min: 3, max: MAX_PODS_PER_COLOR }) },
);

export function scheduleArbitrary(options: ScheduleOptions = { clockSkew: false }): fc.Arbitrary<Schedule> {
  return podsPerColorArbitrary.chain((podsPerColor) =>
    fc.record({
      drainMs: fc.constantFrom(0, 500, 3_000),
      podsPerColor: fc.constant(podsPerColor),
      first: fc.record({ force: fc.boolean(), soakMs: fc.constantFrom(0, 0, 2_000, 20_000) }),
      commands: fc
        .array(
          fc.oneof(
            { weight: 6, arbitrary: commandArbitrary(podsPerColor, options).map((command) => [command]) },
            { weight: 2, arbitrary: recipeArbitrary(podsPerColor, options) },
          ),
          { minLength: 1, maxLength: 60 },
        )
        .map((chunks) => chunks.flat()),
      recoveryTarget: color,
    }),
  );
}

const OBJECTS = { state: NAMES.stateConfigMap, active: NAMES.activeConfigMap, lease: NAMES.lease } as const;

export function describeCommand(world: ModelWorld, command: Command): string {
  const { t, ...rest } = command;
  const args = Object.entries(rest).map(([key, value]) =>
    key === 'pod' && typeof value === 'number'
      ? podAt(world, value)
      : `${key}=${typeof value === 'object' ? JSON.stringify(value) : String(value)}`,
  );
  return [t, ...args].join(' ');
}

function podAt(world: ModelWorld, index: number): string {
  return world.allPods[index % world.allPods.length]!;
}

/** How many times any CLI started `phase` so far. */
function phaseStarts(world: ModelWorld, phase: PhaseKey): number {
  return world.clis.reduce((n, cli) => n + cli.progress.filter((e) => e.type === 'phase-start' && phaseKey(e.phase) === phase).length, 0);
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
    case 'stall': {
      const pushes = world.pending.filter((m) => m.push);
      const message = pushes[command.i % pushes.length];
      if (message) world.stall(message);
      return;
    }
    case 'late': {
      const message = world.stalled[command.i % world.stalled.length];
      if (message) world.deliverLate(message);
      return;
    }
    case 'advance':
      return world.advance(command.ms);
    case 'run':
      return world.runUntil(() => false, command.ms);
    case 'until': {
      const before = phaseStarts(world, command.phase);
      const running = () => world.clis.some((cli) => !cli.done && cli.origin.alive);
      return world.runUntil(() => !running() || phaseStarts(world, command.phase) > before, UNTIL_MAX_MS);
    }
    case 'cli':
      if (world.clis.length < MAX_CLIS) {
        world.startCli(command.target, command.kind, {
          request: { force: command.force ?? false, soakMs: command.soakMs ?? 0 },
          skewMs: command.skewMs ?? 0,
        });
      }
      return;
    case 'kill':
      world.clis[command.cli]?.kill();
      return;
    case 'freeze': {
      const cli = world.clis[command.cli];
      if (cli && command.at !== undefined) cli.freezeAt = command.at;
      else if (cli) world.freeze(cli);
      return;
    }
    case 'thaw': {
      const cli = world.clis[command.cli];
      if (cli) world.thaw(cli);
      return;
    }
    case 'cliApi': {
      const cli = world.clis[command.cli];
      if (cli) cli.apiCut = !command.up;
      return;
    }
    case 'inject':
      world.startFault(command.target, command.change);
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
    case 'cutOff':
      world.pod(podAt(world, command.pod)).cutOff = command.on;
      return;
    case 'recreatePod':
      return world.recreatePod(podAt(world, command.pod));
    case 'scaleUp':
      return world.addPod(command.color, MAX_PODS_ADDED);
    case 'refresh':
      return world.refreshFile(podAt(world, command.pod), command.steps);
    case 'watch':
      return world.watch(podAt(world, command.pod), command.steps);
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
  return COLORS.find(
    (c) =>
      world.podNames(c).every((p) => lifecycleOf(p, c) === 'ACTIVE') &&
      world.podNames(otherColor(c)).every((p) => lifecycleOf(p, otherColor(c)) === 'PAUSED'),
  );
}

/**
 * `--force` leaves an old-colour pod it cannot reach out of verification (docs/operations.md): an
 * overlap is excused when one of its pods is of the colour a --force run was leaving and that run
 * had already seen it unreachable.
 */
function excusedByForce(world: ModelWorld, overlap: Overlap): boolean {
  return world.clis.some(
    (cli) =>
      cli.force &&
      cli.progress.some(
        (e) =>
          e.type === 'pod' &&
          e.state === 'unreachable' &&
          e.color === otherColor(cli.target) &&
          overlap.pods.includes(e.pod) &&
          e.at - cli.skewMs <= overlap.from,
      ),
  );
}

const checkedVersions = new WeakMap<ModelWorld, number>();
/** The invariants that must hold after every event. */
function checkAlways(world: ModelWorld, where: string): void {
  const overlaps = world.fleet.s1Overlaps().filter((overlap) => !excusedByForce(world, overlap));
  assert.deepEqual(overlaps, [], `S1 broken ${where}: a blue and a green consumer were both not PAUSED`);
  // Versions never change once written: each is checked once.
  const versions = world.stateVersions();
  for (let index = checkedVersions.get(world) ?? 0; index < versions.length; index++) {
    const version = versions[index]!;
    const desiredActive = (c: Color) =>
      world.podNames(c).some((p) => {
        const resolved = resolveEntry(version.data, p, c);
        return resolved.status === 'ok' && resolved.entry.lifecycle === 'ACTIVE';
      });
    assert.ok(
      !(desiredActive('blue') && desiredActive('green')),
      `S1 broken in the desired state ${where}: version ${index} has both colours ACTIVE`,
    );
    if (version.annotations[OPERATION_ANNOTATION] === undefined) {
      assert.ok(
        settledOn(world, version.data),
        `S3 broken ${where}: state version ${index} has no operation record but is not settled on a colour: ${JSON.stringify(version.data)}`,
      );
    }
  }
  checkedVersions.set(world, versions.length);
  assert.deepEqual(world.crashes(), [], `a CLI crashed ${where}`);
}

function currentState(world: ModelWorld) {
  const snapshot = world.cluster.peekConfigMap(NAMES.stateConfigMap);
  assert.ok(snapshot);
  return snapshot;
}

async function tickAll(world: ModelWorld, rounds: number, stepMs = 500): Promise<void> {
  for (let round = 0; round < rounds; round++) {
    for (const pod of world.allPods) world.tick(pod);
    await world.advance(stepMs);
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
  /** Which of the harder situations the schedule produced (see scenariosOf). */
  scenarios: string[];
}

/** The situations the model could not express before, as they actually happened in one schedule. */
function scenariosOf(world: ModelWorld): string[] {
  const tookOverRunning = world.clis.some((cli) =>
    cli.progress.some((e) => {
      if (e.type !== 'warning' || !e.message.startsWith('took over the expired lock of ')) return false;
      const previous = world.clis.find((other) => e.message.endsWith(` ${other.holder}`));
      const at = e.at - cli.skewMs;
      return previous?.origin.alive === true && (!previous.done || (previous.finishedAt ?? 0) > at);
    }),
  );
  const maybe = (name: string, happened: boolean) => (happened ? [name] : []);
  return [
    ...maybe('lock taken over from a running CLI', tookOverRunning),
    ...maybe('push arrived after its sender timed out', world.latePushes > 0),
    ...maybe("a sidecar's watch delivered a recorded switch (left to its tick)", world.recordedSwitchDeliveries > 0),
    ...maybe(
      'CLI thawed after its lock was taken over',
      world.clis.some((cli) => cli.thawedAfterTakeover > 0),
    ),
    ...maybe(
      'inject-fault alongside a switch',
      world.faultRuns.some((run) => run.alongsideSwitch),
    ),
    ...maybe(
      '--force',
      world.clis.some((cli) => cli.force),
    ),
    ...maybe(
      '--soak',
      world.clis.some((cli) => cli.progress.some((e) => e.type === 'phase-start' && e.phase.name === 'soak')),
    ),
    ...maybe(
      'CLI clock ahead',
      world.clis.some((cli) => cli.skewMs > 0),
    ),
    ...maybe(`${world.podsPerColor} pods per colour`, world.podsPerColor > 2),
    ...maybe('pod added mid-switch', world.addedMidSwitch > 0),
  ];
}

function summarize(world: ModelWorld, recovery: { outcome: string; interrupted: boolean }): ScheduleOutcome {
  const phasesStarted = new Set<string>();
  for (const cli of world.clis) {
    for (const event of cli.progress) if (event.type === 'phase-start') phasesStarted.add(phaseKey(event.phase));
  }
  return {
    phasesStarted,
    scenarios: scenariosOf(world),
    interrupted: recovery.interrupted,
    outcomes: world.clis.filter((cli) => cli.done).map((cli) => cli.report?.outcome ?? (cli.error as Error).constructor.name),
    recovery: recovery.outcome,
  };
}

/** Recovery with healthy infrastructure, then S2 and S3. */
async function recover(world: ModelWorld, target: Color, log: string[]): Promise<{ outcome: string; interrupted: boolean }> {
  for (const run of [...world.clis, ...world.faultRuns]) if (!run.done) run.kill();
  // Requests a killed CLI had already made (a renewal of its Lease) still land.
  await world.advance(0);
  for (const message of [...world.stalled]) world.deliverLate(message);
  world.cluster.unreachable = false;
  world.cluster.clearWriteFaults();
  for (const pod of world.allPods) {
    world.fleet.setReady(pod, true);
    world.fleet.setIgnoresCommands(pod, false);
    world.pod(pod).partitioned = false;
    world.pod(pod).cutOff = false;
    if (world.pod(pod).sidecarDown) await world.restartSidecar(pod);
  }
  world.autoDeliver = true;
  // Until the lock of a killed CLI expires (at rest, a colour, it never blocks); a CLI whose clock
  // runs ahead wrote a renewTime that far in the future.
  const skewMs = Math.max(0, ...world.clis.map((cli) => cli.skewMs));
  for (
    let waited = 0;
    waited < LEASE_MS + skewMs + 1_000 && leaseBlocks(world.cluster.peekLease(NAMES.lease), world.clock.now());
    waited += 1_000
  ) {
    await tickAll(world, 1, 1_000);
  }
  await tickAll(world, 2);
  checkAlways(world, 'while the lease expired');

  const leftOperation = currentState(world).annotations[OPERATION_ANNOTATION];
  const view = await readStatus({ cluster: world.cluster, pods: world.fleet, names: NAMES, clock: world.clock });
  if (leftOperation) {
    assert.ok(
      view.problems.some((p) => p.kind === 'interrupted'),
      `S3: status does not show the interrupted switch: ${JSON.stringify(view.problems)}`,
    );
  }
  // Only a --force run can leave the fleet dual-active (an old pod it could not reach, whose file
  // is not refreshed yet); the operator then does what docs/operations.md says: switch --force.
  const force = view.problems.some((p) => p.kind === 'dual-active');
  log.push(`recovery: switch ${target}${force ? ' --force (status: dual-active)' : ''}`);
  const run = world.startCli(target, 'switch', { request: { force } });
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
  for (const pod of world.allPods) {
    world.refreshFile(pod, Number.MAX_SAFE_INTEGER);
    world.watch(pod, Number.MAX_SAFE_INTEGER);
  }
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
      assert.equal(
        status.desired?.generation,
        entry.entry.generation,
        `S2: sidecar of ${name} is at another generation than the ConfigMap`,
      );
      assert.equal(status.actual, expected, `S2: sidecar of ${name} sees ${status.actual}`);
    }
  }
  return { outcome, interrupted: leftOperation !== undefined };
}

/** Plays a schedule and checks every invariant; throws an AssertionError naming the event that broke one. */
export async function runSchedule(schedule: Schedule): Promise<ScheduleOutcome> {
  const world = new ModelWorld(schedule.drainMs, schedule.podsPerColor);
  const first = schedule.first ?? { force: false, soakMs: 0 };
  const log: string[] = [
    `drainMs=${schedule.drainMs} podsPerColor=${schedule.podsPerColor}`,
    `cli target=green kind=switch force=${first.force} soakMs=${first.soakMs}`,
  ];
  try {
    await world.start();
    world.startCli('green', 'switch', { request: first });
    checkAlways(world, 'at the start');
    for (const command of schedule.commands) {
      log.push(describeCommand(world, command));
      await play(world, command);
      checkAlways(world, `after event ${log.length - 2} (${describeCommand(world, command)})`);
    }
    const clisBefore = world.clis.length;
    const scenarios = scenariosOf(world);
    const recovery = await recover(world, schedule.recoveryTarget, log);
    world.clis.splice(clisBefore);
    return { ...summarize(world, recovery), scenarios };
  } catch (error) {
    if (error instanceof Error)
      error.message += `\n  schedule: ${log.join(' | ')}\n  transitions: ${JSON.stringify(world.fleet.transitions.slice(world.allPods.length).map((t) => `${t.at % 1e6} ${t.pod} ${t.from}->${t.to}`))}`;
    throw error;
  }
}

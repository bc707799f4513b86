/**
 * Model-based exploration of invariants S1, S2 and S3 (docs/safety.md): thousands of generated
 * schedules, each driving the real switch protocol (src/core/switch.ts) and one real sidecar
 * reconciler per pod (sidecar/reconciler.ts) over the in-memory cluster and consumers, with
 * messages delayed, reordered, lost and stalled, CLIs (with --force, --soak) killed, started and cut
 * off from the API server, Leases expiring under running CLIs, inject-fault alongside, the API
 * server down, writes failing or conflicting, consumers, sidecars and pods restarting, sidecars
 * or whole pods cut off from the CLI, mounted files lagging, 1 to 4 pods per colour.
 * test/model/scheduler.ts lists the events, the recipes that steer schedules into the deep phases,
 * and the checks.
 *
 * Environment: BGSWITCH_MODEL_RUNS (default 3000), BGSWITCH_MODEL_SEED (default: a new seed every
 * run, printed, so every run searches new schedules), BGSWITCH_MODEL_PATH (with the seed, replays the
 * shrunk counterexample), BGSWITCH_MODEL_CLOCK_SKEW=1 (also CLIs whose clock runs 14 s ahead: outside
 * what the protocol claims). A failure prints the broken invariant's own message, the schedule log
 * and the command that replays it. The diagnostics count, per phase and per situation, the
 * schedules that reached it.
 */
import { test } from 'node:test';
import fc from 'fast-check';
import { runSchedule, scheduleArbitrary } from '../model/scheduler.js';

test('S1 after every event, S2 and S3 after recovery, over generated schedules', async (t) => {
  const runs = Number(process.env.BGSWITCH_MODEL_RUNS ?? 3000);
  const seed = process.env.BGSWITCH_MODEL_SEED ? Number(process.env.BGSWITCH_MODEL_SEED) : Math.floor(Math.random() * 2 ** 31);
  const path = process.env.BGSWITCH_MODEL_PATH;
  const clockSkew = process.env.BGSWITCH_MODEL_CLOCK_SKEW === '1';
  const settings = `BGSWITCH_MODEL_SEED=${seed} BGSWITCH_MODEL_RUNS=${runs}${clockSkew ? ' BGSWITCH_MODEL_CLOCK_SKEW=1' : ''}`;
  t.diagnostic(`seed ${seed}${path ? `, path ${path}` : ''} (reproduce: ${settings})`);
  const started = Date.now();
  let explored = 0;
  const phases = new Map<string, number>();
  const outcomes = new Map<string, number>();
  const scenarios = new Map<string, number>();
  let interrupted = 0;
  const result = await fc.check(
    fc.asyncProperty(scheduleArbitrary({ clockSkew }), async (schedule) => {
      explored++;
      const outcome = await runSchedule(schedule);
      for (const phase of outcome.phasesStarted) phases.set(phase, (phases.get(phase) ?? 0) + 1);
      for (const scenario of outcome.scenarios) scenarios.set(scenario, (scenarios.get(scenario) ?? 0) + 1);
      for (const end of [...outcome.outcomes, `recovery ${outcome.recovery}`]) outcomes.set(end, (outcomes.get(end) ?? 0) + 1);
      if (outcome.interrupted) interrupted++;
    }),
    { numRuns: runs, seed, ...(path ? { path } : {}) },
  );
  if (result.failed) {
    const replay = `BGSWITCH_MODEL_SEED=${seed} BGSWITCH_MODEL_PATH=${result.counterexamplePath} BGSWITCH_MODEL_RUNS=1${clockSkew ? ' BGSWITCH_MODEL_CLOCK_SKEW=1' : ''}`;
    const cause = result.errorInstance instanceof Error ? result.errorInstance.message : String(result.errorInstance);
    throw new Error(
      `invariant broken after ${result.numRuns} schedules (shrunk ${result.numShrinks} times):\n${cause}\nreplay: ${replay} node --import tsx --test test/unit/model-switch.test.ts`,
    );
  }
  const count = (map: Map<string, number>) =>
    [...map]
      .sort()
      .map(([key, n]) => `${key} ${n}`)
      .join(', ');
  t.diagnostic(`explored ${explored} schedules, 0 violations, in ${((Date.now() - started) / 1000).toFixed(1)} s`);
  t.diagnostic(`schedules in which some CLI started each phase: ${count(phases)}`);
  t.diagnostic(`schedules in which each situation happened: ${count(scenarios)}`);
  t.diagnostic(`CLI outcomes before recovery: ${count(outcomes)}; recovery found an interrupted switch in ${interrupted}`);
});

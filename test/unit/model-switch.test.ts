/**
 * Model-based exploration of invariants S1, S2 and S3 (docs/safety.md): thousands of generated
 * schedules, each driving the real switch protocol (src/core/switch.ts) and one real sidecar
 * reconciler per pod (sidecar/reconciler.ts) over the in-memory cluster and consumers, with
 * messages delayed, reordered and lost, CLIs killed and started, the API server down, writes
 * failing or conflicting, consumers, sidecars and pods restarting, and mounted files lagging.
 * See test/model/scheduler.ts for the events and the checks.
 *
 * Environment: BGSWITCH_MODEL_RUNS (default 3000), BGSWITCH_MODEL_SEED (default fixed),
 * BGSWITCH_MODEL_PATH (replays one shrunk counterexample, as printed by fast-check).
 */
import { test } from 'node:test';
import fc from 'fast-check';
import { runSchedule, scheduleArbitrary } from '../model/scheduler.js';

const DEFAULT_SEED = 20250401;

test('S1 after every event, S2 and S3 after recovery, over generated schedules', async (t) => {
  const runs = Number(process.env.BGSWITCH_MODEL_RUNS ?? 3000);
  const seed = Number(process.env.BGSWITCH_MODEL_SEED ?? DEFAULT_SEED);
  const path = process.env.BGSWITCH_MODEL_PATH;
  t.diagnostic(`seed ${seed}${path ? `, path ${path}` : ''} (reproduce: BGSWITCH_MODEL_SEED=${seed} BGSWITCH_MODEL_RUNS=${runs})`);
  const started = Date.now();
  let explored = 0;
  await fc.assert(
    fc.asyncProperty(scheduleArbitrary, async (schedule) => {
      explored++;
      await runSchedule(schedule);
    }),
    { numRuns: runs, seed, ...(path ? { path } : {}), endOnFailure: false },
  );
  t.diagnostic(`explored ${explored} schedules, 0 violations, in ${((Date.now() - started) / 1000).toFixed(1)} s`);
});

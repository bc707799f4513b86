import { test } from 'node:test';
import fc from 'fast-check';
import { scheduleArbitrary, runSchedule } from './scheduler.js';
test('probe', async (t) => {
  const phases = new Map<string, number>(); const outcomes = new Map<string, number>(); const rec = new Map<string, number>();
  let interrupted = 0, failures = 0;
  const n = Number(process.env.N ?? 300);
  const t0 = Date.now();
  for (const s of fc.sample(scheduleArbitrary, { numRuns: n, seed: Number(process.env.SEED ?? 1) })) {
    try {
      const o = await runSchedule(s);
      for (const p of o.phasesStarted) phases.set(p, (phases.get(p) ?? 0) + 1);
      for (const p of o.outcomes) outcomes.set(p, (outcomes.get(p) ?? 0) + 1); for (const m of (o as any).errors ?? []) outcomes.set(m, (outcomes.get(m) ?? 0) + 1);
      rec.set(o.recovery, (rec.get(o.recovery) ?? 0) + 1);
      if (o.interrupted) interrupted++;
    } catch (e) { failures++; if (failures < 3) t.diagnostic(String((e as Error).message).slice(0, 4000)); }
  }
  t.diagnostic(`time ${Date.now()-t0} ms failures ${failures} interrupted ${interrupted}`);
  t.diagnostic(JSON.stringify([...phases].sort()));
  t.diagnostic(JSON.stringify([...outcomes])); t.diagnostic(JSON.stringify([...rec]));
});

/**
 * Message-level e2e support: a scenario runs under continuous production to the lab's `bg-events`,
 * then production stops, the consumers drain, and `npm run lab -- verify` judges that run's messages
 * (lab/kafka/verdict.ts) the way an operator would check a switch.
 */
import assert from 'node:assert/strict';
import { join } from 'node:path';
import type { TestContext } from 'node:test';
import { startProduction, type ProductionSummary } from '../../lab/kafka/load.js';
import type { Verdict } from '../../lab/kafka/verdict.js';
import { assertNoDualActive, repoRoot, runProcess, waitFor } from './lab.js';

/** Messages per second during every scenario: "a few hundred". */
export const PRODUCTION_RATE = 200;

/** How long `verify --settle` may wait for the consumers to catch up; generous, the machine is shared. */
const SETTLE = '180s';

export interface LabVerify {
  code: number;
  verdict: Verdict;
}

/** `npm run lab -- verify -o json <args>` as the operator runs it; the verdict it printed and its exit code. */
export async function labVerify(args: string[]): Promise<LabVerify> {
  const result = await runProcess(process.execPath, [join(repoRoot, 'dist', 'lab', 'main.js'), 'verify', '-o', 'json', ...args], {
    timeoutMs: 10 * 60_000,
  });
  try {
    return { code: result.code, verdict: JSON.parse(result.stdout) as Verdict };
  } catch {
    throw new Error(`lab verify printed no verdict (exit ${result.code}):\n${result.stdout}${result.stderr}`);
  }
}

/**
 * Runs `body` while `lab produce` logic sends PRODUCTION_RATE messages/s: production is under way
 * (2 s of messages acknowledged) before `body` starts and goes on for 3 s of messages after it, so
 * whichever colour ends up active consumes under load too. Production stops even when `body` throws.
 */
export async function underProduction(body: () => Promise<void>): Promise<ProductionSummary> {
  const production = await startProduction({ rate: PRODUCTION_RATE });
  try {
    await waitFor('production to be under way', async () => production.produced() >= PRODUCTION_RATE * 2, 60_000);
    await body();
    const after = production.produced();
    await waitFor('production to go on after the scenario', async () => production.produced() >= after + PRODUCTION_RATE * 3, 60_000);
  } finally {
    await production.stop();
  }
  return production.finished;
}

export interface Measured {
  /** From the switch reports: old colour PAUSED -> every partition on the new colour (ms). */
  handoffWaitsMs?: number[];
}

/**
 * The clean verdict for one production run: everything produced was processed once (crash-explained
 * repeats only when `crashes`), never by both colours at once, and S1 held in the transition logs
 * since `from`. Prints the measured numbers.
 */
export async function assertCleanRun(
  t: TestContext,
  label: string,
  summary: ProductionSummary,
  from: number,
  options: { crashes?: boolean; measured?: Measured } = {},
): Promise<Verdict> {
  const { code, verdict } = await labVerify(['--settle', SETTLE, '--run-id', summary.runId]);
  t.diagnostic(`${label}: ${describeVerdict(verdict, summary)}`);
  assert.equal(verdict.produced, summary.produced, `${label}: every acknowledged message of run ${summary.runId} is in bg-events`);
  assert.ok(verdict.produced > 0, `${label}: something was produced`);
  assert.equal(verdict.lost, 0, `${label}: lost messages: ${verdict.reasons.join('; ')}`);
  assert.equal(verdict.unexplainedDuplicates, 0, `${label}: ${verdict.reasons.join('; ')}`);
  if (!options.crashes) assert.equal(verdict.duplicated, 0, `${label}: nothing crashed, so nothing may be processed twice`);
  assert.equal(verdict.overlap.count, 0, `${label}: both colours processed a partition at once: ${JSON.stringify(verdict.overlap.worst)}`);
  assert.equal(code, 0, `${label}: lab verify exits 0 on a clean verdict`);
  const { dualActive, gapMs } = assertNoDualActive(t, from, label);
  assert.equal(dualActive, 0);
  const waits = options.measured?.handoffWaitsMs ?? [];
  if (waits.length > 0) t.diagnostic(`${label}: Kafka hand-off wait per switch (ms): ${waits.join(', ')}`);
  if (verdict.handOffs.length > 0)
    t.diagnostic(
      `${label}: longest processing pause per hand-off (ms): ${verdict.handOffs.map((h) => `${h.from}->${h.to} ${Math.round(h.pauseMs)}`).join(', ')}`,
    );
  t.diagnostic(`${label}: no pod ACTIVE for ${gapMs.toFixed(0)} ms in all`);
  return verdict;
}

const ms = (value: number | undefined): string => (value === undefined ? '-' : String(Math.round(value)));

/** One line with the numbers a results table needs. */
export function describeVerdict(verdict: Verdict, summary: ProductionSummary): string {
  const { p50, p99, max } = verdict.latencyMs;
  return [
    `run ${summary.runId}`,
    `${verdict.produced} produced (${summary.achievedRate.toFixed(0)}/s)`,
    `${verdict.processed} processed`,
    `${verdict.lost} lost`,
    `${verdict.duplicated} duplicated (${verdict.crashExplainedDuplicates} crash-explained, ${verdict.unexplainedDuplicates} unexplained)`,
    `overlap ${verdict.overlap.count}`,
    `by colour ${JSON.stringify(verdict.byColor)}`,
    `${verdict.handOffCount} hand-offs, longest pause ${ms(verdict.longestHandOffPauseMs)} ms`,
    `latency p50 ${ms(p50)} ms, p99 ${ms(p99)} ms, max ${ms(max)} ms`,
  ].join('; ');
}

/** The Kafka hand-off wait a `switch -o json` report recorded (ms), if any. */
export function handoffWaitOf(stdout: string): number | undefined {
  return (JSON.parse(stdout) as { kafka?: { handoffWaitMs?: number } }).kafka?.handoffWaitMs;
}

/**
 * Scaling during a switch (issue 9 §3): a colour's StatefulSet scaled up or down through the API
 * while `bgswitch switch` runs, timed by the switch's own progress lines on stderr. What must hold:
 *  - a pod added to the colour being left never consumes (it starts PAUSED and its entry, its pod
 *    key or else its colour key, says PAUSED from the first desired-state write on);
 *  - a pod added to the colour being switched to consumes only once the switch made that colour
 *    ACTIVE, never while an old pod still does, and joins without a second command;
 *  - a pod removed mid-switch neither hangs nor fools the verification: the switch ends `switched`;
 *  - under production, the Kafka hand-off copes with the member count changing: nothing lost or
 *    duplicated, never both colours on a partition.
 * S1 is checked from the consumers' own transition logs, the new pods included.
 */
import assert from 'node:assert/strict';
import { before, describe, it, type TestContext } from 'node:test';
import type { Color } from '../../src/shared/model.js';
import {
  assertFleet,
  assertNoDualActive,
  colorPods,
  ensureLab,
  podRecords,
  resetFleet,
  scaleColor,
  STATEFUL_SET_PODS,
  startBgswitch,
  status,
  waitFor,
  watchReconciles,
  type CliResult,
} from '../support/lab.js';
import { assertCleanRun, underProduction } from '../support/kafka-scenario.js';

/** Generous: the machine is shared, a new pod takes seconds to start, and a Kafka hand-off includes a rebalance. */
const TIMEOUTS = ['--drain-timeout', '60s', '--verify-timeout', '120s'];

/** The plain progress line that starts a phase (`<time> <title> ...`); the Kafka group suffix is optional. */
function phaseLine(title: string): RegExp {
  return new RegExp(`^\\S+Z ${title}( \\(group [^)]+\\))? \\.\\.\\.$`);
}

interface SwitchJson {
  outcome: string;
  reason?: string;
  phases: Array<{ name: string; ok: boolean }>;
}

interface ScaledSwitch {
  result: CliResult;
  report: SwitchJson;
  /** When the scale was requested (epoch ms). */
  scaledAt: number;
  /** When the CLI had exited (epoch ms). */
  endedAt: number;
}

/** Runs `bgswitch switch <target>` and, as soon as it prints the start of each phase named, applies that scale. */
async function switchWhileScaling(
  target: Color,
  extraArgs: string[],
  scales: Array<{ at: RegExp; color: Color; replicas: number }>,
): Promise<ScaledSwitch> {
  const cli = startBgswitch(['switch', target, '--yes', '-o', 'json', ...TIMEOUTS, ...extraArgs], { timeoutMs: 5 * 60_000 });
  let scaledAt = 0;
  for (const scale of scales) {
    await cli.stderrLine(scale.at);
    scaledAt ||= Date.now();
    await scaleColor(scale.color, scale.replicas);
  }
  const result = await cli.exited;
  const endedAt = Date.now();
  let report: SwitchJson;
  try {
    report = JSON.parse(result.stdout) as SwitchJson;
  } catch {
    throw new Error(`the switch printed no report (exit ${result.code}):\n${result.stdout}${result.stderr}`);
  }
  return { result, report, scaledAt, endedAt };
}

/** Every lifecycle state a pod's consumer reported after `from` (its start state and each transition's target). */
function statesOf(pod: string, from: number): string[] {
  return podRecords(pod, from).flatMap((record) =>
    record.event === 'start' ? [record.state] : record.event === 'transition' ? [record.to] : [],
  );
}

/** When a pod's consumer first started after `from` (epoch ms), once it has. */
function consumerStarted(pod: string, from: number, timeoutMs = 60_000): Promise<number> {
  return waitFor(`${pod}'s consumer to start`, async () => podRecords(pod, from).find((record) => record.event === 'start')?.at, timeoutMs);
}

/** Scales a colour back and waits until only its first `replicas` pods exist. */
async function scaleBack(color: Color, replicas: number): Promise<void> {
  await scaleColor(color, replicas);
  await waitFor(`${color} to be back at ${replicas} pods`, async () => (await colorPods(color)).length === replicas, 60_000);
}

/** The switch's outcome, with its report and stderr when it is not the expected one. */
function assertOutcome(scaled: ScaledSwitch, outcome: string): void {
  assert.equal(
    scaled.report.outcome,
    outcome,
    `outcome ${scaled.report.outcome}${scaled.report.reason ? ` (${scaled.report.reason})` : ''}:\n${scaled.result.stderr}`,
  );
  assert.equal(scaled.result.code, outcome === 'switched' ? 0 : 4);
}

/** The one pod's row of `bgswitch status`, once it shows `desired`/`actual` as given. */
async function podSettles(pod: string, desired: string, actual: string): Promise<void> {
  await waitFor(
    `status to show ${pod} desired ${desired}, actual ${actual}`,
    async () => {
      const row = (await status()).pods.find((p) => p.name === pod);
      return row?.desired === desired && row.actual === actual;
    },
    60_000,
  );
}

function printTiming(t: TestContext, label: string, scaled: ScaledSwitch, pod: string, started: number): void {
  t.diagnostic(
    `${label}: scaled ${((scaled.endedAt - scaled.scaledAt) / 1000).toFixed(1)} s before the switch ended; ${pod}'s consumer started ${((started - scaled.scaledAt) / 1000).toFixed(1)} s after the scale (${started < scaled.endedAt ? 'while the switch ran' : 'after the switch'}); outcome ${scaled.report.outcome}, phases ${scaled.report.phases.map((p) => p.name).join(' ')}`,
  );
}

before(async () => {
  await ensureLab();
});

describe('scaling a colour while a switch runs', { timeout: 20 * 60_000 }, () => {
  it('the old colour scaled up after its pods were paused: the new pod never consumes', async (t) => {
    await resetFleet();
    const start = Date.now();
    const added = 'consumer-blue-3';
    // The soak keeps the switch running (and re-checking blue) while the new pod starts.
    const scaled = await switchWhileScaling(
      'green',
      ['--soak', '20s'],
      [{ at: phaseLine('Verify every blue pod PAUSED'), color: 'blue', replicas: 4 }],
    );
    assertOutcome(scaled, 'switched');
    const started = await consumerStarted(added, scaled.scaledAt);
    printTiming(t, 'blue 3 -> 4 at verify-paused', scaled, added, started);
    assert.ok(started < scaled.endedAt, `${added} started while the switch ran (the case under test)`);

    await podSettles(added, 'PAUSED', 'PAUSED');
    // Its own sidecar, over several reconciles, wants it PAUSED (it has no pod key: the colour key drives it).
    for (const reconcile of await watchReconciles(added, 3)) assert.equal(reconcile.desired?.lifecycle, 'PAUSED');
    assert.deepEqual([...new Set(statesOf(added, start))], ['PAUSED'], `${added} only ever reported PAUSED`);
    assertNoDualActive(t, start, 'blue scaled up mid-switch', [...STATEFUL_SET_PODS, added]);

    await scaleBack('blue', 3);
    assertFleet(await status(), 'green');
  });

  it('the new colour scaled up before it is made ACTIVE: the new pod joins it, never before blue paused', async (t) => {
    await resetFleet();
    const start = Date.now();
    const added = 'consumer-green-3';
    const scaled = await switchWhileScaling('green', ['--soak', '20s'], [{ at: phaseLine('Pause blue'), color: 'green', replicas: 4 }]);
    assertOutcome(scaled, 'switched');
    const started = await consumerStarted(added, scaled.scaledAt);
    printTiming(t, 'green 3 -> 4 at pause', scaled, added, started);

    await podSettles(added, 'ACTIVE', 'ACTIVE');
    const lastBluePause = Math.max(
      ...['consumer-blue-0', 'consumer-blue-1', 'consumer-blue-2'].map(
        (pod) =>
          podRecords(pod, start)
            .filter((r) => r.event === 'transition' && r.to === 'PAUSED')
            .at(-1)?.at ?? Number.NaN,
      ),
    );
    const firstActive = podRecords(added, start).find((r) => r.event === 'transition' && r.to === 'ACTIVE')?.at;
    assert.ok(Number.isFinite(lastBluePause), 'every blue pod logged its pause');
    assert.ok(firstActive !== undefined && firstActive >= lastBluePause, `${added} went ACTIVE only after the last blue pod paused`);
    t.diagnostic(`${added} ACTIVE ${(firstActive - lastBluePause).toFixed(0)} ms after the last blue pod paused`);
    assertNoDualActive(t, start, 'green scaled up mid-switch', [...STATEFUL_SET_PODS, added]);

    await scaleBack('green', 3);
    assertFleet(await status(), 'green');
  });

  it('the new colour scaled up while it is verified (under production): the switch ends switched and the new pod joins', async (t) => {
    await resetFleet();
    const start = Date.now();
    const added = 'consumer-green-3';
    let scaled: ScaledSwitch | undefined;
    const summary = await underProduction(async () => {
      scaled = await switchWhileScaling(
        'green',
        ['--soak', '20s'],
        [{ at: phaseLine('Verify every green pod ACTIVE and ready'), color: 'green', replicas: 4 }],
      );
      assertOutcome(scaled, 'switched');
      await podSettles(added, 'ACTIVE', 'ACTIVE');
    });
    printTiming(t, 'green 3 -> 4 at verify-active', scaled!, added, await consumerStarted(added, scaled!.scaledAt));
    await assertCleanRun(t, 'green scaled up while verified', summary, start);
    assertNoDualActive(t, start, 'green scaled up while verified', [...STATEFUL_SET_PODS, added]);

    await scaleBack('green', 3);
    assertFleet(await status(), 'green');
  });

  it('both colours scaled down mid-switch (under production): no hang, switched, the pods come back as their entries say', async (t) => {
    await resetFleet();
    const start = Date.now();
    let scaled: ScaledSwitch | undefined;
    const summary = await underProduction(async () => {
      scaled = await switchWhileScaling(
        'green',
        [],
        [
          { at: phaseLine('Pause blue'), color: 'blue', replicas: 2 },
          { at: phaseLine('Verify every green pod ACTIVE and ready'), color: 'green', replicas: 2 },
        ],
      );
    });
    assertOutcome(scaled!, 'switched');
    t.diagnostic(
      `blue 3 -> 2 at pause, green 3 -> 2 at verify-active: switch ended ${((scaled!.endedAt - scaled!.scaledAt) / 1000).toFixed(1)} s after the first scale; phases ${scaled!.report.phases.map((p) => p.name).join(' ')}`,
    );
    await assertCleanRun(t, 'both colours scaled down mid-switch', summary, start);

    // Back to three each: blue-2 comes back PAUSED, green-2 ACTIVE, with no command.
    await scaleColor('blue', 3);
    await scaleColor('green', 3);
    await podSettles('consumer-blue-2', 'PAUSED', 'PAUSED');
    await podSettles('consumer-green-2', 'ACTIVE', 'ACTIVE');
    assertFleet(await status(), 'green');
    assertNoDualActive(t, start, 'scaled down and back');
  });
});

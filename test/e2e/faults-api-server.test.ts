/**
 * Fault matrix, the API server (issue 4, section 2): it stops answering while the old colour
 * drains. Nothing may be resumed on a guess (S1), the CLI's exit code and report must say what is
 * left where, and the next switch must recover (S2, S3). Two ways: frozen (SIGSTOP: connections
 * hang until the request timeout) with pods reached directly, and killed (connections refused) with
 * pods reached through the API server's proxy, then started again by the lab.
 */
import assert from 'node:assert/strict';
import { before, describe, it, type TestContext } from 'node:test';
import {
  apiServerPid,
  assertFleet,
  assertNoDualActive,
  bgswitch,
  ensureLab,
  operationAnnotation,
  podRecords,
  resetFleet,
  restartControlPlane,
  startBgswitch,
  status,
  waitFor,
  type CliResult,
} from '../support/lab.js';

const PODS = ['blue', 'green'].flatMap((colour) => [0, 1, 2].map((i) => `consumer-${colour}-${i}`));

interface Outage {
  via: 'direct' | 'proxy';
  /** Takes the API server away; returns how to bring it back. */
  stop: () => () => Promise<void>;
}

const OUTAGES: Record<string, Outage> = {
  'frozen (SIGSTOP), pods reached directly': {
    via: 'direct',
    stop: () => {
      const pid = apiServerPid();
      process.kill(pid, 'SIGSTOP');
      return async () => void process.kill(pid, 'SIGCONT');
    },
  },
  'killed (SIGKILL), pods reached through its proxy': {
    via: 'proxy',
    stop: () => {
      process.kill(apiServerPid(), 'SIGKILL');
      return restartControlPlane;
    },
  },
};

interface SwitchReportJson {
  outcome: string;
  reason?: string;
  leftovers?: string[];
}

/** A switch whose API server goes away once the old colour is draining; it is back when this returns. */
async function switchLosingTheApiServer(
  outage: Outage,
): Promise<{ result: CliResult; stoppedAt: number; gaveUpMs: number; downMs: number }> {
  const cli = startBgswitch([
    'switch',
    'green',
    '--yes',
    '-o',
    'json',
    '--via',
    outage.via,
    '--request-timeout',
    '2s',
    '--lease-duration',
    '5s',
    '--drain-timeout',
    '20s',
  ]);
  let restore: (() => Promise<void>) | undefined;
  try {
    await cli.stderrLine(/^\S+Z Verify every blue pod PAUSED( \(group [^)]+\))? \.\.\.$/);
    restore = outage.stop();
    const stoppedAt = Date.now();
    // Down until the CLI has given up: it can neither write desired-active nor undo anything.
    const result = await cli.exited;
    const gaveUpMs = Date.now() - stoppedAt;
    await restore();
    restore = undefined;
    return { result, stoppedAt, gaveUpMs, downMs: Date.now() - stoppedAt };
  } finally {
    await restore?.();
    cli.kill('SIGKILL');
  }
}

before(async () => {
  await ensureLab();
});

describe('the API server unreachable mid-switch', () => {
  for (const [name, outage] of Object.entries(OUTAGES)) {
    it(`${name}: no dual-active, a truthful report, and the next switch recovers`, async (t: TestContext) => {
      await resetFleet();
      // A drain of up to 3 s: the switch is certainly still verifying blue when the API server goes.
      assert.equal((await bgswitch(['inject-fault', 'blue', 'commit-delay=3000'])).code, 0);
      const start = Date.now();
      const { result, stoppedAt, gaveUpMs, downMs } = await switchLosingTheApiServer(outage);

      // The CLI says it could not finish and could not undo: exit 5, with what it knows.
      assert.equal(result.code, 5, result.stdout + result.stderr);
      const report = JSON.parse(result.stdout) as SwitchReportJson;
      assert.equal(report.outcome, 'rollback-failed');
      assert.match(report.reason ?? '', /rollback failed/);
      const leftovers = (report.leftovers ?? []).join('\n');
      assert.match(leftovers, /could not observe the fleet/);
      assert.match(
        leftovers,
        /desired state in the ConfigMap may say PAUSED for every pod; run `bgswitch status` once the cluster answers/,
      );
      assert.match(leftovers, /could not record the outcome/);

      // ... and that is what the fleet shows once the API server answers: nothing was resumed on a guess.
      const view = await waitFor(
        'blue to finish draining and status to show everything PAUSED',
        async () => {
          const current = await status();
          return current.pods.every((pod) => pod.actual === 'PAUSED') ? current : undefined;
        },
        30_000,
      );
      for (const pod of view.pods) assert.equal(pod.desired, 'PAUSED', `${pod.name}: the ConfigMap says PAUSED, as the report said it may`);
      assert.equal(view.declaredActive, 'blue', 'the outcome was not recorded, as the report said');
      assert.ok(
        view.problems.some((p) => p.kind === 'no-active'),
        JSON.stringify(view.problems),
      );
      const operation = await operationAnnotation();
      assert.deepEqual(
        [operation?.from, operation?.to, operation?.phase],
        ['blue', 'green', 'pause'],
        'the unfinished switch is left for status and the next run',
      );
      for (const pod of PODS) {
        const resumed = podRecords(pod, stoppedAt).filter((r) => r.event === 'transition' && r.to === 'ACTIVE');
        assert.deepEqual(resumed, [], `${pod} was resumed while the API server was away`);
      }
      t.diagnostic(
        `API server ${name.split(' ')[0]} for ${downMs} ms; the CLI gave up after ${gaveUpMs} ms: exit ${result.code} (${report.outcome}); leftovers: ${report.leftovers?.join(' | ')}`,
      );

      await waitFor('the lock of the failed switch to expire', async () => !(await status()).lease.blocking, 20_000);
      assert.equal((await bgswitch(['inject-fault', 'blue', '--clear'])).code, 0);
      const recovered = await bgswitch(['switch', 'blue', '--yes']);
      assert.equal(recovered.code, 0, recovered.stdout + recovered.stderr);
      assert.match(recovered.stderr, /an interrupted switch blue -> green .* is finished by this run/);
      assertFleet(await status(), 'blue');
      assert.equal(await operationAnnotation(), undefined);
      assertNoDualActive(t, start, `API server ${name.split(' ')[0]}`);
    });
  }
});

/**
 * Fault matrix, the CLI itself (issue 4, section 2): the operator's CLI SIGKILLed at the start of
 * every phase of a switch, and two switches started at the same moment. Each case checks S1 from
 * the consumers' own transition logs, that `status` tells the truth about what was left behind
 * (S3), and that the next command finishes it once the lock expires (S2).
 */
import assert from 'node:assert/strict';
import { before, describe, it } from 'node:test';
import {
  assertFleet,
  assertNoDualActive,
  bgswitch,
  coordinationApi,
  ensureLab,
  namespace,
  operationAnnotation,
  resetFleet,
  startBgswitch,
  status,
  waitFor,
  type StatusJson,
} from '../support/lab.js';
import { otherColor, type Color } from '../../src/shared/model.js';

/** Short, so a killed CLI's lock expires quickly; the minimum the CLI accepts. */
const LEASE = ['--lease-duration', '5s'];

interface KillCase {
  phase: string;
  /** The phase's start line on stderr (plain progress: "<ISO time> <title> ..."). */
  startLine: (from: Color, to: Color) => RegExp;
  /** What the operation record may say after a kill at this phase; undefined: not written yet / already removed. */
  recordedPhase: Array<string | undefined>;
  /** Slow the old colour's drain so the kill certainly lands while this phase polls. */
  slowDrain?: boolean;
}

const startLine = (title: string) => new RegExp(`^\\S+Z ${title}( \\(group [^)]+\\))? \\.\\.\\.$`);
const KILL_CASES: KillCase[] = [
  { phase: 'desired-paused', startLine: (f, t) => startLine(`Desired state: ${f} and ${t} PAUSED`), recordedPhase: [undefined, 'pause'] },
  { phase: 'pause', startLine: (f) => startLine(`Pause ${f}`), recordedPhase: ['pause'] },
  { phase: 'verify-paused', startLine: (f) => startLine(`Verify every ${f} pod PAUSED`), recordedPhase: ['pause'], slowDrain: true },
  { phase: 'desired-active', startLine: (_f, t) => startLine(`Desired state: ${t} ACTIVE`), recordedPhase: ['pause', 'resume'] },
  { phase: 'resume', startLine: (_f, t) => startLine(`Resume ${t}`), recordedPhase: ['resume'] },
  { phase: 'verify-active', startLine: (_f, t) => startLine(`Verify every ${t} pod ACTIVE and ready`), recordedPhase: ['resume'] },
  { phase: 'record', startLine: () => startLine('Record: active-version, history, Event'), recordedPhase: ['resume', undefined] },
];

function problem(view: StatusJson, kind: string) {
  return view.problems.find((p) => p.kind === kind);
}

before(async () => {
  await ensureLab();
  await resetFleet();
});

describe('the CLI SIGKILLed at each phase of a switch', () => {
  KILL_CASES.forEach((kill, index) => {
    const finishWith = index % 2 === 0 ? 'switch' : 'rollback';
    it(`killed at ${kill.phase}: status names what was left, and \`${finishWith}\` finishes it after the lock expires`, async (t) => {
      // Each case starts from the consistent fleet the previous one left (checked), in either direction.
      const initial = await status();
      const from = initial.declaredActive as Color;
      assertFleet(initial, from);
      const to = otherColor(from);
      const start = Date.now();
      if (kill.slowDrain) assert.equal((await bgswitch(['inject-fault', from, 'commit-delay=2000'])).code, 0);

      const cli = startBgswitch(['switch', to, '--yes', ...LEASE]);
      await cli.stderrLine(kill.startLine(from, to));
      cli.kill('SIGKILL');
      const killed = await cli.exited;
      assert.equal(killed.code, 128, `the CLI was killed, not finished:\n${killed.stderr}`);
      const holderOfKilled = new RegExp(`/${cli.pid}/`);

      // The lock is still the dead CLI's: nobody else can start until it expires.
      const lease = await coordinationApi().readNamespacedLease({ name: 'bg-consumer-active-lease', namespace });
      assert.match(lease.spec?.holderIdentity ?? '', holderOfKilled);

      // What the state ConfigMap says decides what status must show (S3).
      const operation = await operationAnnotation();
      assert.ok(
        kill.recordedPhase.includes(operation?.phase),
        `operation record after a kill at ${kill.phase}: ${JSON.stringify(operation)}`,
      );
      if (operation) {
        assert.deepEqual([operation.kind, operation.from, operation.to], ['switch', from, to]);
        assert.match(operation.holder, holderOfKilled);
      }
      const locked = await status();
      if (locked.lease.blocking) {
        assert.match(locked.lease.holder ?? '', holderOfKilled);
        const lock = problem(locked, 'lock');
        assert.match(
          lock?.message ?? '',
          operation ? new RegExp(`switch ${from} -> ${to} in progress by .* \\(step ${operation.phase}\\)`) : holderOfKilled,
          JSON.stringify(locked.problems),
        );
      }
      assert.equal(problem(locked, 'dual-active'), undefined, JSON.stringify(locked.problems));

      const expired = await waitFor(
        "the killed CLI's lock to expire",
        async () => {
          const view = await status();
          return view.lease.blocking ? undefined : view;
        },
        20_000,
      );
      const interrupted = problem(expired, 'interrupted');
      if (operation) {
        assert.match(
          interrupted?.message ?? '',
          new RegExp(`interrupted switch ${from} -> ${to} by .*@.* at step ${operation.phase}`),
          JSON.stringify(expired.problems),
        );
        assert.match(interrupted?.hint ?? '', new RegExp(`bgswitch switch ${to}\` to finish it or \`bgswitch switch ${from}\` to undo it`));
      } else {
        assert.equal(interrupted, undefined, 'nothing unfinished is recorded, so nothing is reported as interrupted');
      }
      t.diagnostic(
        `killed at ${kill.phase}: operation record ${operation ? `step ${operation.phase}` : 'absent'}; status ${locked.lease.blocking ? 'showed the lock, then' : 'showed'} ${interrupted ? 'the interrupted switch' : 'no interrupted switch'}`,
      );

      if (kill.slowDrain) assert.equal((await bgswitch(['inject-fault', from, '--clear'])).code, 0);
      const finish = await bgswitch(
        finishWith === 'switch' ? ['switch', to, '--yes', '-o', 'json', ...LEASE] : ['rollback', '--yes', '-o', 'json', ...LEASE],
      );
      assert.equal(finish.code, 0, finish.stdout + finish.stderr);
      const outcome = JSON.parse(finish.stdout) as { outcome: string; to: Color };
      if (finishWith === 'switch') assert.equal(outcome.to, to);
      // Undoing an interrupted switch goes back to the colour it was leaving.
      else if (operation) assert.equal(outcome.to, from, `rollback after an interrupted ${from} -> ${to}`);
      if (operation) assert.match(finish.stderr, new RegExp(`an interrupted switch ${from} -> ${to} .* is finished by this run`));
      const active = outcome.to;
      assertFleet(await status(), active);
      assert.equal(await operationAnnotation(), undefined, 'no operation left in the state ConfigMap');
      const leaseAfter = await coordinationApi().readNamespacedLease({ name: 'bg-consumer-active-lease', namespace });
      assert.equal(leaseAfter.spec?.holderIdentity, active, 'the lock is back at rest naming the active colour');
      t.diagnostic(`finished by \`${finishWith}\`: ${outcome.outcome}, ${active} active`);
      assertNoDualActive(t, start, `CLI killed at ${kill.phase}`);
    });
  });
});

describe('two switches started at the same moment', () => {
  it('exactly one proceeds; the other exits 3 naming the holder', async (t) => {
    await resetFleet();
    const start = Date.now();
    // A soak keeps the winner working for 4 s after its lock is taken: the overlap is certain.
    const args = ['switch', 'green', '--yes', '--soak', '4s'];
    const clis = [startBgswitch(args), startBgswitch(args)];
    const results = await Promise.all(clis.map((cli) => cli.exited));
    const codes = results.map((r) => r.code).sort();
    assert.deepEqual(codes, [0, 3], results.map((r) => r.stdout + r.stderr).join('\n---\n'));
    const winner = clis[results.findIndex((r) => r.code === 0)]!;
    const loser = results.find((r) => r.code === 3)!;
    assert.match(loser.stderr, /held by .*@/);
    assert.match(loser.stderr, new RegExp(`held by [^ ]*/${winner.pid}/`), 'the refusal names the winning invocation');
    assert.match(results.find((r) => r.code === 0)!.stdout, /Switched blue -> green/);
    assertFleet(await status(), 'green');
    assertNoDualActive(t, start, 'two simultaneous switches');
  });
});

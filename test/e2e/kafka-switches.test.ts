/**
 * Message-level proof on the lab's real broker (issue 7, section 5): every scenario runs under
 * continuous production, then production stops, the consumers drain, and the verdict of `lab verify`
 * for that production run must show every message processed exactly once (crash-explained repeats
 * only where a consumer was SIGKILLed), never by both colours at once, and S1 in the transition logs.
 */
import assert from 'node:assert/strict';
import { before, describe, it, type TestContext } from 'node:test';
import {
  assertFleet,
  bgswitch,
  coordinationApi,
  ensureLab,
  namespace,
  podRecords,
  resetFleet,
  signalContainer,
  startBgswitch,
  status,
  waitFor,
  waitForContainer,
} from '../support/lab.js';
import { assertCleanRun, handoffWaitOf, underProduction } from '../support/kafka-scenario.js';
import { otherColor, type Color } from '../../src/shared/model.js';

/** Generous: the machine is shared, and a Kafka hand-off includes leaving and joining the group. */
const TIMEOUTS = ['--drain-timeout', '60s', '--verify-timeout', '120s'];

before(async () => {
  await ensureLab();
});

describe('switches under continuous production, judged message by message', { timeout: 40 * 60_000 }, () => {
  it('10 switches back and forth: 0 lost, 0 duplicated, one hand-off per switch', async (t) => {
    await resetFleet();
    const start = Date.now();
    const waits: number[] = [];
    const summary = await underProduction(async () => {
      let active: Color = 'blue';
      for (let index = 1; index <= 10; index += 1) {
        const target = otherColor(active);
        const result = await bgswitch(['switch', target, '--yes', '-o', 'json', ...TIMEOUTS], { timeoutMs: 5 * 60_000 });
        assert.equal(result.code, 0, `switch ${index} to ${target}:\n${result.stdout}${result.stderr}`);
        const wait = handoffWaitOf(result.stdout);
        assert.ok(wait !== undefined, `switch ${index}: the report has the Kafka hand-off (the lab's bgswitch is Kafka-aware)`);
        waits.push(wait);
        assertFleet(await status(), target);
        active = target;
      }
    });
    const verdict = await assertCleanRun(t, '10 switches', summary, start, { measured: { handoffWaitsMs: waits } });
    assert.equal(verdict.handOffCount, 10, 'the processing changed colour exactly once per switch, never back and forth');
  });

  it('a switch and its `rollback`', async (t) => {
    await resetFleet();
    const start = Date.now();
    const waits: number[] = [];
    const summary = await underProduction(async () => {
      const switched = await bgswitch(['switch', 'green', '--yes', '-o', 'json', ...TIMEOUTS], { timeoutMs: 5 * 60_000 });
      assert.equal(switched.code, 0, switched.stdout + switched.stderr);
      const rolledBack = await bgswitch(['rollback', '--yes', '-o', 'json', ...TIMEOUTS], { timeoutMs: 5 * 60_000 });
      assert.equal(rolledBack.code, 0, rolledBack.stdout + rolledBack.stderr);
      assert.equal((JSON.parse(rolledBack.stdout) as { to: string }).to, 'blue');
      waits.push(...[switched, rolledBack].flatMap((r) => handoffWaitOf(r.stdout) ?? []));
      assertFleet(await status(), 'blue');
    });
    const verdict = await assertCleanRun(t, 'switch + rollback', summary, start, { measured: { handoffWaitsMs: waits } });
    assert.equal(verdict.handOffCount, 2);
  });

  /**
   * A drain slower than --drain-timeout under production: exit 4, blue consumes again, nothing lost.
   * `fault` keeps blue DRAINING; it is cleared as soon as the switch is over, and blue must catch up.
   */
  const slowDrain = (label: string, fault: string) => async (t: TestContext) => {
    await resetFleet();
    const start = Date.now();
    const summary = await underProduction(async () => {
      assert.equal((await bgswitch(['inject-fault', 'blue', fault])).code, 0);
      let result;
      try {
        result = await bgswitch(['switch', 'green', '--yes', '--drain-timeout', '2s', '--verify-timeout', '120s'], {
          timeoutMs: 5 * 60_000,
        });
      } finally {
        assert.equal((await bgswitch(['inject-fault', 'blue', '--clear'])).code, 0);
      }
      assert.equal(result.code, 4, result.stdout + result.stderr);
      assert.match(result.stdout, /FAILED and was rolled back: blue is active again/);
      assert.match(result.stdout, /blue did not pause within 2s/);
      const view = await status();
      assert.equal(view.declaredActive, 'blue');
      for (const pod of view.pods) assert.equal(pod.actual, pod.color === 'blue' ? 'ACTIVE' : 'PAUSED', pod.name);
    });
    const verdict = await assertCleanRun(t, label, summary, start);
    assert.deepEqual(Object.keys(verdict.byColor), ['blue'], 'green never processed anything');
  };

  it(
    'a drain slower than --drain-timeout (the poll loop stalled): exit 4, blue consumes again, nothing lost',
    slowDrain('slow drain (stalled poll) rolled back', 'poll-timeout=true'),
  );

  // Every commit takes 15 s, longer than the drain timeout and the session timeout. Before the fix of
  // abandoned fetches (docs/safety.md, message-level results) a blue consumer wrote the same
  // message's ProcessedRecord up to 4 times here.
  it(
    'a drain slower than --drain-timeout (every commit takes 15 s): exit 4, blue consumes again, nothing lost',
    slowDrain('slow drain (15 s commits) rolled back', 'commit-delay=15000'),
  );

  it('the CLI SIGKILLed mid-switch (blue paused, green not yet resumed), finished by the next switch', async (t) => {
    await resetFleet();
    const start = Date.now();
    const waits: number[] = [];
    const summary = await underProduction(async () => {
      const cli = startBgswitch(['switch', 'green', '--yes', '--lease-duration', '5s', ...TIMEOUTS], { timeoutMs: 5 * 60_000 });
      // Blue has left the group and green has not joined: nobody consumes until the next switch.
      await cli.stderrLine(/^\S+Z Desired state: green ACTIVE \.\.\.$/);
      cli.kill('SIGKILL');
      assert.equal((await cli.exited).code, 128, 'the CLI was killed, not finished');
      await waitFor("the killed CLI's lock to expire", async () => !(await status()).lease.blocking, 60_000);
      const finish = await bgswitch(['switch', 'green', '--yes', '-o', 'json', ...TIMEOUTS], { timeoutMs: 5 * 60_000 });
      assert.equal(finish.code, 0, finish.stdout + finish.stderr);
      assert.match(finish.stderr, /an interrupted switch blue -> green .* is finished by this run/);
      waits.push(...(handoffWaitOf(finish.stdout) === undefined ? [] : [handoffWaitOf(finish.stdout) as number]));
      assertFleet(await status(), 'green');
      const lease = await coordinationApi().readNamespacedLease({ name: 'bg-consumer-active-lease', namespace });
      assert.equal(lease.spec?.holderIdentity, 'green');
    });
    const verdict = await assertCleanRun(t, 'CLI SIGKILLed mid-switch', summary, start, { measured: { handoffWaitsMs: waits } });
    assert.equal(verdict.handOffCount, 1);
  });

  it('an ACTIVE consumer SIGKILLed and restarted by the kubelet: only crash-explained duplicates', async (t) => {
    await resetFleet();
    const pod = 'consumer-blue-0';
    const start = Date.now();
    const summary = await underProduction(async () => {
      const killedPid = signalContainer(pod, 'consumer', 'SIGKILL');
      const killedAt = Date.now();
      await waitForContainer(pod, 'consumer', killedPid, 120_000);
      const resumed = await waitFor(
        `${pod} ACTIVE again`,
        async () => podRecords(pod, killedAt).find((r) => r.event === 'transition' && r.to === 'ACTIVE'),
        120_000,
      );
      t.diagnostic(`${pod}: SIGKILLed, ACTIVE again ${Math.round(resumed.at - killedAt)} ms later`);
      assertFleet(await status(), 'blue');
    });
    const verdict = await assertCleanRun(t, 'active consumer SIGKILLed', summary, start, { crashes: true });
    assert.deepEqual(Object.keys(verdict.byColor), ['blue'], 'green never processed anything');
  });
});

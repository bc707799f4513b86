import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ExitCode } from '../../src/shared/errors.js';
import { RefusedError } from '../../src/core/errors.js';
import { leaseBlocks, LeaseLostError, SwitchLock } from '../../src/core/lease.js';
import type { LeaseSnapshot } from '../../src/core/ports.js';
import { Journal } from '../support/journal.js';
import { ManualClock } from '../support/manual-clock.js';
import { MemoryCluster } from '../support/memory-cluster.js';

const LEASE = 'bg-consumer-active-lease';
const ME = 'dana@ops-laptop/4242/k3x9';
const OTHER = 'lee@build-box/77/q1w2';

function setup(t: { after(fn: () => void): void }) {
  const clock = new ManualClock();
  t.after(() => clock.dispose());
  const journal = new Journal(clock);
  const cluster = new MemoryCluster(clock, journal);
  const lock = (holder: string) => new SwitchLock(cluster, LEASE, holder, clock, { leaseDurationMs: 15_000 });
  const seed = (holderIdentity: string, renewedAgoMs: number, fields: Partial<LeaseSnapshot> = {}) =>
    cluster.seedLease({
      name: LEASE,
      holderIdentity,
      leaseDurationSeconds: 15,
      acquireTime: new Date(clock.now() - renewedAgoMs),
      renewTime: new Date(clock.now() - renewedAgoMs),
      leaseTransitions: 3,
      ...fields,
    });
  const leaseWrites = () => journal.filter((e) => e.op === 'write-lease');
  return { clock, journal, cluster, lock, seed, leaseWrites, holder: () => cluster.peekLease(LEASE)?.holderIdentity };
}

function assertRefusedFor(holder: string, expiry: string) {
  return (error: unknown) => {
    assert.ok(error instanceof RefusedError, String(error));
    assert.equal(error.exitCode, ExitCode.refused);
    assert.equal(error.message, `the switch lock (Lease ${LEASE}) is held by ${holder} ${expiry}`);
    return true;
  };
}

test('with no Lease yet, acquiring creates it holding this invocation', async (t) => {
  const { clock, cluster, lock } = setup(t);
  assert.deepEqual(await lock(ME).acquire(), { previousHolder: undefined, tookOverExpired: false });
  const lease = cluster.peekLease(LEASE)!;
  assert.equal(lease.holderIdentity, ME);
  assert.equal(lease.leaseDurationSeconds, 15);
  assert.equal(lease.renewTime?.getTime(), clock.now());
  assert.equal(lease.leaseTransitions, 0);
});

test('a Lease at rest (holder = a colour) never blocks, however fresh', async (t) => {
  const { cluster, lock, seed } = setup(t);
  seed('blue', 0);
  assert.deepEqual(await lock(ME).acquire(), { previousHolder: 'blue', tookOverExpired: false });
  assert.equal(cluster.peekLease(LEASE)?.holderIdentity, ME);
  assert.equal(cluster.peekLease(LEASE)?.leaseTransitions, 4);
});

test('an unexpired holder that is not a colour blocks: the refusal names it and its expiry, and nothing is written', async (t) => {
  const { clock, lock, seed, leaseWrites, holder } = setup(t);
  seed(OTHER, 2_000);
  const expiry = new Date(clock.now() + 13_000).toISOString();
  await assert.rejects(lock(ME).acquire(), assertRefusedFor(OTHER, `until ${expiry}`));
  assert.equal(holder(), OTHER);
  assert.deepEqual(leaseWrites(), []);
});

test('a holder with no expiry recorded blocks too (never guess that it is dead)', async (t) => {
  const { lock, seed } = setup(t);
  seed(OTHER, 0, { leaseDurationSeconds: undefined });
  await assert.rejects(lock(ME).acquire(), assertRefusedFor(OTHER, 'with no expiry'));
});

test('an expired holder that is not a colour (a killed CLI) is taken over, and says so', async (t) => {
  const { clock, lock, seed, holder } = setup(t);
  seed(OTHER, 15_001);
  assert.equal(leaseBlocks(undefined, clock.now()), false);
  assert.deepEqual(await lock(ME).acquire(), { previousHolder: OTHER, tookOverExpired: true });
  assert.equal(holder(), ME);
});

for (const existing of [false, true]) {
  test(`two invocations racing for the lock ${existing ? 'at rest' : 'before it exists'}: exactly one wins, the other is refused naming the winner`, async (t) => {
    const { clock, journal, lock, seed, holder } = setup(t);
    if (existing) seed('green', 60_000);
    const results = await Promise.allSettled([lock(ME).acquire(), lock(OTHER).acquire()]);

    const reads = journal.filter((e) => e.op === 'get-lease').map((e) => e.seq);
    const firstWrite = journal.first((e) => e.op === 'write-lease')!.seq;
    assert.ok(reads[0]! < firstWrite && reads[1]! < firstWrite, 'both read the Lease before either wrote: a real race');
    assert.equal(results[0].status, 'fulfilled');
    assert.equal(results[1].status, 'rejected');
    assertRefusedFor(ME, `until ${new Date(clock.now() + 15_000).toISOString()}`)((results[1] as PromiseRejectedResult).reason);
    assert.equal(holder(), ME);
    assert.match(journal.last((e) => e.op === 'write-lease')!.error ?? '', existing ? /has been modified/ : /already exists/);
  });
}

test("taken on the caller's earlier read: no read of its own, one write", async (t) => {
  const { cluster, journal, lock, seed, holder } = setup(t);
  seed('blue', 0);
  const earlier = await cluster.getLease(LEASE);
  const readsBefore = journal.filter((e) => e.op === 'get-lease').length;
  assert.deepEqual(await lock(ME).acquire({ lease: earlier }), { previousHolder: 'blue', tookOverExpired: false });
  assert.equal(holder(), ME);
  assert.equal(journal.filter((e) => e.op === 'get-lease').length, readsBefore, 'acquire read nothing');
});

test('an earlier read made stale by a write since: the write is refused (409) and acquire starts over from a fresh read', async (t) => {
  const { clock, cluster, lock, seed, holder } = setup(t);
  seed('blue', 0);
  const earlier = await cluster.getLease(LEASE);
  seed('green', 0);
  assert.deepEqual(await lock(ME).acquire({ lease: earlier }), { previousHolder: 'green', tookOverExpired: false });
  assert.equal(holder(), ME);
  seed('blue', 0);

  // Since the read, another invocation took it: refused, naming that holder, who keeps the lock.
  const stale = await cluster.getLease(LEASE);
  seed(OTHER, 0);
  await assert.rejects(
    lock(ME).acquire({ lease: stale }),
    assertRefusedFor(OTHER, `until ${new Date(clock.now() + 15_000).toISOString()}`),
  );
  assert.equal(holder(), OTHER);
});

test('release hands the Lease back on our own last write, without reading it; a holder since is left alone', async (t) => {
  const { clock, journal, lock, holder } = setup(t);
  const mine = lock(ME);
  await mine.acquire();
  const reads = () => journal.filter((e) => e.op === 'get-lease').length;
  const readsBefore = reads();
  await mine.release('green');
  assert.equal(holder(), 'green');
  assert.equal(reads(), readsBefore, 'no read');

  // Our lock expired unnoticed (no renewal) and another invocation took it over: release reads once and leaves it.
  const late = lock(ME);
  await late.acquire();
  await clock.sleep(15_001);
  await lock(OTHER).acquire();
  await late.release('blue');
  assert.equal(holder(), OTHER);
});

test('renewal in the background keeps the lock alive far beyond its duration; release stops it', async (t) => {
  const { clock, cluster, lock, leaseWrites } = setup(t);
  const mine = lock(ME);
  await mine.acquire();
  mine.startRenewing();
  await clock.sleep(61_000);

  mine.assertHeld(5_000);
  assert.equal(cluster.peekLease(LEASE)?.renewTime?.getTime(), clock.now() - 1_000, 'renewed every 5 s, last at 60 s');
  await assert.rejects(lock(OTHER).acquire(), RefusedError);
  await mine.release('green');
  assert.equal(leaseWrites().filter((w) => w.ok).length, 1 + 12 + 1, 'acquire, 12 renewals, release');
  assert.equal(clock.pendingSleeps, 0, 'no renewal loop left');
});

test('a renewal that finds another holder loses the lock for good: assertHeld fails, `lost` aborts and renewing stops', async (t) => {
  const { clock, cluster, lock, leaseWrites } = setup(t);
  const mine = lock(ME);
  await mine.acquire();
  const current = cluster.peekLease(LEASE)!;
  await cluster.writeLease({
    ...current,
    holderIdentity: OTHER,
    acquireTime: new Date(clock.now()),
    renewTime: new Date(clock.now()),
    leaseDurationSeconds: 15,
    leaseTransitions: 1,
  });

  assert.equal(mine.lost.aborted, false);
  await mine.renewOnce();
  assert.throws(
    () => mine.assertHeld(0),
    (error: unknown) => error instanceof LeaseLostError && /the lock was taken by lee@build-box/.test(error.message),
  );
  assert.ok(mine.lost.aborted, '`lost` aborts at once, so calls not yet sent are cancelled');
  assert.ok(mine.lost.reason instanceof LeaseLostError);
  assert.match(mine.lost.reason.message, /lost the switch lock: the lock was taken by lee@build-box/);
  assert.equal(mine.remainingMs(), 0);
  assert.throws(() => mine.callTimeoutMs(0), LeaseLostError);
  const writesSoFar = leaseWrites().length;
  await mine.renewOnce();
  assert.equal(leaseWrites().length, writesSoFar, 'a lost lock is not renewed again');
  await mine.release('blue');
  assert.equal(cluster.peekLease(LEASE)?.holderIdentity, OTHER, 'release leaves the new holder alone');
});

test('a conflict on renewal while still the holder (our earlier write landed) is not a loss', async (t) => {
  const { cluster, lock } = setup(t);
  const mine = lock(ME);
  await mine.acquire();
  cluster.failNextWrites(LEASE, 1, 'conflict');
  await mine.renewOnce();
  mine.assertHeld(5_000);
  await mine.renewOnce();
  assert.equal(cluster.peekLease(LEASE)?.holderIdentity, ME);
});

test('when renewals keep failing, assertHeld stops the switch before the lock could expire', async (t) => {
  const { clock, cluster, lock } = setup(t);
  const mine = lock(ME);
  await mine.acquire();
  mine.startRenewing();
  cluster.unreachable = true;

  await clock.sleep(9_999);
  mine.assertHeld(5_000);
  await clock.sleep(2);
  assert.throws(
    () => mine.assertHeld(5_000),
    (error: unknown) => error instanceof LeaseLostError && /could not renew the switch lock for 10s/.test(error.message),
  );
  await mine.stopRenewing();
  assert.equal(clock.pendingSleeps, 0);
});

test('the time left on the lock is judged by the local clock from the last successful renewal; a call gets it minus the margin', async (t) => {
  const { clock, cluster, lock } = setup(t);
  const mine = lock(ME);
  assert.equal(mine.remainingMs(), 0, 'not taken yet');
  await mine.acquire();
  assert.equal(mine.remainingMs(), 15_000);
  await clock.sleep(4_000);
  assert.equal(mine.remainingMs(), 11_000);
  assert.equal(mine.callTimeoutMs(5_000), 6_000);

  await mine.renewOnce();
  assert.equal(mine.remainingMs(), 15_000, 'a successful renewal restarts the count');
  cluster.unreachable = true;
  await clock.sleep(6_000);
  await mine.renewOnce();
  assert.equal(mine.remainingMs(), 9_000, 'a failed renewal does not');
  await clock.sleep(4_000);
  assert.equal(mine.remainingMs(), 5_000);
  assert.throws(() => mine.callTimeoutMs(5_000), LeaseLostError, 'a call with 0 ms left is not made');
});

test('no time left for a call: callTimeoutMs refuses with the lease-lost error and its hint, so the call is not made', async (t) => {
  const { clock, cluster, lock } = setup(t);
  const mine = lock(ME);
  await mine.acquire();
  cluster.unreachable = true;
  await clock.sleep(10_000);
  assert.throws(
    () => mine.callTimeoutMs(5_000),
    (error: unknown) =>
      error instanceof LeaseLostError &&
      error.exitCode === ExitCode.failure &&
      /stopping before it (does|expires)/.test(error.message) &&
      /bgswitch status/.test(error.hint ?? ''),
  );
  assert.equal(mine.callTimeoutMs(4_000), 1_000, 'with a smaller margin there is still 1 s');
});

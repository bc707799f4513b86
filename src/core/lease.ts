/**
 * The switch lock, over the coordination.k8s.io/v1 Lease `bg-consumer-active-lease`.
 *
 * At rest the Lease's holder names the active colour (as the original implementation left it; docs/architecture.md, The switch lock); a colour never blocks a
 * switch. During a switch the holder is this invocation's unique identity (user@host/pid/random)
 * with a short duration that a background loop renews.
 *
 * Guarantees:
 *  - Acquisition is a compare-and-swap on resourceVersion: of two invocations racing, exactly one
 *    wins; the other is refused with the winner's name and expiry.
 *  - An unexpired holder that is not a colour is never taken over; an expired one (a killed CLI) is.
 *  - `assertHeld(margin)` fails once renewal has failed for so long that the lease could expire
 *    within `margin`, so the caller stops before anyone else can take over.
 *  - `remainingMs()` is how long the lock is certainly ours, judged by this machine's clock the way
 *    client-go's leaderelection judges it: the local time a successful renewal was sent, plus the
 *    duration. The switch bounds every pod call's timeout by it (switch-pushes.ts).
 *  - `lost` aborts the moment this run learns another holder took the lock, so unsent calls are
 *    cancelled at once.
 * Does not guarantee:
 *  - Fencing at the pod: pods do not check the lease. A call sent before the bound but applied after
 *    it is covered only by the margin (docs/safety.md, "Requests in flight when a lock expires").
 *  - Anything under large clock skew between this machine and other operators' machines.
 *
 * Steps of acquire():
 *  1. Read the Lease (or take the caller's read of a moment ago). None: create it holding us
 *     (409 = lost the race; after the caller's read: start over from 1 with a read of our own).
 *  2. Held by someone unexpired who is not a colour: refuse, naming them and the expiry.
 *  3. Otherwise replace it holding us, passing the resourceVersion read in 1 (409 = lost the race,
 *     or, after the caller's read, start over as in 1).
 */
import { isColor, type Color } from '../shared/model.js';
import { ConflictError, RefusedError } from './errors.js';
import { OperationError } from '../shared/errors.js';
import type { Clock } from '../shared/clock.js';
import type { Cluster, LeaseSnapshot, LeaseWrite } from './ports.js';

export interface LockOptions {
  /** Lease duration while switching (ms, whole seconds on the wire). Default 15 000. */
  leaseDurationMs?: number;
  /** Renewal period (ms). Default a third of the duration. */
  renewIntervalMs?: number;
}

export class LeaseLostError extends OperationError {
  constructor(message: string) {
    super(message, 'another switch may have taken over: run `bgswitch status` and finish or undo from there');
  }
}

export function leaseExpiry(lease: LeaseSnapshot): number | undefined {
  const renewed = lease.renewTime ?? lease.acquireTime;
  if (!renewed || lease.leaseDurationSeconds === undefined) return undefined;
  return renewed.getTime() + lease.leaseDurationSeconds * 1000;
}

/** True when `lease` blocks a switch at time `now`. */
export function leaseBlocks(lease: LeaseSnapshot | undefined, now: number): boolean {
  if (!lease?.holderIdentity || isColor(lease.holderIdentity)) return false;
  const expiry = leaseExpiry(lease);
  return expiry === undefined || expiry > now;
}

export class SwitchLock {
  private readonly durationSeconds: number;
  private readonly renewIntervalMs: number;
  private current: LeaseSnapshot | undefined;
  private lastRenewedAt = 0;
  private lostReason: string | undefined;
  private readonly lostController = new AbortController();
  private renewing: AbortController | undefined;
  private renewLoop: Promise<void> | undefined;

  constructor(
    private readonly cluster: Cluster,
    private readonly name: string,
    readonly holder: string,
    private readonly clock: Clock,
    options: LockOptions = {},
  ) {
    this.durationSeconds = Math.max(1, Math.round((options.leaseDurationMs ?? 15_000) / 1000));
    this.renewIntervalMs = options.renewIntervalMs ?? (this.durationSeconds * 1000) / 3;
  }

  /**
   * Takes the lock or throws RefusedError. Returns the holder found before (a colour at rest).
   * `earlierRead` is the Lease as the caller read it a moment ago (the switch's preflight): the
   * write is based on it instead of a read of its own; if anyone wrote the Lease since, the API
   * server refuses the write (409) and acquire starts over from a fresh read, as without it.
   */
  async acquire(earlierRead?: {
    lease: LeaseSnapshot | undefined;
  }): Promise<{ previousHolder: string | undefined; tookOverExpired: boolean }> {
    if (earlierRead) {
      const taken = await this.take(earlierRead.lease, true);
      if (taken) return taken;
    }
    return (await this.take(await this.cluster.getLease(this.name), false))!;
  }

  /** Steps 2-3 of acquire() over `existing`; undefined when it was an earlier read that is now stale. */
  private async take(
    existing: LeaseSnapshot | undefined,
    earlierRead: boolean,
  ): Promise<{ previousHolder: string | undefined; tookOverExpired: boolean } | undefined> {
    const now = this.clock.now();
    if (existing && leaseBlocks(existing, now)) throw this.refusal(existing);
    const tookOverExpired = Boolean(existing?.holderIdentity && !isColor(existing.holderIdentity));
    const write: LeaseWrite = {
      name: this.name,
      holderIdentity: this.holder,
      leaseDurationSeconds: this.durationSeconds,
      acquireTime: new Date(now),
      renewTime: new Date(now),
      leaseTransitions: (existing?.leaseTransitions ?? 0) + (existing ? 1 : 0),
      ...(existing ? { resourceVersion: existing.resourceVersion } : {}),
    };
    try {
      this.current = await this.cluster.writeLease(write);
    } catch (error) {
      if (!(error instanceof ConflictError)) throw error;
      if (earlierRead) return undefined;
      const winner = await this.cluster.getLease(this.name);
      throw winner
        ? this.refusal(winner)
        : new RefusedError('another switch took the lock at the same moment', 'run `bgswitch status` and retry');
    }
    this.lastRenewedAt = now;
    return { previousHolder: existing?.holderIdentity, tookOverExpired };
  }

  /** Renews in the background until release(). A lost lease is reported through assertHeld(). */
  startRenewing(): void {
    this.renewing = new AbortController();
    const signal = this.renewing.signal;
    this.renewLoop = (async () => {
      while (!signal.aborted && !this.lostReason) {
        try {
          await this.clock.sleep(this.renewIntervalMs, signal);
        } catch {
          return;
        }
        await this.renewOnce();
      }
    })();
  }

  /** One renewal; exposed so tests and the model explorer can drive it step by step. */
  async renewOnce(): Promise<void> {
    if (!this.current || this.lostReason) return;
    const now = this.clock.now();
    try {
      this.current = await this.cluster.writeLease({
        name: this.name,
        holderIdentity: this.holder,
        leaseDurationSeconds: this.durationSeconds,
        acquireTime: this.current.acquireTime ?? new Date(now),
        renewTime: new Date(now),
        leaseTransitions: this.current.leaseTransitions ?? 0,
        resourceVersion: this.current.resourceVersion,
      });
      this.lastRenewedAt = now;
    } catch (error) {
      if (error instanceof ConflictError) {
        const seen = await this.cluster.getLease(this.name).catch(() => undefined);
        if (seen && seen.holderIdentity !== this.holder) this.markLost(`the lock was taken by ${seen.holderIdentity}`);
        else if (seen) this.current = seen;
      }
      // Any other failure: keep trying; assertHeld() stops the switch once expiry is near.
    }
  }

  /** Aborted (with a LeaseLostError) as soon as a renewal finds another holder. */
  get lost(): AbortSignal {
    return this.lostController.signal;
  }

  /**
   * How long the lock is certainly still ours (ms): the local time of the last successful renewal
   * (taken before it was sent) plus the duration, minus now. 0 once lost or never taken.
   */
  remainingMs(): number {
    if (this.lostReason || this.current === undefined) return 0;
    return Math.max(0, this.lastRenewedAt + this.durationSeconds * 1000 - this.clock.now());
  }

  /** Throws LeaseLostError unless the lock is certainly ours for at least `marginMs` more. */
  assertHeld(marginMs: number): void {
    if (this.lostReason) throw new LeaseLostError(`lost the switch lock: ${this.lostReason}`);
    if (this.lastRenewedAt + this.durationSeconds * 1000 - this.clock.now() < marginMs) {
      throw new LeaseLostError(
        `could not renew the switch lock for ${Math.round((this.clock.now() - this.lastRenewedAt) / 1000)}s; stopping before it expires`,
      );
    }
  }

  /**
   * The timeout for a call that must be over `marginMs` before the lock could expire: what is left
   * of the lock minus the margin. Throws LeaseLostError when nothing is left, so the call is not made.
   */
  callTimeoutMs(marginMs: number): number {
    this.assertHeld(marginMs);
    const left = this.remainingMs() - marginMs;
    if (left <= 0) throw new LeaseLostError(`the switch lock may expire within ${marginMs / 1000}s; stopping before it does`);
    return left;
  }

  private markLost(reason: string): void {
    this.lostReason = reason;
    this.lostController.abort(new LeaseLostError(`lost the switch lock: ${reason}`));
  }

  /**
   * Stops renewing and hands the Lease back to rest: its holder becomes the active colour. The write
   * is based on our own last write of the Lease (no read); a 409 means someone wrote it since: it is
   * read then, and handed back only if it is still ours.
   */
  async release(activeColor: Color): Promise<void> {
    await this.stopRenewing();
    // Lost: another holder wrote it since, and only that holder may hand it back.
    if (!this.current || this.lostReason) return;
    try {
      await this.handBack(this.current, activeColor);
    } catch (error) {
      if (!(error instanceof ConflictError)) throw error;
      const seen = await this.cluster.getLease(this.name);
      if (!seen || seen.holderIdentity !== this.holder) return;
      await this.handBack(seen, activeColor);
    }
    this.current = undefined;
  }

  private async handBack(basedOn: LeaseSnapshot, activeColor: Color): Promise<void> {
    const now = this.clock.now();
    await this.cluster.writeLease({
      name: this.name,
      holderIdentity: activeColor,
      leaseDurationSeconds: this.durationSeconds,
      acquireTime: new Date(now),
      renewTime: new Date(now),
      leaseTransitions: (basedOn.leaseTransitions ?? 0) + 1,
      resourceVersion: basedOn.resourceVersion,
    });
  }

  async stopRenewing(): Promise<void> {
    this.renewing?.abort();
    await this.renewLoop;
    this.renewing = undefined;
    this.renewLoop = undefined;
  }

  /** The refusal for a Lease that blocks a switch: who holds it and until when. */
  refusal(lease: LeaseSnapshot): RefusedError {
    const expiry = leaseExpiry(lease);
    const until = expiry === undefined ? 'with no expiry' : `until ${new Date(expiry).toISOString()}`;
    return new RefusedError(
      `the switch lock (Lease ${this.name}) is held by ${lease.holderIdentity} ${until}`,
      'another switch is running; wait for it to finish (bgswitch status), or if that CLI was killed, retry after the expiry',
    );
  }
}

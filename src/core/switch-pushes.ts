/**
 * Steps 4 and 7 of the switch (./switch.ts): the lifecycle calls (L1) that do the work, and the
 * signed pushes to the sidecars (L2) that fence them against stale files, in the background.
 */
import { resolveEntry } from '../shared/desired-state.js';
import { errorMessage } from '../shared/errors.js';
import { NoPushKeyError } from './errors.js';
import type { PodObservation } from './fleet.js';
import type { PodInfo } from './ports.js';
import type { DesiredState } from './state-store.js';
import type { SwitchSession } from './switch-session.js';

/** Before the kubelet mounts the push-key Secret, every sidecar refuses pushes; the L1 calls do the work. */
const NO_PUSH_KEY = { noun: 'sidecar', text: 'refused the push: no push key mounted yet; the lifecycle calls carried the step' };

/** The pushes of one run: one queue per pod, so each pod receives them in generation order. */
export class PushQueues {
  private readonly queues = new Map<string, Promise<void>>();

  constructor(private readonly session: SwitchSession) {}

  /**
   * L1 lifecycle call to each pod, in parallel, plus its L2 push. Only the L1 calls are awaited:
   * verification watches the consumers themselves, so a hung sidecar never holds the switch (and
   * the gap) back. Failures are left to verification.
   * Fenced by the lock (docs/safety.md, "Requests in flight when a lock expires"): every call's
   * timeout ends the lock margin before the lock could expire, and with no time left no call is
   * made (LeaseLostError). Resumes are also cancelled the moment the lock is known lost, and the
   * step then stops; a pause already sent is let finish (pausing is always safe).
   * Returns what each pod that answered said it is now (its consumer's own word, as a status read).
   */
  async command(
    pods: PodInfo[],
    action: 'pause' | 'resume',
    state: DesiredState,
    signal: AbortSignal | undefined,
  ): Promise<PodObservation[]> {
    const { lock, lockMarginMs } = this.session;
    const timeoutMs = lock.callTimeoutMs(lockMarginMs);
    const callSignal = action === 'resume' ? (signal ? AbortSignal.any([signal, lock.lost]) : lock.lost) : signal;
    const calls = Promise.all(
      pods.map(async (pod): Promise<PodObservation | undefined> => {
        try {
          const change = await this.session.context.pods.lifecycle(pod, action, callSignal, timeoutMs);
          return { pod, state: change.currentState };
        } catch (error) {
          if (error !== lock.lost.reason) this.session.emit({ type: 'warning', message: `${action} ${pod.name}: ${errorMessage(error)}` });
          return undefined;
        }
      }),
    );
    // After the calls, so they are on the wire first; not awaited (settle() does).
    this.pushAll(pods, state, signal);
    const answers = await calls;
    if (action === 'resume') lock.lost.throwIfAborted();
    return answers.filter((answer): answer is PodObservation => answer !== undefined);
  }

  /** L2 pushes in the background (also to the other colour: it fences sidecars against stale files); see settle(). */
  pushAll(pods: PodInfo[], state: DesiredState, signal: AbortSignal | undefined): void {
    for (const pod of pods) this.push(pod, state, signal);
  }

  /** Waits for every push still in flight, so the run never ends with requests behind it. */
  async settle(): Promise<void> {
    await Promise.all(this.queues.values());
  }

  /** Each push to a pod waits for the previous one to that pod. */
  private push(pod: PodInfo, state: DesiredState, signal: AbortSignal | undefined): void {
    const resolved = resolveEntry(state.snapshot.data, pod.name, pod.color);
    if (resolved.status !== 'ok') return;
    const step = this.session.currentPhase;
    const send = async () => {
      try {
        await this.session.context.pods.push(pod, resolved.entry, signal);
      } catch (error) {
        const repeated = error instanceof NoPushKeyError ? { repeated: { ...NO_PUSH_KEY, ...(step ? { step } : {}) } } : {};
        this.session.emit({ type: 'warning', message: `push to the sidecar of ${pod.name}: ${errorMessage(error)}`, ...repeated });
      }
    };
    this.queues.set(pod.name, (this.queues.get(pod.name) ?? Promise.resolve()).then(send));
  }
}

/**
 * An in-memory `PodAgent` (src/core/ports.ts): simulated consumers behind it, for unit tests and the
 * model explorer.
 *
 * Each consumer follows the consumer contract (docs/consumer-contract.md): it starts PAUSED; pause moves ACTIVE
 * to DRAINING and, after its drain duration on the injected clock, to PAUSED (a drain of 0 goes to
 * PAUSED at once; Infinity never finishes); resume moves to ACTIVE from anywhere and cancels a drain;
 * both are idempotent. The sidecar is not simulated: pushes are recorded and checked, not applied.
 *
 * Guarantees for tests:
 *  - Every state change is kept with its virtual time (`transitions`, and in the journal), so
 *    s1Overlaps() can replay the timeline and find every instant where a blue and a green pod were
 *    both not PAUSED.
 *  - Pushes are kept per pod; a push older than one the pod already got is refused like the sidecar
 *    does (409) and kept in `generationRegressions`.
 * Faults: unreachable pods, the next N calls of a pod failing, pause/resume silently not taking
 * effect, readiness false, a drain that never ends, an outside actor setting a state (setState), and
 * onCall hooks that run before any call is answered (to act at an exact point of the protocol).
 */
import { PodUnreachableError } from '../../src/shared/errors.js';
import type { Clock } from '../../src/shared/clock.js';
import type { LifecycleChange, LifecycleStatus, SidecarStatus } from '../../src/shared/pod-api.js';
import type { PodAgent, PodInfo } from '../../src/core/ports.js';
import { LIFECYCLES, NO_FAULT, type Color, type DesiredEntry, type Fault, type Lifecycle } from '../../src/shared/model.js';
import type { Journal } from './journal.js';

export interface ConsumerOptions {
  state?: Lifecycle;
  drainMs?: number;
  ready?: boolean;
}

export interface Transition {
  at: number;
  pod: string;
  color: Color;
  from: Lifecycle | undefined;
  to: Lifecycle;
}

export interface PushRecord {
  at: number;
  pod: string;
  entry: DesiredEntry;
}

/** An interval in which a blue and a green pod were both not PAUSED (`until` undefined: still open). */
export interface Overlap {
  from: number;
  until: number | undefined;
  pods: string[];
}

export type PodCallName = 'pause' | 'resume' | 'status' | 'ready' | 'get-fault' | 'set-fault' | 'push' | 'sidecar-status';

export interface PodCall {
  op: PodCallName;
  pod: string;
  entry?: DesiredEntry;
}

interface Consumer {
  name: string;
  color: Color;
  state: Lifecycle;
  drainMs: number;
  /** The drain in progress; any other change cancels it. */
  drain: AbortController | undefined;
  ready: boolean;
  unreachable: boolean;
  failingCalls: number;
  ignoresCommands: boolean;
  fault: Fault;
  highestGeneration: number;
  lastPush: DesiredEntry | undefined;
}

export class MemoryFleet implements PodAgent {
  readonly transitions: Transition[] = [];
  readonly pushes: PushRecord[] = [];
  readonly generationRegressions: string[] = [];
  private readonly consumers = new Map<string, Consumer>();
  private readonly hooks: ((call: PodCall) => void)[] = [];

  constructor(
    private readonly clock: Clock,
    private readonly journal: Journal,
    private readonly defaultDrainMs: number,
  ) {}

  addConsumer(name: string, color: Color, options: ConsumerOptions = {}): void {
    const consumer: Consumer = {
      name,
      color,
      state: options.state ?? 'PAUSED',
      drainMs: options.drainMs ?? this.defaultDrainMs,
      drain: undefined,
      ready: options.ready ?? true,
      unreachable: false,
      failingCalls: 0,
      ignoresCommands: false,
      fault: { ...NO_FAULT },
      highestGeneration: 0,
      lastPush: undefined,
    };
    this.consumers.set(name, consumer);
    this.transitions.push({ at: this.clock.now(), pod: name, color, from: undefined, to: consumer.state });
  }

  /** The pod was deleted: its consumer stops (recorded as PAUSED, so the timeline counts it as not consuming) and is gone. */
  removeConsumer(name: string): void {
    const consumer = this.consumer(name);
    this.transition(consumer, 'PAUSED');
    this.consumers.delete(name);
  }

  stateOf(name: string): Lifecycle {
    return this.consumer(name).state;
  }

  /** Names of the consumers of `color` that are not PAUSED. */
  busy(color: Color): string[] {
    return [...this.consumers.values()].filter((c) => c.color === color && c.state !== 'PAUSED').map((c) => c.name);
  }

  pushesTo(name: string): DesiredEntry[] {
    return this.pushes.filter((p) => p.pod === name).map((p) => p.entry);
  }

  // Faults and outside actors ------------------------------------------------------------------
  /** Something other than bgswitch (a sidecar, a restart, an operator) changed the consumer's state. */
  setState(name: string, state: Lifecycle): void {
    this.transition(this.consumer(name), state);
  }

  setUnreachable(name: string, unreachable: boolean): void {
    this.consumer(name).unreachable = unreachable;
  }

  /** The next `count` calls to the pod fail as unreachable. */
  failNextCalls(name: string, count: number): void {
    this.consumer(name).failingCalls += count;
  }

  /** Pause and resume are answered but silently not applied. */
  setIgnoresCommands(name: string, ignores: boolean): void {
    this.consumer(name).ignoresCommands = ignores;
  }

  setReady(name: string, ready: boolean): void {
    this.consumer(name).ready = ready;
  }

  /** Takes effect from the next pause; Infinity: the consumer never finishes draining. */
  setDrainMs(name: string, drainMs: number): void {
    this.consumer(name).drainMs = drainMs;
  }

  /** `hook` runs before every pod call is answered (and before the call's faults are applied). */
  onCall(hook: (call: PodCall) => void): void {
    this.hooks.push(hook);
  }

  /** Every interval of the timeline in which a blue and a green pod were both not PAUSED (S1, strictly). */
  s1Overlaps(): Overlap[] {
    const states = new Map<string, Transition>();
    const overlaps: Overlap[] = [];
    let open: Overlap | undefined;
    for (const transition of this.transitions) {
      states.set(transition.pod, transition);
      const busy = (color: Color) => [...states.values()].filter((t) => t.color === color && t.to !== 'PAUSED').map((t) => t.pod);
      const both = busy('blue').length > 0 && busy('green').length > 0;
      if (both && !open) {
        open = { from: transition.at, until: undefined, pods: [...busy('blue'), ...busy('green')] };
        overlaps.push(open);
      } else if (!both && open) {
        open.until = transition.at;
        open = undefined;
      }
    }
    return overlaps;
  }

  // The PodAgent port --------------------------------------------------------------------------
  lifecycle(pod: PodInfo, action: 'pause' | 'resume', signal?: AbortSignal): Promise<LifecycleChange> {
    return this.serve({ op: action, pod: pod.name }, pod, signal, (consumer) => {
      const previousState = consumer.state;
      if (!consumer.ignoresCommands) {
        if (action === 'pause') this.pause(consumer);
        else this.resume(consumer);
      }
      return { previousState, currentState: consumer.state, lastSequenceNumber: 0 };
    });
  }

  status(pod: PodInfo, signal?: AbortSignal): Promise<LifecycleStatus> {
    return this.serve({ op: 'status', pod: pod.name }, pod, signal, (consumer) => ({
      state: consumer.state,
      stateCode: LIFECYCLES.indexOf(consumer.state),
      lastSequenceNumber: 0,
      totalMessagesReceived: 0,
    }));
  }

  ready(pod: PodInfo, signal?: AbortSignal): Promise<boolean> {
    return this.serve({ op: 'ready', pod: pod.name }, pod, signal, (consumer) => consumer.ready);
  }

  getFault(pod: PodInfo, signal?: AbortSignal): Promise<Fault> {
    return this.serve({ op: 'get-fault', pod: pod.name }, pod, signal, (consumer) => ({ ...consumer.fault }));
  }

  setFault(pod: PodInfo, fault: Fault, signal?: AbortSignal): Promise<void> {
    return this.serve({ op: 'set-fault', pod: pod.name }, pod, signal, (consumer) => {
      consumer.fault = { ...fault };
    });
  }

  push(pod: PodInfo, entry: DesiredEntry, signal?: AbortSignal): Promise<void> {
    const pushed = structuredClone(entry);
    return this.serve({ op: 'push', pod: pod.name, entry: pushed }, pod, signal, (consumer) => {
      this.pushes.push({ at: this.clock.now(), pod: pod.name, entry: pushed });
      if (pushed.generation < consumer.highestGeneration) {
        this.generationRegressions.push(`${pod.name}: generation ${pushed.generation} pushed after ${consumer.highestGeneration}`);
        throw new PodUnreachableError(
          pod.name,
          `${pod.name}: sidecar answered 409 (generation ${pushed.generation} is older than ${consumer.highestGeneration})`,
        );
      }
      consumer.highestGeneration = pushed.generation;
      consumer.lastPush = pushed;
    });
  }

  sidecarStatus(pod: PodInfo, signal?: AbortSignal): Promise<SidecarStatus> {
    return this.serve({ op: 'sidecar-status', pod: pod.name }, pod, signal, (consumer) => ({
      pod: pod.name,
      generation: consumer.highestGeneration,
      ...(consumer.lastPush ? { desired: consumer.lastPush } : {}),
      actual: consumer.state,
    }));
  }

  // Internals ----------------------------------------------------------------------------------
  private async serve<T>(call: PodCall, pod: PodInfo, signal: AbortSignal | undefined, work: (consumer: Consumer) => T): Promise<T> {
    await Promise.resolve();
    signal?.throwIfAborted();
    for (const hook of this.hooks) hook(call);
    const detail = call.entry ? { detail: call.entry } : {};
    try {
      const consumer = this.consumers.get(pod.name);
      if (!consumer || consumer.color !== pod.color)
        throw new PodUnreachableError(pod.name, `${pod.name}: no such ${pod.color} pod (simulated)`);
      if (consumer.unreachable || consumer.failingCalls > 0) {
        consumer.failingCalls = Math.max(0, consumer.failingCalls - 1);
        throw new PodUnreachableError(pod.name, `${pod.name}: connect ECONNREFUSED (simulated)`);
      }
      const value = work(consumer);
      this.journal.add({ source: 'pod', op: call.op, name: pod.name, ok: true, ...detail });
      return value;
    } catch (error) {
      this.journal.add({
        source: 'pod',
        op: call.op,
        name: pod.name,
        ok: false,
        error: error instanceof Error ? error.message : String(error),
        ...detail,
      });
      throw error;
    }
  }

  private pause(consumer: Consumer): void {
    if (consumer.state !== 'ACTIVE') return;
    if (consumer.drainMs === 0) {
      this.transition(consumer, 'PAUSED');
      return;
    }
    this.transition(consumer, 'DRAINING');
    if (!Number.isFinite(consumer.drainMs)) return;
    const drain = new AbortController();
    consumer.drain = drain;
    this.clock.sleep(consumer.drainMs, drain.signal).then(
      () => this.transition(consumer, 'PAUSED'),
      () => {}, // cancelled by a later change
    );
  }

  private resume(consumer: Consumer): void {
    this.transition(consumer, 'ACTIVE');
  }

  /** Every change of state goes through here: it ends any drain in progress and is recorded. */
  private transition(consumer: Consumer, to: Lifecycle): void {
    if (consumer.state === to) return;
    consumer.drain?.abort();
    consumer.drain = undefined;
    const from = consumer.state;
    consumer.state = to;
    this.transitions.push({ at: this.clock.now(), pod: consumer.name, color: consumer.color, from, to });
    this.journal.add({ source: 'consumer', op: 'transition', name: consumer.name, ok: true, detail: { from, to } });
  }

  private consumer(name: string): Consumer {
    const consumer = this.consumers.get(name);
    if (!consumer) throw new Error(`test setup: no consumer named ${name}`);
    return consumer;
  }
}

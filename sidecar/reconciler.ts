/**
 * The sidecar's decision logic (docs/architecture.md, the sidecar), over small interfaces so it runs entirely in
 * memory as well as against a real consumer and API server.
 *
 * Guarantees:
 *  - Desired state is the valid candidate with the highest generation among the last push accepted
 *    by this process, the last API read and the mounted file; ties go push > api > file. Anything
 *    older than the highest generation ever seen (persisted) is ignored; malformed entries are
 *    logged and never acted on.
 *  - Level-triggered: every reconcile compares desired with the consumer's actual `state`; nothing
 *    is skipped because it "was already applied". Reconciles and pushes never run concurrently.
 *  - Correcting a consumer (pausing it, changing its faults) is decided on the newest information:
 *    the API server is read first (when reachable), so an older push, file or read never undoes a
 *    newer desired state the CLI has already applied directly. Every resume, a pushed one included,
 *    needs a fresh read of the API server's entry to be ACTIVE with a generation at least the
 *    desired one, and is re-checked right after it is applied (a switch that started meanwhile
 *    pauses it again). A push can be stale by the time it is applied (delivered late, or an
 *    inject-fault push landing after a switch paused the pod: found by the model explorer), and the
 *    CLI resumes the consumer directly anyway, so the push path gains nothing by skipping the read.
 *    A watch event is never that read either: it can lag a write whose effect (an L1 pause) this
 *    sidecar has already observed.
 *  - Every version of the ConfigMap the API watch delivers (`apiChanged`), and every push, is
 *    adopted at once and reconciled at once, unless it brings this pod's entry as the last reconcile
 *    adopted it and found it in effect, with no problem (`inEffect`), or the ConfigMap the watch
 *    delivered last carries a CLI's operation record (a switch or rollback in progress: the CLI
 *    calls every consumer itself): then the next tick is the check. A desired state written by
 *    anyone else is acted on at once.
 *  - Faults are applied when the desired entry has a `fault` that differs from the consumer's, with
 *    every field (so 0 / false clears); an entry without `fault` leaves faults alone.
 * Not guaranteed: anything about the other colour; this process only ever talks to its own pod.
 */
import { errorMessage } from '../src/shared/errors.js';
import type { Clock } from '../src/shared/clock.js';
import type { SidecarStatus } from '../src/shared/pod-api.js';
import { OPERATION_ANNOTATION, resolveEntry, type ResolvedEntry } from '../src/shared/desired-state.js';
import { sameFault, type Color, type DesiredEntry, type Fault, type Lifecycle } from '../src/shared/model.js';
import type { WatchHealth } from './config-watch.js';
import type { ConfigMapContent } from './kube-api.js';
import type { Logger } from './log.js';

/** The consumer's lifecycle and fault API, as the sidecar uses it. Every method throws on failure. */
export interface ConsumerPort {
  /** `GET /lifecycle/status`, field `state`. */
  state(): Promise<Lifecycle>;
  /** `POST /lifecycle/pause`; returns the state the consumer reports afterwards. */
  pause(): Promise<Lifecycle>;
  /** `POST /lifecycle/resume`; returns the state the consumer reports afterwards. */
  resume(): Promise<Lifecycle>;
  getFault(): Promise<Fault>;
  /** Sets every field, so zero / false really clears. */
  setFault(fault: Fault): Promise<void>;
}

/** The state ConfigMap's data as one source sees it (mounted files or API server); `{}` when absent. Throws when unreadable. */
export interface StateDataSource {
  read(): Promise<Readonly<Record<string, string>>>;
}

/** Keeps the highest generation seen across restarts of this process. */
export interface GenerationStore {
  load(): Promise<number>;
  save(generation: number): Promise<void>;
}

export type DesiredSource = 'push' | 'api' | 'file';
export type ConsumerCall = 'status' | 'pause' | 'resume' | 'get_fault' | 'set_fault';
export type ConfirmationResult = 'confirmed' | 'refused' | 'unreachable';

/** What the reconciler reports as it works (metrics implement it). */
export interface ReconcilerObserver {
  commandIssued(command: 'pause' | 'resume' | 'set_fault'): void;
  callFailed(call: ConsumerCall): void;
  desiredAdopted(source: DesiredSource): void;
  actualObserved(state: Lifecycle | undefined): void;
  generationSeen(generation: number): void;
  resumeConfirmation(result: ConfirmationResult): void;
}

const IGNORE_EVENTS: ReconcilerObserver = {
  commandIssued: () => {},
  callFailed: () => {},
  desiredAdopted: () => {},
  actualObserved: () => {},
  generationSeen: () => {},
  resumeConfirmation: () => {},
};

/** `GET /status` of the sidecar: SidecarStatus plus colour and the time of the last reconcile. */
export interface SidecarStatusReport extends SidecarStatus {
  color: Color;
  desiredSource?: DesiredSource;
  /** ISO time the last reconcile finished. */
  lastReconcileAt?: string;
  /** `watching`: changes to the state ConfigMap are acted on at once; `down`: only pushes and the file. */
  apiWatch?: WatchHealth;
  /** The watch last saw a CLI's operation record: pushes and watch events wait for the next tick. */
  cliOperation?: true;
}

export type PushOutcome = { accepted: true; status: SidecarStatusReport } | { accepted: false; highestGeneration: number };

export interface ReconcilerOptions {
  pod: string;
  color: Color;
  consumer: ConsumerPort;
  file: StateDataSource;
  api: StateDataSource;
  generations: GenerationStore;
  clock: Clock;
  log: Logger;
  observer?: ReconcilerObserver;
  /** The health of the API watch that calls `apiChanged`, for `GET /status`; absent when there is none. */
  apiWatch?: () => WatchHealth;
}

interface Candidate {
  entry: DesiredEntry;
  source: DesiredSource;
}

const SOURCE_RANK: Record<DesiredSource, number> = { push: 3, api: 2, file: 1 };

function sameEntry(a: DesiredEntry, b: DesiredEntry): boolean {
  const faultsEqual = a.fault && b.fault ? sameFault(a.fault, b.fault) : a.fault === b.fault;
  return a.generation === b.generation && a.lifecycle === b.lifecycle && faultsEqual;
}

function sameCandidate(a: Candidate | undefined, b: Candidate | undefined): boolean {
  if (a === undefined || b === undefined) return a === b;
  return a.source === b.source && sameEntry(a.entry, b.entry);
}

function describe(resolved: ResolvedEntry): string {
  if (resolved.status === 'missing') return 'no entry for this pod';
  if (resolved.status === 'malformed') return `a malformed entry in key "${resolved.source.key}"`;
  return `${resolved.entry.lifecycle} at generation ${resolved.entry.generation}`;
}

export class Reconciler {
  private readonly options: ReconcilerOptions;
  private readonly observer: ReconcilerObserver;
  private highest: number;
  private pushed: Candidate | undefined;
  private fromApi: Candidate | undefined;
  private fromFile: Candidate | undefined;
  private desired: Candidate | undefined;
  private actual: Lifecycle | undefined;
  /** The entry the last reconcile acted on; `actual` is what it found. */
  private checked: DesiredEntry | undefined;
  private lastError: string | undefined;
  private lastReconcileAt: number | undefined;
  /** The CLI operation record the watch saw last (raw annotation), while there is one. */
  private cliOperation: string | undefined;
  private tail: Promise<unknown> = Promise.resolve();
  /** Last warning logged per topic, so a condition that persists is logged once, not every tick. */
  private readonly warned = new Map<string, string>();

  private constructor(options: ReconcilerOptions, highest: number) {
    this.options = options;
    this.observer = options.observer ?? IGNORE_EVENTS;
    this.highest = highest;
    this.observer.generationSeen(highest);
  }

  /** Loads the persisted generation; an unreadable store counts as 0 (the API seed then protects). */
  static async create(options: ReconcilerOptions): Promise<Reconciler> {
    let highest = 0;
    try {
      highest = await options.generations.load();
    } catch (error) {
      options.log.error('cannot load the persisted generation; starting from 0', { error: errorMessage(error) });
    }
    return new Reconciler(options, highest);
  }

  /** Best-effort API read at startup, so a restarted sidecar does not act on a stale mounted file. */
  seedFromApi(): Promise<void> {
    return this.exclusive(async () => {
      try {
        await this.readApi();
      } catch (error) {
        this.options.log.warn('could not seed the desired state from the API server; using the mounted file and pushes', {
          error: errorMessage(error),
        });
      }
    });
  }

  /**
   * A new version of the state ConfigMap from the API watch: adopted as the `api` candidate and
   * reconciled at once, unless `inEffect` or `actsOnTick`. It is not a confirmation: a resume
   * still reads the API server again.
   */
  apiChanged(version: ConfigMapContent): Promise<SidecarStatusReport> {
    return this.exclusive(async () => {
      this.noteCliOperation(version.annotations[OPERATION_ANNOTATION]);
      this.fromApi = this.candidateFrom('api', resolveEntry(version.data, this.options.pod, this.options.color));
      if (this.fromApi) await this.raiseHighest(this.fromApi.entry.generation);
      return this.inEffect(this.fromApi) || this.actsOnTick() ? this.adoptForTick() : this.reconcileNow();
    });
  }

  /** One level-triggered pass (serialised with pushes). Never throws: problems end up in `lastError`. */
  reconcile(): Promise<SidecarStatusReport> {
    return this.exclusive(() => this.reconcileNow());
  }

  /** An authenticated push for this pod: refused if older than the highest generation seen, else adopted and reconciled at once. */
  acceptPush(entry: DesiredEntry): Promise<PushOutcome> {
    return this.exclusive(async () => {
      if (entry.generation < this.highest) return { accepted: false, highestGeneration: this.highest };
      this.pushed = { entry, source: 'push' };
      await this.raiseHighest(entry.generation);
      if (this.inEffect(this.pushed) || this.actsOnTick()) return { accepted: true, status: this.adoptForTick() };
      return { accepted: true, status: await this.reconcileNow() };
    });
  }

  /** Resolves when every reconcile and push queued so far has finished. */
  idle(): Promise<void> {
    return this.tail.then(() => undefined);
  }

  status(): SidecarStatusReport {
    const { pod, color } = this.options;
    const report: SidecarStatusReport = { pod, color, generation: this.highest };
    if (this.desired) {
      report.desired = this.desired.entry;
      report.desiredSource = this.desired.source;
    }
    if (this.actual) report.actual = this.actual;
    if (this.lastError) report.lastError = this.lastError;
    if (this.lastReconcileAt !== undefined) report.lastReconcileAt = new Date(this.lastReconcileAt).toISOString();
    if (this.options.apiWatch) report.apiWatch = this.options.apiWatch();
    if (this.cliOperation !== undefined) report.cliOperation = true;
    return report;
  }

  /**
   * While a CLI switch or rollback is in progress, a push or watch event is adopted and left to the
   * next tick: the CLI pauses and resumes every consumer itself and verifies them, so a reconcile
   * of each of the two or three deliveries per pod and switch would only compete with it for the
   * API server and the cores (with 30 pods per colour, a fifth of the switch's time; docs/performance.md).
   * Adopting at once keeps what a push is for: stale pushes and files are fenced off by the new
   * generation. A CLI killed mid-switch leaves its record behind; its desired state is then acted
   * on within a tick instead of at once.
   */
  private actsOnTick(): boolean {
    return this.cliOperation !== undefined;
  }

  private adoptForTick(): SidecarStatusReport {
    this.adopt(this.pickDesired([]));
    return this.status();
  }

  private noteCliOperation(record: string | undefined): void {
    const operation = record === '' ? undefined : record;
    if (operation === this.cliOperation) return;
    if (operation === undefined) this.options.log.info('the CLI operation ended: pushes and watch events are acted on at once again');
    else if (this.cliOperation === undefined)
      this.options.log.info('a CLI operation is in progress: pushes and watch events wait for the next tick', { operation });
    this.cliOperation = operation;
  }

  /**
   * True when `candidate` brings nothing to act on: it is the entry the last reconcile adopted and
   * found in effect (the consumer in that lifecycle, no problem). The same entry arrives twice in
   * every switch (the CLI's push and the watch event of its write) and again with writes that change
   * other keys; each would otherwise cost a consumer call and, for a pause, an API read, on the
   * cores the switch needs. The tick still checks the level within a second.
   */
  private inEffect(candidate: Candidate | undefined): boolean {
    const checked = this.checked;
    if (candidate === undefined || checked === undefined || !sameEntry(candidate.entry, checked)) return false;
    return this.actual === checked.lifecycle && this.lastError === undefined;
  }

  private exclusive<T>(task: () => Promise<T>): Promise<T> {
    const result = this.tail.then(task);
    this.tail = result.catch(() => undefined);
    return result;
  }

  private async reconcileNow(): Promise<SidecarStatusReport> {
    const problems: string[] = [];
    await this.readFile();
    for (const candidate of [this.pushed, this.fromApi, this.fromFile]) {
      if (candidate) await this.raiseHighest(candidate.entry.generation);
    }
    this.adopt(this.pickDesired(problems));

    let actual: Lifecycle | undefined;
    try {
      actual = await this.options.consumer.state();
    } catch (error) {
      this.observer.callFailed('status');
      problems.push(`cannot read the consumer's state: ${errorMessage(error)}`);
    }
    let fault = actual !== undefined && this.desired?.entry.fault ? await this.readFault(problems) : undefined;
    if (actual !== undefined && this.wouldCorrect(actual, fault)) {
      await this.refreshBeforeCorrecting(problems);
      if (this.desired?.entry.fault && fault === undefined) fault = await this.readFault(problems);
    }
    const desired = this.desired;
    if (actual !== undefined && desired !== undefined) {
      actual = await this.applyLifecycle(desired, actual, problems);
      if (desired.entry.fault && fault) await this.applyFault(desired.entry.fault, fault, problems);
    }
    this.actual = actual;
    this.checked = desired?.entry;
    this.observer.actualObserved(actual);
    this.finish(problems);
    return this.status();
  }

  private finish(problems: string[]): void {
    const lastError = problems.length > 0 ? problems.join('; ') : undefined;
    if (lastError !== this.lastError) {
      if (lastError) this.options.log.warn('reconcile problem', { error: lastError });
      else this.options.log.info('reconcile healthy again');
    }
    this.lastError = lastError;
    this.lastReconcileAt = this.options.clock.now();
  }

  private pickDesired(problems: string[]): Candidate | undefined {
    const current = [this.pushed, this.fromApi, this.fromFile].filter(
      (candidate): candidate is Candidate => candidate !== undefined && candidate.entry.generation >= this.highest,
    );
    current.sort((a, b) => SOURCE_RANK[b.source] - SOURCE_RANK[a.source]);
    if (current.length === 0 && (this.pushed || this.fromApi || this.fromFile)) {
      problems.push(`every known desired state is older than generation ${this.highest}; waiting for a newer one`);
    }
    return current[0];
  }

  private adopt(next: Candidate | undefined): void {
    if (sameCandidate(next, this.desired)) return;
    this.desired = next;
    if (!next) return;
    this.observer.desiredAdopted(next.source);
    this.options.log.info('desired state changed', {
      source: next.source,
      generation: next.entry.generation,
      lifecycle: next.entry.lifecycle,
      fault: next.entry.fault,
    });
  }

  private async applyLifecycle(desired: Candidate, actual: Lifecycle, problems: string[]): Promise<Lifecycle> {
    if (desired.entry.lifecycle === 'PAUSED') {
      return actual === 'PAUSED' ? actual : ((await this.command('pause', desired, problems)) ?? actual);
    }
    // ACTIVE or DRAINING: nothing to resume (DRAINING means someone is pausing it; never fight that).
    if (actual !== 'PAUSED') return actual;
    if (!(await this.confirmResume(desired.entry, problems))) return actual;
    const resumed = await this.command('resume', desired, problems);
    if (resumed === undefined) return actual;
    if (await this.confirmResume(desired.entry, problems)) return resumed;
    this.options.log.warn('the API server withdrew the resume while it was applied; pausing again', {
      generation: desired.entry.generation,
    });
    return (await this.command('pause', desired, problems)) ?? resumed;
  }

  /** Pausing a running consumer, or changing its faults, corrects something the CLI may have just done. */
  private wouldCorrect(actual: Lifecycle, fault: Fault | undefined): boolean {
    const desired = this.desired?.entry;
    if (!desired) return false;
    return (
      (desired.lifecycle === 'PAUSED' && actual !== 'PAUSED') ||
      (desired.fault !== undefined && fault !== undefined && !sameFault(desired.fault, fault))
    );
  }

  /**
   * Before correcting the consumer (pause, fault), ask the API server whether a newer desired state
   * exists: the CLI writes the ConfigMap before it resumes a pod or sets a fault directly and before
   * it pushes, so a correction decided on an older push, file or read would undo what the CLI just
   * did (after a switch, nobody would consume until the next push or file refresh). Unreachable:
   * act on what this sidecar knows; pausing is always safe.
   */
  private async refreshBeforeCorrecting(problems: string[]): Promise<void> {
    try {
      await this.readApi();
    } catch (error) {
      this.warnOnce(
        'api-before-correcting',
        'cannot read the API server before correcting the consumer; acting on what this sidecar knows',
        {
          error: errorMessage(error),
        },
      );
      return;
    }
    this.warned.delete('api-before-correcting');
    this.adopt(this.pickDesired(problems));
  }

  /** Resume only if the API server's entry for this pod is ACTIVE at the desired generation or newer. */
  private async confirmResume(entry: DesiredEntry, problems: string[]): Promise<boolean> {
    let resolved: ResolvedEntry;
    try {
      resolved = await this.readApi();
    } catch (error) {
      this.observer.resumeConfirmation('unreachable');
      problems.push(`resume not confirmed, staying PAUSED: the API server could not be read (${errorMessage(error)})`);
      return false;
    }
    const confirmed = resolved.status === 'ok' && resolved.entry.lifecycle === 'ACTIVE' && resolved.entry.generation >= entry.generation;
    this.observer.resumeConfirmation(confirmed ? 'confirmed' : 'refused');
    if (!confirmed) {
      problems.push(
        `resume not confirmed, staying PAUSED: the API server has ${describe(resolved)}, desired is ACTIVE at generation ${entry.generation}`,
      );
    }
    return confirmed;
  }

  private async readApi(): Promise<ResolvedEntry> {
    const resolved = resolveEntry(await this.options.api.read(), this.options.pod, this.options.color);
    this.fromApi = this.candidateFrom('api', resolved);
    if (this.fromApi) await this.raiseHighest(this.fromApi.entry.generation);
    return resolved;
  }

  private async readFile(): Promise<void> {
    try {
      const data = await this.options.file.read();
      this.warned.delete('file-unreadable');
      this.fromFile = this.candidateFrom('file', resolveEntry(data, this.options.pod, this.options.color));
    } catch (error) {
      this.fromFile = undefined;
      this.warnOnce('file-unreadable', 'cannot read the mounted state directory; ignoring it', { error: errorMessage(error) });
    }
  }

  private candidateFrom(source: DesiredSource, resolved: ResolvedEntry): Candidate | undefined {
    if (resolved.status === 'malformed') {
      this.warnOnce(`malformed-${source}`, 'ignoring a malformed desired-state entry', {
        source,
        key: resolved.source.key,
        error: resolved.error,
      });
      return undefined;
    }
    this.warned.delete(`malformed-${source}`);
    return resolved.status === 'ok' ? { entry: resolved.entry, source } : undefined;
  }

  private warnOnce(topic: string, msg: string, fields: Record<string, unknown>): void {
    const fingerprint = JSON.stringify(fields);
    if (this.warned.get(topic) === fingerprint) return;
    this.warned.set(topic, fingerprint);
    this.options.log.warn(msg, fields);
  }

  private async raiseHighest(generation: number): Promise<void> {
    if (generation <= this.highest) return;
    this.highest = generation;
    this.observer.generationSeen(generation);
    try {
      await this.options.generations.save(generation);
    } catch (error) {
      // Kept in memory regardless; only a restart of this container would forget it (the API seed covers that).
      this.options.log.error('cannot persist the highest generation', { generation, error: errorMessage(error) });
    }
  }

  private async command(command: 'pause' | 'resume', desired: Candidate, problems: string[]): Promise<Lifecycle | undefined> {
    this.observer.commandIssued(command);
    try {
      const state = await this.options.consumer[command]();
      this.options.log.info('lifecycle command applied', {
        command,
        currentState: state,
        generation: desired.entry.generation,
        source: desired.source,
      });
      return state;
    } catch (error) {
      this.observer.callFailed(command);
      problems.push(`${command} failed: ${errorMessage(error)}`);
      return undefined;
    }
  }

  private async readFault(problems: string[]): Promise<Fault | undefined> {
    try {
      return await this.options.consumer.getFault();
    } catch (error) {
      this.observer.callFailed('get_fault');
      problems.push(`cannot read the consumer's fault settings: ${errorMessage(error)}`);
      return undefined;
    }
  }

  private async applyFault(fault: Fault, current: Fault, problems: string[]): Promise<void> {
    if (sameFault(current, fault)) return;
    this.observer.commandIssued('set_fault');
    try {
      await this.options.consumer.setFault(fault);
      this.options.log.info('fault applied', { fault, previous: current });
    } catch (error) {
      this.observer.callFailed('set_fault');
      problems.push(`setting the fault failed: ${errorMessage(error)}`);
    }
  }
}

/**
 * Keeps a watch on the state ConfigMap and hands every new version of its data to the reconciler
 * at once (L3 without a CLI: a desired state written by anyone is acted on within milliseconds,
 * not at the kubelet's next file refresh).
 *
 * Protocol: list once (the data, and a resourceVersion), then watch from the last resourceVersion
 * seen (events and bookmarks advance it); a watch the server ends normally is resumed from there at
 * once; 410 Gone (too old) lists again; any other failure waits with exponential backoff and
 * jitter (so a fleet whose API server came back does not reconnect in step) and then resumes.
 * Each watch asks the server to end it after 5-10 minutes (random), as client-go's reflector does.
 *
 * What the watch is NOT: a fresh read. An event can lag a write the consumer has already been told
 * about (the CLI writes, then pauses the pod directly), so the reconciler still confirms every
 * unpushed resume with a GET (sidecar/reconciler.ts); the watch only makes it act sooner.
 */
import { errorMessage } from '../src/shared/errors.js';
import type { Clock } from '../src/shared/clock.js';
import {
  ABSENT_CONFIGMAP,
  ApiRequestError,
  type ConfigMapContent,
  type ConfigMapState,
  type WatchEvent,
  type WatchHandlers,
} from './kube-api.js';
import type { Logger } from './log.js';

/** What the watcher needs of the API server (ConfigMapApi in production, loopback HTTP in tests). */
export interface WatchableConfigMap {
  readonly what: string;
  list(): Promise<ConfigMapState>;
  watch(resourceVersion: string, timeoutSeconds: number, handlers: WatchHandlers, signal: AbortSignal): Promise<void>;
}

export interface WatchTiming {
  /** First retry delay after a failure; doubles up to maxBackoffMs. */
  initialBackoffMs: number;
  maxBackoffMs: number;
  /** Each watch asks the server to end it after a random time in [min, 2 × min] seconds. */
  minWatchSeconds: number;
  /** A watch the server ends sooner than this counts as a failure (backoff), not a normal end. */
  minWatchLifetimeMs: number;
}

export const DEFAULT_WATCH_TIMING: WatchTiming = {
  initialBackoffMs: 250,
  maxBackoffMs: 30_000,
  minWatchSeconds: 300,
  minWatchLifetimeMs: 1000,
};

export type WatchHealth = 'starting' | 'watching' | 'down';

export interface ConfigMapWatcherOptions {
  api: WatchableConfigMap;
  /** Called with every new version of the ConfigMap (`{}` for both when it is gone); awaited, in order. */
  onChange(content: ConfigMapContent): Promise<unknown>;
  clock: Clock;
  log: Logger;
  timing?: WatchTiming;
  /** [0, 1); injectable so tests can pin the jitter. */
  random?: () => number;
}

export class ConfigMapWatcher {
  private readonly timing: WatchTiming;
  private readonly random: () => number;
  private readonly stopSignal = new AbortController();
  private resourceVersion: string | undefined;
  private health: WatchHealth = 'starting';
  private failures = 0;
  private loop: Promise<void> | undefined;
  private firstList: Promise<void>;
  private settleFirstList!: () => void;

  constructor(private readonly options: ConfigMapWatcherOptions) {
    this.timing = options.timing ?? DEFAULT_WATCH_TIMING;
    this.random = options.random ?? Math.random;
    this.firstList = new Promise((resolve) => (this.settleFirstList = resolve));
  }

  /** `watching` while a watch stream is open and has not failed since. */
  status(): { health: WatchHealth; resourceVersion?: string; failures: number } {
    return { health: this.health, failures: this.failures, ...(this.resourceVersion ? { resourceVersion: this.resourceVersion } : {}) };
  }

  start(): void {
    this.loop ??= this.run();
  }

  /** Resolves after the first list was handed over or failed, or after `timeoutMs`. */
  async firstSync(timeoutMs: number): Promise<void> {
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([this.firstList, new Promise<void>((resolve) => (timer = setTimeout(resolve, timeoutMs)))]);
    clearTimeout(timer);
  }

  async stop(): Promise<void> {
    this.stopSignal.abort();
    await this.loop;
  }

  private async run(): Promise<void> {
    const { api, log } = this.options;
    const signal = this.stopSignal.signal;
    while (!signal.aborted) {
      let listed = false;
      try {
        if (this.resourceVersion === undefined) {
          await this.relist();
          listed = true;
        }
        const watchSeconds = Math.round(this.timing.minWatchSeconds * (1 + this.random()));
        const startedAt = this.options.clock.now();
        await api.watch(
          this.resourceVersion!,
          watchSeconds,
          { opened: () => this.markWatching(), event: (event) => this.handle(event) },
          signal,
        );
        // Ended by the server (its timeout): resume from the last resourceVersion at once, unless it
        // ended at once (something in between closes watches), which would make this loop spin.
        if (this.options.clock.now() - startedAt < this.timing.minWatchLifetimeMs)
          throw new Error('the API server ended the watch at once');
      } catch (error) {
        if (signal.aborted) break;
        this.settleFirstList();
        // A 410 right after a list would loop: that one backs off like any failure.
        if (error instanceof ApiRequestError && error.statusCode === 410) {
          log.info('watch resourceVersion expired (410 Gone); listing again', { configMap: api.what });
          this.resourceVersion = undefined;
          if (!listed) continue;
        }
        this.failures++;
        const delayMs = this.backoffMs();
        if (this.health !== 'down')
          log.warn('watch failed; the mounted file and pushes still apply, resumes still need a fresh read', {
            configMap: api.what,
            error: errorMessage(error),
            retryInMs: delayMs,
          });
        this.health = 'down';
        try {
          await this.options.clock.sleep(delayMs, signal);
        } catch {
          // stopped
        }
      }
    }
    this.health = 'down';
  }

  private async relist(): Promise<void> {
    const state = await this.options.api.list();
    this.resourceVersion = state.resourceVersion;
    await this.options.onChange(state.content ?? ABSENT_CONFIGMAP);
    this.settleFirstList();
  }

  private async handle(event: WatchEvent): Promise<void> {
    this.resourceVersion = event.resourceVersion;
    if (event.type !== 'BOOKMARK') await this.options.onChange(event.content);
  }

  private markWatching(): void {
    if (this.health === 'down')
      this.options.log.info('watch healthy again', { configMap: this.options.api.what, afterFailures: this.failures });
    this.health = 'watching';
    this.failures = 0;
  }

  /** Jittered exponential backoff: uniform in [c/2, c] with c = min(max, initial × 2^(failures-1)). */
  private backoffMs(): number {
    const ceiling = Math.min(this.timing.maxBackoffMs, this.timing.initialBackoffMs * 2 ** Math.min(this.failures - 1, 30));
    return Math.round((ceiling * (1 + this.random())) / 2);
  }
}

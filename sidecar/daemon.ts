/**
 * Assembles one sidecar: reconciler, HTTP server, API watch, reconcile loop, and the graceful
 * shutdown. Startup: load the persisted generation, listen (readiness stays 503), start the watch of
 * the state ConfigMap and wait (up to the API timeout) for its first list, which seeds the desired
 * state (without a watch: one best-effort read), then reconcile every tick and on every watch event.
 * Shutdown order: readiness 503 and pushes refused, wait for in-flight requests, stop the watch,
 * wait for the running reconcile, stop the loop, close the server and the clients. Shutdown never pauses or
 * resumes the consumer.
 */
import { errorMessage } from '../src/shared/errors.js';
import { once } from 'node:events';
import type { AddressInfo } from 'node:net';
import { systemClock } from '../src/shared/clock.js';
import type { Clock } from '../src/shared/clock.js';
import type { SidecarConfig } from './config.js';
import { ConfigMapWatcher, type WatchableConfigMap, type WatchTiming } from './config-watch.js';
import { HttpConsumerClient } from './consumer-client.js';
import { FileGenerationStore } from './generation-store.js';
import type { Logger } from './log.js';
import { SidecarMetrics } from './metrics.js';
import { Reconciler, type ConsumerPort, type GenerationStore, type StateDataSource } from './reconciler.js';
import { createSidecarServer } from './server.js';
import { MountedStateFiles } from './state-file.js';

export interface SidecarDeps {
  /** The state ConfigMap through the API server (ConfigMapApi in production): confirmation reads. */
  api: StateDataSource & { close?(): void };
  /** The same ConfigMap to watch (ConfigMapApi in production); absent: no watch, only reads. */
  watch?: WatchableConfigMap;
  watchTiming?: WatchTiming;
  log: Logger;
  /** Defaults to the HTTP client for `config.consumerUrl`. */
  consumer?: ConsumerPort & { close?(): Promise<void> };
  /** Defaults to the file at `config.generationFile`. */
  generations?: GenerationStore;
  clock?: Clock;
}

export interface RunningSidecar {
  url: string;
  port: number;
  reconciler: Reconciler;
  metrics: SidecarMetrics;
  watcher?: ConfigMapWatcher;
  /** Graceful stop (what SIGTERM does); idempotent. */
  shutdown(): Promise<void>;
}

/** The loop counts as stuck when no tick finished for this long (liveness then fails). */
export function stuckAfterMs(reconcileIntervalMs: number): number {
  return Math.max(30_000, 10 * reconcileIntervalMs);
}

export async function startSidecar(config: SidecarConfig, deps: SidecarDeps): Promise<RunningSidecar> {
  const { log } = deps;
  const clock = deps.clock ?? systemClock;
  const consumer = deps.consumer ?? new HttpConsumerClient(config.consumerUrl, config.podName, config.consumerTimeoutMs);
  const metrics = new SidecarMetrics();
  let watcher: ConfigMapWatcher | undefined;
  const reconciler = await Reconciler.create({
    pod: config.podName,
    color: config.color,
    consumer,
    file: new MountedStateFiles(config.stateDir, [config.podName, config.color]),
    api: deps.api,
    generations: deps.generations ?? new FileGenerationStore(config.generationFile),
    clock,
    log,
    observer: metrics,
    ...(deps.watch ? { apiWatch: () => watcher?.status().health ?? 'starting' } : {}),
  });
  if (deps.watch) {
    watcher = new ConfigMapWatcher({
      api: deps.watch,
      onChange: (version) => reconciler.apiChanged(version),
      clock,
      log,
      ...(deps.watchTiming ? { timing: deps.watchTiming } : {}),
    });
  }

  let stopping = false;
  let reconciled = false;
  let lastTickAt = clock.now();
  const stopLoop = new AbortController();
  const http = createSidecarServer({
    podName: config.podName,
    pushKeyFile: config.pushKeyFile,
    reconciler,
    metrics,
    clock,
    log,
    health: {
      shuttingDown: () => stopping,
      reconciled: () => reconciled,
      unhealthyReason: () => {
        const idleMs = clock.now() - lastTickAt;
        return idleMs > stuckAfterMs(config.reconcileIntervalMs) ? `no reconcile finished for ${idleMs} ms` : undefined;
      },
    },
  });
  http.server.listen(config.port, config.host);
  await once(http.server, 'listening');
  const port = (http.server.address() as AddressInfo).port;
  log.info('sidecar listening', { pod: config.podName, color: config.color, port, generation: reconciler.status().generation });

  const loop = (async () => {
    if (watcher) {
      watcher.start();
      await watcher.firstSync(config.apiTimeoutMs);
    } else {
      await reconciler.seedFromApi();
    }
    while (!stopping) {
      await reconciler.reconcile();
      reconciled = true;
      lastTickAt = clock.now();
      try {
        await clock.sleep(config.reconcileIntervalMs, stopLoop.signal);
      } catch {
        // aborted: shutting down
      }
    }
  })();

  let stopped: Promise<void> | undefined;
  const shutdown = (): Promise<void> => {
    stopped ??= (async () => {
      stopping = true;
      log.info('shutting down: readiness off, finishing in-flight work');
      await http.drained();
      // The watch first: an event must not start a reconcile once shutdown has begun.
      await watcher?.stop();
      await reconciler.idle();
      stopLoop.abort();
      await loop;
      await new Promise<void>((resolve, reject) => http.server.close((error) => (error ? reject(error) : resolve())));
      await consumer.close?.();
      deps.api.close?.();
      log.info('shutdown complete');
    })().catch((error: unknown) => {
      log.error('shutdown failed', { error: errorMessage(error) });
      throw error;
    });
    return stopped;
  };

  const host = config.host ?? 'localhost';
  return {
    url: `http://${host.includes(':') ? `[${host}]` : host}:${port}`,
    port,
    reconciler,
    metrics,
    ...(watcher ? { watcher } : {}),
    shutdown,
  };
}

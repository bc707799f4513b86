/**
 * Starts the sidecar (loaded by main.ts): configuration from env (sidecar/config.ts), the API
 * client and watch when in a cluster, then the daemon; SIGTERM/SIGINT stop it gracefully.
 */
import { errorMessage, OperationError, UsageError } from '../src/shared/errors.js';
import { loadConfig, type SidecarConfig } from './config.js';
import { startSidecar, type SidecarDeps } from './daemon.js';
import { ConfigMapApi, inClusterEndpoint } from './kube-api.js';
import { createJsonLogger } from './log.js';

/** Runs the sidecar until SIGTERM/SIGINT; on bad env it exits 2, on a failed start 1. */
export async function start(): Promise<void> {
  const log = createJsonLogger((line) => process.stdout.write(`${line}\n`));

  let config: SidecarConfig;
  try {
    config = loadConfig(process.env);
  } catch (error) {
    if (!(error instanceof UsageError)) throw error;
    log.error(error.message, { hint: error.hint });
    process.exit(error.exitCode);
  }

  try {
    const endpoint = await inClusterEndpoint(process.env);
    let apis: Pick<SidecarDeps, 'api' | 'watch'>;
    if (endpoint) {
      const api = new ConfigMapApi(endpoint, config.namespace, config.configMapName, config.apiTimeoutMs);
      apis = { api, watch: api };
    } else {
      log.warn('KUBERNETES_SERVICE_HOST is not set: no watch, and resumes cannot be confirmed: the consumer stays PAUSED');
      apis = { api: { read: () => Promise.reject(new OperationError('KUBERNETES_SERVICE_HOST is not set')) } };
    }
    const sidecar = await startSidecar(config, { ...apis, log });
    const stop = (signal: string): void => {
      log.info('signal received', { signal });
      sidecar.shutdown().then(
        () => process.exit(0),
        () => process.exit(1),
      );
    };
    process.once('SIGTERM', () => stop('SIGTERM'));
    process.once('SIGINT', () => stop('SIGINT'));
  } catch (error) {
    log.error('sidecar failed to start', { error: errorMessage(error) });
    process.exit(1);
  }
}

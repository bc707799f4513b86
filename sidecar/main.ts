/**
 * Entry point of the switch sidecar container: `node dist/sidecar/main.js`, configured by env
 * (sidecar/config.ts). Exit codes: 2 invalid env, 0 after a graceful SIGTERM/SIGINT, 1 on a
 * failure to start or to stop.
 */
import { errorMessage, UsageError } from '../src/shared/errors.js';
import { ApiStateConfigMap, inClusterKubeConfig } from './api-source.js';
import { loadConfig, type SidecarConfig } from './config.js';
import { startSidecar } from './daemon.js';
import { createJsonLogger } from './log.js';

const log = createJsonLogger((line) => process.stdout.write(`${line}\n`));

let config: SidecarConfig;
try {
  config = loadConfig(process.env);
} catch (error) {
  if (!(error instanceof UsageError)) throw error;
  log.error(error.message, { hint: error.hint });
  process.exit(error.exitCode);
}

if (!process.env['KUBERNETES_SERVICE_HOST']) {
  log.warn('KUBERNETES_SERVICE_HOST is not set: resumes not pushed to this sidecar cannot be confirmed and stay PAUSED');
}

try {
  const api = new ApiStateConfigMap(inClusterKubeConfig(), config.namespace, config.configMapName, config.apiTimeoutMs);
  const sidecar = await startSidecar(config, { api, log });
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

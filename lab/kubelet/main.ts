/**
 * Entry point of the lab kubelet daemon, started detached by the lab (lab/control.ts):
 *
 *   node dist/lab/kubelet/main.js --kubeconfig <file> --lab-dir <dir> --repo <root> [--configmap-sync-seconds 60]
 *
 * Logs JSON lines to stdout (the lab redirects them to .lab/logs/kubelet.log). On SIGTERM or
 * SIGINT it stops every pod's processes, removes the pod networks and exits 0.
 */
import { Command, InvalidArgumentError } from 'commander';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { LabKubelet } from './kubelet.js';

function log(message: string, fields: Record<string, unknown> = {}): void {
  process.stdout.write(`${JSON.stringify({ time: new Date().toISOString(), component: 'lab-kubelet', message, ...fields })}\n`);
}

function positiveInteger(value: string): number {
  const parsed = Number(value);
  if (!Number.isInteger(parsed) || parsed < 1) throw new InvalidArgumentError('must be a positive integer');
  return parsed;
}

const program = new Command()
  .name('lab-kubelet')
  .requiredOption('--kubeconfig <file>', 'kubeconfig with admin rights on the lab API server')
  .requiredOption('--lab-dir <dir>', 'the lab directory (pods/, kubelet/, pids/ live here)')
  .requiredOption('--repo <dir>', "the bgswitch checkout whose dist/ holds the images' programs")
  .option('--configmap-sync-seconds <seconds>', 'refresh period of ConfigMap/Secret/projected volumes', positiveInteger, 60)
  .parse();

const options = program.opts<{ kubeconfig: string; labDir: string; repo: string; configmapSyncSeconds: number }>();
const labDir = resolve(options.labDir);
mkdirSync(join(labDir, 'pids'), { recursive: true });
writeFileSync(join(labDir, 'pids', 'kubelet.pid'), `${process.pid}\n`);

const kubelet = new LabKubelet({
  kubeconfig: resolve(options.kubeconfig),
  labDir,
  repo: resolve(options.repo),
  configMapSyncSeconds: options.configmapSyncSeconds,
  log,
});

let stopping = false;
function shutdown(signal: string): void {
  log('shutting down', { signal });
  // A second signal while stopping changes nothing: the first stop finishes and exits.
  if (stopping) return;
  stopping = true;
  void kubelet.stop().then(
    () => process.exit(0),
    (error: unknown) => {
      log('shutdown failed', { error: String(error) });
      process.exit(1);
    },
  );
}
process.on('SIGTERM', () => shutdown('SIGTERM'));
process.on('SIGINT', () => shutdown('SIGINT'));

kubelet.start().catch((error: unknown) => {
  log('start failed', { error: error instanceof Error ? error.message : String(error) });
  void kubelet.stop().finally(() => process.exit(1));
});

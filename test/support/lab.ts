/**
 * End-to-end support: the lab (a real kube-apiserver, controller-manager and the lab kubelet), the
 * built CLI run as a user runs it, and the reference consumers' transition logs.
 */
import { spawn } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { CoordinationV1Api, CoreV1Api, KubeConfig } from '@kubernetes/client-node';
import { analyzeTransitions, parseTransitionLog, type LifecycleRecord, type TransitionAnalysis } from '../../consumer/transitions.js';
import { labPaths, labUp, type LabInfo } from '../../lab/control.js';

export const repoRoot = resolve(fileURLToPath(new URL('../..', import.meta.url)));
export const paths = labPaths(repoRoot);
export const namespace = 'kafka-bg-test';

let lab: Promise<LabInfo> | undefined;

/** Brings the lab up once per test process (idempotent; seconds when it already runs). */
export function ensureLab(): Promise<LabInfo> {
  lab ??= labUp({ repoRoot, report: (line) => process.stderr.write(`[lab] ${line}\n`) });
  return lab;
}

export interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs the built CLI (`node bin/bgswitch.js`) as the operator, as a user would. */
export function bgswitch(args: string[], options: { kubeconfig?: string; env?: Record<string, string>; timeoutMs?: number } = {}): Promise<CliResult> {
  return runProcess(process.execPath, [join(repoRoot, 'bin/bgswitch.js'), ...args, '--kubeconfig', options.kubeconfig ?? paths.operatorKubeconfig], options);
}

export function runProcess(command: string, args: string[], options: { env?: Record<string, string>; timeoutMs?: number } = {}): Promise<CliResult> {
  return new Promise((resolvePromise, reject) => {
    const child = spawn(command, args, {
      cwd: repoRoot,
      env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '/root', NO_COLOR: '1', ...(process.env.NODE_V8_COVERAGE ? { NODE_V8_COVERAGE: process.env.NODE_V8_COVERAGE } : {}), ...options.env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    const timer = setTimeout(() => child.kill('SIGKILL'), options.timeoutMs ?? 120_000);
    child.on('error', reject);
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      resolvePromise({ code: code ?? (signal ? 128 : 1), stdout, stderr });
    });
  });
}

export function adminConfig(): KubeConfig {
  const config = new KubeConfig();
  config.loadFromFile(paths.adminKubeconfig);
  return config;
}

export function coreApi(): CoreV1Api {
  return adminConfig().makeApiClient(CoreV1Api);
}

export function coordinationApi(): CoordinationV1Api {
  return adminConfig().makeApiClient(CoordinationV1Api);
}

/** Every lifecycle record of every consumer of the namespace, from the lab kubelet's container logs. */
export function readLifecycleRecords(): LifecycleRecord[] {
  const podsDir = join(paths.labDir, 'pods');
  const records: LifecycleRecord[] = [];
  for (const entry of readdirSync(podsDir)) {
    if (!entry.startsWith(`${namespace}_consumer-`)) continue;
    try {
      records.push(...parseTransitionLog(readFileSync(join(podsDir, entry, 'consumer.log'), 'utf8')));
    } catch {
      // a pod whose consumer never started has no log yet
    }
  }
  return records;
}

/** S1 and the gap over [from, to] (epoch ms), from the consumers' own logs. */
export function analyzeWindow(from: number, to: number = Date.now()): TransitionAnalysis {
  return analyzeTransitions(readLifecycleRecords(), { from, to });
}

/** Waits for a condition with a deadline, polling from a small interval; never a fixed sleep. */
export async function waitFor<T>(description: string, check: () => Promise<T | undefined | false>, timeoutMs = 30_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let interval = 50;
  let lastError: unknown;
  for (;;) {
    try {
      const value = await check();
      if (value) return value;
    } catch (error) {
      lastError = error;
    }
    if (Date.now() > deadline) {
      throw new Error(`timed out after ${timeoutMs / 1000}s waiting for ${description}${lastError ? ` (last error: ${(lastError as Error).message})` : ''}`);
    }
    await new Promise((r) => setTimeout(r, interval));
    interval = Math.min(interval * 2, 500);
  }
}

export interface StatusJson {
  declaredActive?: string;
  generation: number;
  lease: { holder?: string; blocking: boolean };
  operation?: { kind: string; from: string; to: string; phase: string };
  pods: Array<{ name: string; color: string; actual: string; desired: string; ready: boolean; fault?: Record<string, unknown>; sidecar: { reachable: boolean; generation?: number } }>;
  problems: Array<{ kind: string; message: string }>;
}

export async function status(): Promise<StatusJson> {
  const result = await bgswitch(['status', '-o', 'json']);
  if (result.code !== 0) throw new Error(`status failed (${result.code}): ${result.stderr}`);
  return JSON.parse(result.stdout) as StatusJson;
}

/** Brings the fleet to a known state: blue active, no faults, nothing locked. */
export async function resetFleet(): Promise<void> {
  await ensureLab();
  await waitFor('the switch lock to be free', async () => !(await status()).lease.blocking, 60_000);
  const cleared = await bgswitch(['inject-fault', 'green', '--clear']);
  if (cleared.code !== 0) throw new Error(`clearing green faults failed: ${cleared.stderr}`);
  const clearedBlue = await bgswitch(['inject-fault', 'blue', '--clear']);
  if (clearedBlue.code !== 0) throw new Error(`clearing blue faults failed: ${clearedBlue.stderr}`);
  const switched = await bgswitch(['switch', 'blue', '--yes']);
  if (switched.code !== 0) throw new Error(`resetting to blue failed (${switched.code}): ${switched.stdout}${switched.stderr}`);
}

export function report(line: string): void {
  process.stdout.write(`# ${line}\n`);
}

/**
 * End-to-end support: the lab (a real kube-apiserver, controller-manager and the lab kubelet), the
 * built CLI run as a user runs it, and the reference consumers' transition logs.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { readdirSync, readFileSync, readlinkSync, statSync } from 'node:fs';
import { join, resolve } from 'node:path';
import type { TestContext } from 'node:test';
import { fileURLToPath } from 'node:url';
import { AppsV1Api, CoordinationV1Api, CoreV1Api, KubeConfig } from '@kubernetes/client-node';
import { analyzeTransitions, parseTransitionLog, type LifecycleRecord, type TransitionAnalysis } from '../../consumer/transitions.js';
import { labPaths, labUp, type LabInfo } from '../../lab/control.js';
import { labUseFleet, type FleetKind } from '../../lab/fleet.js';
import { systemClock } from '../../src/shared/clock.js';
import { pollUntil } from '../../src/core/poll.js';

export const repoRoot = resolve(fileURLToPath(new URL('../..', import.meta.url)));
export const paths = labPaths(repoRoot);
export const namespace = 'kafka-bg-test';

let lab: Promise<LabInfo> | undefined;

/** Brings the lab up once per test process (idempotent; seconds when it already runs). */
export function ensureLab(): Promise<LabInfo> {
  lab ??= labUp({ repoRoot, report: (line) => process.stderr.write(`[lab] ${line}\n`) });
  return lab;
}

/**
 * Runs the lab's consumers as `kind` (lab/fleet.ts), after bringing the lab up: `deployment` for
 * the Deployment-fleet tests, which must put `statefulset` (what `up` applies) back when they end.
 * Returns the fleet's pod names.
 */
export async function useFleet(kind: FleetKind): Promise<string[]> {
  await ensureLab();
  return labUseFleet(kind, { repoRoot, report: (line) => process.stderr.write(`[lab fleet] ${line}\n`) });
}

export interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs the built CLI (`node bin/bgswitch.js`) as the operator, as a user would. */
export function bgswitch(
  args: string[],
  options: { kubeconfig?: string; env?: Record<string, string>; timeoutMs?: number } = {},
): Promise<CliResult> {
  return startBgswitch(args, options).exited;
}

export function runProcess(
  command: string,
  args: string[],
  options: { env?: Record<string, string>; timeoutMs?: number } = {},
): Promise<CliResult> {
  return startProcess(command, args, options).exited;
}

/** A process the test watches while it runs: its stderr line by line, and a kill switch. */
export interface RunningProcess {
  pid: number;
  exited: Promise<CliResult>;
  /** Resolves with the first stderr line (seen so far or later) matching `pattern`; rejects when the process ends first. */
  stderrLine(pattern: RegExp): Promise<string>;
  kill(signal: NodeJS.Signals): void;
}

/** The built CLI, started and left running (see RunningProcess). */
export function startBgswitch(
  args: string[],
  options: { kubeconfig?: string; env?: Record<string, string>; timeoutMs?: number } = {},
): RunningProcess {
  return startProcess(
    process.execPath,
    [join(repoRoot, 'bin/bgswitch.js'), ...args, '--kubeconfig', options.kubeconfig ?? paths.operatorKubeconfig],
    options,
  );
}

export function startProcess(
  command: string,
  args: string[],
  options: { env?: Record<string, string>; timeoutMs?: number } = {},
): RunningProcess {
  const child = spawn(command, args, {
    cwd: repoRoot,
    env: {
      PATH: process.env.PATH ?? '',
      HOME: process.env.HOME ?? '/root',
      NO_COLOR: '1',
      ...(process.env.NODE_V8_COVERAGE ? { NODE_V8_COVERAGE: process.env.NODE_V8_COVERAGE } : {}),
      ...options.env,
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  const lines: string[] = [];
  let partial = '';
  const waiters: Array<{ pattern: RegExp; resolve: (line: string) => void }> = [];
  const onLine = (line: string): void => {
    lines.push(line);
    for (const waiter of [...waiters]) {
      if (!waiter.pattern.test(line)) continue;
      waiters.splice(waiters.indexOf(waiter), 1);
      waiter.resolve(line);
    }
  };
  child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
  child.stderr.on('data', (chunk: Buffer) => {
    const text = chunk.toString();
    stderr += text;
    const parts = (partial + text).split('\n');
    partial = parts.pop() ?? '';
    for (const line of parts) onLine(line);
  });
  const timer = setTimeout(() => child.kill('SIGKILL'), options.timeoutMs ?? 120_000);
  const exited = new Promise<CliResult>((resolvePromise, reject) => {
    child.on('error', reject);
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      resolvePromise({ code: code ?? (signal ? 128 : 1), stdout, stderr });
    });
  });
  return {
    pid: child.pid ?? -1,
    exited,
    kill: (signal) => void child.kill(signal),
    stderrLine: (pattern) => {
      const seen = lines.find((line) => pattern.test(line));
      if (seen !== undefined) return Promise.resolve(seen);
      return new Promise<string>((resolveLine, reject) => {
        waiters.push({ pattern, resolve: resolveLine });
        void exited.then((result) =>
          reject(new Error(`the process ended (${result.code}) before printing a line matching ${pattern}:\n${result.stderr}`)),
        );
      });
    },
  };
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

/** Sets the replicas of one colour's StatefulSet (`consumer-<color>`) through its scale subresource, as `kubectl scale` does. */
export async function scaleColor(color: 'blue' | 'green', replicas: number): Promise<void> {
  const apps = adminConfig().makeApiClient(AppsV1Api);
  const name = `consumer-${color}`;
  const scale = await apps.readNamespacedStatefulSetScale({ name, namespace });
  await apps.replaceNamespacedStatefulSetScale({ name, namespace, body: { ...scale, spec: { replicas } } });
}

/** The names of one colour's pods that exist now (terminating ones included), in StatefulSet order. */
export async function colorPods(color: 'blue' | 'green'): Promise<string[]> {
  const pods = await coreApi().listNamespacedPod({ namespace, labelSelector: `app=bg-consumer,color=${color}` });
  return pods.items.map((pod) => pod.metadata?.name ?? '').sort((a, b) => a.localeCompare(b, 'en', { numeric: true }));
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
  let lastError: unknown;
  const outcome = await pollUntil(
    async () => {
      try {
        const value = await check();
        return { done: Boolean(value), value };
      } catch (error) {
        lastError = error;
        return { done: false, value: undefined };
      }
    },
    { clock: systemClock, timeoutMs, initialIntervalMs: 50, maxIntervalMs: 500 },
  );
  if (outcome.done && outcome.value) return outcome.value;
  throw new Error(
    `timed out after ${timeoutMs / 1000}s waiting for ${description}${lastError ? ` (last error: ${(lastError as Error).message})` : ''}`,
  );
}

export interface StatusJson {
  declaredActive?: string;
  generation: number;
  stateKeys: { mode: 'pod' | 'color'; origin: string };
  lease: { holder?: string; blocking: boolean };
  operation?: { kind: string; from: string; to: string; phase: string };
  pods: Array<{
    name: string;
    color: string;
    actual: string;
    desired: string;
    desiredGeneration?: number;
    desiredKey?: { key: string; kind: 'pod' | 'color' };
    ready: boolean;
    fault?: Record<string, unknown>;
    sidecar: { reachable: boolean; generation?: number };
  }>;
  problems: Array<{ kind: string; message: string; hint?: string }>;
}

export async function status(extraArgs: string[] = []): Promise<StatusJson> {
  const result = await bgswitch(['status', '-o', 'json', ...extraArgs]);
  if (result.code !== 0) throw new Error(`status failed (${result.code}): ${result.stderr}`);
  return JSON.parse(result.stdout) as StatusJson;
}

/** The fleet as an operator expects it after a switch to `active`: declared, desired and actual agree, no problem. */
export function assertFleet(view: StatusJson, active: 'blue' | 'green'): void {
  assert.equal(view.declaredActive, active);
  for (const pod of view.pods) {
    const expected = pod.color === active ? 'ACTIVE' : 'PAUSED';
    assert.equal(pod.desired, expected, `${pod.name} desired`);
    assert.equal(pod.actual, expected, `${pod.name} actual`);
  }
  assert.equal(view.pods.length, 6);
  assert.deepEqual(view.problems, []);
}

/** The consumer pods of the lab's two StatefulSets at their default size. */
export const STATEFUL_SET_PODS: readonly string[] = ['blue', 'green'].flatMap((color) =>
  [0, 1, 2].map((index) => `consumer-${color}-${index}`),
);

/** S1 over [from, now] from the consumers' logs; reports the gap (no pod ACTIVE). Returns both for tables. */
export function assertNoDualActive(
  t: TestContext,
  from: number,
  label: string,
  pods: readonly string[] = STATEFUL_SET_PODS,
): { dualActive: number; gapMs: number } {
  const records = readLifecycleRecords();
  // An analysis of no records finds no dual-active: first make sure every pod's log was read.
  const logged = new Set(records.filter((record) => record.at <= Date.now()).map((record) => record.pod));
  assert.deepEqual(
    pods.filter((pod) => !logged.has(pod)),
    [],
    `${label}: no transition log records for these pods`,
  );
  const analysis = analyzeTransitions(records, { from, to: Date.now() });
  assert.deepEqual(analysis.dualActive, [], `${label}: a blue and a green consumer were both consuming`);
  const gapMs = analysis.gaps.reduce((sum, gap) => sum + gap.durationMs, 0);
  t.diagnostic(`${label}: dual-active 0, gap (no pod ACTIVE) ${gapMs.toFixed(1)} ms in ${analysis.gaps.length} interval(s)`);
  return { dualActive: analysis.dualActive.length, gapMs };
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

/** The lab kubelet's directory of one pod: `<container>.pid`, `<container>.log`, `volumes/<name>/`. */
export function podDir(pod: string): string {
  return join(paths.labDir, 'pods', `${namespace}_${pod}`);
}

export type ContainerName = 'consumer' | 'switch-sidecar';
const CONTAINER_SCRIPTS: Record<ContainerName, string> = {
  consumer: 'dist/bundle/consumer/main.mjs',
  'switch-sidecar': 'dist/bundle/sidecar/main.cjs',
};

/**
 * The pid of a running container process, from the lab kubelet's pid file, checked against
 * /proc/<pid>/cmdline so a stale file never makes a test signal an unrelated process.
 */
export function containerPid(pod: string, container: ContainerName): number | undefined {
  let pid: number;
  try {
    pid = Number(readFileSync(join(podDir(pod), `${container}.pid`), 'utf8').trim());
  } catch {
    return undefined;
  }
  return commandLineOf(pid).includes(join(repoRoot, CONTAINER_SCRIPTS[container])) ? pid : undefined;
}

/** Waits for the container to run as a process other than `previousPid` (restarted by the kubelet). */
export function waitForContainer(pod: string, container: ContainerName, previousPid?: number, timeoutMs = 30_000): Promise<number> {
  return waitFor(
    `${pod}/${container} to run${previousPid ? ` as a new process (was ${previousPid})` : ''}`,
    async () => {
      const pid = containerPid(pod, container);
      return pid !== undefined && pid !== previousPid ? pid : undefined;
    },
    timeoutMs,
  );
}

/** Signals a running container process (SIGKILL, SIGSTOP, SIGCONT); returns its pid. */
export function signalContainer(pod: string, container: ContainerName, signal: NodeJS.Signals): number {
  const pid = containerPid(pod, container);
  if (pid === undefined) throw new Error(`${pod}/${container} is not running`);
  process.kill(pid, signal);
  return pid;
}

/** The lab's kube-apiserver process, from `.lab/pids/kube-apiserver.pid`, checked against its command line. */
export function apiServerPid(): number {
  const pid = Number(readFileSync(paths.pidFile('kube-apiserver'), 'utf8').trim());
  const argv = commandLineOf(pid);
  if (!argv.includes('kube-apiserver') || !argv.includes(paths.labDir))
    throw new Error(`pid ${pid} in ${paths.pidFile('kube-apiserver')} is not the lab's kube-apiserver`);
  return pid;
}

function commandLineOf(pid: number): string {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8').replaceAll('\0', ' ');
  } catch {
    return '';
  }
}

/**
 * Starts whatever control-plane component is down (e.g. an API server a test killed) and nothing
 * else: unlike a full `labUp`, it never runs the product CLI, which would repair the fleet the test
 * is about to look at.
 */
export async function restartControlPlane(): Promise<void> {
  await labUp({ repoRoot, scope: 'control-plane', report: (line) => process.stderr.write(`[lab] ${line}\n`) });
}

/** The content of one key of the state ConfigMap as the kubelet mounted it into a pod (stale by design). */
export function mountedStateEntry(pod: string, key: string = pod): { lifecycle?: string; generation?: number } {
  return JSON.parse(readFileSync(join(podDir(pod), 'volumes', 'consumer-state', key), 'utf8')) as {
    lifecycle?: string;
    generation?: number;
  };
}

/**
 * When the lab kubelet next rewrites a pod's mounted state ConfigMap (if it changed meanwhile): it
 * syncs every `periodMs` since the pod was set up, and the payload directory `..data` points to was
 * made by the last write, on that schedule.
 */
export function nextStateFileRefresh(pod: string, periodMs = 60_000): number {
  const dir = join(podDir(pod), 'volumes', 'consumer-state');
  const lastWrite = statSync(join(dir, readlinkSync(join(dir, '..data')))).mtimeMs;
  return lastWrite + Math.max(1, Math.ceil((Date.now() - lastWrite) / periodMs)) * periodMs;
}

export interface SidecarReport {
  pod: string;
  generation: number;
  actual?: string;
  desired?: { lifecycle: string; generation: number };
  desiredSource?: string;
  lastReconcileAt?: string;
  lastError?: string;
}

/** A sidecar's own `GET /status`, directly at the pod IP on the lab bridge. */
export async function sidecarReport(pod: string): Promise<SidecarReport> {
  const ip = (await coreApi().readNamespacedPod({ name: pod, namespace })).status?.podIP;
  if (!ip) throw new Error(`${pod} has no IP yet`);
  const response = await fetch(`http://${ip}:8082/status`, { signal: AbortSignal.timeout(2000) });
  if (!response.ok) throw new Error(`${pod} sidecar /status answered ${response.status}`);
  return (await response.json()) as SidecarReport;
}

/** A pod's sidecar over `count` distinct reconciles (each report as of one reconcile), within the deadline. */
export async function watchReconciles(pod: string, count: number, timeoutMs = 30_000): Promise<SidecarReport[]> {
  const seen = new Map<string, SidecarReport>();
  await waitFor(
    `${count} reconciles of ${pod}'s sidecar`,
    async () => {
      const report = await sidecarReport(pod);
      if (report.lastReconcileAt) seen.set(report.lastReconcileAt, report);
      return seen.size >= count;
    },
    timeoutMs,
  );
  return [...seen.values()];
}

/** One pod's lifecycle records at or after `from` (epoch ms), from its consumer's log. */
export function podRecords(pod: string, from: number): LifecycleRecord[] {
  return readLifecycleRecords().filter((record) => record.pod === pod && record.at >= from);
}

/** The state ConfigMap's operation annotation (an unfinished switch), parsed, or undefined. */
export async function operationAnnotation(): Promise<
  { kind: string; from: string; to: string; phase: string; holder: string } | undefined
> {
  const state = await coreApi().readNamespacedConfigMap({ name: 'kafka-consumer-state', namespace });
  const raw = state.metadata?.annotations?.['bgswitch.io/operation'];
  return raw ? (JSON.parse(raw) as { kind: string; from: string; to: string; phase: string; holder: string }) : undefined;
}

export function report(line: string): void {
  process.stdout.write(`# ${line}\n`);
}

/**
 * The lab's programmatic API (used by lab/main.ts and by tests): `labUp` brings the lab to a known
 * good state from whatever it finds (nothing, half-up, fully up), `labDown` stops everything it
 * started and removes the pod network, `labStatus` reports. Library code: it never prints; progress
 * lines go to `options.report`.
 *
 * `labUp` is idempotent: running components with the wanted command line are left alone, dead
 * ones are restarted, ones started with other settings are replaced; the manifests are re-applied
 * every time; the product CLI runs only while the cluster is not yet initialised / activated.
 */
import { spawn } from 'node:child_process';
import { closeSync, existsSync, mkdirSync, openSync, readFileSync, readdirSync, rmSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import { CoordinationV1Api, CoreV1Api, VersionApi } from '@kubernetes/client-node';
import { OperationError, UsageError } from '../src/shared/errors.js';
import { applyManifests, kustomizeBuild } from './apply.js';
import { kubeBuildProgress } from './control-plane/build-progress.js';
import { adminClient, kubeConfigFrom } from './control-plane/clients.js';
import { kubeletScript, labComponents, type LabComponent } from './control-plane/components.js';
import { writeKubeconfig } from './control-plane/kubeconfig.js';
import { assertStillRunning, inspectProcess, isAlive, startProcess, stopProcess } from './control-plane/process.js';
import { describeError, waitFor } from './control-plane/wait.js';
import {
  expectedStatefulSetPods,
  needsActivation,
  needsInitialisation,
  runProductCli,
  waitForPodsReady,
  waitForSidecarPushKeys,
} from './control-plane/workload.js';
import { LAB_TOPICS, ensureTopics, kafkaLibsCached, resolveKafkaLibs } from './kafka/broker.js';
import { stopBackgroundProduction } from './kafka/commands.js';
import { ensureLabBridge, removeLabNetwork } from './kubelet/network.js';
import {
  API_SERVER_URL,
  DEFAULT_K8S_VERSION,
  KAFKA_VERSION,
  LAB_KAFKA_BOOTSTRAP,
  WORKLOAD_NAMESPACE,
  binaryCacheDir,
  findRepoRoot,
  labPaths,
  type Component,
  type LabPaths,
} from './paths.js';
import { ensurePki, pkiFiles, type LabPki } from './pki.js';
import { checkPrerequisites, locateEtcd, locateJava, type FoundTools } from './prereqs.js';
import { trackProgress, type ProgressSink } from './progress.js';

export { labPaths } from './paths.js';

export interface LabOptions {
  /** Defaults to the checkout this module belongs to. */
  repoRoot?: string;
  /** Defaults to `<repo>/.lab`. */
  labDir?: string;
  k8sVersion?: string;
  /** How often the lab kubelet refreshes projected ConfigMap/Secret volumes (kubelet's default: 60). */
  configMapSyncSeconds?: number;
  /** Receives one plain line per step. */
  report?: (line: string) => void;
  /** Receives the current state of long work (builds, installs) often; see lab/progress.ts. */
  progress?: ProgressSink;
}

export interface LabUpOptions extends LabOptions {
  /** `control-plane`: stop after applying the manifests (no kubelet, no product CLI, no pod wait). */
  scope?: 'control-plane' | 'full';
  podsReadyTimeoutMs?: number;
}

export interface LabDownOptions extends LabOptions {
  /** Delete the whole lab directory (certificates, kubeconfigs, logs) instead of only the cluster data. */
  purge?: boolean;
}

export interface LabInfo {
  paths: LabPaths;
  apiServerUrl: string;
  namespace: string;
}

interface Resolved {
  version: string;
  syncSeconds: number;
  paths: LabPaths;
  binDir: string;
  report: (line: string) => void;
  progress: ProgressSink;
}

function resolveOptions(options: LabOptions): Resolved {
  const version = options.k8sVersion ?? DEFAULT_K8S_VERSION;
  if (!/^v1\.\d+\.\d+$/.test(version)) throw new UsageError(`--k8s-version must look like ${DEFAULT_K8S_VERSION}, got '${version}'`);
  const syncSeconds = options.configMapSyncSeconds ?? 60;
  if (!Number.isInteger(syncSeconds) || syncSeconds < 1)
    throw new UsageError(`--configmap-sync-seconds must be a positive integer, got ${syncSeconds}`);
  const paths = labPaths(options.repoRoot ?? findRepoRoot(import.meta.url), options.labDir);
  return {
    version,
    syncSeconds,
    paths,
    binDir: binaryCacheDir(version),
    report: options.report ?? (() => {}),
    progress: options.progress ?? (() => {}),
  };
}

function componentsOf(resolved: Resolved, pki: LabPki, tools: FoundTools): LabComponent[] {
  return labComponents({
    paths: resolved.paths,
    pki,
    binDir: resolved.binDir,
    etcdBinary: tools.etcd,
    javaBinary: tools.java,
    configMapSyncSeconds: resolved.syncSeconds,
  });
}

/** For stopping and inspecting: the tools' paths as far as they are found (a process is matched by its command line). */
async function toolsAsFound(): Promise<FoundTools> {
  const [etcd, java] = await Promise.all([locateEtcd(), locateJava()]);
  return { etcd: etcd ?? 'etcd', java: java ?? 'java' };
}

async function step<T>(report: (line: string) => void, label: string, work: () => Promise<{ value: T; detail: string }>): Promise<T> {
  const started = performance.now();
  const { value, detail } = await work();
  report(`${label}: ${detail} (${((performance.now() - started) / 1000).toFixed(1)}s)`);
  return value;
}

const binariesCached = (binDir: string): boolean =>
  ['kube-apiserver', 'kube-controller-manager', 'kubectl'].every((binary) => existsSync(join(binDir, binary)));

async function buildBinaries({ paths, version, binDir, report, progress }: Resolved): Promise<void> {
  mkdirSync(paths.logsDir, { recursive: true });
  const buildLog = join(paths.logsDir, `build-${version}.log`);
  report(
    `building kube-apiserver, kube-controller-manager and kubectl ${version} with Go (only those not built yet); the first build takes about 15 minutes on 2 cores (log: ${buildLog})`,
  );
  const log = openSync(buildLog, 'a');
  const logStart = statSync(buildLog).size;
  try {
    const build = spawn('bash', [join(paths.repoRoot, 'lab', 'control-plane', 'build.sh'), version, binDir], {
      stdio: ['ignore', log, log],
    });
    const exited = new Promise<number | null>((resolve, reject) => {
      build.once('error', reject);
      build.once('exit', resolve);
    });
    const code = await trackProgress(
      progress,
      `building Kubernetes ${version}`,
      () => kubeBuildProgress(readFileSync(buildLog, 'utf8').slice(logStart)),
      exited,
    );
    if (code !== 0) throw new OperationError(`building Kubernetes ${version} failed (exit ${code}); see ${buildLog}`);
  } finally {
    closeSync(log);
  }
}

function writeKubeconfigs(paths: LabPaths, pki: LabPki): void {
  const common = { server: API_SERVER_URL, caCert: pki.caCert };
  writeKubeconfig(paths.adminKubeconfig, {
    ...common,
    client: pki.leaves.admin,
    user: 'bgswitch-lab-admin',
    context: 'bgswitch-lab-admin',
  });
  writeKubeconfig(paths.operatorKubeconfig, {
    ...common,
    client: pki.leaves.operator,
    user: 'bgswitch-operator',
    context: 'bgswitch-lab',
    namespace: WORKLOAD_NAMESPACE,
  });
  writeKubeconfig(paths.controllerManagerKubeconfig, {
    ...common,
    client: pki.leaves.controllerManager,
    user: 'system:kube-controller-manager',
    context: 'bgswitch-lab',
  });
}

function waitReady(component: LabComponent, pid: number): Promise<void> {
  return waitFor(
    `${component.component} to be ready`,
    async () => {
      await assertStillRunning(component.process, pid);
      return component.ready();
    },
    { timeoutMs: component.readyTimeoutMs, hint: `see ${component.process.logFile}` },
  );
}

/**
 * Leaves a healthy component alone, (re)starts a dead or outdated one, then waits until it is ready.
 * One found running that exits while we wait for it (it was shutting down) is started afresh.
 */
async function ensureComponent(component: LabComponent): Promise<{ value: undefined; detail: string }> {
  const current = inspectProcess(component.process);
  if (current.state === 'running') {
    try {
      await waitReady(component, current.pid);
      return { value: undefined, detail: `running (pid ${current.pid})` };
    } catch (error) {
      if (isAlive(current.pid)) throw error;
    }
  }
  if (current.state === 'outdated') await stopProcess(component.process, component.stopGraceMs);
  await component.prepare?.();
  const pid = await startProcess(component.process);
  await waitReady(component, pid);
  const how =
    current.state === 'outdated' ? 'restarted with new settings' : current.state === 'running' ? 'restarted after it exited' : 'started';
  return { value: undefined, detail: `${how} (pid ${pid}, log ${component.process.logFile})` };
}

/** Kubernetes binaries built and the Kafka broker's jars resolved (each a no-op when cached). */
async function ensureBinaries(resolved: Resolved): Promise<void> {
  await step(resolved.report, 'kubernetes binaries', async () => {
    const cached = binariesCached(resolved.binDir);
    if (!cached) await buildBinaries(resolved);
    return { value: undefined, detail: `${cached ? 'cached' : 'built'} in ${resolved.binDir}` };
  });
  await step(resolved.report, `kafka ${KAFKA_VERSION} jars`, async () => ({
    value: undefined,
    detail: await resolveKafkaLibs(resolved.paths.repoRoot, resolved.paths.logsDir, resolved.progress),
  }));
}

/** Installs what it can (root with apt-get), else fails naming each missing thing. */
function ensurePrerequisites(resolved: Resolved): Promise<FoundTools> {
  return step(resolved.report, 'prerequisites', async () => ({
    value: await checkPrerequisites(
      { go: !binariesCached(resolved.binDir), maven: !kafkaLibsCached() },
      { report: resolved.report, progress: resolved.progress },
    ),
    detail: 'ok',
  }));
}

/** Installs prerequisites, builds (or finds cached) the Kubernetes binaries and the Kafka jars; starts nothing. */
export async function labBuild(options: LabOptions = {}): Promise<void> {
  const resolved = resolveOptions(options);
  await ensurePrerequisites(resolved);
  await ensureBinaries(resolved);
}

export async function labUp(options: LabUpOptions = {}): Promise<LabInfo> {
  const resolved = resolveOptions(options);
  const { paths, report, binDir } = resolved;
  const scope = options.scope ?? 'full';
  const tools = await ensurePrerequisites(resolved);
  await ensureBinaries(resolved);
  if (scope === 'full' && !existsSync(kubeletScript(paths))) {
    throw new OperationError(`the lab kubelet is not built (${kubeletScript(paths)} is missing)`, 'run npm run build');
  }
  await step(report, 'lab bridge bgslab0', async () => ({ value: await ensureLabBridge(), detail: 'ready' }));
  const pki = await step(report, 'certificates', async () => {
    const { files, made } = await ensurePki(paths.pkiDir);
    writeKubeconfigs(paths, files);
    return { value: files, detail: made.length > 0 ? `made ${made.join(', ')}` : 'present' };
  });
  const components = componentsOf(resolved, pki, tools).filter((component) => scope === 'full' || component.component !== 'kubelet');
  for (const component of components) {
    await step(report, component.component, () => ensureComponent(component));
    if (component.component === 'kafka') {
      await step(report, 'kafka topics', async () => ({ value: undefined, detail: await ensureTopics(LAB_KAFKA_BOOTSTRAP, LAB_TOPICS) }));
    }
  }

  const adminConfig = kubeConfigFrom(paths.adminKubeconfig);
  const overlay = relative(paths.repoRoot, paths.manifestsDir);
  const applied = await step(report, `apply ${overlay}`, async () => {
    const objects = await applyManifests(adminConfig, await kustomizeBuild(join(binDir, 'kubectl'), paths.manifestsDir));
    return { value: objects, detail: `${objects.length} objects built by kubectl kustomize ${overlay}` };
  });
  const info: LabInfo = { paths, apiServerUrl: API_SERVER_URL, namespace: WORKLOAD_NAMESPACE };
  if (scope === 'control-plane') return info;

  const core = adminConfig.makeApiClient(CoreV1Api);
  const kubelet = components.find((component) => component.component === 'kubelet') as LabComponent;
  const kubeletWorking = async (): Promise<void> => {
    const state = inspectProcess(kubelet.process);
    if (state.state !== 'running') throw new OperationError(`the lab kubelet is not running; see ${kubelet.process.logFile}`);
  };
  const expectedPods = expectedStatefulSetPods(applied);
  const podsTimeoutMs = options.podsReadyTimeoutMs ?? 180_000;
  const waitPods = (label: string) =>
    step(report, label, async () => ({
      value: await waitForPodsReady(core, expectedPods, podsTimeoutMs, kubeletWorking),
      detail: `${expectedPods.length} Ready`,
    }));

  await step(report, 'bgswitch init', async () => {
    if (!(await needsInitialisation(core, adminConfig.makeApiClient(CoordinationV1Api), WORKLOAD_NAMESPACE)))
      return { value: undefined, detail: 'already initialised' };
    await runProductCli(paths, ['init']);
    return { value: undefined, detail: 'done' };
  });
  if (await needsActivation(core, WORKLOAD_NAMESPACE)) {
    await waitPods('pods');
    await step(report, 'push key in the sidecars', async () => ({
      value: await waitForSidecarPushKeys(adminConfig, expectedPods, podsTimeoutMs, kubeletWorking),
      detail: `${expectedPods.length} sidecars`,
    }));
    await step(report, 'bgswitch switch blue', async () => {
      await runProductCli(paths, ['switch', 'blue']);
      return { value: undefined, detail: 'done' };
    });
  } else {
    report('bgswitch switch blue: skipped, a colour is already active');
  }
  await waitPods('pods ready');
  return info;
}

const LAB_DIR_ENTRIES = new Set([
  'kubeconfig',
  'operator.kubeconfig',
  'pki',
  'pids',
  'logs',
  'etcd',
  'kafka',
  'kafka-data',
  'kubelet',
  'pods',
]);

/** `--purge` deletes a whole directory the user may have named: only ever one holding nothing but lab files. */
function assertLooksLikeLabDir(dir: string): void {
  if (!existsSync(dir)) return;
  const foreign = readdirSync(dir).filter((entry) => !LAB_DIR_ENTRIES.has(entry));
  if (foreign.length > 0) {
    throw new UsageError(
      `not purging ${dir}: it holds ${foreign.slice(0, 3).join(', ')}, which the lab did not make`,
      'remove those or the directory yourself',
    );
  }
}

/** Stops the background producer and the kubelet first (it stops the pods), then the broker, the controller manager, API server and etcd. */
export async function labDown(options: LabDownOptions = {}): Promise<void> {
  const resolved = resolveOptions(options);
  const { paths, report } = resolved;
  await step(report, 'stop lab produce', async () => ({ value: undefined, detail: await stopBackgroundProduction(paths) }));
  const components = componentsOf(resolved, pkiFiles(paths.pkiDir), await toolsAsFound()).reverse();
  for (const component of components) {
    await step(report, `stop ${component.component}`, async () => ({
      value: undefined,
      detail: await stopProcess(component.process, component.stopGraceMs),
    }));
  }
  await step(report, 'lab network', async () => ({ value: await removeLabNetwork(), detail: 'removed' }));
  if (options.purge) assertLooksLikeLabDir(paths.labDir);
  const removed = options.purge ? [paths.labDir] : paths.clusterStateDirs;
  for (const dir of removed) rmSync(dir, { recursive: true, force: true });
  report(
    `removed ${removed.join(', ')}${options.purge ? '' : ' (cluster state; certificates, kubeconfigs and logs are kept: --purge removes them too)'}`,
  );
}

export interface ComponentStatus {
  component: Component;
  up: boolean;
  pid?: number;
  log: string;
}

export interface PodStatus {
  name: string;
  phase: string;
  ready: boolean;
  ip?: string;
}

export interface LabStatus {
  paths: LabPaths;
  components: ComponentStatus[];
  apiServerUrl: string;
  /** The API server's version when it answered, else why not. */
  apiServer: { reachable: true; version: string } | { reachable: false; error: string };
  pods: PodStatus[];
}

export async function labStatus(options: LabOptions = {}): Promise<LabStatus> {
  const resolved = resolveOptions(options);
  const { paths } = resolved;
  const components = componentsOf(resolved, pkiFiles(paths.pkiDir), await toolsAsFound()).map((component): ComponentStatus => {
    const state = inspectProcess(component.process);
    return {
      component: component.component,
      up: state.state !== 'down',
      ...(state.state === 'down' ? {} : { pid: state.pid }),
      log: component.process.logFile,
    };
  });
  const status: LabStatus = {
    paths,
    components,
    apiServerUrl: API_SERVER_URL,
    apiServer: { reachable: false, error: 'no kubeconfig yet' },
    pods: [],
  };
  if (!existsSync(paths.adminKubeconfig)) return status;
  try {
    const version = await adminClient(paths, VersionApi).getCode();
    status.apiServer = { reachable: true, version: version.gitVersion };
    const pods = await adminClient(paths, CoreV1Api).listNamespacedPod({ namespace: WORKLOAD_NAMESPACE });
    status.pods = pods.items.map((pod) => ({
      name: pod.metadata?.name ?? '?',
      phase: pod.status?.phase ?? 'Unknown',
      ready: pod.status?.conditions?.some((condition) => condition.type === 'Ready' && condition.status === 'True') ?? false,
      ...(pod.status?.podIP ? { ip: pod.status.podIP } : {}),
    }));
  } catch (error) {
    status.apiServer = { reachable: false, error: describeError(error) };
  }
  return status;
}
